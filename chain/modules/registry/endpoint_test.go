package registry

import (
	"bytes"
	"strings"
	"testing"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
)

func endpointMsg(origin *mq.Origin, payload []byte) *mq.Message {
	return &mq.Message{Origin: origin, Topic: TopicEndpoint, Payload: payload}
}

// handle runs the handler on a branch kept only when it succeeds, as the queue does.
func (e *env) handle(m *mq.Message) error {
	ctx, commit := e.ctx().Branch()
	if err := HandleEndpoint(ctx, m); err != nil {
		return err
	}
	commit()
	return nil
}

// TestEndpoint: a registered worker publishes, changes and withdraws its URL; bad URLs and
// other origins are refused and change nothing.
func TestEndpoint(t *testing.T) {
	e := newEnv(t, true, nil)
	info := e.info()
	require.NoError(t, e.register(e.registration(info)))
	worker := mq.WorkerOrigin(info.IdentityKey)
	endpoint := func() string {
		w, err := GetWorker(e.kv, info.IdentityKey)
		require.NoError(t, err)
		return w.GetEndpoint()
	}
	publish := func(url string) error {
		return e.handle(endpointMsg(worker, module.Marshal(&WorkerEndpoint{Url: url})))
	}

	for _, url := range []string{"https://worker-1.example.com:8443/phala", "http://10.0.0.7:8100", "https://[2001:db8::1]:443/"} {
		require.NoError(t, publish(url), url)
		require.Equal(t, url, endpoint())
	}
	require.NoError(t, publish("https://q.example.com"))

	bad := map[string]string{
		"ftp scheme":     "ftp://q.example.com",
		"no scheme":      "q.example.com:8100",
		"no host":        "https:///path",
		"empty hostname": "http://:8100",
		"user info":      "https://user:pw@q.example.com",
		"query":          "https://q.example.com/?a=b",
		"empty query":    "https://q.example.com/?",
		"fragment":       "https://q.example.com/#x",
		"space":          "https://q.example.com/a b",
		"control char":   "https://q.example.com/\x01",
		"non-ASCII":      "https://q.exämple.com",
		"bad port":       "https://q.example.com:port",
		"opaque":         "https:q.example.com",
		"too long":       "https://q.example.com/" + strings.Repeat("a", MaxEndpointLen),
		"uppercase":      "HTTPS://q.example.com",
	}
	for name, url := range bad {
		err := publish(url)
		require.ErrorIs(t, err, ErrInvalidEndpoint, name)
		require.ErrorIs(t, ValidateEndpoint(url), ErrInvalidEndpoint, name)
		require.Equal(t, "https://q.example.com", endpoint(), "%s changed nothing", name)
	}
	require.ErrorIs(t, e.handle(endpointMsg(worker, []byte{0xff})), ErrInvalidEndpoint, "undecodable payload")
	require.ErrorIs(t, e.handle(endpointMsg(worker, append(module.Marshal(&WorkerEndpoint{Url: "https://a.example"}), 0x10, 0x01))),
		ErrInvalidEndpoint, "unknown field")
	require.Equal(t, "https://q.example.com", endpoint())

	// Only workers publish endpoints, and only their own registered record.
	alice, err := keys.FromURI(keys.Sr25519, "//Alice")
	require.NoError(t, err)
	others := map[string]*mq.Origin{
		"account":             mq.AccountOrigin(alice.Public().AccountID()),
		"cluster":             mq.ClusterOrigin(ClusterID(1)),
		"module":              mq.ModuleOrigin("registry"),
		"gatekeeper":          mq.GatekeeperOrigin(),
		"unregistered worker": mq.WorkerOrigin(bytes.Repeat([]byte{7}, 32)),
	}
	payload := module.Marshal(&WorkerEndpoint{Url: "https://evil.example"})
	for name, o := range others {
		err := e.handle(endpointMsg(o, payload))
		require.ErrorIs(t, err, ErrWorkerNotFound, name)
		require.Equal(t, "https://q.example.com", endpoint(), "%s changed nothing", name)
	}
	_, err = GetWorker(e.kv, bytes.Repeat([]byte{7}, 32))
	require.ErrorIs(t, err, ErrWorkerNotFound, "no record was created")

	// An empty URL withdraws the endpoint.
	require.NoError(t, publish(""))
	require.Empty(t, endpoint())
}

// FuzzEndpoint: any payload from a registered worker is refused with ErrInvalidEndpoint or
// leaves an http(s) URL (or none) in its record.
func FuzzEndpoint(f *testing.F) {
	tr, err := store.OpenTree(dbm.NewMemDB(), nil)
	require.NoError(f, err)
	kv := store.NewCache(tr.Working())
	id := bytes.Repeat([]byte{7}, 32)
	kv.Set(workerKey(id), module.Marshal(&Worker{Info: &WorkerInfo{IdentityKey: id}, Endpoint: "https://old.example"}))
	f.Add(module.Marshal(&WorkerEndpoint{Url: "https://q.example.com:8443/x"}))
	f.Add(module.Marshal(&WorkerEndpoint{Url: "http://[::1]:80"}))
	f.Add(module.Marshal(&WorkerEndpoint{Url: "javascript:alert(1)"}))
	f.Add(module.Marshal(&WorkerEndpoint{}))
	f.Add([]byte{0x0a, 0x03, 'a', ':', '/'})
	f.Fuzz(func(t *testing.T, payload []byte) {
		ctx, _ := module.NewContext(kv, module.Block{ChainID: chainID, Height: 2, Time: t0}).Branch()
		err := HandleEndpoint(ctx, endpointMsg(mq.WorkerOrigin(id), payload))
		w, gerr := GetWorker(ctx, id)
		require.NoError(t, gerr)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidEndpoint)
			require.Equal(t, "https://old.example", w.GetEndpoint())
			return
		}
		u := w.GetEndpoint()
		require.True(t, u == "" || strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://"), "accepted %q", u)
		require.LessOrEqual(t, len(u), MaxEndpointLen)
	})
}
