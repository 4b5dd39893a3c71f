package gas

import (
	"fmt"
	"math"

	"github.com/tetratelabs/wazero/api"
)

// Meter reads and writes the metering globals of an instantiated, instrumented module. Use
// one per module instance, from the goroutine that calls into it.
//
// Protocol: Reset(budget) before each call into the module; after the call, Left() is what
// remains. If the call trapped, OutOfGas and StackExhausted say whether the metering caused
// it; after any trap, discard the instance (the guest was interrupted mid-way). A host
// function charges for its own work with Charge and panics with the error it returns, so the
// call traps at the same place on every replica.
type Meter struct {
	gas       api.MutableGlobal
	depth     api.MutableGlobal
	depthBase uint64
}

// NewMeter binds to the globals of mod, which must be an instance of Instrument's output that
// has not trapped (its stack-units global then holds the configured limit, which Reset restores).
func NewMeter(mod api.Module) (*Meter, error) {
	gas, ok := mod.ExportedGlobal(GasGlobalExport).(api.MutableGlobal)
	if !ok || gas.Type() != api.ValueTypeI64 {
		return nil, fmt.Errorf("%w: no mutable i64 global %q", ErrNotInstrumented, GasGlobalExport)
	}
	depth, ok := mod.ExportedGlobal(DepthGlobalExport).(api.MutableGlobal)
	if !ok || depth.Type() != api.ValueTypeI32 {
		return nil, fmt.Errorf("%w: no mutable i32 global %q", ErrNotInstrumented, DepthGlobalExport)
	}
	return &Meter{gas: gas, depth: depth, depthBase: depth.Get()}, nil
}

// Reset sets the budget (clamped to math.MaxInt64) and restores the stack limit.
func (m *Meter) Reset(budget uint64) {
	m.gas.Set(min(budget, math.MaxInt64))
	m.depth.Set(m.depthBase)
}

// Left returns the gas left, 0 after running out.
func (m *Meter) Left() uint64 {
	v := int64(m.gas.Get())
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// Charge takes amount from the budget for work a host function does. If the budget cannot
// pay, it marks the module out of gas and returns ErrOutOfGas: the host function must then
// panic with that error (wazero turns the panic into a trap of the call).
func (m *Meter) Charge(amount uint64) error {
	left := int64(m.gas.Get())
	if left < 0 || amount > uint64(left) {
		m.gas.Set(api.EncodeI64(-1))
		return fmt.Errorf("%w: host call needs %d, %d left", ErrOutOfGas, amount, max(left, 0))
	}
	m.gas.Set(uint64(left) - amount)
	return nil
}

// OutOfGas reports whether the last call stopped because the budget ran out.
func (m *Meter) OutOfGas() bool { return int64(m.gas.Get()) < 0 }

// StackExhausted reports whether the last call stopped at the stack-depth limit.
func (m *Meter) StackExhausted() bool { return int32(uint32(m.depth.Get())) < 0 }

// OutOfGas reports whether mod, an instance of an instrumented module, stopped because its
// budget ran out; false if mod is not instrumented.
func OutOfGas(mod api.Module) bool {
	g := mod.ExportedGlobal(GasGlobalExport)
	return g != nil && int64(g.Get()) < 0
}
