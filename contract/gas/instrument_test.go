package gas

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero/api"
)

const bigBudget = 1 << 50

// runBoth runs export name of the original and the instrumented module on both engines, on
// fresh instances, and checks that both engines agree on the instrumented outcome and that
// the instrumented results equal the original ones. It returns the instrumented outcome.
func runBoth(t *testing.T, orig, metered []byte, budget uint64, name string, args ...uint64) outcome {
	t.Helper()
	var first outcome
	for i, eng := range engines {
		o := instantiate(t, eng, metered, bigBudget).call(budget, name, args...)
		if i == 0 {
			first = o
		} else if !o.same(first) {
			t.Fatalf("%s%v: engines disagree:\n  %s: %s\n  %s: %s", name, args, engines[0].name, first, eng.name, o)
		}
	}
	if !first.outOfGas && !first.stackExhausted {
		o := instantiate(t, engines[1], orig, bigBudget).call(0, name, args...)
		if (o.err == nil) != (first.err == nil) || !equalResults(o.results, first.results) {
			t.Fatalf("%s%v: instrumented %s, original %s", name, args, first, o)
		}
	}
	return first
}

func equalResults(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// used runs export name on a fresh instrumented instance and returns the gas it used.
func used(t *testing.T, eng engine, metered []byte, name string, args ...uint64) uint64 {
	t.Helper()
	o := instantiate(t, eng, metered, bigBudget).call(bigBudget, name, args...)
	require.NoError(t, o.err, name)
	return bigBudget - o.gasLeft
}

func TestGoContractDifferential(t *testing.T) {
	metered := mustInstrument(t, goContract, DefaultConfig())
	cases := []struct {
		name    string
		args    []uint64
		wantErr bool
	}{
		{"burn", []uint64{1000}, false},
		{"fib", []uint64{15}, false},
		{"recurse", []uint64{200}, false},
		{"bulk", []uint64{5000}, false},
		{"floats", []uint64{math.Float64bits(1.5), 100}, false},
		{"hostcalls", []uint64{4, 10}, false},
		{"hashes", []uint64{1000, 3}, false},
		{"sorts", []uint64{500}, false},
		{"jsons", []uint64{10}, false},
		{"divide", []uint64{7, 2}, false},
		{"divide", []uint64{7, 0}, true},
		{"crash", nil, true},
		{"noop", nil, false},
	}
	for _, c := range cases {
		o := runBoth(t, goContract, metered, bigBudget, c.name, c.args...)
		require.Equal(t, c.wantErr, o.err != nil, "%s%v: %s", c.name, c.args, o)
		require.False(t, o.outOfGas, c.name)
		require.Less(t, o.gasLeft, uint64(bigBudget), "%s charged nothing", c.name)
	}
}

func TestGoContractInitGasIsEngineIndependent(t *testing.T) {
	metered := mustInstrument(t, goContract, DefaultConfig())
	var gas []uint64
	for _, eng := range engines {
		in := instantiate(t, eng, metered, bigBudget)
		gas = append(gas, bigBudget-in.meter.Left())
	}
	require.Equal(t, gas[0], gas[1])
	require.Greater(t, gas[0], uint64(100_000))
}

func TestOutOfGasBoundary(t *testing.T) {
	metered := mustInstrument(t, goContract, DefaultConfig())
	cases := []struct {
		name string
		args []uint64
	}{
		{"burn", []uint64{300}},
		{"fib", []uint64{10}},
		{"bulk", []uint64{3000}},
		{"hostcalls", []uint64{3, 100}},
		{"floats", []uint64{math.Float64bits(2.5), 20}},
		{"jsons", []uint64{2}},
	}
	for _, c := range cases {
		g := used(t, engines[1], metered, c.name, c.args...)
		var raws []int64
		for _, eng := range engines {
			ok := instantiate(t, eng, metered, bigBudget).call(g, c.name, c.args...)
			require.NoError(t, ok.err, "%s %s with budget %d", eng.name, c.name, g)
			require.Zero(t, ok.gasLeft, "%s %s", eng.name, c.name)

			short := instantiate(t, eng, metered, bigBudget).call(g-1, c.name, c.args...)
			require.Error(t, short.err, "%s %s with budget %d", eng.name, c.name, g-1)
			require.True(t, short.outOfGas, "%s %s: %s", eng.name, c.name, short)
			require.False(t, short.stackExhausted)
			require.True(t, OutOfGas(instantiateTrapped(t, eng, metered, g-1, c.name, c.args...)))
			raws = append(raws, short.rawGas)
		}
		require.Equal(t, raws[0], raws[1], "%s: the engines trapped at different charges", c.name)
	}
}

// instantiateTrapped returns a module after a call with budget.
func instantiateTrapped(t *testing.T, eng engine, wasm []byte, budget uint64, name string, args ...uint64) api.Module {
	in := instantiate(t, eng, wasm, bigBudget)
	in.call(budget, name, args...)
	return in.mod
}

func TestOutOfGasSweep(t *testing.T) {
	// Every budget around the cost of a small call traps at the same place on both engines.
	metered := mustInstrument(t, goContract, DefaultConfig())
	g := used(t, engines[1], metered, "fib", 6)
	for budget := g - 40; budget <= g; budget++ {
		var outs []outcome
		for _, eng := range engines {
			outs = append(outs, instantiate(t, eng, metered, bigBudget).call(budget, "fib", 6))
		}
		require.True(t, outs[0].same(outs[1]), "budget %d: %s vs %s", budget, outs[0], outs[1])
		require.Equal(t, budget < g, outs[0].outOfGas, "budget %d", budget)
	}
}

func TestHostCharges(t *testing.T) {
	metered := mustInstrument(t, goContract, DefaultConfig())
	base := used(t, engines[1], metered, "hostcalls", 5, 0)
	for _, units := range []uint64{1, 10, 1000} {
		for _, eng := range engines {
			require.Equal(t, base+5*units*hostChargeUnit, used(t, eng, metered, "hostcalls", 5, units), "%s units %d", eng.name, units)
		}
	}
	// A host function that cannot be paid for traps the call as out of gas: with 2000 less
	// than the call needs, the host's charge of 3000 is the one that fails.
	g := used(t, engines[1], metered, "hostcalls", 1, 1000)
	for _, eng := range engines {
		o := instantiate(t, eng, metered, bigBudget).call(g-2000, "hostcalls", 1, 1000)
		require.True(t, o.outOfGas, "%s: %s", eng.name, o)
		require.ErrorIs(t, o.err, ErrOutOfGas)
	}
}

func TestStackDepthGoRecursion(t *testing.T) {
	metered := mustInstrument(t, goContract, DefaultConfig())
	// Find the deepest recursion that fits on the compiler, then check both engines agree
	// on it and on the first depth that does not.
	lo, hi := uint64(1), uint64(5000)
	in := instantiate(t, engines[1], metered, bigBudget)
	require.True(t, in.call(bigBudget, "recurse", hi).stackExhausted)
	for lo+1 < hi {
		mid := (lo + hi) / 2
		o := instantiate(t, engines[1], metered, bigBudget).call(bigBudget, "recurse", mid)
		if o.err == nil {
			lo = mid
		} else {
			require.True(t, o.stackExhausted, "recurse(%d): %s", mid, o)
			hi = mid
		}
	}
	require.Greater(t, lo, uint64(100))
	for _, eng := range engines {
		ok := instantiate(t, eng, metered, bigBudget).call(bigBudget, "recurse", lo)
		require.NoError(t, ok.err, "%s recurse(%d)", eng.name, lo)
		require.Equal(t, []uint64{lo}, ok.results)
		deep := instantiate(t, eng, metered, bigBudget).call(bigBudget, "recurse", hi)
		require.True(t, deep.stackExhausted, "%s recurse(%d): %s", eng.name, hi, deep)
		require.False(t, deep.outOfGas)
		require.NotContains(t, deep.err.Error(), "stack overflow", "the engine's own limit fired first")
	}
}

// recursive returns a module exporting rec(n) = n > 0 ? rec(n-1)+1 : 0, with nLocals extra
// locals so that its frame weighs more.
func recursive(t testing.TB, nLocals int) []byte {
	locals := make([]ValueType, nLocals)
	for i := range locals {
		locals[i] = I64
	}
	return modSpec{funcs: []fn{{name: "rec", typ: sig("i32", "i32"), locals: locals, code: asm(t,
		"local.get 0 i32.eqz if i32 i32.const 0 else local.get 0 i32.const 1 i32.sub call 0 i32.const 1 i32.add end")}}}.build()
}

func TestStackDepthWeights(t *testing.T) {
	for _, c := range []struct {
		locals, limit int
	}{{0, MaxStackDepthLimit}, {0, 10}, {2000, 1000}, {maxLocals - 1, MaxStackDepthLimit}} {
		cfg := DefaultConfig()
		cfg.MaxStackDepth = uint32(c.limit)
		orig := recursive(t, c.locals)
		metered := mustInstrument(t, orig, cfg)
		// 1 param + locals + 17 instructions (final end included), per FrameUnit.
		weight := 1 + (1+c.locals+17)/FrameUnit
		frames := c.limit / weight // rec(n) uses n+1 frames
		ok := runBoth(t, orig, metered, bigBudget, "rec", uint64(frames-1))
		require.NoError(t, ok.err, "locals %d limit %d", c.locals, c.limit)
		require.Equal(t, []uint64{uint64(frames - 1)}, ok.results)
		deep := runBoth(t, orig, metered, bigBudget, "rec", uint64(frames))
		require.True(t, deep.stackExhausted, "locals %d limit %d: %s", c.locals, c.limit, deep)
		require.NotContains(t, deep.err.Error(), "stack overflow")
	}
}

func memoryModule(t testing.TB) []byte {
	return modSpec{memory: true, data: [][]byte{bytes.Repeat([]byte{7}, 64)}, funcs: []fn{
		{name: "fill", typ: sig("i32", ""), code: asm(t, "i32.const 0 i32.const 7 local.get 0 memory.fill")},
		{name: "copy", typ: sig("i32", ""), code: asm(t, "i32.const 0 i32.const 100 local.get 0 memory.copy")},
		{name: "init", typ: sig("i32", ""), code: asm(t, "i32.const 0 i32.const 0 local.get 0 memory.init 0")},
		{name: "grow", typ: sig("i32", "i32"), code: asm(t, "local.get 0 memory.grow")},
		{name: "drop", typ: sig("", ""), code: asm(t, "data.drop 0")},
		{name: "size", typ: sig("", "i32"), code: asm(t, "memory.size")},
	}}.build()
}

func TestDynamicCharges(t *testing.T) {
	cfg := DefaultConfig()
	orig := memoryModule(t)
	metered := mustInstrument(t, orig, cfg)
	c := cfg.Costs
	bulkStatic := uint64(3*c.Const + c.Bulk)
	bulkStatic -= uint64(c.Const) // the size comes from local.get
	bulkStatic += uint64(c.Local)
	for _, name := range []string{"fill", "copy", "init"} {
		for _, n := range []uint64{0, 1, 15, 16, 17, 33, 64, 1000, 65536 - 100} {
			if name == "init" && n > 64 {
				continue
			}
			want := bulkStatic + (n+uint64(cfg.BulkBytesPerGas)-1)/uint64(cfg.BulkBytesPerGas)
			for _, eng := range engines {
				require.Equal(t, want, used(t, eng, metered, name, n), "%s %s(%d)", eng.name, name, n)
			}
			runBoth(t, orig, metered, bigBudget, name, n)
		}
	}
	for _, pages := range []uint64{0, 1, 3, 15, 16, 1000} {
		want := uint64(c.Local+c.MemoryGrow) + pages*uint64(cfg.GrowPageCost)
		for _, eng := range engines {
			require.Equal(t, want, used(t, eng, metered, "grow", pages), "%s grow(%d)", eng.name, pages)
		}
		o := runBoth(t, orig, metered, bigBudget, "grow", pages)
		if pages >= 16 {
			require.Equal(t, []uint64{math.MaxUint32}, o.results, "grow past the maximum fails")
		}
	}
	// A copy out of bounds is charged, then traps in the same way everywhere.
	o := runBoth(t, orig, metered, bigBudget, "copy", 70000)
	require.Error(t, o.err)
	require.False(t, o.outOfGas)
	// Dynamic charges stop at the boundary too.
	g := used(t, engines[1], metered, "fill", 4096)
	for _, eng := range engines {
		require.True(t, instantiate(t, eng, metered, bigBudget).call(g-1, "fill", 4096).outOfGas)
		require.NoError(t, instantiate(t, eng, metered, bigBudget).call(g, "fill", 4096).err)
	}
	for _, name := range []string{"drop", "size"} {
		runBoth(t, orig, metered, bigBudget, name)
	}
}

// controlModule holds functions with every structured-control shape the injector handles.
func controlModule(t testing.TB) []byte {
	pair := sig("", "i32 i32")
	return modSpec{
		table:      true,
		memory:     true,
		globals:    []ValueType{I32, I64},
		extraTypes: []FuncType{sig("i32", "i32"), pair},
		funcs: []fn{
			{name: "straight", typ: sig("i32", "i32"), code: asm(t, "local.get 0 i32.const 3 i32.add")},
			{name: "nested", typ: sig("i32", "i32"), code: asm(t, `
				block i32 block i32 local.get 0 local.get 0 i32.const 3 i32.gt_u br_if 0 i32.const 10 i32.add end
				i32.const 100 i32.add end`)},
			{name: "switch", typ: sig("i32", "i32"), code: asm(t, `
				block block block block local.get 0 br_table 0 1 2 3
				end i32.const 10 return
				end i32.const 20 i32.const 99 return
				end i32.const 30 local.get 0 br 1
				end i32.const 40`)},
			{name: "sum", typ: sig("i32", "i32"), locals: []ValueType{I32}, code: asm(t, `
				block loop local.get 0 i32.eqz br_if 1
				local.get 1 local.get 0 i32.add local.set 1
				local.get 0 i32.const 1 i32.sub local.set 0
				br 0 end end local.get 1`)},
			{name: "ifelse", typ: sig("i32", "i32"), code: asm(t, `
				local.get 0 i32.const 1 i32.and if i32 i32.const 7 else local.get 0 i32.const 2 i32.mul end`)},
			{name: "ifnoelse", typ: sig("i32", "i32"), code: asm(t, `
				local.get 0 i32.const 2 i32.gt_u if local.get 0 i32.const 5 i32.mul local.set 0 end local.get 0`)},
			{name: "multivalue", typ: sig("i32", "i32"), code: asm(t, `
				block type=1 i32.const 1 local.get 0 end i32.sub local.get 0 call 7 i32.add i32.add`)},
			{name: "pair", typ: sig("i32", "i32 i32"), code: asm(t, `
				local.get 0 i32.const 2 i32.mul local.get 0 i32.const 1 i32.add`)},
			{name: "dead", typ: sig("i32", "i32"), code: asm(t, `
				block local.get 0 br 0 i32.const 1 drop unreachable end
				local.get 0 return loop i32.const 1 br_if 0 end unreachable`)},
			{name: "indirect", typ: sig("i32", "i32"), code: asm(t, `
				local.get 0 local.get 0 i32.const 4 i32.rem_u call_indirect 0`)},
			{name: "nestedloops", typ: sig("i32", "i32"), locals: []ValueType{I32, I32, I32}, code: asm(t, `
				block loop local.get 1 local.get 0 i32.ge_u br_if 1
				  i32.const 0 local.set 2
				  block loop local.get 2 local.get 1 i32.gt_u br_if 1
				    local.get 3 local.get 2 i32.add local.get 1 i32.mul local.set 3
				    local.get 2 i32.const 1 i32.add local.tee 2 i32.const 7 i32.eq if br 2 end
				    br 0 end end
				  local.get 1 i32.const 1 i32.add local.set 1 br 0 end end
				local.get 3`)},
			{name: "brvalue", typ: sig("i32", "i32"), code: asm(t, `
				block i32 loop i32 local.get 0 local.get 0 i32.const 10 i32.lt_u br_if 1 drop
				local.get 0 i32.const 3 i32.sub local.set 0 br 0 end end`)},
			{name: "memglobal", typ: sig("i32", "i32"), code: asm(t, `
				i32.const 16 local.get 0 i32.store offset=4 i32.const 16 i32.load offset=4
				global.set 0 global.get 0 i64.extend_i32_u global.set 1 global.get 1 i32.wrap_i64
				memory.size i32.add i32.const 0 memory.grow i32.add
				local.get 0 i32.const 5 local.get 0 i32.const 2 i32.rem_u select i32.add`)},
			{name: "fact", typ: sig("i32", "i32"), code: asm(t, `
				local.get 0 i32.const 2 i32.lt_u if i32 i32.const 1 else
				local.get 0 local.get 0 i32.const 1 i32.sub call 13 i32.mul end`)},
			{name: "unreachable", typ: sig("i32", "i32"), code: asm(t, `
				local.get 0 if unreachable end local.get 0`)},
		},
	}.build()
}

func TestControlFlowDifferential(t *testing.T) {
	orig := controlModule(t)
	inputs := []uint64{0, 1, 2, 3, 4, 5, 7, 9, 20, 33}
	for _, fold := range []uint32{0, 8, 64, 1000} {
		cfg := DefaultConfig()
		cfg.FoldLimit = fold
		metered := mustInstrument(t, orig, cfg)
		for _, name := range []string{"straight", "nested", "switch", "sum", "ifelse", "ifnoelse", "multivalue",
			"dead", "indirect", "nestedloops", "brvalue", "memglobal", "fact", "unreachable"} {
			for _, x := range inputs {
				runBoth(t, orig, metered, bigBudget, name, x)
			}
		}
		// Boundary on a looping function for every fold limit.
		for _, x := range []uint64{0, 5, 20} {
			g := used(t, engines[1], metered, "nestedloops", x)
			for _, eng := range engines {
				require.True(t, instantiate(t, eng, metered, 0).call(g-1, "nestedloops", x).outOfGas)
				require.NoError(t, instantiate(t, eng, metered, 0).call(g, "nestedloops", x).err)
			}
		}
	}
}

func TestExactGas(t *testing.T) {
	cfg := DefaultConfig()
	c := cfg.Costs
	metered := mustInstrument(t, controlModule(t), cfg)
	// A straight-line function pays for exactly its instructions.
	require.Equal(t, uint64(c.Local+c.Const+c.IntArith), used(t, engines[0], metered, "straight", 1))
	// Every iteration of the loop in "sum" pays for exactly its instructions, on both engines
	// and whatever the fold limit: local.get eqz br_if / local.get local.get add local.set /
	// local.get const sub local.set / br.
	perIter := uint64(6*c.Local + 3*c.IntArith + c.Const + 2*c.Branch)
	for _, fold := range []uint32{0, 64} {
		cfg.FoldLimit = fold
		metered := mustInstrument(t, controlModule(t), cfg)
		for _, eng := range engines {
			g10, g11 := used(t, eng, metered, "sum", 10), used(t, eng, metered, "sum", 11)
			require.Equal(t, perIter, g11-g10, "%s fold %d", eng.name, fold)
		}
	}
}

func TestFoldLimitOnlyAddsOvercharge(t *testing.T) {
	exact := DefaultConfig()
	exact.FoldLimit = 0
	exactWasm := mustInstrument(t, goContract, exact)
	folded := mustInstrument(t, goContract, DefaultConfig())
	for _, c := range []struct {
		name string
		args []uint64
	}{{"burn", []uint64{1000}}, {"sorts", []uint64{300}}, {"jsons", []uint64{5}}, {"hashes", []uint64{512, 2}}} {
		e := used(t, engines[1], exactWasm, c.name, c.args...)
		f := used(t, engines[1], folded, c.name, c.args...)
		require.LessOrEqual(t, e, f, c.name)
		t.Logf("%s: exact %d, folded %d (+%.1f%%)", c.name, e, f, 100*float64(f-e)/float64(e))
	}
}

func TestInstrumentIsDeterministicAndLeavesInputAlone(t *testing.T) {
	in := append([]byte(nil), goContract...)
	a := mustInstrument(t, in, DefaultConfig())
	b := mustInstrument(t, in, DefaultConfig())
	require.Equal(t, a, b)
	require.Equal(t, goContract, in)
	m, err := Parse(a)
	require.NoError(t, err, "the output parses")
	var names []string
	for _, e := range m.Exports() {
		names = append(names, e.Name)
	}
	require.Contains(t, names, GasGlobalExport)
	require.Contains(t, names, DepthGlobalExport)
	// Instrumenting twice is refused rather than metering twice.
	_, err = Instrument(a, DefaultConfig())
	require.ErrorIs(t, err, ErrReservedName)
}

func TestNaNCanonicalization(t *testing.T) {
	const (
		canon32 = 0x7FC00000
		canon64 = 0x7FF8000000000000
	)
	orig := modSpec{funcs: []fn{
		{name: "div32", typ: sig("", "i32"), code: asm(t, "f32.const 0 f32.const 0 f32.div i32.reinterpret_f32")},
		{name: "sqrt64", typ: sig("", "i64"), code: asm(t, "f64.const -1 f64.sqrt i64.reinterpret_f64")},
		{name: "payload64", typ: sig("", "i64"), code: asm(t, "i64.const 0x7FF4000000000001 f64.reinterpret_i64 f64.const 1 f64.add i64.reinterpret_f64")},
		{name: "negpayload32", typ: sig("", "i32"), code: asm(t, "i32.const -4194303 f32.reinterpret_i32 f32.const 2 f32.mul i32.reinterpret_f32")},
		{name: "min64", typ: sig("", "i64"), code: asm(t, "i64.const -2251799813685247 f64.reinterpret_i64 f64.const 1 f64.min i64.reinterpret_f64")},
		{name: "demote", typ: sig("", "i32"), code: asm(t, "i64.const 0x7FF4000000000001 f64.reinterpret_i64 f32.demote_f64 i32.reinterpret_f32")},
		{name: "neg64", typ: sig("", "i64"), code: asm(t, "i64.const 0x7FF4000000000001 f64.reinterpret_i64 f64.neg i64.reinterpret_f64")},
		{name: "copysign32", typ: sig("", "i32"), code: asm(t, "i32.const 0x7FA00001 f32.reinterpret_i32 f32.const -1 f32.copysign i32.reinterpret_f32")},
		{name: "plain", typ: sig("", "i64"), code: asm(t, "f64.const 1.5 f64.const 2.25 f64.mul i64.reinterpret_f64")},
	}}.build()
	metered := mustInstrument(t, orig, DefaultConfig())
	for _, c := range []struct {
		name string
		want uint64
	}{
		{"div32", canon32}, {"sqrt64", canon64}, {"payload64", canon64}, {"negpayload32", canon32},
		{"min64", canon64}, {"demote", canon32},
		// Bit operations keep the payload: the spec fixes their result.
		{"neg64", 0xFFF4000000000001}, {"copysign32", 0xFFA00001},
		{"plain", math.Float64bits(3.375)},
	} {
		for _, eng := range engines {
			o := instantiate(t, eng, metered, 0).call(bigBudget, c.name)
			require.NoError(t, o.err)
			require.Equal(t, c.want, o.results[0]&maskFor(c.name), "%s on %s", c.name, eng.name)
		}
	}
}

func maskFor(name string) uint64 {
	if strings.HasSuffix(name, "32") || name == "demote" {
		return math.MaxUint32
	}
	return math.MaxUint64
}

func TestInstrumentRefuses(t *testing.T) {
	withStart := modSpec{funcs: []fn{{typ: sig("", "")}}}.build()
	// Insert a start section (id 8) before the code section.
	codeAt := bytes.LastIndex(withStart, []byte{secCode})
	withStart = append(append(append([]byte(nil), withStart[:codeAt]...), secStart, 1, 0), withStart[codeAt:]...)
	reserved := modSpec{globals: []ValueType{I64}}.build()
	reserved = bytes.Replace(reserved, []byte{secExport, 1, 0}, append([]byte{secExport, byte(4 + len(GasGlobalExport)), 1}, append(appendName(nil, GasGlobalExport), 3, 0)...), 1)
	simd := modSpec{funcs: []fn{{typ: sig("", ""), code: []byte{0xFD, 0x0C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1A}}}}.build()
	v128Local := modSpec{funcs: []fn{{typ: sig("", ""), code: nil}}}.build()
	v128Local = bytes.Replace(v128Local, []byte{secCode, 4, 1, 2, 0, opEnd}, []byte{secCode, 6, 1, 4, 1, 1, 0x7B, opEnd}, 1)
	atomic := modSpec{memory: true, funcs: []fn{{typ: sig("", "i32"), code: asm(t, "i32.const 0 0xFE 0x10 0x02 0x00")}}}.build()
	shared := modSpec{memory: true}.build()
	shared = bytes.Replace(shared, []byte{secMemory, 4, 1, 1, 1, 16}, []byte{secMemory, 4, 1, 3, 1, 16}, 1)
	refNull := modSpec{funcs: []fn{{typ: sig("", ""), code: []byte{0xD0, 0x70, 0x1A}}}}.build()
	tailCall := modSpec{funcs: []fn{{typ: sig("", ""), code: []byte{0x12, 0}}}}.build()

	for _, c := range []struct {
		name string
		wasm []byte
		want []error
	}{
		{"start section", withStart, []error{ErrUnsupported}},
		{"reserved export", reserved, []error{ErrReservedName}},
		{"simd instruction", simd, []error{ErrUnsupported, ErrSIMD}},
		{"v128 local", v128Local, []error{ErrUnsupported, ErrSIMD}},
		{"atomic instruction", atomic, []error{ErrUnsupported, ErrThreads}},
		{"shared memory", shared, []error{ErrUnsupported, ErrThreads}},
		{"reference types", refNull, []error{ErrUnsupported}},
		{"tail call", tailCall, []error{ErrUnsupported}},
		{"garbage", []byte("not wasm at all"), []error{ErrMalformed}},
	} {
		before := append([]byte(nil), c.wasm...)
		out, err := Instrument(c.wasm, DefaultConfig())
		require.Nil(t, out, c.name)
		for _, want := range c.want {
			require.ErrorIs(t, err, want, c.name)
		}
		require.Equal(t, before, c.wasm, "%s: input modified", c.name)
		if c.name != "start section" && c.name != "reserved export" {
			_, perr := Parse(c.wasm)
			require.ErrorIs(t, perr, c.want[len(c.want)-1], "Parse: %s", c.name)
		}
	}
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"free branches", func(c *Config) { c.Costs.Branch = 0 }},
		{"free br_table", func(c *Config) { c.Costs.BrTable = 0 }},
		{"huge cost", func(c *Config) { c.Costs.Load = maxInstrCost + 1 }},
		{"grow overflow", func(c *Config) { c.GrowPageCost = maxGrowPageCost + 1 }},
		{"bulk not a power of two", func(c *Config) { c.BulkBytesPerGas = 12 }},
		{"bulk zero", func(c *Config) { c.BulkBytesPerGas = 0 }},
		{"no stack", func(c *Config) { c.MaxStackDepth = 0 }},
		{"stack past the interpreter", func(c *Config) { c.MaxStackDepth = MaxStackDepthLimit + 1 }},
	} {
		cfg := DefaultConfig()
		c.mod(&cfg)
		_, err := Instrument(goContract, cfg)
		require.ErrorIs(t, err, ErrConfig, c.name)
	}
}

