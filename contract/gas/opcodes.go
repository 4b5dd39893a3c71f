package gas

import "strings"

// immKind says how an instruction's immediates are encoded.
type immKind uint8

const (
	immNone      immKind = iota
	immBlock             // block type
	immLabel             // label depth
	immBrTable           // vector of labels, then default label
	immFunc              // function index
	immCallInd           // type index, table index
	immLocal             // local index
	immGlobalGet         // global index
	immGlobalSet         // index of a mutable global
	immMem               // memarg (align, offset)
	immMemZero           // one reserved zero byte (memory.size, memory.grow, memory.fill)
	immMemZero2          // two reserved zero bytes (memory.copy)
	immDataMem           // data index, reserved zero byte (memory.init)
	immData              // data index (data.drop)
	immI32               // signed LEB128 i32
	immI64               // signed LEB128 i64
	immF32               // 4 bytes
	immF64               // 8 bytes
)

// costClass groups instructions that cost the same; CostTable has one field per class.
type costClass uint8

const (
	clsFree costClass = iota // block, loop, else, end, nop: structure only, never charged
	clsBranch
	clsBrTable
	clsCall
	clsCallIndirect
	clsLocal
	clsGlobal
	clsConst
	clsLoad
	clsStore
	clsMemorySize
	clsMemoryGrow
	clsBulk
	clsIntArith
	clsIntMul
	clsIntDiv
	clsFloatArith
	clsFloatDiv
	numClasses
)

// opFlags marks instructions the injector rewrites.
type opFlags uint8

const (
	flagNaN32 opFlags = 1 << iota // f32 result whose NaN bits the spec leaves open
	flagNaN64                     // f64 result whose NaN bits the spec leaves open
	flagGrow                      // charged per page at run time
	flagBulk                      // charged per byte at run time
	flagMem                       // needs a memory
	flagTable                     // needs a table
)

type opInfo struct {
	name  string
	imm   immKind
	class costClass
	flags opFlags
	align uint8 // natural alignment (log2 of the access size) of loads and stores
}

// Opcode numbers are one byte, or 0x100 plus the sub-opcode for the 0xFC prefix.
const (
	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opElse        = 0x05
	opEnd         = 0x0B
	opBr          = 0x0C
	opBrIf        = 0x0D
	opBrTable     = 0x0E
	opReturn      = 0x0F
	opCall        = 0x10
	opLocalGet    = 0x20
	opLocalTee    = 0x22
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opI32Const    = 0x41
	opI64Const    = 0x42
	opF32Const    = 0x43
	opF64Const    = 0x44
	opI32LtS      = 0x48
	opI32Add      = 0x6A
	opI32Sub      = 0x6B
	opI64LtS      = 0x53
	opI64Add      = 0x7C
	opI64Sub      = 0x7D
	opI64Mul      = 0x7E
	opI64ShrU     = 0x88
	opI64ExtendU  = 0xAD
	opF32Eq       = 0x5B
	opF64Eq       = 0x61
	opSelect      = 0x1B
	opPrefixFC    = 0xFC
	fcBase        = 0x100
)

var (
	ops   [256]opInfo
	fcOps [12]opInfo
)

