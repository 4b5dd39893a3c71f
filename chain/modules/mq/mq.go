package mq

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
)

// Name is the module's name in genesis, queries and keys.
const Name = "mq"

// Error codes of the message queue; stable across releases.
var (
	ErrInvalidOrigin   = errcode.New(Name, 1, "invalid origin")
	ErrInvalidTopic    = errcode.New(Name, 2, "invalid topic")
	ErrStale           = errcode.New(Name, 3, "stale message: already delivered")
	ErrSequenceGap     = errcode.New(Name, 4, "message sequence ahead of the expected one")
	ErrBadSignature    = errcode.New(Name, 5, "bad message signature")
	ErrUnknownSigner   = errcode.New(Name, 6, "no key registered for the origin")
	ErrNotOffchain     = errcode.New(Name, 7, "origin is not off-chain")
	ErrMalformed       = errcode.New(Name, 8, "malformed message")
	ErrPayloadTooLarge = errcode.New(Name, 9, "payload too large")
	ErrHandler         = errcode.New(Name, 10, "a subscriber refused the message")
	ErrNotFound        = errcode.New(Name, 11, "not found")
)

// Limits.
const (
	MaxTopic   = 128
	MaxPayload = 64 << 10
	MaxModule  = 32
)

// SignContext is the signature domain of off-chain egress.
const SignContext keys.Context = "phala/mq/v1"

// System topics.
const (
	TopicPing = "phala/system/ping"  // accounts ask workers to answer
	TopicPong = "^phala/system/pong" // workers answer, on-chain only
)

// OriginKind names the kinds of origin.
type OriginKind int

const (
	KindAccount OriginKind = iota + 1
	KindModule
	KindWorker
	KindContract
	KindCluster
	KindGatekeeper
)

func (o *Origin) Type() OriginKind {
	switch o.GetKind().(type) {
	case *Origin_Account:
		return KindAccount
	case *Origin_Module:
		return KindModule
	case *Origin_Worker:
		return KindWorker
	case *Origin_Contract:
		return KindContract
	case *Origin_Cluster:
		return KindCluster
	case *Origin_Gatekeeper:
		return KindGatekeeper
	}
	return 0
}

// Offchain reports whether the origin signs its messages.
func (o *Origin) Offchain() bool {
	switch o.Type() {
	case KindWorker, KindContract, KindCluster, KindGatekeeper:
		return true
	}
	return false
}

// ID is the 32-byte id of an account, worker, contract or cluster origin.
func (o *Origin) ID() []byte {
	switch k := o.GetKind().(type) {
	case *Origin_Account:
		return k.Account
	case *Origin_Worker:
		return k.Worker
	case *Origin_Contract:
		return k.Contract
	case *Origin_Cluster:
		return k.Cluster
	}
	return nil
}

// Validate checks an origin's shape.
func (o *Origin) Validate() error {
	switch o.Type() {
	case KindAccount, KindWorker, KindContract, KindCluster:
		if len(o.ID()) != 32 {
			return errcode.Wrapf(ErrInvalidOrigin, "id has %d bytes, want 32", len(o.ID()))
		}
	case KindModule:
		if n := len(o.GetModule()); n == 0 || n > MaxModule {
			return errcode.Wrapf(ErrInvalidOrigin, "module name of %d bytes, want 1..%d", n, MaxModule)
		}
	case KindGatekeeper:
		if !o.GetGatekeeper() {
			return errcode.Wrapf(ErrInvalidOrigin, "gatekeeper origin must be true")
		}
	default:
		return errcode.Wrapf(ErrInvalidOrigin, "no origin")
	}
	return nil
}

// Label names an origin for logs and events.
func (o *Origin) Label() string {
	switch o.Type() {
	case KindAccount:
		return "account:" + keys.AccountID(o.ID()).String()
	case KindModule:
		return "module:" + o.GetModule()
	case KindWorker:
		return fmt.Sprintf("worker:%x", o.ID())
	case KindContract:
		return fmt.Sprintf("contract:%x", o.ID())
	case KindCluster:
		return fmt.Sprintf("cluster:%x", o.ID())
	case KindGatekeeper:
		return "gatekeeper"
	}
	return "invalid"
}

