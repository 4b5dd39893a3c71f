package gas

import (
	"fmt"
	"math/bits"
)

// Names of the exports Instrument adds. The host sets the budget and reads what is left
// through the first and restores the second before each call; Meter does both.
const (
	// GasGlobalExport names the mutable i64 global holding the gas left. A negative value
	// after a trap means the call ran out of gas.
	GasGlobalExport = "__phala_gas_left"
	// DepthGlobalExport names the mutable i32 global holding the stack units left: it starts
	// at Config.MaxStackDepth, each active call holds its weight, and a negative value after a
	// trap means the call exhausted the stack.
	DepthGlobalExport = "__phala_stack_left"
)

// Instrument validates wasm (as Parse does; a start section is refused too) and returns a
// copy metered under cfg:
//
//   - two globals are appended and exported (GasGlobalExport, DepthGlobalExport), and two
//     helper functions and a few types are appended, so no existing index moves;
//   - each metered region starts with a precomputed charge; running out traps there;
//   - memory.grow, memory.copy, memory.fill and memory.init charge for their size first;
//   - each function takes its weight from the stack units on entry, traps when they run
//     out, and gives the weight back on every exit;
//   - float results whose NaN bits the spec leaves to the engine are canonicalized.
//
// The output depends only on wasm and cfg.
func Instrument(wasm []byte, cfg Config) ([]byte, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := parse(wasm)
	if err != nil {
		return nil, err
	}
	if m.hasStart {
		return nil, fmt.Errorf("%w: start section (export an _initialize function instead; a start function would run before the host sets a budget)", ErrUnsupported)
	}
	for _, e := range m.exports {
		if e.Name == GasGlobalExport || e.Name == DepthGlobalExport {
			return nil, fmt.Errorf("%w: the module already exports %q", ErrReservedName, e.Name)
		}
	}
	inj := newInjector(m, &cfg)
	code, err := inj.code()
	if err != nil {
		return nil, err
	}
	return inj.assemble(wasm, code), nil
}

// injector holds what is shared by all function bodies of one module.
type injector struct {
	m          *Module
	cfg        *Config
	costs      [numClasses]uint64
	gasGlobal  uint32
	depthGlbl  uint32
	chargeGrow uint32 // helper function indices
	chargeBulk uint32
	helperType uint32            // (i32) -> ()
	newTypes   []FuncType        // types appended after the module's own
	blockTypes map[uint32][]byte // function type index -> encoded block type of its results
	dec        decoder
	an         analyzer
}

func newInjector(m *Module, cfg *Config) *injector {
	inj := &injector{
		m:          m,
		cfg:        cfg,
		costs:      cfg.Costs.byClass(),
		gasGlobal:  uint32(len(m.globalTypes)),
		depthGlbl:  uint32(len(m.globalTypes)) + 1,
		chargeGrow: uint32(len(m.funcTypes)),
		chargeBulk: uint32(len(m.funcTypes)) + 1,
		blockTypes: make(map[uint32][]byte),
	}
	inj.helperType = inj.typeIndex(FuncType{Params: []ValueType{I32}})
	return inj
}

// typeIndex finds t among the module's types or appends it.
func (inj *injector) typeIndex(t FuncType) uint32 {
	for i, u := range inj.m.types {
		if u.equal(t) {
			return uint32(i)
		}
	}
	for i, u := range inj.newTypes {
		if u.equal(t) {
			return uint32(len(inj.m.types) + i)
		}
	}
	inj.newTypes = append(inj.newTypes, t)
	return uint32(len(inj.m.types) + len(inj.newTypes) - 1)
}

// blockType encodes a block type with the results of function type ti and no parameters.
func (inj *injector) blockType(ti uint32) []byte {
	if bt, ok := inj.blockTypes[ti]; ok {
		return bt
	}
	results := inj.m.types[ti].Results
	var bt []byte
	switch len(results) {
	case 0:
		bt = []byte{0x40}
	case 1:
		bt = []byte{byte(results[0])}
	default:
		bt = appendS64(nil, int64(inj.typeIndex(FuncType{Results: results})))
	}
	inj.blockTypes[ti] = bt
	return bt
}

// code returns the payload of the new code section.
func (inj *injector) code() ([]byte, error) {
	m := inj.m
	size := 0
	for _, s := range m.sections {
		if s.id == secCode {
			size = len(s.payload)
		}
	}
	out := make([]byte, 0, size*3/2+256)
	out = appendU32(out, uint32(len(m.bodies))+2)
	var buf []byte
	for i := range m.bodies {
		b := &m.bodies[i]
		if err := inj.dec.decode(m, b); err != nil {
			return nil, err
		}
		inj.an.analyze(&inj.dec, inj.costs, uint64(inj.cfg.FoldLimit))
		buf = inj.function(buf[:0], b)
		out = appendU32(out, uint32(len(buf)))
		out = append(out, buf...)
	}
	buf = inj.helper(buf[:0], inj.cfg.GrowPageCost, 0)
	out = appendU32(out, uint32(len(buf)))
	out = append(out, buf...)
	buf = inj.helper(buf[:0], 1, uint32(bits.TrailingZeros32(inj.cfg.BulkBytesPerGas)))
	out = appendU32(out, uint32(len(buf)))
	out = append(out, buf...)
	return out, nil
}

