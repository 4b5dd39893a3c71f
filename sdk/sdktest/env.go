package sdktest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/phala-go/phala/sdk"
	"github.com/phala-go/phala/sdk/internal/abi"
)

// Limits the host enforces; they mirror the VM's defaults (contract/vm.DefaultConfig).
const (
	MaxKey       = 1024
	MaxValue     = 64 << 10
	MaxTopic     = 64
	MaxEventData = 64 << 10
	MaxInput     = 256 << 10 // also of a message's input
)

var (
	// ErrContract wraps the error a handler returned (errors.Is also finds the handler's own error).
	ErrContract = errors.New("sdktest: the contract returned an error")
	// ErrTrap reports a panic or a host rule violation: the VM would trap.
	ErrTrap = errors.New("sdktest: the contract trapped")
	// ErrReadOnly reports a storage write or an event from a query (wrapped in ErrTrap).
	ErrReadOnly = errors.New("sdktest: write or event in a read-only query")
	// ErrLimit reports a key, value, topic or event above the host's limits (wrapped in ErrTrap).
	ErrLimit = errors.New("sdktest: host limit exceeded")
)

// Event is one event a contract emitted.
type Event struct {
	Topic string
	Data  []byte
}

// Sent is a message a contract sent (Context.Send) in a successful call.
type Sent struct {
	Number   uint64
	From     sdk.Address // the sending contract
	To       sdk.Address
	Input    []byte
	GasLimit uint64
}

// Transfer is a transfer of the contract's funds (Context.Transfer) queued by a successful call.
type Transfer struct {
	To     sdk.Address
	Amount string
}

// Chain is the caller of deposits and bounces: the chain itself.
var Chain = sdk.Caller{Kind: sdk.CallerChain}

// Env is an in-memory contract host: one contract's storage, the block and the records of its
// events, logs, messages and transfers. Set the exported fields between calls.
type Env struct {
	Self  sdk.Address
	Block sdk.Block
	// Randomness answers Context.Randomness for a block height; by default a hash of Self and
	// the height.
	Randomness func(height uint64) [32]byte
	// CallHandler answers cross-contract calls (nil: ErrCallNotSupported). Return a
	// *sdk.CallError for a callee error, or sdk.ErrCalleeOutOfGas / sdk.ErrCalleeTrapped.
	CallHandler func(caller, contract sdk.Address, input []byte, gasLimit uint64) ([]byte, error)
	// Sr25519Verifier verifies sr25519 signatures over signed (sdk.SignedBytes); the SDK has no
	// native sr25519, so VerifySr25519 panics unless the test provides one.
	Sr25519Verifier func(pub [32]byte, signed, sig []byte) bool

	Events    []Event    // events of successful calls, oldest first
	Logs      []string   // log lines of all calls
	Sent      []Sent     // messages sent by successful calls, oldest first
	Transfers []Transfer // transfers queued by successful calls, oldest first

	store map[string][]byte
	sent  uint64 // the number of the next message
}

// BlockInterval is how far Advance moves the block time per block.
const BlockInterval = 6 * time.Second

// New returns an empty environment at height 1, 2026-01-01 UTC, with a contract address
// derived from "contract".
func New() *Env {
	return &Env{
		Self:  Contract("contract").ID,
		Block: sdk.Block{Height: 1, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		store: map[string][]byte{},
	}
}

// Advance moves n blocks forward.
func (e *Env) Advance(n uint64) {
	e.Block.Height += n
	e.Block.Time = e.Block.Time.Add(time.Duration(n) * BlockInterval)
}

// Account returns the account caller whose id is SHA-256(name).
func Account(name string) sdk.Caller {
	return sdk.Caller{Kind: sdk.CallerAccount, ID: sha256.Sum256([]byte(name))}
}

// Contract returns the contract caller whose id is SHA-256("contract:" + name).
func Contract(name string) sdk.Caller {
	return sdk.Caller{Kind: sdk.CallerContract, ID: sha256.Sum256([]byte("contract:" + name))}
}

// Anonymous is the caller of an unsigned query.
var Anonymous = sdk.Caller{}

// Msg returns the JSON input {"<name>": body}; it panics if body cannot be encoded.
func Msg(name string, body any) json.RawMessage {
	b, err := sdk.Message(name, body)
	if err != nil {
		panic(err)
	}
	return b
}

// SignEd25519 signs msg under context as sdk.VerifyEd25519 expects.
func SignEd25519(priv ed25519.PrivateKey, context string, msg []byte) []byte {
	return ed25519.Sign(priv, sdk.SignedBytes(context, msg))
}

// Storage returns a copy of the contract's storage (for assertions on what is kept).
func (e *Env) Storage() map[string][]byte {
	out := make(map[string][]byte, len(e.store))
	for k, v := range e.store {
		out[k] = bytes.Clone(v)
	}
	return out
}

// Instantiate runs the instantiate entry point with msg (JSON-encoded unless it is []byte or
// json.RawMessage).
func (e *Env) Instantiate(caller sdk.Caller, msg any) ([]byte, error) {
	return e.call(abi.Instantiate, caller, msg)
}

// Execute runs a command, typically Msg("<name>", body).
func (e *Env) Execute(caller sdk.Caller, msg any) ([]byte, error) {
	return e.call(abi.Execute, caller, msg)
}

// Query runs a query read-only and returns its JSON output.
func (e *Env) Query(caller sdk.Caller, msg any) ([]byte, error) {
	return e.call(abi.Query, caller, msg)
}

// QueryAs runs a query and decodes its output into R.
func QueryAs[R any](e *Env, caller sdk.Caller, msg any) (R, error) {
	out, err := e.Query(caller, msg)
	return decodeOutput[R](out, err)
}

// ExecuteAs runs a command (one registered with sdk.HandleResult) and decodes its output into R.
func ExecuteAs[R any](e *Env, caller sdk.Caller, msg any) (R, error) {
	out, err := e.Execute(caller, msg)
	return decodeOutput[R](out, err)
}

func decodeOutput[R any](out []byte, err error) (R, error) {
	var r R
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("sdktest: decoding the output %s: %w", out, err)
	}
	return r, nil
}

