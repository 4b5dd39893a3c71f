package gas

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// numericSig derives an instruction's signature from its name.
func numericSig(name string) FuncType {
	types := map[string]ValueType{"i32": I32, "i64": I64, "f32": F32, "f64": F64}
	t := types[name[:3]]
	op := name[4:]
	for _, src := range []string{"i32", "i64", "f32", "f64"} {
		if strings.Contains(op, "_"+src) {
			return FuncType{Params: []ValueType{types[src]}, Results: []ValueType{t}}
		}
	}
	base := strings.TrimSuffix(strings.TrimSuffix(op, "_s"), "_u")
	switch base {
	case "eqz":
		return FuncType{Params: []ValueType{t}, Results: []ValueType{I32}}
	case "eq", "ne", "lt", "gt", "le", "ge":
		return FuncType{Params: []ValueType{t, t}, Results: []ValueType{I32}}
	case "clz", "ctz", "popcnt", "abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt", "extend8", "extend16", "extend32":
		return FuncType{Params: []ValueType{t}, Results: []ValueType{t}}
	}
	return FuncType{Params: []ValueType{t, t}, Results: []ValueType{t}}
}

// numericOps lists every arithmetic, comparison and conversion instruction contracts may use.
func numericOps() []uint16 {
	var list []uint16
	for i := range ops {
		switch ops[i].class {
		case clsIntArith, clsIntMul, clsIntDiv, clsFloatArith, clsFloatDiv:
			list = append(list, uint16(i))
		}
	}
	for i := 0; i < 8; i++ {
		list = append(list, fcBase+uint16(i))
	}
	return list
}

var sampleValues = map[ValueType][]uint64{
	I32: {0, 1, 7, math.MaxUint32, 0x80000000, 12345, 0xFF, 0x8000},
	I64: {0, 1, 7, math.MaxUint64, 1 << 63, 1234567890123, 0xFFFF, 0x80000000},
	F32: {uint64(math.Float32bits(0)), uint64(math.Float32bits(float32(math.Copysign(0, -1)))), uint64(math.Float32bits(1.5)),
		uint64(math.Float32bits(-2.5)), uint64(math.Float32bits(1e10)), uint64(math.Float32bits(float32(math.Inf(1)))),
		0x7FC00000, 0x7FA00001, uint64(math.Float32bits(3e9))},
	F64: {math.Float64bits(0), math.Float64bits(math.Copysign(0, -1)), math.Float64bits(1.5), math.Float64bits(-2.5),
		math.Float64bits(1e19), math.Float64bits(math.Inf(-1)), 0x7FF8000000000000, 0x7FF4000000000001, math.Float64bits(3e9)},
}

func isNaN(t ValueType, bits uint64) bool {
	if t == F32 {
		return math.IsNaN(float64(math.Float32frombits(uint32(bits))))
	}
	return t == F64 && math.IsNaN(math.Float64frombits(bits))
}

// TestEveryNumericOpcode runs every numeric instruction, original and instrumented, on both
// engines: results must match (NaNs canonical where the spec leaves them open) and the gas
// must be exactly the cost of the function's instructions.
func TestEveryNumericOpcode(t *testing.T) {
	cfg := DefaultConfig()
	costs := cfg.Costs.byClass()
	var spec modSpec
	list := numericOps()
	for _, op := range list {
		inf := info(op)
		s := numericSig(inf.name)
		var src strings.Builder
		for i := range s.Params {
			fmt.Fprintf(&src, "local.get %d ", i)
		}
		src.WriteString(inf.name)
		spec.funcs = append(spec.funcs, fn{name: inf.name, typ: s, code: asm(t, src.String())})
	}
	orig := spec.build()
	metered := mustInstrument(t, orig, cfg)
	originals := map[string]*instance{}
	for _, eng := range engines {
		originals[eng.name] = instantiate(t, eng, orig, 0)
	}
	instr := map[string]*instance{}
	for _, eng := range engines {
		instr[eng.name] = instantiate(t, eng, metered, 0)
	}
	for _, op := range list {
		inf := info(op)
		s := numericSig(inf.name)
		want := uint64(len(s.Params))*costs[clsLocal] + costs[inf.class]
		var argSets [][]uint64
		for _, a := range sampleValues[s.Params[0]] {
			if len(s.Params) == 1 {
				argSets = append(argSets, []uint64{a})
				continue
			}
			for _, b := range sampleValues[s.Params[1]][:5] {
				argSets = append(argSets, []uint64{a, b})
			}
		}
		for _, args := range argSets {
			var first outcome
			for i, eng := range engines {
				o := instr[eng.name].call(bigBudget, inf.name, args...)
				if o.err != nil {
					// A trap (division by zero, invalid conversion) leaves the instance usable.
					require.Error(t, originals[eng.name].call(0, inf.name, args...).err, "%s%v", inf.name, args)
				} else {
					require.Equal(t, want, bigBudget-o.gasLeft, "%s gas on %s", inf.name, eng.name)
					res := o.results[0]
					rt := s.Results[0]
					if isNaN(rt, res) && inf.flags&(flagNaN32|flagNaN64) != 0 {
						canon := uint64(0x7FC00000)
						if rt == F64 {
							canon = 0x7FF8000000000000
						}
						require.Equal(t, canon, res, "%s%v on %s: NaN not canonical", inf.name, args, eng.name)
					} else {
						require.Equal(t, originals[eng.name].call(0, inf.name, args...).results, o.results, "%s%v on %s", inf.name, args, eng.name)
					}
				}
				if i == 0 {
					first = o
				} else {
					require.True(t, first.same(o), "%s%v: engines disagree: %s vs %s", inf.name, args, first, o)
				}
			}
		}
	}
}

func TestNumericOpsCovered(t *testing.T) {
	// 0x45..0xC4 are all numeric, plus the eight saturating conversions.
	require.Len(t, numericOps(), 0xC4-0x45+1+8)
}