// function emits the instrumented body of b from the decoder's and analyzer's results.
func (inj *injector) function(out []byte, b *body) []byte {
	d, an := &inj.dec, &inj.an
	ti := inj.m.funcTypes[b.funcIdx]
	nParams := uint32(len(inj.m.types[ti].Params))

	// Scratch locals go after the declared ones, so no local index moves.
	next := nParams + b.numLocals
	var tmpI32, tmpF32, tmpF64 uint32
	var extra []ValueType
	if d.flags&(flagGrow|flagBulk) != 0 {
		tmpI32, next, extra = next, next+1, append(extra, I32)
	}
	if d.flags&flagNaN32 != 0 {
		tmpF32, next, extra = next, next+1, append(extra, F32)
	}
	if d.flags&flagNaN64 != 0 {
		tmpF64, extra = next, append(extra, F64)
	}
	out = appendU32(out, b.numDecl+uint32(len(extra)))
	out = append(out, b.locals...)
	for _, t := range extra {
		out = append(out, 1, byte(t))
	}

	weight := 1 + (uint64(nParams)+uint64(b.numLocals)+uint64(len(d.instrs)))/FrameUnit
	out = inj.depthEnter(out, weight)
	out = append(out, opBlock)
	out = append(out, inj.blockType(ti)...)

	code := b.code
	last := len(d.instrs) - 1
	charges := an.charges
	nesting := uint32(0)
	for i, in := range d.instrs {
		if len(charges) > 0 && charges[0].at == int32(i) {
			out = inj.charge(out, charges[0].amount)
			charges = charges[1:]
		}
		if i == last {
			break
		}
		end := d.instrs[i+1].start
		raw := code[in.start:end]
		switch in.op {
		case opBlock, opLoop, opIf:
			nesting++
		case opEnd:
			nesting--
		case opReturn:
			// The body sits in a block with the function's results, so br to it returns
			// through the depth epilogue.
			out = append(out, opBr)
			out = appendU32(out, nesting)
			continue
		}
		f := info(in.op).flags
		switch {
		case f&flagGrow != 0:
			out = inj.dynamic(out, tmpI32, inj.chargeGrow)
		case f&flagBulk != 0:
			out = inj.dynamic(out, tmpI32, inj.chargeBulk)
		}
		out = append(out, raw...)
		switch {
		case f&flagNaN32 != 0:
			out = canonicalNaN(out, tmpF32, opF32Const, opF32Eq, []byte{0x00, 0x00, 0xC0, 0x7F})
		case f&flagNaN64 != 0:
			out = canonicalNaN(out, tmpF64, opF64Const, opF64Eq, []byte{0, 0, 0, 0, 0, 0, 0xF8, 0x7F})
		}
	}
	out = append(out, opEnd)
	out = inj.depthLeave(out, weight)
	return append(out, opEnd)
}

// depthEnter takes weight from the stack units left and traps once they go negative; the
// negative value left behind is how the host recognises a stack-exhaustion trap.
func (inj *injector) depthEnter(out []byte, weight uint64) []byte {
	out = inj.globalGet(out, inj.depthGlbl)
	out = appendI32Const(out, int64(weight))
	out = append(out, opI32Sub)
	out = inj.globalSet(out, inj.depthGlbl)
	out = inj.globalGet(out, inj.depthGlbl)
	return append(out, opI32Const, 0, opI32LtS, opIf, 0x40, opUnreachable, opEnd)
}

// depthLeave gives the weight back on the way out.
func (inj *injector) depthLeave(out []byte, weight uint64) []byte {
	out = inj.globalGet(out, inj.depthGlbl)
	out = appendI32Const(out, int64(weight))
	out = append(out, opI32Add)
	return inj.globalSet(out, inj.depthGlbl)
}

// charge emits a static charge of amount.
func (inj *injector) charge(out []byte, amount uint64) []byte {
	out = inj.globalGet(out, inj.gasGlobal)
	out = appendI64Const(out, int64(amount))
	out = append(out, opI64Sub)
	return inj.subtracted(out)
}

// subtracted stores the new gas left from the stack and traps if it is negative. Storing
// first needs one load of the global per charge (wazero reuses the stored value for the
// check) and leaves the negative value by which the host recognises an out-of-gas trap.
// Gas left is never negative before a charge and a charge is below 2^63, so the subtraction
// cannot wrap.
func (inj *injector) subtracted(out []byte) []byte {
	out = inj.globalSet(out, inj.gasGlobal)
	out = inj.globalGet(out, inj.gasGlobal)
	out = append(out, opI64Const, 0, opI64LtS, opIf, 0x40, opUnreachable, opEnd)
	return out
}

// dynamic emits, before an instruction whose top operand is an i32 size, a call that charges
// for that size: local.tee tmp; local.get tmp; call helper.
func (inj *injector) dynamic(out []byte, tmp, helper uint32) []byte {
	out = append(out, opLocalTee)
	out = appendU32(out, tmp)
	out = append(out, opLocalGet)
	out = appendU32(out, tmp)
	out = append(out, opCall)
	return appendU32(out, helper)
}