// Constructors for origins.
func AccountOrigin(id keys.AccountID) *Origin { return &Origin{Kind: &Origin_Account{Account: id[:]}} }
func ModuleOrigin(name string) *Origin        { return &Origin{Kind: &Origin_Module{Module: name}} }
func WorkerOrigin(key []byte) *Origin         { return &Origin{Kind: &Origin_Worker{Worker: key}} }
func ContractOrigin(id []byte) *Origin        { return &Origin{Kind: &Origin_Contract{Contract: id}} }
func ClusterOrigin(id []byte) *Origin         { return &Origin{Kind: &Origin_Cluster{Cluster: id}} }
func GatekeeperOrigin() *Origin               { return &Origin{Kind: &Origin_Gatekeeper{Gatekeeper: true}} }

// ValidTopic reports whether a topic is well formed: 1..128 bytes of [A-Za-z0-9/_.-], optionally
// after a leading '^' (on-chain only).
func ValidTopic(t string) error {
	body := strings.TrimPrefix(t, "^")
	if body == "" || len(t) > MaxTopic {
		return errcode.Wrapf(ErrInvalidTopic, "%q: want 1..%d characters", t, MaxTopic)
	}
	for _, c := range []byte(body) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '.' || c == '-') {
			return errcode.Wrapf(ErrInvalidTopic, "%q: only letters, digits and / _ . - (and a leading ^ for on-chain only)", t)
		}
	}
	return nil
}

// OnChainOnly reports whether a topic stays on chain.
func OnChainOnly(topic string) bool { return strings.HasPrefix(topic, "^") }

// Validate checks a message's shape.
func (m *Message) Validate() error {
	if m.GetOrigin() == nil {
		return errcode.Wrapf(ErrInvalidOrigin, "missing")
	}
	if err := m.GetOrigin().Validate(); err != nil {
		return err
	}
	if err := ValidTopic(m.GetTopic()); err != nil {
		return err
	}
	if len(m.GetPayload()) > MaxPayload {
		return errcode.Wrapf(ErrPayloadTooLarge, "%d bytes, at most %d", len(m.GetPayload()), MaxPayload)
	}
	return nil
}

// SignBytes are the bytes an origin key signs for a message at a sequence number.
func SignBytes(message []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(slices.Clone(message), seq)
}

// Sign produces signed egress; pRuntime uses it with its identity key.
func Sign(m *Message, seq uint64, key keys.PrivateKey) (*SignedMessage, error) {
	b := module.Marshal(m)
	sig, err := key.Sign(SignContext, SignBytes(b, seq))
	if err != nil {
		return nil, err
	}
	return &SignedMessage{Message: b, Sequence: seq, Signature: sig}, nil
}

// Hash identifies a message's canonical bytes (used in pongs and events).
func Hash(b []byte) [32]byte { return sha256.Sum256(b) }