// serial serialises calls: handlers and the current host are global to the test binary.
var serial sync.Mutex

func (e *Env) call(entry abi.Entry, caller sdk.Caller, msg any) (out []byte, err error) {
	input, err := encodeInput(msg)
	if err != nil {
		return nil, err
	}
	serial.Lock()
	defer serial.Unlock()
	if e.store == nil {
		e.store = map[string][]byte{}
	}
	saved, events, sent, transfers, next := maps.Clone(e.store), len(e.Events), len(e.Sent), len(e.Transfers), e.sent
	abi.Current = &host{env: e, caller: caller, readOnly: entry == abi.Query}
	defer func() {
		abi.Current = nil
		if r := recover(); r != nil {
			if rerr, ok := r.(error); ok {
				err = fmt.Errorf("%w: %w", ErrTrap, rerr)
			} else {
				err = fmt.Errorf("%w: panic: %v", ErrTrap, r)
			}
		}
		if err != nil {
			e.store, e.Events, e.Sent, e.Transfers, e.sent, out = saved, e.Events[:events], e.Sent[:sent], e.Transfers[:transfers], next, nil
		}
	}()
	out, err = abi.Dispatch(entry, input)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrContract, err)
	}
	return out, nil
}

// Deposit delivers a deposit of amount from account from, as the chain does: the command
// {"deposit": ...} with the caller Chain (sdk.HandleDeposit). An error means the chain would
// refund the deposit.
func (e *Env) Deposit(from sdk.Address, amount string) error {
	_, err := e.Execute(Chain, Msg("deposit", sdk.Deposit{From: from, Amount: amount}))
	return err
}

// Bounce delivers b as the chain does: the command {"bounce": ...} with the caller Chain
// (sdk.HandleBounce).
func (e *Env) Bounce(b sdk.Bounce) error {
	_, err := e.Execute(Chain, Msg("bounce", b))
	return err
}

// BounceMessage bounces m, a message this contract sent, for reason.
func (e *Env) BounceMessage(m Sent, reason string) error {
	return e.Bounce(sdk.Bounce{Kind: sdk.BounceMessage, To: m.To, Number: m.Number, Reason: reason})
}

// BounceTransfer bounces t, a transfer this contract queued, for reason.
func (e *Env) BounceTransfer(t Transfer, reason string) error {
	return e.Bounce(sdk.Bounce{Kind: sdk.BounceTransfer, To: t.To, Amount: t.Amount, Reason: reason})
}

// Deliver runs m, a message another contract sent to this one (m.To == e.Self), as the chain
// delivers it: a command whose caller is the sending contract.
func (e *Env) Deliver(m Sent) ([]byte, error) {
	if m.To != e.Self {
		return nil, fmt.Errorf("sdktest: message %d is for %s, this contract is %s", m.Number, m.To, e.Self)
	}
	return e.Execute(sdk.Caller{Kind: sdk.CallerContract, ID: m.From}, m.Input)
}

func encodeInput(msg any) ([]byte, error) {
	switch m := msg.(type) {
	case []byte:
		return m, nil
	case json.RawMessage:
		return m, nil
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("sdktest: encoding the message: %w", err)
	}
	return b, nil
}

// host is the abi.Host of one call.
type host struct {
	env      *Env
	caller   sdk.Caller
	readOnly bool
}

func (h *host) checkKey(op string, key []byte) {
	if len(key) == 0 || len(key) > MaxKey {
		panic(fmt.Errorf("%w: %s: key of %d bytes (want 1..%d)", ErrLimit, op, len(key), MaxKey))
	}
}

