package module

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/crypto/keys"
)

var (
	ErrUnknownMessage = errcode.New("router", 1, "unknown message type")
	ErrMalformedMsg   = errcode.New("router", 2, "malformed message")
	ErrUnauthorized   = errcode.New("router", 3, "unauthorized")
)

// Caller is who sends a message: an account that signed a transaction, or the council acting
// through an executed governance proposal.
type Caller struct {
	Account keys.AccountID
	Council bool
}

// AccountCaller is the caller for a message in a transaction signed by id.
func AccountCaller(id keys.AccountID) Caller { return Caller{Account: id} }

// CouncilCaller is the caller for messages of an executed proposal.
func CouncilCaller() Caller { return Caller{Council: true} }

// Validator is implemented by messages that can be checked without state.
type Validator interface {
	ValidateBasic() error
}

// Handler executes one message.
type Handler func(ctx *Context, caller Caller, msg proto.Message) error

type route struct {
	newMsg    func() proto.Message
	handle    Handler
	governed  bool
	feeExempt bool
}

// Router maps message types to handlers. Registration happens while the application is built;
// afterwards the router is only read.
type Router struct {
	routes map[string]route
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{routes: make(map[string]route)} }

// TypeURL is the Any type URL of a message: "/" + its full protobuf name.
func TypeURL(m proto.Message) string {
	return "/" + string(m.ProtoReflect().Descriptor().FullName())
}

// Handle registers the handler of message type M. A governed message is accepted only from the
// council, through an executed proposal.
func Handle[M proto.Message](r *Router, governed bool, h func(ctx *Context, caller Caller, msg M) error) {
	var zero M
	url := TypeURL(zero)
	if _, dup := r.routes[url]; dup {
		panic("module: two handlers for " + url)
	}
	r.routes[url] = route{
		newMsg:   func() proto.Message { return zero.ProtoReflect().New().Interface() },
		handle:   func(ctx *Context, c Caller, m proto.Message) error { return h(ctx, c, m.(M)) },
		governed: governed,
	}
}

// HandleFeeExempt registers the handler of message type M, whose transactions pay no fee when
// every message in them is fee-exempt. Only messages whose validity is cheap to check in
// CheckTx and that are useful whenever valid deserve it (workers' signed egress).
func HandleFeeExempt[M proto.Message](r *Router, h func(ctx *Context, caller Caller, msg M) error) {
	Handle(r, false, h)
	var zero M
	rt := r.routes[TypeURL(zero)]
	rt.feeExempt = true
	r.routes[TypeURL(zero)] = rt
}

// FeeExempt reports whether every message is of a fee-exempt type.
func (r *Router) FeeExempt(msgs []proto.Message) bool {
	for _, m := range msgs {
		if !r.routes[TypeURL(m)].feeExempt {
			return false
		}
	}
	return len(msgs) > 0
}

// TypeURLs lists the registered message types, sorted.
func (r *Router) TypeURLs() []string {
	urls := make([]string, 0, len(r.routes))
	for u := range r.routes {
		urls = append(urls, u)
	}
	slices.Sort(urls)
	return urls
}

// IsGoverned reports whether a registered message type needs the council.
func (r *Router) IsGoverned(typeURL string) bool { return r.routes[typeURL].governed }

// Decode unpacks an Any into its registered message type, strictly (no unknown fields, which
// would let two encodings mean the same message), and runs its stateless checks.
func (r *Router) Decode(a *anypb.Any) (proto.Message, error) {
	if a == nil {
		return nil, errcode.Wrapf(ErrMalformedMsg, "empty message")
	}
	rt, ok := r.routes[a.GetTypeUrl()]
	if !ok {
		return nil, errcode.Wrapf(ErrUnknownMessage, "%q: this chain does not know that message type", a.GetTypeUrl())
	}
	m := rt.newMsg()
	if err := StrictUnmarshal(a.GetValue(), m); err != nil {
		return nil, errcode.Wrapf(ErrMalformedMsg, "%s: %v", a.GetTypeUrl(), err)
	}
	if v, ok := m.(Validator); ok {
		if err := v.ValidateBasic(); err != nil {
			return nil, fmt.Errorf("%s: %w", a.GetTypeUrl(), err)
		}
	}
	return m, nil
}

// Dispatch runs msg with the caller's authority.
func (r *Router) Dispatch(ctx *Context, caller Caller, msg proto.Message) error {
	url := TypeURL(msg)
	rt, ok := r.routes[url]
	if !ok {
		return errcode.Wrapf(ErrUnknownMessage, "%q", url)
	}
	if rt.governed && !caller.Council {
		return errcode.Wrapf(ErrUnauthorized, "%s is governed: submit it in a council proposal (phala gov propose)", url)
	}
	return rt.handle(ctx, caller, msg)
}

// Pack wraps a message in an Any.
func Pack(m proto.Message) (*anypb.Any, error) {
	value, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &anypb.Any{TypeUrl: TypeURL(m), Value: value}, nil
}
