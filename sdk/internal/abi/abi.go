package abi

// Entry names one of the three contract entry points.
type Entry int

// The entry points, in the VM's order.
const (
	Instantiate Entry = iota
	Execute
	Query
)

// Call statuses shared by the VM's call import and the native host.
const (
	CallOK           = 0
	CallFailed       = 1 // the callee returned an error; the output is its message
	CallNotSupported = 2
	CallOutOfGas     = 3
	CallTrapped      = 4
)

// Host is what a native test environment provides. Violations of the host's rules (a write
// from a query, a value above the limit) panic, as a Wasm host traps.
type Host interface {
	Get(key []byte) ([]byte, bool)
	Set(key, value []byte)
	Remove(key []byte)
	Next(prefix, after []byte) (key, value []byte, ok bool)
	Caller() (kind uint8, id [32]byte)
	Self() [32]byte
	Block() (height uint64, unixNano int64)
	Emit(topic string, data []byte)
	Randomness() [32]byte
	Log(msg string)
	Call(contract [32]byte, input []byte, gasLimit uint64) (status int, output []byte)
	Send(contract [32]byte, input []byte, gasLimit uint64) (number uint64)
	Transfer(to [32]byte, amount string)
	VerifySr25519(pub [32]byte, signed, sig []byte) bool
}

// Current is the host of the call in progress; sdktest sets it around each call.
var Current Host

// Dispatch runs an entry point on input; the SDK installs it when compiled natively. It returns
// the output, or the error the contract's handler returned.
var Dispatch func(e Entry, input []byte) ([]byte, error)
