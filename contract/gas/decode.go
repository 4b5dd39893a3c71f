package gas

import "fmt"

// instr is one decoded instruction of a function body.
type instr struct {
	start        uint32 // offset in body.code; the instruction ends where the next one starts
	arg          uint32 // label depth (br, br_if), offset into decoder.targets (br_table)
	op           uint16
	loopTargeted bool // a loop that some branch jumps back to
}

type ctlFrame struct {
	op    uint16 // opBlock, opLoop, opIf, opElse (an if past its else) or opEnd (the function)
	instr int32  // index of the opening instruction
}

// decoder decodes and validates function bodies; its buffers are reused across bodies.
type decoder struct {
	instrs  []instr
	targets []uint32 // per br_table: the number of labels, then the labels, default last
	ctl     []ctlFrame
	flags   opFlags // union of the flags of the body's instructions
}

func (d *decoder) invalid(b *body, pos int, format string, args ...any) error {
	return fmt.Errorf("%w: function %d at code offset %d: %s", ErrInvalid, b.funcIdx, pos, fmt.Sprintf(format, args...))
}

func unsupported(b *body, pos int, what string) error {
	return fmt.Errorf("%w: function %d at code offset %d: %s", ErrUnsupported, b.funcIdx, pos, what)
}

// decode validates b and fills d.instrs.
func (d *decoder) decode(m *Module, b *body) error {
	d.instrs = d.instrs[:0]
	d.targets = d.targets[:0]
	d.ctl = append(d.ctl[:0], ctlFrame{op: opEnd})
	d.flags = 0
	numLocals := uint64(len(m.types[m.funcTypes[b.funcIdx]].Params)) + uint64(b.numLocals)
	r := &reader{b: b.code}
	for len(d.ctl) > 0 {
		start := r.pos
		c, err := r.byte()
		if err != nil {
			return fmt.Errorf("function %d: %w", b.funcIdx, err)
		}
		op := uint16(c)
		switch {
		case c == opPrefixFC:
			sub, err := r.u32()
			if err != nil {
				return err
			}
			if sub >= uint32(len(fcOps)) {
				if sub <= 17 {
					return unsupported(b, start, fmt.Sprintf("table instruction 0xFC %d (reference types)", sub))
				}
				return r.errf("unknown instruction 0xFC %d", sub)
			}
			op = fcBase + uint16(sub)
		case c == 0xFD:
			return fmt.Errorf("%w: %w: function %d at code offset %d", ErrUnsupported, ErrSIMD, b.funcIdx, start)
		case c == 0xFE:
			return fmt.Errorf("%w: %w: function %d at code offset %d", ErrUnsupported, ErrThreads, b.funcIdx, start)
		case ops[c].name == "":
			return unsupportedOpcode(b, r, start, c)
		}
		inf := info(op)
		d.flags |= inf.flags
		if inf.flags&flagMem != 0 && m.memories == 0 {
			return d.invalid(b, start, "%s without a memory", inf.name)
		}
		if inf.flags&flagTable != 0 && m.tables == 0 {
			return d.invalid(b, start, "%s without a table", inf.name)
		}
		in := instr{start: uint32(start), op: op}
		switch inf.imm {
		case immBlock:
			if err := m.blockType(r, b, start); err != nil {
				return err
			}
		case immLabel:
			if in.arg, err = d.label(r, b, start); err != nil {
				return err
			}
		case immBrTable:
			n, err := r.count("br_table labels", 1, maxBodySize)
			if err != nil {
				return err
			}
			in.arg = uint32(len(d.targets))
			d.targets = append(d.targets, n+1)
			for i := uint32(0); i <= n; i++ {
				l, err := d.label(r, b, start)
				if err != nil {
					return err
				}
				d.targets = append(d.targets, l)
			}
		case immFunc:
			idx, err := r.u32()
			if err != nil {
				return err
			}
			if idx >= uint32(len(m.funcTypes)) {
				return d.invalid(b, start, "call to function %d of %d", idx, len(m.funcTypes))
			}
			in.arg = idx
		case immCallInd:
			if _, err := m.typeIndex(r); err != nil {
				return err
			}
			tbl, err := r.u32()
			if err != nil {
				return err
			}
			if tbl != 0 {
				return unsupported(b, start, "call_indirect through a table other than 0")
			}
		case immLocal:
			idx, err := r.u32()
			if err != nil {
				return err
			}
			if uint64(idx) >= numLocals {
				return d.invalid(b, start, "local %d of %d", idx, numLocals)
			}
		case immGlobalGet, immGlobalSet:
			idx, err := r.u32()
			if err != nil {
				return err
			}
			if idx >= uint32(len(m.globalTypes)) {
				return d.invalid(b, start, "global %d of %d", idx, len(m.globalTypes))
			}
			if inf.imm == immGlobalSet && !m.globalMut[idx] {
				return d.invalid(b, start, "global.set of immutable global %d", idx)
			}
		case immMem:
			align, err := r.u32()
			if err != nil {
				return err
			}
			if align&0x40 != 0 {
				return unsupported(b, start, "memory index in memarg (multiple memories)")
			}
			if align > uint32(inf.align) {
				return d.invalid(b, start, "%s alignment 2^%d exceeds natural alignment 2^%d", inf.name, align, inf.align)
			}
			if _, err := r.u32(); err != nil {
				return err
			}
		case immMemZero, immMemZero2, immDataMem, immData:
			if inf.imm == immDataMem || inf.imm == immData {
				idx, err := r.u32()
				if err != nil {
					return err
				}
				if !m.hasDataCount || idx >= m.dataCount {
					return d.invalid(b, start, "%s of data segment %d without a data count covering it", inf.name, idx)
				}
			}
			zeros := 1
			switch inf.imm {
			case immMemZero2:
				zeros = 2
			case immData:
				zeros = 0
			}
			for i := 0; i < zeros; i++ {
				z, err := r.byte()
				if err != nil {
					return err
				}
				if z != 0 {
					return unsupported(b, start, "memory index other than 0 (multiple memories)")
				}
			}
		case immI32:
			_, err = r.sleb(32)
		case immI64:
			_, err = r.sleb(64)
		case immF32:
			_, err = r.bytes(4)
		case immF64:
			_, err = r.bytes(8)
		}
		if err != nil {
			return err
		}
		switch op {
		case opBlock, opLoop, opIf:
			d.ctl = append(d.ctl, ctlFrame{op: op, instr: int32(len(d.instrs))})
		case opElse:
			top := &d.ctl[len(d.ctl)-1]
			if top.op != opIf {
				return d.invalid(b, start, "else without a matching if")
			}
			top.op = opElse
		case opEnd:
			d.ctl = d.ctl[:len(d.ctl)-1]
		}
		d.instrs = append(d.instrs, in)
	}
	if r.pos != len(b.code) {
		return fmt.Errorf("%w: function %d has %d bytes after its final end", ErrMalformed, b.funcIdx, len(b.code)-r.pos)
	}
	return nil
}