func TestInstrumentMinimalModules(t *testing.T) {
	for name, wasm := range map[string][]byte{
		"empty":       append([]byte(nil), wasmHeader...),
		"memory only": modSpec{memory: true}.build(),
		"import only": modSpec{funcImports: []Import{{Module: "env", Name: "consume", Func: sig("i32", "")}}}.build(),
		"custom":      modSpec{custom: append(appendName(nil, "x"), 1, 2, 3), funcs: []fn{{name: "f", typ: sig("", "")}}}.build(),
	} {
		out := mustInstrument(t, wasm, DefaultConfig())
		for _, eng := range engines {
			compiled(t, eng, out)
		}
		_, err := Parse(out)
		require.NoError(t, err, name)
	}
	// Custom sections survive byte for byte.
	custom := append(appendName(nil, "keep"), 9, 8, 7)
	out := mustInstrument(t, modSpec{custom: custom, funcs: []fn{{typ: sig("", "")}}}.build(), DefaultConfig())
	require.True(t, bytes.Contains(out, custom))
}

func TestMeterRejectsUninstrumented(t *testing.T) {
	in := instantiate(t, engines[1], modSpec{memory: true}.build(), 0)
	_, err := NewMeter(in.mod)
	require.True(t, errors.Is(err, ErrNotInstrumented))
	require.False(t, OutOfGas(in.mod))
}

func TestMeterCharge(t *testing.T) {
	in := instantiate(t, engines[1], mustInstrument(t, modSpec{}.build(), DefaultConfig()), 0)
	m := in.meter
	m.Reset(100)
	require.NoError(t, m.Charge(60))
	require.Equal(t, uint64(40), m.Left())
	require.ErrorIs(t, m.Charge(41), ErrOutOfGas)
	require.True(t, m.OutOfGas())
	require.Zero(t, m.Left())
	require.ErrorIs(t, m.Charge(0), ErrOutOfGas, "stays out of gas")
	m.Reset(math.MaxUint64)
	require.Equal(t, uint64(math.MaxInt64), m.Left())
	require.False(t, m.OutOfGas())
	require.False(t, m.StackExhausted())
}
