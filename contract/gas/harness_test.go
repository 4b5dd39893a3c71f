package gas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// goContract is the test contract (testdata/contract) built once by TestMain.
var goContract []byte

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gas-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "contract.wasm")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-buildmode=c-shared", "-o", out, "./testdata/contract")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building testdata/contract: %v\n%s", err, msg)
		return 1
	}
	if goContract, err = os.ReadFile(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// engine is one of wazero's two execution engines.
type engine struct {
	name   string
	config func() wazero.RuntimeConfig
}

var engines = []engine{
	{"interpreter", wazero.NewRuntimeConfigInterpreter},
	{"compiler", wazero.NewRuntimeConfigCompiler},
}

// hostChargeUnit is what env.consume charges per unit it is asked for.
const hostChargeUnit = 3

// runtimes and compiled modules are shared by all tests: compiling the Go contract takes
// seconds on the compiler engine.
var (
	sharedMu       sync.Mutex
	sharedRuntimes = map[string]wazero.Runtime{}
	sharedModules  = map[string]wazero.CompiledModule{}
)

func runtimeFor(t testing.TB, eng engine) wazero.Runtime {
	t.Helper()
	if r, ok := sharedRuntimes[eng.name]; ok {
		return r
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, eng.config())
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	_, err := r.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			meter, err := NewMeter(mod)
			if err != nil {
				return // the original, unmetered module: nothing to charge
			}
			if err := meter.Charge(uint64(api.DecodeU32(stack[0])) * hostChargeUnit); err != nil {
				panic(err)
			}
		}), []api.ValueType{api.ValueTypeI32}, nil).Export("consume").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sharedRuntimes[eng.name] = r
	return r
}

func compiled(t testing.TB, eng engine, wasm []byte) wazero.CompiledModule {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	r := runtimeFor(t, eng)
	sum := sha256.Sum256(wasm)
	key := eng.name + string(sum[:])
	if c, ok := sharedModules[key]; ok {
		return c
	}
	c, err := r.CompileModule(context.Background(), wasm)
	if err != nil {
		t.Fatalf("%s: compile: %v", eng.name, err)
	}
	sharedModules[key] = c
	return c
}

// instance is a fresh instance of a (possibly instrumented) module.
type instance struct {
	mod   api.Module
	meter *Meter // nil for an unmetered module
	fns   map[string]api.Function
}

// instantiate creates an instance; for a Go reactor it runs _initialize with initBudget.
func instantiate(t testing.TB, eng engine, wasm []byte, initBudget uint64) *instance {
	t.Helper()
	c := compiled(t, eng, wasm)
	ctx := context.Background()
	mod, err := runtimeFor(t, eng).InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatalf("%s: instantiate: %v", eng.name, err)
	}
	t.Cleanup(func() { mod.Close(ctx) })
	in := &instance{mod: mod, fns: map[string]api.Function{}}
	if mod.ExportedGlobal(GasGlobalExport) != nil {
		if in.meter, err = NewMeter(mod); err != nil {
			t.Fatal(err)
		}
	}
	if mod.ExportedFunction("_initialize") != nil {
		res := in.call(initBudget, "_initialize")
		if res.err != nil {
			t.Fatalf("%s: _initialize: %v", eng.name, res.err)
		}
	}
	return in
}

// outcome is everything observable about one call.
type outcome struct {
	results        []uint64
	err            error
	gasLeft        uint64
	rawGas         int64 // the gas global as is: negative after running out
	outOfGas       bool
	stackExhausted bool
}

func (o outcome) String() string {
	return fmt.Sprintf("results=%v err=%v raw=%d oog=%v stack=%v", o.results, o.err, o.rawGas, o.outOfGas, o.stackExhausted)
}

// same compares outcomes; errors compare by whether they occurred and by kind.
func (o outcome) same(p outcome) bool {
	return fmt.Sprint(o.results) == fmt.Sprint(p.results) && (o.err == nil) == (p.err == nil) &&
		o.rawGas == p.rawGas && o.outOfGas == p.outOfGas && o.stackExhausted == p.stackExhausted
}

func (in *instance) call(budget uint64, name string, args ...uint64) outcome {
	if in.meter != nil {
		in.meter.Reset(budget)
	}
	f := in.fns[name]
	if f == nil {
		if f = in.mod.ExportedFunction(name); f == nil {
			return outcome{err: errors.New("no export " + name)}
		}
		in.fns[name] = f
	}
	res, err := f.Call(context.Background(), args...)
	for i, rt := range f.Definition().ResultTypes() {
		if i < len(res) && (rt == api.ValueTypeI32 || rt == api.ValueTypeF32) {
			res[i] = uint64(uint32(res[i])) // the compiler leaves the upper half undefined
		}
	}
	o := outcome{results: res, err: err}
	if in.meter != nil {
		o.gasLeft, o.outOfGas, o.stackExhausted = in.meter.Left(), in.meter.OutOfGas(), in.meter.StackExhausted()
		o.rawGas = int64(in.mod.ExportedGlobal(GasGlobalExport).Get())
	}
	return o
}

func mustInstrument(t testing.TB, wasm []byte, cfg Config) []byte {
	t.Helper()
	out, err := Instrument(wasm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:8], wasmHeader) {
		t.Fatal("instrumented module lacks the header")
	}
	return out
}