func (h *host) write(op string) {
	if h.readOnly {
		panic(fmt.Errorf("%w: %s", ErrReadOnly, op))
	}
}

func (h *host) Get(key []byte) ([]byte, bool) {
	h.checkKey("storage_get", key)
	v, ok := h.env.store[string(key)]
	return bytes.Clone(v), ok
}

func (h *host) Set(key, value []byte) {
	h.write("storage_set")
	h.checkKey("storage_set", key)
	if len(value) > MaxValue {
		panic(fmt.Errorf("%w: storage_set: value of %d bytes exceeds %d", ErrLimit, len(value), MaxValue))
	}
	h.env.store[string(key)] = bytes.Clone(value)
}

func (h *host) Remove(key []byte) {
	h.write("storage_remove")
	h.checkKey("storage_remove", key)
	delete(h.env.store, string(key))
}

func (h *host) Next(prefix, after []byte) ([]byte, []byte, bool) {
	keys := slices.Sorted(maps.Keys(h.env.store))
	for _, k := range keys {
		if bytes.HasPrefix([]byte(k), prefix) && (after == nil || k > string(after)) {
			return []byte(k), bytes.Clone(h.env.store[k]), true
		}
	}
	return nil, nil, false
}

func (h *host) Caller() (uint8, [32]byte) { return uint8(h.caller.Kind), h.caller.ID }

func (h *host) Self() [32]byte { return h.env.Self }

func (h *host) Block() (uint64, int64) { return h.env.Block.Height, h.env.Block.Time.UnixNano() }

func (h *host) Emit(topic string, data []byte) {
	h.write("emit")
	if !ValidTopic(topic) {
		panic(fmt.Errorf("%w: emit: topic %q (want 1..%d characters of [A-Za-z0-9_.:/-])", ErrLimit, topic, MaxTopic))
	}
	if len(data) > MaxEventData {
		panic(fmt.Errorf("%w: emit: %d bytes of data exceed %d", ErrLimit, len(data), MaxEventData))
	}
	h.env.Events = append(h.env.Events, Event{Topic: topic, Data: bytes.Clone(data)})
}

// ValidTopic reports whether the VM accepts topic: 1 to 64 characters of [A-Za-z0-9_.:/-].
func ValidTopic(topic string) bool {
	if len(topic) == 0 || len(topic) > MaxTopic {
		return false
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '/' || c == '-') {
			return false
		}
	}
	return true
}

func (h *host) Randomness() [32]byte {
	if h.env.Randomness != nil {
		return h.env.Randomness(h.env.Block.Height)
	}
	b := make([]byte, 0, 64)
	b = append(b, "sdktest-randomness"...)
	b = append(b, h.env.Self[:]...)
	b = binary.BigEndian.AppendUint64(b, h.env.Block.Height)
	return sha256.Sum256(b)
}

func (h *host) Log(msg string) { h.env.Logs = append(h.env.Logs, msg) }

func (h *host) Call(contract [32]byte, input []byte, gasLimit uint64) (int, []byte) {
	if h.env.CallHandler == nil {
		return abi.CallNotSupported, nil
	}
	out, err := h.env.CallHandler(h.env.Self, contract, input, gasLimit)
	var ce *sdk.CallError
	switch {
	case err == nil:
		return abi.CallOK, out
	case errors.As(err, &ce):
		return abi.CallFailed, []byte(ce.Message)
	case errors.Is(err, sdk.ErrCallNotSupported):
		return abi.CallNotSupported, nil
	case errors.Is(err, sdk.ErrCalleeOutOfGas):
		return abi.CallOutOfGas, nil
	default:
		return abi.CallTrapped, nil
	}
}

func (h *host) Send(contract [32]byte, input []byte, gasLimit uint64) uint64 {
	h.write("send")
	if len(input) > MaxInput {
		panic(fmt.Errorf("%w: send: input of %d bytes exceeds %d", ErrLimit, len(input), MaxInput))
	}
	if gasLimit == 0 {
		panic(errors.New("sdktest: send with a zero gas limit"))
	}
	n := h.env.sent
	h.env.sent++
	h.env.Sent = append(h.env.Sent, Sent{Number: n, From: h.env.Self, To: contract, Input: bytes.Clone(input), GasLimit: gasLimit})
	return n
}

func (h *host) Transfer(to [32]byte, amount string) {
	h.write("transfer")
	h.env.Transfers = append(h.env.Transfers, Transfer{To: to, Amount: amount})
}

func (h *host) VerifySr25519(pub [32]byte, signed, sig []byte) bool {
	if h.env.Sr25519Verifier == nil {
		panic("sdktest: VerifySr25519 needs Env.Sr25519Verifier (the SDK has no native sr25519)")
	}
	return h.env.Sr25519Verifier(pub, signed, sig)
}