// label reads a label depth, checks it, and marks a loop it jumps back to.
func (d *decoder) label(r *reader, b *body, start int) (uint32, error) {
	l, err := r.u32()
	if err != nil {
		return 0, err
	}
	if l >= uint32(len(d.ctl)) {
		return 0, d.invalid(b, start, "branch to label %d at nesting depth %d", l, len(d.ctl))
	}
	if f := d.ctl[len(d.ctl)-1-int(l)]; f.op == opLoop {
		d.instrs[f.instr].loopTargeted = true
	}
	return l, nil
}

func (m *Module) blockType(r *reader, b *body, start int) error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	if c == 0x40 {
		return nil
	}
	if c >= 0x40 && c < 0x80 { // a one-byte negative s33: a value type
		_, err := checkValueType(r, c)
		return err
	}
	r.pos--
	idx, err := r.sleb(33)
	if err != nil {
		return err
	}
	if idx < 0 || idx >= int64(len(m.types)) {
		return fmt.Errorf("%w: function %d at code offset %d: block type %d out of range", ErrInvalid, b.funcIdx, start, idx)
	}
	return nil
}

func unsupportedOpcode(b *body, r *reader, start int, c byte) error {
	what := ""
	switch {
	case c >= 0x06 && c <= 0x0A, c == 0x18, c == 0x19:
		what = "exception handling"
	case c == 0x12, c == 0x13, c == 0x14, c == 0x15:
		what = "tail calls or typed function references"
	case c == 0x1C, c == 0x25, c == 0x26, c >= 0xD0 && c <= 0xD6:
		what = "reference types"
	case c == 0xFB:
		what = "garbage collection"
	default:
		return r.errf("unknown opcode 0x%02x", c)
	}
	return unsupported(b, start, fmt.Sprintf("opcode 0x%02x (%s)", c, what))
}
