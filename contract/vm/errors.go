package vm

import (
	"errors"

	"github.com/phala-go/phala/contract/gas"
)

// Upload-time errors (Validate). Each wraps ErrInvalidModule.
var (
	// ErrInvalidModule is the category of every Validate failure; the errors below and those of
	// package gas (gas.ErrMalformed, gas.ErrInvalid, gas.ErrUnsupported, gas.ErrLimit) say why.
	ErrInvalidModule = errors.New("vm: invalid contract module")
	// ErrMissingExport reports a missing or mistyped required export.
	ErrMissingExport = errors.New("vm: required export missing or mistyped")
	// ErrUnknownImport reports an import the VM does not provide, or one with another signature.
	ErrUnknownImport = errors.New("vm: import not provided by the VM")
	// ErrStartSection reports a start function: it would run before the VM sets a gas budget.
	ErrStartSection = errors.New("vm: start section not allowed (Go reactors export _initialize)")
	// ErrPassiveData reports a passive data segment: data.drop would make an instance's state
	// differ from the snapshot every call starts from.
	ErrPassiveData = errors.New("vm: passive data segments are not allowed")
	// ErrReservedExport reports an export whose name starts with the VM's reserved prefix.
	ErrReservedExport = errors.New("vm: export name reserved for the VM (prefix " + reservedPrefix + ")")
	// ErrSIMD reports SIMD instructions or types (the same error as gas.ErrSIMD).
	ErrSIMD = gas.ErrSIMD
	// ErrThreads reports atomics or shared memory (the same error as gas.ErrThreads).
	ErrThreads = gas.ErrThreads
)

// Call errors (Result.Err). Whenever Result.Err is not nil the host discards the call's writes.
var (
	// ErrOutOfGas reports a call that used its whole budget.
	ErrOutOfGas = errors.New("vm: out of gas")
	// ErrTrap reports a call the contract could not finish: a Wasm trap, a panic (proc_exit),
	// the stack limit.
	ErrTrap = errors.New("vm: contract trapped")
	// ErrStackExhausted reports the recursion limit (also wraps ErrTrap).
	ErrStackExhausted = errors.New("vm: stack depth limit reached")
	// ErrContract reports an error the contract returned; *ContractError carries its message.
	ErrContract = errors.New("vm: contract returned an error")
	// ErrABI reports a contract that broke the host-call rules (a pointer outside its memory, an
	// invalid key or event topic, an unknown algorithm, a bad entry status).
	ErrABI = errors.New("vm: contract broke the ABI")
	// ErrLimit reports input, output, a key, a stored value or an event above the configured
	// limits.
	ErrLimit = errors.New("vm: limit exceeded")
	// ErrReadOnly reports a storage write or an event in a query (or under a read-only Host).
	ErrReadOnly = errors.New("vm: write in a read-only call")
	// ErrNotSupported is what a Host returns from Call when it offers no cross-contract calls.
	ErrNotSupported = errors.New("vm: not supported by this host")
	// ErrOverloaded reports a query refused because all of the contract's query instances are
	// busy; retry later.
	ErrOverloaded = errors.New("vm: worker overloaded: all query instances of this contract are busy")
	// ErrHost reports a failure of the Host itself (storage I/O, a panic in the host). It is not
	// the contract's doing and may differ between replicas: do not record it as the command's
	// outcome.
	ErrHost = errors.New("vm: host failure")
	// ErrInit reports a module whose _initialize failed at Load.
	ErrInit = errors.New("vm: contract initialisation failed")
	// ErrClosed reports a call on a closed Code or Engine.
	ErrClosed = errors.New("vm: closed")
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("vm: invalid config")
)

// ContractError is the error a contract returned from an entry point (status 1); Message is
// the contract's own text. errors.Is(err, ErrContract) holds.
type ContractError struct{ Message string }

func (e *ContractError) Error() string { return "vm: contract error: " + e.Message }

// Is makes errors.Is(err, ErrContract) true.
func (e *ContractError) Is(target error) bool { return target == ErrContract }
