package gas

import (
	"fmt"
	"math/bits"
)

// CostTable gives the gas of one execution of an instruction, by class. Structural
// instructions (block, loop, else, end, nop) are free; docs/gas.md lists the classes.
type CostTable struct {
	Branch       uint32 // br, br_if, if, return, unreachable; at least 1
	BrTable      uint32 // br_table; at least 1
	Call         uint32
	CallIndirect uint32
	Local        uint32 // local.get/set/tee, drop, select
	Global       uint32 // global.get/set
	Const        uint32
	Load         uint32
	Store        uint32
	MemorySize   uint32
	MemoryGrow   uint32 // base cost; Config.GrowPageCost is added per page requested
	Bulk         uint32 // memory.init/copy/fill, data.drop base cost; bytes are charged per Config.BulkBytesPerGas
	IntArith     uint32 // integer add, sub, logic, shifts, compares, bit counts, wrap, extends
	IntMul       uint32
	IntDiv       uint32 // div and rem
	FloatArith   uint32 // float arithmetic, compares, conversions (including trunc_sat), reinterpretations
	FloatDiv     uint32 // float div and sqrt
}

// Config is the gas schedule. It is consensus-relevant: every replica must instrument with the
// same Config, and changing it changes the gas every contract uses.
type Config struct {
	Costs CostTable
	// GrowPageCost is charged per 64 KiB page that memory.grow requests (even if it fails).
	GrowPageCost uint32
	// BulkBytesPerGas is how many bytes memory.copy, memory.fill and memory.init move per unit
	// of gas (the count is rounded up). A power of two, so the injected code shifts.
	BulkBytesPerGas uint32
	// MaxStackDepth bounds the summed weight of the active frames; a call beyond it traps.
	// A function weighs 1 + (params + locals + instructions) / FrameUnit.
	MaxStackDepth uint32
	// FoldLimit is the largest precomputed charge that may cover several basic blocks. Larger
	// values mean fewer charges at run time and a larger overcharge on short paths (at most
	// FoldLimit per charge); 0 charges every basic block separately.
	FoldLimit uint32
}

// FrameUnit is the number of frame slots (params, locals, instructions) one unit of stack
// depth covers; see Config.MaxStackDepth.
const FrameUnit = 512

// MaxStackDepthLimit is the largest MaxStackDepth accepted: wazero's interpreter refuses to
// push more than 2000 frames, and the limiter must trap first on every engine.
const MaxStackDepthLimit = 1900

const (
	maxInstrCost    = 1 << 20
	maxGrowPageCost = 1 << 30 // pages (< 2^32) times this stays below 2^62
)

// DefaultConfig returns the schedule contracts run under. One unit of gas is roughly one
// simple integer instruction.
func DefaultConfig() Config {
	return Config{
		Costs: CostTable{
			Branch: 1, BrTable: 2, Call: 4, CallIndirect: 6,
			Local: 1, Global: 1, Const: 1, Load: 2, Store: 2,
			MemorySize: 1, MemoryGrow: 100, Bulk: 8,
			IntArith: 1, IntMul: 2, IntDiv: 8, FloatArith: 2, FloatDiv: 8,
		},
		GrowPageCost:    4096,
		BulkBytesPerGas: 16,
		MaxStackDepth:   1000,
		FoldLimit:       32,
	}
}

func (c *Config) validate() error {
	for _, v := range c.Costs.byClass() {
		if v > maxInstrCost {
			return fmt.Errorf("%w: instruction cost %d exceeds %d", ErrConfig, v, maxInstrCost)
		}
	}
	if c.Costs.Branch == 0 || c.Costs.BrTable == 0 {
		return fmt.Errorf("%w: Branch and BrTable must cost at least 1, or a loop could run for free", ErrConfig)
	}
	if c.GrowPageCost > maxGrowPageCost {
		return fmt.Errorf("%w: GrowPageCost %d exceeds %d", ErrConfig, c.GrowPageCost, maxGrowPageCost)
	}
	if c.BulkBytesPerGas == 0 || bits.OnesCount32(c.BulkBytesPerGas) != 1 {
		return fmt.Errorf("%w: BulkBytesPerGas %d is not a power of two", ErrConfig, c.BulkBytesPerGas)
	}
	if c.MaxStackDepth == 0 || c.MaxStackDepth > MaxStackDepthLimit {
		return fmt.Errorf("%w: MaxStackDepth %d outside 1..%d", ErrConfig, c.MaxStackDepth, MaxStackDepthLimit)
	}
	return nil
}

// byClass returns the costs indexed by costClass.
func (t *CostTable) byClass() [numClasses]uint64 {
	return [numClasses]uint64{
		clsFree: 0, clsBranch: uint64(t.Branch), clsBrTable: uint64(t.BrTable), clsCall: uint64(t.Call),
		clsCallIndirect: uint64(t.CallIndirect), clsLocal: uint64(t.Local), clsGlobal: uint64(t.Global),
		clsConst: uint64(t.Const), clsLoad: uint64(t.Load), clsStore: uint64(t.Store),
		clsMemorySize: uint64(t.MemorySize), clsMemoryGrow: uint64(t.MemoryGrow), clsBulk: uint64(t.Bulk),
		clsIntArith: uint64(t.IntArith), clsIntMul: uint64(t.IntMul), clsIntDiv: uint64(t.IntDiv),
		clsFloatArith: uint64(t.FloatArith), clsFloatDiv: uint64(t.FloatDiv),
	}
}
