package gas

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

func seedModules(tb testing.TB) [][]byte {
	return [][]byte{
		append([]byte(nil), wasmHeader...),
		modSpec{memory: true}.build(),
		memoryModule(tb),
		controlModule(tb),
		recursive(tb, 3),
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range seedModules(f) {
		f.Add(s)
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x05\x01\x60\x00\x01\x7f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if m != nil {
				t.Fatal("module returned with an error")
			}
			return
		}
		_ = m.Imports()
		_ = m.Exports()
	})
}

// fuzzRuntimes are plain runtimes for fuzzing: the shared test cache would grow without
// bound, so fuzz iterations compile, run and close their own modules.
var fuzzRuntimes = sync.OnceValue(func() map[string]wazero.Runtime {
	ctx := context.Background()
	return map[string]wazero.Runtime{
		"interpreter": wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCloseOnContextDone(true)),
		"compiler":    wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true)),
	}
})

func compiles(eng string, wasm []byte) error {
	ctx := context.Background()
	c, err := fuzzRuntimes()[eng].CompileModule(ctx, wasm)
	if err == nil {
		c.Close(ctx)
	}
	return err
}

func FuzzInstrument(f *testing.F) {
	for _, s := range seedModules(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Instrument(data, DefaultConfig())
		if err != nil {
			if out != nil {
				t.Fatal("output returned with an error")
			}
			return
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("instrumented output does not parse: %v", err)
		}
		if compiles("interpreter", data) != nil {
			return // not valid Wasm to begin with (operand types are the engine's to check)
		}
		if err := compiles("interpreter", out); err != nil {
			t.Fatalf("valid input, invalid output: %v", err)
		}
	})
}

// bodyModule wraps fuzzed instructions into a function (i32, i32) -> i32 of a module with a
// memory, a table, globals and a passive data segment.
func bodyModule(code []byte) []byte {
	return modSpec{
		memory:  true,
		table:   true,
		globals: []ValueType{I32, I64, F32, F64},
		data:    [][]byte{[]byte("0123456789abcdef")},
		funcs: []fn{
			{name: "f", typ: sig("i32 i32", "i32"), locals: []ValueType{I32, I64, F32, F64}, code: code},
			{name: "g", typ: sig("i32", "i32"), code: []byte{opLocalGet, 0, opLocalGet, 0, opI32Add}},
		},
	}.build()
}

type fuzzOutcome struct {
	results string
	trapped bool
	raw     int64
	stack   bool
}

func fuzzRun(t *testing.T, eng string, wasm []byte, metered bool, args ...uint64) fuzzOutcome {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := fuzzRuntimes()[eng]
	c, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("%s: compile: %v", eng, err)
	}
	defer c.Close(ctx)
	mod, err := r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("%s: instantiate: %v", eng, err)
	}
	defer mod.Close(ctx)
	var meter *Meter
	if metered {
		if meter, err = NewMeter(mod); err != nil {
			t.Fatal(err)
		}
		meter.Reset(5000)
	}
	res, err := mod.ExportedFunction("f").Call(ctx, args...)
	if ctx.Err() != nil {
		if metered {
			t.Fatalf("%s: a metered call ran for 2s", eng)
		}
		return fuzzOutcome{trapped: true}
	}
	o := fuzzOutcome{trapped: err != nil}
	if err == nil {
		o.results = fmt.Sprint(uint32(res[0]))
	}
	if metered {
		o.raw = int64(mod.ExportedGlobal(GasGlobalExport).Get())
		o.stack = meter.StackExhausted()
	}
	return o
}

// FuzzInstrumentBody fuzzes one function body in a fixed module: whenever wazero accepts the
// original, the instrumented module must compile, behave the same on both engines, and
// return what the original returns when it runs to completion.
func FuzzInstrumentBody(f *testing.F) {
	for _, src := range []string{
		"local.get 0 local.get 1 i32.add",
		"block i32 local.get 0 local.get 1 br_if 0 drop i32.const 7 end",
		"block loop local.get 0 i32.eqz br_if 1 local.get 0 i32.const 1 i32.sub local.set 0 br 0 end end local.get 1",
		"block block block local.get 0 br_table 0 1 2 end i32.const 1 return end i32.const 2 return end i32.const 3",
		"i32.const 0 i32.const 1 local.get 0 memory.fill local.get 0 memory.grow",
		"local.get 0 f64.convert_i32_s f64.sqrt i64.reinterpret_f64 i32.wrap_i64",
		"local.get 0 local.get 1 i32.const 1 call_indirect 1",
		"loop br 0 end i32.const 0",
		"local.get 0 call 1 local.get 1 call 0",
	} {
		f.Add(asm(f, src))
	}
	f.Fuzz(func(t *testing.T, code []byte) {
		orig := bodyModule(code)
		if compiles("interpreter", orig) != nil {
			return
		}
		out, err := Instrument(orig, DefaultConfig())
		if err != nil {
			// wazero ignores the unused bits of a LEB128's last byte; the spec, and Parse, do not.
			lax := errors.Is(err, ErrMalformed) && strings.Contains(err.Error(), "overflows")
			if (errors.Is(err, ErrMalformed) || errors.Is(err, ErrInvalid)) && !lax {
				t.Fatalf("wazero accepts the module but Instrument says: %v", err)
			}
			return
		}
		args := []uint64{3, 5}
		a := fuzzRun(t, "interpreter", out, true, args...)
		b := fuzzRun(t, "compiler", out, true, args...)
		if a != b {
			t.Fatalf("engines disagree: %+v vs %+v", a, b)
		}
		if a.trapped {
			return
		}
		if o := fuzzRun(t, "interpreter", orig, false, args...); o.trapped || o.results != a.results {
			t.Fatalf("instrumented returned %s, original %+v", a.results, o)
		}
	})
}
