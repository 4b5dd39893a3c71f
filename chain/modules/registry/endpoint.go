package registry

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
)

// Workers publish the public URL where they answer signed queries (docs/queries.md) with a
// message of their own origin, signed by their identity key; clients read it from the verified
// Worker record and trust the answer only under the worker's registered keys, so the URL
// itself needs no attestation.

// TopicEndpoint carries a worker's WorkerEndpoint; on-chain only.
const TopicEndpoint = "^phala/worker/endpoint"

// MaxEndpointLen bounds a published URL, in bytes.
const MaxEndpointLen = 256

// ErrInvalidEndpoint refuses an endpoint that is not an http(s) URL of at most MaxEndpointLen
// bytes.
var ErrInvalidEndpoint = errcode.New(Name, 28, "invalid worker endpoint")

// ValidateEndpoint checks a query URL: empty (withdrawn), or http:// or https:// with a host,
// an optional port and path, and no user info, query or fragment, in printable ASCII. A worker
// checks its URL with this before sending it: a refused message would block its origin's queue.
func ValidateEndpoint(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxEndpointLen {
		return errcode.Wrapf(ErrInvalidEndpoint, "%d bytes, at most %d", len(s), MaxEndpointLen)
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return errcode.Wrapf(ErrInvalidEndpoint, "%q: only printable ASCII without spaces", s)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return errcode.Wrapf(ErrInvalidEndpoint, "%v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https" || !strings.HasPrefix(s, u.Scheme+"://"):
		return errcode.Wrapf(ErrInvalidEndpoint, "%q: want http:// or https:// (lowercase)", s)
	case u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		return errcode.Wrapf(ErrInvalidEndpoint, "%q: no host (want http(s)://host[:port][/path])", s)
	case u.User != nil:
		return errcode.Wrapf(ErrInvalidEndpoint, "%q: no user info allowed", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return errcode.Wrapf(ErrInvalidEndpoint, "%q: no query or fragment allowed", s)
	}
	return nil
}

// HandleEndpoint records the query URL a worker published.
func HandleEndpoint(ctx *module.Context, m *mq.Message) error {
	if m.GetOrigin().Type() != mq.KindWorker {
		return errcode.Wrapf(ErrWorkerNotFound, "endpoints come from workers, not %s", m.GetOrigin().Label())
	}
	w, err := GetWorker(ctx, m.GetOrigin().ID())
	if err != nil {
		return err
	}
	var e WorkerEndpoint
	if err := module.StrictUnmarshal(m.GetPayload(), &e); err != nil {
		return errcode.Wrapf(ErrInvalidEndpoint, "%v", err)
	}
	if err := ValidateEndpoint(e.GetUrl()); err != nil {
		return err
	}
	w.Endpoint = e.GetUrl()
	ctx.Set(workerKey(m.GetOrigin().ID()), module.Marshal(w))
	ctx.Emit("worker_endpoint", module.Attr("worker", fmt.Sprintf("%X", m.GetOrigin().ID())), module.Attr("url", e.GetUrl()))
	return nil
}
