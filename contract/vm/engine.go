package vm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/phala-go/phala/contract/gas"
)

// Engine owns the wazero runtime, the compilation cache and the loaded programs. It is safe for
// concurrent use.
type Engine struct {
	cfg      Config
	rt       wazero.Runtime
	cache    wazero.CompilationCache
	modCfg   wazero.ModuleConfig
	mu       sync.Mutex
	programs map[[32]byte]*program
	closed   bool
}

// NewEngine creates an engine with its own wazero runtime and the host modules "phala" and
// "wasi_snapshot_preview1".
func NewEngine(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rc := wazero.NewRuntimeConfigCompiler()
	if cfg.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	rc = rc.WithCoreFeatures(api.CoreFeaturesV2.SetEnabled(api.CoreFeatureSIMD, false)).
		WithMemoryLimitPages(cfg.MaxMemoryPages).
		WithDebugInfoEnabled(false)
	e := &Engine{
		cfg:      cfg,
		programs: map[[32]byte]*program{},
		modCfg:   wazero.NewModuleConfig().WithName("").WithStartFunctions(),
	}
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("vm: opening the compilation cache %s: %w", cfg.CacheDir, err)
		}
		e.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	e.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	for _, m := range []struct {
		name  string
		funcs []hostFunc
	}{{phalaModule, phalaFuncs}, {wasiModule, wasiFuncs}} {
		if err := e.instantiateHost(ctx, m.name, m.funcs); err != nil {
			return nil, errors.Join(err, e.Close(ctx))
		}
	}
	return e, nil
}

func (e *Engine) instantiateHost(ctx context.Context, name string, funcs []hostFunc) error {
	b := e.rt.NewHostModuleBuilder(name)
	needsHost := name == phalaModule
	for i := range funcs {
		f := &funcs[i]
		params, results := f.apiTypes()
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			s, _ := ctx.Value(stateKey{}).(*callState)
			if s == nil {
				panic(fmt.Errorf("%w: host function %s called outside a call", ErrHost, f.name))
			}
			if err := s.invoke(f, mod.Memory(), stack, needsHost); err != nil {
				if s.abort == nil {
					s.abort = err
				}
				panic(err)
			}
		}), params, results).Export(f.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("vm: instantiating host module %s: %w", name, err)
	}
	return nil
}

// invoke charges the base cost and runs a host function; a panic in the Host becomes ErrHost.
func (s *callState) invoke(f *hostFunc, mem guestMemory, stack []uint64, needsHost bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: host function %s panicked: %v", ErrHost, f.name, r)
		}
	}()
	if needsHost && s.host == nil {
		return fmt.Errorf("%w: %s.%s called during _initialize (package initialisation cannot use the host)", ErrABI, phalaModule, f.name)
	}
	if err := s.charge(s.cfg.Costs.Base); err != nil {
		return err
	}
	return f.fn(s, mem, stack)
}

// Close releases the runtime and every module. Calls in progress fail; close the engine only
// after they return.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.programs = map[[32]byte]*program{}
	e.mu.Unlock()
	err := e.rt.Close(ctx)
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

// Load prepares a contract module for calls: Validate, instrument (Config.Gas), compile (from
// the cache when possible), run _initialize with Config.InitGas and keep the post-init
// snapshot. Loading the same bytes again reuses the compiled program and snapshot; each Code
// has its own instances and query bound, so load once per contract.
func (e *Engine) Load(ctx context.Context, wasm []byte) (*Code, error) {
	if err := Validate(wasm); err != nil {
		return nil, err
	}
	p, spare, err := e.program(ctx, wasm)
	if err != nil {
		return nil, err
	}
	c := &Code{e: e, p: p, slots: make(chan struct{}, e.cfg.QueryInstances)}
	if spare != nil {
		c.idle = append(c.idle, spare)
	}
	return c, nil
}