func init() {
	set := func(op int, name string, imm immKind, class costClass, flags opFlags) {
		ops[op] = opInfo{name: name, imm: imm, class: class, flags: flags}
	}
	set(0x00, "unreachable", immNone, clsBranch, 0)
	set(0x01, "nop", immNone, clsFree, 0)
	set(0x02, "block", immBlock, clsFree, 0)
	set(0x03, "loop", immBlock, clsFree, 0)
	set(0x04, "if", immBlock, clsBranch, 0)
	set(0x05, "else", immNone, clsFree, 0)
	set(0x0B, "end", immNone, clsFree, 0)
	set(0x0C, "br", immLabel, clsBranch, 0)
	set(0x0D, "br_if", immLabel, clsBranch, 0)
	set(0x0E, "br_table", immBrTable, clsBrTable, 0)
	set(0x0F, "return", immNone, clsBranch, 0)
	set(0x10, "call", immFunc, clsCall, 0)
	set(0x11, "call_indirect", immCallInd, clsCallIndirect, flagTable)
	set(0x1A, "drop", immNone, clsLocal, 0)
	set(0x1B, "select", immNone, clsLocal, 0)
	set(0x20, "local.get", immLocal, clsLocal, 0)
	set(0x21, "local.set", immLocal, clsLocal, 0)
	set(0x22, "local.tee", immLocal, clsLocal, 0)
	set(0x23, "global.get", immGlobalGet, clsGlobal, 0)
	set(0x24, "global.set", immGlobalSet, clsGlobal, 0)
	for i, n := range []string{"i32.load", "i64.load", "f32.load", "f64.load", "i32.load8_s", "i32.load8_u",
		"i32.load16_s", "i32.load16_u", "i64.load8_s", "i64.load8_u", "i64.load16_s", "i64.load16_u",
		"i64.load32_s", "i64.load32_u"} {
		set(0x28+i, n, immMem, clsLoad, flagMem)
		ops[0x28+i].align = [...]uint8{2, 3, 2, 3, 0, 0, 1, 1, 0, 0, 1, 1, 2, 2}[i]
	}
	for i, n := range []string{"i32.store", "i64.store", "f32.store", "f64.store", "i32.store8", "i32.store16",
		"i64.store8", "i64.store16", "i64.store32"} {
		set(0x36+i, n, immMem, clsStore, flagMem)
		ops[0x36+i].align = [...]uint8{2, 3, 2, 3, 0, 1, 0, 1, 2}[i]
	}
	set(0x3F, "memory.size", immMemZero, clsMemorySize, flagMem)
	set(0x40, "memory.grow", immMemZero, clsMemoryGrow, flagMem|flagGrow)
	set(0x41, "i32.const", immI32, clsConst, 0)
	set(0x42, "i64.const", immI64, clsConst, 0)
	set(0x43, "f32.const", immF32, clsConst, 0)
	set(0x44, "f64.const", immF64, clsConst, 0)

	ints := func(first int, class costClass, names ...string) {
		for i, n := range names {
			set(first+i, n, immNone, class, 0)
		}
	}
	ints(0x45, clsIntArith, "i32.eqz", "i32.eq", "i32.ne", "i32.lt_s", "i32.lt_u", "i32.gt_s", "i32.gt_u",
		"i32.le_s", "i32.le_u", "i32.ge_s", "i32.ge_u",
		"i64.eqz", "i64.eq", "i64.ne", "i64.lt_s", "i64.lt_u", "i64.gt_s", "i64.gt_u", "i64.le_s", "i64.le_u",
		"i64.ge_s", "i64.ge_u")
	ints(0x5B, clsFloatArith, "f32.eq", "f32.ne", "f32.lt", "f32.gt", "f32.le", "f32.ge",
		"f64.eq", "f64.ne", "f64.lt", "f64.gt", "f64.le", "f64.ge")
	for _, base := range []struct {
		at   int
		name string
	}{{0x67, "i32."}, {0x79, "i64."}} {
		for i, n := range []string{"clz", "ctz", "popcnt", "add", "sub", "mul", "div_s", "div_u", "rem_s",
			"rem_u", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl", "rotr"} {
			class := clsIntArith
			switch {
			case n == "mul":
				class = clsIntMul
			case strings.HasPrefix(n, "div") || strings.HasPrefix(n, "rem"):
				class = clsIntDiv
			}
			set(base.at+i, base.name+n, immNone, class, 0)
		}
	}
	for _, base := range []struct {
		at   int
		name string
		nan  opFlags
	}{{0x8B, "f32.", flagNaN32}, {0x99, "f64.", flagNaN64}} {
		for i, n := range []string{"abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt", "add", "sub",
			"mul", "div", "min", "max", "copysign"} {
			class, flags := clsFloatArith, base.nan
			switch n {
			case "div", "sqrt":
				class = clsFloatDiv
			case "abs", "neg", "copysign":
				flags = 0 // bit operations: the spec fixes their NaN results
			}
			set(base.at+i, base.name+n, immNone, class, flags)
		}
	}
	ints(0xA7, clsIntArith, "i32.wrap_i64")
	ints(0xA8, clsFloatArith, "i32.trunc_f32_s", "i32.trunc_f32_u", "i32.trunc_f64_s", "i32.trunc_f64_u")
	ints(0xAC, clsIntArith, "i64.extend_i32_s", "i64.extend_i32_u")
	ints(0xAE, clsFloatArith, "i64.trunc_f32_s", "i64.trunc_f32_u", "i64.trunc_f64_s", "i64.trunc_f64_u",
		"f32.convert_i32_s", "f32.convert_i32_u", "f32.convert_i64_s", "f32.convert_i64_u", "f32.demote_f64",
		"f64.convert_i32_s", "f64.convert_i32_u", "f64.convert_i64_s", "f64.convert_i64_u", "f64.promote_f32",
		"i32.reinterpret_f32", "i64.reinterpret_f64", "f32.reinterpret_i32", "f64.reinterpret_i64")
	ops[0xB6].flags = flagNaN32
	ops[0xBB].flags = flagNaN64
	ints(0xC0, clsIntArith, "i32.extend8_s", "i32.extend16_s", "i64.extend8_s", "i64.extend16_s", "i64.extend32_s")

	for i, n := range []string{"i32.trunc_sat_f32_s", "i32.trunc_sat_f32_u", "i32.trunc_sat_f64_s",
		"i32.trunc_sat_f64_u", "i64.trunc_sat_f32_s", "i64.trunc_sat_f32_u", "i64.trunc_sat_f64_s",
		"i64.trunc_sat_f64_u"} {
		fcOps[i] = opInfo{name: n, imm: immNone, class: clsFloatArith}
	}
	fcOps[8] = opInfo{name: "memory.init", imm: immDataMem, class: clsBulk, flags: flagMem | flagBulk}
	fcOps[9] = opInfo{name: "data.drop", imm: immData, class: clsBulk}
	fcOps[10] = opInfo{name: "memory.copy", imm: immMemZero2, class: clsBulk, flags: flagMem | flagBulk}
	fcOps[11] = opInfo{name: "memory.fill", imm: immMemZero, class: clsBulk, flags: flagMem | flagBulk}
}

// info returns the table entry of op (a one-byte opcode or fcBase plus a 0xFC sub-opcode).
func info(op uint16) *opInfo {
	if op >= fcBase {
		return &fcOps[op-fcBase]
	}
	return &ops[op]
}