// helper emits the body of (func (param $n i32)) charging ((n + 2^shift - 1) >> shift) * perUnit.
func (inj *injector) helper(out []byte, perUnit, shift uint32) []byte {
	out = append(out, 0) // no locals
	out = inj.globalGet(out, inj.gasGlobal)
	out = append(out, opLocalGet, 0, opI64ExtendU)
	if shift > 0 {
		out = appendI64Const(out, int64(1)<<shift-1)
		out = append(out, opI64Add)
		out = appendI64Const(out, int64(shift))
		out = append(out, opI64ShrU)
	}
	if perUnit != 1 {
		out = appendI64Const(out, int64(perUnit))
		out = append(out, opI64Mul)
	}
	out = append(out, opI64Sub)
	return append(inj.subtracted(out), opEnd)
}

// canonicalNaN replaces the float on top of the stack by the canonical NaN if it is a NaN:
// local.tee t; <const NaN>; local.get t; local.get t; eq; select.
func canonicalNaN(out []byte, tmp uint32, constOp, eqOp byte, nan []byte) []byte {
	out = append(out, opLocalTee)
	out = appendU32(out, tmp)
	out = append(out, constOp)
	out = append(out, nan...)
	out = append(out, opLocalGet)
	out = appendU32(out, tmp)
	out = append(out, opLocalGet)
	out = appendU32(out, tmp)
	return append(out, eqOp, opSelect)
}

func (inj *injector) globalGet(out []byte, idx uint32) []byte {
	return appendU32(append(out, opGlobalGet), idx)
}

func (inj *injector) globalSet(out []byte, idx uint32) []byte {
	return appendU32(append(out, opGlobalSet), idx)
}

// assemble writes the output module: the input's sections in order, with the type,
// function, global, export and code sections extended (or created where missing).
func (inj *injector) assemble(wasm []byte, code []byte) []byte {
	m := inj.m
	out := make([]byte, 0, len(wasm)+len(code)+256)
	out = append(out, wasmHeader...)
	emitted := map[byte]bool{}
	extended := func(id byte, payload []byte) {
		emitted[id] = true
		var body []byte
		switch id {
		case secType:
			body = inj.extend(payload, uint32(len(inj.newTypes)), func(b []byte) []byte {
				for _, t := range inj.newTypes {
					b = append(b, 0x60)
					b = appendU32(b, uint32(len(t.Params)))
					b = append(b, vtBytes(t.Params)...)
					b = appendU32(b, uint32(len(t.Results)))
					b = append(b, vtBytes(t.Results)...)
				}
				return b
			})
		case secFunction:
			body = inj.extend(payload, 2, func(b []byte) []byte {
				return appendU32(appendU32(b, inj.helperType), inj.helperType)
			})
		case secGlobal:
			body = inj.extend(payload, 2, func(b []byte) []byte {
				b = append(b, byte(I64), 1, opI64Const, 0, opEnd)
				b = append(b, byte(I32), 1)
				return append(appendI32Const(b, int64(inj.cfg.MaxStackDepth)), opEnd)
			})
		case secExport:
			body = inj.extend(payload, 2, func(b []byte) []byte {
				b = appendName(b, GasGlobalExport)
				b = append(b, byte(KindGlobal))
				b = appendU32(b, inj.gasGlobal)
				b = appendName(b, DepthGlobalExport)
				b = append(b, byte(KindGlobal))
				return appendU32(b, inj.depthGlbl)
			})
		case secCode:
			body = code
		}
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	needed := []byte{secType, secFunction, secGlobal, secExport, secCode}
	// Before a section of rank r, create every needed section of a lower rank not yet present.
	fill := func(rank int) {
		for _, id := range needed {
			if !emitted[id] && sectionRank[id] < rank {
				extended(id, nil)
			}
		}
	}
	for _, s := range m.sections {
		if s.id == secCustom {
			out = append(out, s.raw...)
			continue
		}
		fill(sectionRank[s.id])
		switch s.id {
		case secType, secFunction, secGlobal, secExport, secCode:
			extended(s.id, s.payload)
		default:
			out = append(out, s.raw...)
		}
	}
	fill(len(sectionRank) + 1)
	return out
}

// extend rewrites a vector section payload (nil for a missing section) with n more entries
// appended by add.
func (inj *injector) extend(payload []byte, n uint32, add func([]byte) []byte) []byte {
	var count uint32
	rest := payload
	if payload != nil {
		r := &reader{b: payload}
		count, _ = r.u32() // parse already read this count
		rest = payload[r.pos:]
	}
	b := make([]byte, 0, len(payload)+64)
	b = appendU32(b, count+n)
	b = append(b, rest...)
	return add(b)
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendI32Const(b []byte, v int64) []byte {
	return appendS64(append(b, opI32Const), int64(int32(v)))
}

func appendI64Const(b []byte, v int64) []byte { return appendS64(append(b, opI64Const), v) }

func appendName(b []byte, s string) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}
