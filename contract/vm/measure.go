package vm

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Timing hooks for whole-system benchmarks (`phala bench contracts`): the metering and the
// post-init snapshot are internal to the VM, so the VM times them itself. Workers never call
// these.

// MeteringRuns is what MeasureMetering timed, each run in the order it ran.
type MeteringRuns struct {
	Metered   []time.Duration
	Unmetered []time.Duration
	// GasUsed is the gas one metered run used.
	GasUsed uint64
}

// MeasureMetering loads the contract module wasm and calls its export, a function
// (i64) -> (i64) that must not call the host, with arg n times in an instance metered as every
// contract call is (Config.Gas), and n times in an instance of wasm as given, without the
// metering. Both run on this engine's runtime and host modules, both ran _initialize first, and
// the runs alternate (with alternating order) so that both see the same machine load.
func (e *Engine) MeasureMetering(ctx context.Context, wasm []byte, export string, arg uint64, n int) (*MeteringRuns, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: %d runs, want at least 1", ErrConfig, n)
	}
	c, err := e.Load(ctx, wasm)
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	metered, err := c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	// Never returned to the pool: after the runs its memory is not the snapshot's.
	defer metered.mod.Close(ctx)
	compiled, err := e.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: the engine refused the unmetered module: %w", ErrInvalidModule, err)
	}
	defer compiled.Close(ctx)
	plain, err := e.rt.InstantiateModule(ctx, compiled, e.modCfg)
	if err != nil {
		return nil, fmt.Errorf("%w: instantiating the unmetered module: %w", ErrHost, err)
	}
	defer plain.Close(ctx)
	// The unmetered module has no gas global: the WASI calls of its _initialize charge the
	// metered instance's meter, which every run resets.
	s := &callState{cfg: &e.cfg, meter: metered.meter, monoBase: initMonoBase}
	metered.meter.Reset(e.cfg.InitGas)
	if _, err := plain.ExportedFunction("_initialize").Call(context.WithValue(ctx, stateKey{}, s)); err != nil {
		return nil, fmt.Errorf("%w: unmetered _initialize: %w", ErrInit, err)
	}
	fm, fp := metered.mod.ExportedFunction(export), plain.ExportedFunction(export)
	if !isI64ToI64(fm) || !isI64ToI64(fp) {
		return nil, fmt.Errorf("%w: %q is not an exported function (i64) -> (i64)", ErrMissingExport, export)
	}
	const budget = math.MaxInt64
	runs := &MeteringRuns{Metered: make([]time.Duration, 0, n), Unmetered: make([]time.Duration, 0, n)}
	unmetered := func() error {
		start := time.Now()
		if _, err := fp.Call(ctx, arg); err != nil {
			return fmt.Errorf("%w: unmetered %s: %w", ErrTrap, export, err)
		}
		runs.Unmetered = append(runs.Unmetered, time.Since(start))
		return nil
	}
	meteredRun := func() error {
		metered.meter.Reset(budget)
		start := time.Now()
		if _, err := fm.Call(ctx, arg); err != nil {
			return fmt.Errorf("%w: metered %s: %w", ErrTrap, export, err)
		}
		runs.Metered = append(runs.Metered, time.Since(start))
		runs.GasUsed = budget - metered.meter.Left()
		return nil
	}
	for i := range n {
		order := []func() error{unmetered, meteredRun}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, run := range order {
			if err := run(); err != nil {
				return nil, err
			}
		}
	}
	return runs, nil
}

func isI64ToI64(f api.Function) bool {
	if f == nil {
		return false
	}
	d := f.Definition()
	p, r := d.ParamTypes(), d.ResultTypes()
	return len(p) == 1 && p[0] == api.ValueTypeI64 && len(r) == 1 && r[0] == api.ValueTypeI64
}

// StartRuns is what MeasureStart timed, each run in the order it ran.
type StartRuns struct {
	// Restore is copying the post-init snapshot into a used instance: what every call does.
	Restore []time.Duration
	// Instantiate is instantiating the compiled module and running its _initialize: what
	// every call would do without the snapshot.
	Instantiate []time.Duration
}

// MeasureStart times the two ways of giving a call the post-init state, n times each,
// alternately: restoring c's snapshot into one of its instances, and instantiating c's module
// and running _initialize (budget Config.InitGas; closing the new instance is not timed). c
// stays usable: its instance goes back to the pool in the snapshot state.
func (c *Code) MeasureStart(ctx context.Context, n int) (*StartRuns, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: %d runs, want at least 1", ErrConfig, n)
	}
	in, err := c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer c.put(ctx, in)
	runs := &StartRuns{Restore: make([]time.Duration, 0, n), Instantiate: make([]time.Duration, 0, n)}
	for range n {
		start := time.Now()
		c.p.restore(in)
		runs.Restore = append(runs.Restore, time.Since(start))

		start = time.Now()
		fresh, err := c.p.newInstance(ctx)
		if err != nil {
			return nil, err
		}
		s := &callState{cfg: &c.e.cfg, meter: fresh.meter, monoBase: initMonoBase}
		fresh.meter.Reset(c.e.cfg.InitGas)
		err = fresh.init.CallWithStack(context.WithValue(ctx, stateKey{}, s), nil)
		elapsed := time.Since(start)
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrInit, classify(s, fresh.meter, err))
		}
		fresh.mod.Close(ctx)
		if err != nil {
			return nil, err
		}
		runs.Instantiate = append(runs.Instantiate, elapsed)
	}
	return runs, nil
}
