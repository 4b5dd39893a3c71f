package vm

import (
	"fmt"
	"time"
)

// Entry is a contract entry point.
type Entry int

// The entry points; each is an export (i32 input length) -> (i32 status).
const (
	EntryInstantiate Entry = iota
	EntryExecute
	EntryQuery
)

var entryExports = [...]string{EntryInstantiate: "instantiate", EntryExecute: "execute", EntryQuery: "query"}

func (e Entry) String() string {
	if e >= 0 && int(e) < len(entryExports) {
		return entryExports[e]
	}
	return fmt.Sprintf("entry(%d)", int(e))
}

// CallerKind says who made a call. The values are part of the ABI (the first byte the caller
// import writes) and match the SDK's.
type CallerKind uint8

// Caller kinds. CallerNone is an anonymous query. CallerChain is the chain itself, delivering a
// deposit or a bounce (docs/contract-abi.md); its ID is all zeros.
const (
	CallerNone     CallerKind = 0
	CallerAccount  CallerKind = 1
	CallerContract CallerKind = 2
	CallerChain    CallerKind = 3
)

// Caller is the account or contract that made a call.
type Caller struct {
	Kind CallerKind
	ID   [32]byte
}

// Block is the verified block a command runs in, or whose state a query reads.
type Block struct {
	Height uint64
	Time   time.Time
}

// Host is the contract's world during one call, implemented by pRuntime. Storage is the
// contract's own namespace, already isolated and encrypted by the host. The VM charges gas for
// each host function before calling the Host (docs/contract-abi.md), and validates sizes and
// read-only rules first, so a Host sees only well-formed requests. Slices passed to the Host
// are copies it may keep. A Host method is called from the goroutine running the call.
type Host interface {
	// Get returns the value at key: nil, nil when absent; a non-nil slice (possibly empty)
	// when present.
	Get(key []byte) ([]byte, error)
	Set(key, value []byte) error
	Remove(key []byte) error
	// Next returns the first entry whose key starts with prefix and is greater than after
	// (after == nil: the first entry with prefix), in ascending byte order.
	Next(prefix, after []byte) (key, value []byte, ok bool, err error)
	Caller() Caller
	Self() [32]byte
	Block() Block
	// Emit records an event; whether it becomes public is the host's decision.
	Emit(topic string, data []byte) error
	// Randomness is deterministic per contract and block (derived from the key tree).
	Randomness() [32]byte
	// Log receives development output (the log import, the contract's stdout and stderr,
	// trap details); the host may drop it.
	Log(msg string)
	// Call runs another contract synchronously with at most gasLimit gas and returns its
	// output and the gas it used. The callee must see this contract as its caller, run
	// read-only when this call is, and have its writes discarded with the caller's. Errors:
	// *ContractError for the callee's own error, ErrOutOfGas, ErrTrap (and ErrABI, ErrLimit,
	// ErrReadOnly), ErrNotSupported; anything else aborts the caller with ErrHost.
	Call(contract [32]byte, input []byte, gasLimit uint64) (output []byte, gasUsed uint64, err error)
	// Send queues an asynchronous message: input (at most MaxInput bytes) for contract, to run
	// as a command with at most gasLimit (> 0) gas, paid by this contract's on-chain account
	// when it is delivered. It returns the message's number: the messages a contract sends are
	// numbered from 0 over its life. Like writes, the message is kept only if the call (the
	// outermost one, for a nested call) succeeds, and a discarded message's number is used
	// again. The receiver sees this contract as its caller (CallerContract). Messages are
	// delivered in order and exactly once, or bounced back to this contract.
	Send(contract [32]byte, input []byte, gasLimit uint64) (number uint64, err error)
	// Transfer queues a transfer of amount (a positive decimal integer below 2^128, in the
	// smallest unit, already validated) from this contract's on-chain account (whose id is the
	// contract id) to account to; kept only if the call succeeds, like Send. A transfer the
	// account cannot pay bounces back to this contract.
	//
	// Send and Transfer errors: one wrapping ErrLimit (a bound of the host's own) fails the call
	// with ErrLimit; anything else aborts it with ErrHost. Both must be deterministic. pRuntime
	// returns neither: it checks its bounds on the whole call's report afterwards.
	Transfer(to [32]byte, amount string) error
	// ReadOnly reports whether writes and events must be refused; queries are always read-only.
	ReadOnly() bool
}

// Result is the outcome of a call. GasUsed is exact and identical on every replica, whatever
// Err is (the whole budget after ErrOutOfGas; 0 when the call was refused before it started:
// ErrOverloaded, ErrClosed, ErrLimit on the input).
type Result struct {
	Output  []byte
	GasUsed uint64
	Err     error
}