// DecodeMessage parses a message's canonical bytes.
func DecodeMessage(b []byte) (*Message, error) {
	var m Message
	if err := module.StrictUnmarshal(b, &m); err != nil {
		return nil, errcode.Wrapf(ErrMalformed, "%v", err)
	}
	if string(module.Marshal(&m)) != string(b) {
		return nil, errcode.Wrapf(ErrMalformed, "not the canonical encoding")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Handler is an on-chain subscriber to a topic. An error refuses the message (and fails the
// transaction that carried it).
type Handler func(ctx *module.Context, m *Message) error

// KeyResolver returns the public key that must sign a message of an off-chain origin, as the
// chain's state knows it (a worker's registered identity key, a cluster's published key, ...).
// It sees the whole message, so it may also refuse topics the origin must not use.
type KeyResolver func(r store.Reader, m *Message) (keys.PublicKey, error)

// Module is the message queue.
type Module struct {
	subscribers map[string][]Handler
	resolvers   map[OriginKind]KeyResolver
}

// New returns the message queue with no subscribers and no key resolvers.
func New() *Module {
	return &Module{subscribers: make(map[string][]Handler), resolvers: make(map[OriginKind]KeyResolver)}
}

func (*Module) Name() string { return Name }

// Subscribe registers an on-chain handler for a topic. Handlers of a topic run in the order they
// subscribed; subscribing happens while the application is built.
func (q *Module) Subscribe(topic string, h Handler) {
	q.subscribers[topic] = append(q.subscribers[topic], h)
}

// SetKeyResolver names how egress of an off-chain origin kind is authenticated.
func (q *Module) SetKeyResolver(k OriginKind, r KeyResolver) { q.resolvers[k] = r }

func (q *Module) Register(r *module.Router) {
	module.Handle(r, false, q.push)
	module.HandleFeeExempt(r, q.syncOffchain)
}

func (m *MsgPush) ValidateBasic() error {
	if err := ValidTopic(m.GetTopic()); err != nil {
		return err
	}
	if len(m.GetPayload()) > MaxPayload {
		return errcode.Wrapf(ErrPayloadTooLarge, "%d bytes, at most %d", len(m.GetPayload()), MaxPayload)
	}
	return nil
}

func (m *MsgSyncOffchain) ValidateBasic() error {
	sm := m.GetMessage()
	if sm == nil {
		return errcode.Wrapf(ErrMalformed, "missing signed message")
	}
	msg, err := DecodeMessage(sm.GetMessage())
	if err != nil {
		return err
	}
	if !msg.GetOrigin().Offchain() {
		return errcode.Wrapf(ErrNotOffchain, "%s messages are sent on chain, not as egress", msg.GetOrigin().Label())
	}
	if len(sm.GetSignature()) != keys.SignatureLen {
		return errcode.Wrapf(ErrBadSignature, "%d bytes", len(sm.GetSignature()))
	}
	return nil
}

func (q *Module) push(ctx *module.Context, caller module.Caller, msg *MsgPush) error {
	if caller.Council {
		return errcode.Wrapf(ErrInvalidOrigin, "the council pushes through modules, not as an account")
	}
	return q.Enqueue(ctx, &Message{Origin: AccountOrigin(caller.Account), Topic: msg.GetTopic(), Payload: msg.GetPayload()})
}

func (q *Module) syncOffchain(ctx *module.Context, _ module.Caller, msg *MsgSyncOffchain) error {
	sm := msg.GetMessage()
	m, _ := DecodeMessage(sm.GetMessage()) // checked by ValidateBasic
	origin := m.GetOrigin()
	next := NextSequence(ctx, origin)
	switch {
	case sm.GetSequence() < next:
		return errcode.Wrapf(ErrStale, "%s sequence %d, already at %d: this copy was delivered by another relayer", origin.Label(), sm.GetSequence(), next)
	case sm.GetSequence() > next:
		return errcode.Wrapf(ErrSequenceGap, "%s sequence %d, expected %d: deliver the earlier messages first", origin.Label(), sm.GetSequence(), next)
	}
	resolve, ok := q.resolvers[origin.Type()]
	if !ok {
		return errcode.Wrapf(ErrUnknownSigner, "%s: this chain does not accept egress from that kind of origin yet", origin.Label())
	}
	pub, err := resolve(ctx, m)
	if err != nil {
		return errcode.Wrapf(ErrUnknownSigner, "%s: %v", origin.Label(), err)
	}
	if err := pub.Verify(SignContext, SignBytes(sm.GetMessage(), sm.GetSequence()), sm.GetSignature()); err != nil {
		return errcode.Wrapf(ErrBadSignature, "%s sequence %d: %v", origin.Label(), sm.GetSequence(), err)
	}
	ctx.Set(ingressKey(origin), binary.BigEndian.AppendUint64(nil, next+1))
	return q.Enqueue(ctx, m)
}

// Enqueue puts a message on the queue: subscribers run now, and unless the topic is on-chain
// only the message is kept for workers in this block's outbound messages.
func (q *Module) Enqueue(ctx *module.Context, m *Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	for _, h := range q.subscribers[m.GetTopic()] {
		if err := h(ctx, m); err != nil {
			return errcode.Wrapf(ErrHandler, "%s on %s: %v", m.GetOrigin().Label(), m.GetTopic(), err)
		}
	}
	if !OnChainOnly(m.GetTopic()) {
		n := outboundCount(ctx, ctx.Height)
		ctx.Set(outboundKey(ctx.Height, n), module.Marshal(m))
		ctx.Set(outboundCountKey(ctx.Height), binary.BigEndian.AppendUint32(nil, n+1))
	}
	ctx.Emit("mq_message", module.Attr("origin", m.GetOrigin().Label()), module.Attr("topic", m.GetTopic()))
	return nil
}

// EndBlock forgets the previous block's outbound messages: workers read them right after
// replaying that block.
func (q *Module) EndBlock(ctx *module.Context) error {
	prev := ctx.Height - 1
	n := outboundCount(ctx, prev)
	for i := uint32(0); i < n; i++ {
		ctx.Delete(outboundKey(prev, i))
	}
	if n > 0 {
		ctx.Delete(outboundCountKey(prev))
	}
	return nil
}
