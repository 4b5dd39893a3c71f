package gas

import "errors"

var (
	// ErrMalformed reports bytes that do not decode as a WebAssembly binary.
	ErrMalformed = errors.New("gas: malformed wasm")
	// ErrInvalid reports a module that decodes but breaks a validation rule (an index out of
	// range, unbalanced blocks, a misplaced else, ...).
	ErrInvalid = errors.New("gas: invalid wasm")
	// ErrUnsupported reports a valid module that uses a feature contracts may not use
	// (reference types, multiple memories or tables, tail calls, exceptions, a start section,
	// ...). ErrSIMD and ErrThreads are the two most common cases and wrap it.
	ErrUnsupported = errors.New("gas: unsupported wasm feature")
	// ErrSIMD reports a 128-bit SIMD instruction or v128 value; errors.Is(err, ErrUnsupported)
	// also holds.
	ErrSIMD = errors.New("gas: SIMD (v128, 0xFD prefix) is not allowed in contracts")
	// ErrThreads reports an atomic instruction (0xFE prefix) or a shared memory;
	// errors.Is(err, ErrUnsupported) also holds.
	ErrThreads = errors.New("gas: threads (atomics, shared memory) are not allowed in contracts")
	// ErrLimit reports a module that exceeds a size limit (see docs/gas.md).
	ErrLimit = errors.New("gas: module exceeds a size limit")
	// ErrReservedName reports a module that already exports one of the names Instrument adds.
	ErrReservedName = errors.New("gas: export name reserved for metering")
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("gas: invalid config")
	// ErrOutOfGas is returned by Meter.Charge when the budget cannot pay; a host function
	// that gets it must panic with it so that the call traps.
	ErrOutOfGas = errors.New("gas: out of gas")
	// ErrNotInstrumented reports a wazero module that lacks the metering globals.
	ErrNotInstrumented = errors.New("gas: module is not instrumented (metering globals missing)")
)