// program returns the shared program of wasm, building it if needed; spare is the instance
// that ran _initialize when this call built the program.
func (e *Engine) program(ctx context.Context, wasm []byte) (*program, *instance, error) {
	hash := sha256.Sum256(wasm)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, nil, ErrClosed
	}
	if p := e.programs[hash]; p != nil {
		p.refs++
		e.mu.Unlock()
		<-p.ready
		if p.err != nil {
			return nil, nil, p.err
		}
		return p, nil, nil
	}
	p := &program{e: e, hash: hash, refs: 1, ready: make(chan struct{})}
	e.programs[hash] = p
	e.mu.Unlock()
	spare, err := p.build(ctx, wasm)
	p.err = err
	if err != nil {
		e.mu.Lock()
		if e.programs[hash] == p {
			delete(e.programs, hash)
		}
		e.mu.Unlock()
	}
	close(p.ready)
	return p, spare, err
}

// release drops a Code's reference to p and closes p with the last one.
func (e *Engine) release(ctx context.Context, p *program) {
	e.mu.Lock()
	p.refs--
	last := p.refs == 0
	if last && e.programs[p.hash] == p {
		delete(e.programs, p.hash)
	}
	e.mu.Unlock()
	if last {
		p.compiled.Close(ctx)
	}
}

// program is a compiled, instrumented module and its post-init snapshot, shared by the Codes
// that loaded the same bytes.
type program struct {
	e           *Engine
	hash        [32]byte
	refs        int
	ready       chan struct{}
	err         error
	compiled    wazero.CompiledModule
	globalNames []string
	snap        snapshot
}

// snapshot is the state every call starts from.
type snapshot struct {
	memory  []byte   // the whole linear memory after _initialize
	globals []uint64 // the mutable globals, in globalNames order
	clock   uint64   // the monotonic clock when _initialize returned
	initGas uint64   // gas _initialize used
}

func (p *program) build(ctx context.Context, wasm []byte) (*instance, error) {
	metered, err := gas.Instrument(wasm, p.e.cfg.Gas)
	if err != nil {
		if errors.Is(err, gas.ErrConfig) {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	exported, names, err := exportGlobals(metered)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	p.globalNames = names
	if p.compiled, err = p.e.rt.CompileModule(ctx, exported); err != nil {
		return nil, fmt.Errorf("%w: the engine refused the module: %w", ErrInvalidModule, err)
	}
	in, err := p.newInstance(ctx)
	if err != nil {
		p.compiled.Close(ctx)
		return nil, err
	}
	s := &callState{cfg: &p.e.cfg, meter: in.meter, monoBase: initMonoBase}
	in.meter.Reset(p.e.cfg.InitGas)
	if err := in.init.CallWithStack(context.WithValue(ctx, stateKey{}, s), nil); err != nil {
		in.mod.Close(ctx)
		p.compiled.Close(ctx)
		return nil, fmt.Errorf("%w: %w", ErrInit, classify(s, in.meter, err))
	}
	mem, _ := in.mem.Read(0, in.mem.Size())
	p.snap = snapshot{
		memory:  append([]byte(nil), mem...),
		globals: make([]uint64, len(in.globals)),
		clock:   s.monoBase + s.elapsed,
		initGas: p.e.cfg.InitGas - in.meter.Left(),
	}
	for i, g := range in.globals {
		p.snap.globals[i] = g.Get()
	}
	in.clean = true
	return in, nil
}

// newInstance instantiates the compiled module without running anything.
func (p *program) newInstance(ctx context.Context) (*instance, error) {
	mod, err := p.e.rt.InstantiateModule(ctx, p.compiled, p.e.modCfg)
	if err != nil {
		return nil, fmt.Errorf("%w: instantiating the contract: %w", ErrHost, err)
	}
	in := &instance{mod: mod, mem: mod.Memory(), globals: make([]api.MutableGlobal, len(p.globalNames))}
	if in.meter, err = gas.NewMeter(mod); err != nil {
		mod.Close(ctx)
		return nil, fmt.Errorf("%w: %w", ErrHost, err)
	}
	for i, name := range p.globalNames {
		in.globals[i] = mod.ExportedGlobal(name).(api.MutableGlobal)
	}
	for e, name := range entryExports {
		in.entries[e] = mod.ExportedFunction(name)
	}
	in.init = mod.ExportedFunction("_initialize")
	return in, nil
}
