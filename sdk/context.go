package sdk

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/phala-go/phala/sdk/internal/abi"
)

// Context describes the call in progress and gives access to the host. A handler receives it;
// it is valid only during that call.
type Context struct{ call *callInfo }

// callInfo caches what the host answered during one call.
type callInfo struct {
	entry  abi.Entry
	caller *Caller
	self   *Address
	block  *Block
}

// Caller returns who made the call: for commands the transaction's signer (or the calling
// contract), for queries the authenticated querier (Kind CallerNone when anonymous).
func (c Context) Caller() Caller {
	if c.call.caller == nil {
		kind, id := hostCaller()
		c.call.caller = &Caller{Kind: CallerKind(kind), ID: id}
	}
	return *c.call.caller
}

// Self returns this contract's address.
func (c Context) Self() Address {
	if c.call.self == nil {
		a := Address(hostSelf())
		c.call.self = &a
	}
	return *c.call.self
}

// Block returns the block the command runs in, or the block whose state a query reads. Its time
// comes from the verified block header, never from a clock.
func (c Context) Block() Block {
	if c.call.block == nil {
		h, t := hostBlock()
		c.call.block = &Block{Height: h, Time: time.Unix(0, t).UTC()}
	}
	return *c.call.block
}

// ReadOnly reports whether the call is a query, in which storage writes, events, messages and
// transfers trap.
func (c Context) ReadOnly() bool { return c.call.entry == abi.Query }

// Emit records an event with data encoded as JSON. Whether an event becomes public is the
// host's decision; never put secrets in one. The topic is 1 to 64 characters from
// [A-Za-z0-9_.:/-]; anything else traps. Emit panics if data cannot be encoded.
func (c Context) Emit(topic string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("sdk: encoding event %q: %v", topic, err))
	}
	hostEmit(topic, b)
}

// EmitBytes records an event with raw data.
func (c Context) EmitBytes(topic string, data []byte) { hostEmit(topic, data) }

// Randomness returns 32 bytes that are the same on every replica for this contract and block
// and unpredictable to anyone outside the workers (derived from the contract's key). Two calls
// in the same block see the same value: mix in something call-specific when that matters.
func (c Context) Randomness() [32]byte { return hostRandomness() }

// Log writes a development log line. Production workers drop it; it costs gas either way.
func (c Context) Log(format string, args ...any) { hostLog(fmt.Sprintf(format, args...)) }

// Call runs a command (or, from a query, a query) of another contract synchronously with at
// most gasLimit gas, and returns its output. The callee sees this contract as its caller; its
// writes are kept only if this call's are. Errors: *CallError (the callee returned an error),
// ErrCallNotSupported, ErrCalleeOutOfGas, ErrCalleeTrapped.
func (c Context) Call(contract Address, input []byte, gasLimit uint64) ([]byte, error) {
	status, out := hostCall(contract, input, gasLimit)
	switch status {
	case abi.CallOK:
		return out, nil
	case abi.CallFailed:
		return nil, &CallError{Message: string(out)}
	case abi.CallNotSupported:
		return nil, ErrCallNotSupported
	case abi.CallOutOfGas:
		return nil, ErrCalleeOutOfGas
	default:
		return nil, ErrCalleeTrapped
	}
}
