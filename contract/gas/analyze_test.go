package gas

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAnalyzerChargePoints checks where charges go and how much they cover, with every
// instruction costing 1 except structure (block, loop, else, end: 0).
func TestAnalyzerChargePoints(t *testing.T) {
	var costs [numClasses]uint64
	for i := range costs {
		costs[i] = 1
	}
	costs[clsFree] = 0
	m := &Module{types: []FuncType{sig("i32", "i32")}, funcTypes: []uint32{0}}
	for _, c := range []struct {
		name string
		src  string
		fold uint64
		want []chargePoint
	}{
		{"straight line", "local.get 0 i32.const 3 i32.add", 32, []chargePoint{{0, 3}}},
		{"if-else folded to its costlier arm", "local.get 0 if i32 i32.const 1 else i32.const 2 i32.const 3 i32.add end", 32,
			[]chargePoint{{0, 5}}},
		{"if-else exact", "local.get 0 if i32 i32.const 1 else i32.const 2 i32.const 3 i32.add end", 0,
			[]chargePoint{{0, 2}, {2, 1}, {4, 3}}},
		// The exit after the loop costs no more than the loop's charge, so it joins its region.
		{"loop header is a root", "block loop local.get 0 br_if 1 br 0 end end local.get 0", 32,
			[]chargePoint{{2, 3}}},
		{"block end with a branch is a merge", "block local.get 0 br_if 0 i32.const 1 drop end local.get 0", 0,
			[]chargePoint{{0, 2}, {3, 2}, {6, 1}}},
		{"fold limit splits", "local.get 0 br_if 0 i32.const 1 drop i32.const 1 drop local.get 0", 3,
			[]chargePoint{{0, 2}, {2, 5}}},
		{"dead code is never charged", "local.get 0 return i32.const 1 drop local.get 0", 32,
			[]chargePoint{{0, 2}}},
		{"exit path does not raise the loop charge", "block loop local.get 0 i32.eqz br_if 1 br 0 end end " +
			"local.get 0 local.get 0 i32.add local.get 0 i32.add local.get 0 i32.add", 32,
			[]chargePoint{{2, 4}, {8, 7}}},
	} {
		b := &body{code: append(asm(t, c.src), opEnd)}
		var d decoder
		require.NoError(t, d.decode(m, b), c.name)
		var a analyzer
		a.analyze(&d, costs, c.fold)
		require.Equal(t, c.want, a.charges, c.name)
	}
}
