package vm

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/contract/gas"
)

// Code is a loaded contract: its program, a pool of instances and the bound on concurrent
// queries. It is safe for concurrent use.
type Code struct {
	e     *Engine
	p     *program
	slots chan struct{} // one per query in progress
	mu    sync.Mutex
	idle  []*instance
	done  bool
}

// instance is one wazero instance of a program with what a call needs at hand.
type instance struct {
	mod     api.Module
	mem     api.Memory
	meter   *gas.Meter
	globals []api.MutableGlobal
	entries [len(entryExports)]api.Function
	init    api.Function
	stack   [1]uint64
	clean   bool // in the snapshot state: no call has run since the last restore
}

// Call runs entry point entry with input and at most gasLimit gas against host. The call
// starts from the post-init snapshot; when Result.Err is not nil the host must discard the
// call's writes. Queries (EntryQuery) are read-only and at most Config.QueryInstances of them
// run at once per Code. ctx bounds only the wait for a query slot: a running call is bounded by
// its gas, never by time, so that every replica stops at the same instruction.
func (c *Code) Call(ctx context.Context, host Host, entry Entry, input []byte, gasLimit uint64) Result {
	switch {
	case entry < EntryInstantiate || entry > EntryQuery:
		return Result{Err: fmt.Errorf("%w: entry point %d", ErrNotSupported, entry)}
	case host == nil:
		return Result{Err: fmt.Errorf("%w: nil Host", ErrHost)}
	case len(input) > c.e.cfg.MaxInput:
		return Result{Err: fmt.Errorf("%w: input of %d bytes exceeds %d", ErrLimit, len(input), c.e.cfg.MaxInput)}
	}
	if entry == EntryQuery {
		if err := c.admit(ctx); err != nil {
			return Result{Err: err}
		}
		defer func() { <-c.slots }()
	}
	in, err := c.acquire(ctx)
	if err != nil {
		return Result{Err: err}
	}
	res := c.run(ctx, in, host, entry, input, gasLimit)
	c.put(ctx, in)
	return res
}

// admit takes a query slot, waiting at most QueryWait.
func (c *Code) admit(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	overloaded := fmt.Errorf("%w (%d queries running)", ErrOverloaded, cap(c.slots))
	if c.e.cfg.QueryWait == 0 {
		return overloaded
	}
	t := time.NewTimer(c.e.cfg.QueryWait)
	defer t.Stop()
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-t.C:
		return overloaded
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", overloaded, ctx.Err())
	}
}

func (c *Code) run(ctx context.Context, in *instance, host Host, entry Entry, input []byte, gasLimit uint64) Result {
	if !in.clean {
		c.p.restore(in)
	}
	s := &callState{
		cfg:      &c.e.cfg,
		host:     host,
		entry:    entry,
		readOnly: entry == EntryQuery || host.ReadOnly(),
		meter:    in.meter,
		input:    input,
		monoBase: c.p.snap.clock,
	}
	budget := min(gasLimit, math.MaxInt64)
	in.meter.Reset(budget)
	if err := s.charge(c.e.cfg.Costs.Start); err != nil {
		return Result{GasUsed: budget, Err: err}
	}
	in.clean = false
	in.stack[0] = uint64(len(input))
	err := in.entries[entry].CallWithStack(context.WithValue(ctx, stateKey{}, s), in.stack[:])
	used := budget - in.meter.Left()
	s.flushOutput()
	if err != nil {
		host.Log(fmt.Sprintf("vm: %s trapped: %v", entry, err))
		return Result{GasUsed: used, Err: classify(s, in.meter, err)}
	}
	switch status := uint32(in.stack[0]); status {
	case 0:
		if s.output == nil {
			s.output = []byte{}
		}
		return Result{Output: s.output, GasUsed: used}
	case 1:
		return Result{GasUsed: used, Err: &ContractError{Message: string(s.output)}}
	default:
		return Result{GasUsed: used, Err: fmt.Errorf("%w: %s returned status %d (want 0 or 1)", ErrABI, entry, status)}
	}
}

// classify turns a failed wazero call into the VM's error: the host function's reason when one
// stopped the call, else what the metering globals say, else the first line the contract wrote
// to stderr (Go's panic message: a Go panic ends in runtime.abort's unreachable), else the
// trap's first line. The wasm stack trace goes to Host.Log only: it need not be identical on
// every engine.
func classify(s *callState, m *gas.Meter, err error) error {
	switch {
	case s.abort != nil:
		return s.abort
	case m.OutOfGas():
		return ErrOutOfGas
	case m.StackExhausted():
		return fmt.Errorf("%w: %w", ErrTrap, ErrStackExhausted)
	}
	if p := s.panicText(); p != "" {
		return fmt.Errorf("%w%s", ErrTrap, p)
	}
	line, _, _ := bytes.Cut([]byte(err.Error()), []byte("\n"))
	return fmt.Errorf("%w: %s", ErrTrap, line)
}

// flushOutput forwards what the contract wrote to stdout and stderr to Host.Log.
func (s *callState) flushOutput() {
	if s.host == nil {
		return
	}
	for _, b := range [][]byte{s.stdout, s.stderr} {
		if len(b) > 0 {
			s.host.Log(string(bytes.ToValidUTF8(b, []byte("?"))))
		}
	}
}

// acquire returns an idle instance or a new one restored from the snapshot.
func (c *Code) acquire(ctx context.Context) (*instance, error) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(c.idle); n > 0 {
		in := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return in, nil
	}
	c.mu.Unlock()
	in, err := c.p.newInstance(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.p.restoreFresh(in); err != nil {
		in.mod.Close(ctx)
		return nil, err
	}
	return in, nil
}

// put returns an instance to the pool, or closes it if its memory grew (memory cannot shrink,
// and every call must start with the snapshot's memory size) or the pool is full.
func (c *Code) put(ctx context.Context, in *instance) {
	if in.mem.Size() == uint32(len(c.p.snap.memory)) {
		c.mu.Lock()
		if !c.done && len(c.idle) <= cap(c.slots) {
			c.idle = append(c.idle, in)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
	in.mod.Close(ctx)
}

// restore puts an instance whose memory has the snapshot's size back in the snapshot state.
func (p *program) restore(in *instance) {
	mem, _ := in.mem.Read(0, in.mem.Size())
	copy(mem, p.snap.memory)
	for i, g := range in.globals {
		g.Set(p.snap.globals[i])
	}
	in.clean = true
}

// restoreFresh grows a new instance's memory to the snapshot's size and restores it.
func (p *program) restoreFresh(in *instance) error {
	want := uint32(len(p.snap.memory) / 65536)
	have := in.mem.Size() / 65536
	if have > want {
		return fmt.Errorf("%w: a fresh instance has %d pages, the snapshot %d", ErrHost, have, want)
	}
	if have < want {
		if _, ok := in.mem.Grow(want - have); !ok {
			return fmt.Errorf("%w: growing a fresh instance to %d pages", ErrHost, want)
		}
	}
	p.restore(in)
	return nil
}

// SnapshotSize returns the size in bytes of the memory image every call starts from.
func (c *Code) SnapshotSize() int { return len(c.p.snap.memory) }

// InitGas returns the gas _initialize used at Load.
func (c *Code) InitGas() uint64 { return c.p.snap.initGas }

// Close releases the Code's instances and its reference to the program. Calls in progress
// finish; later calls fail with ErrClosed.
func (c *Code) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return nil
	}
	c.done = true
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, in := range idle {
		in.mod.Close(ctx)
	}
	c.e.release(ctx, c.p)
	return nil
}
