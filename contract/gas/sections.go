package gas

import "fmt"

// The readers of the sections parse calls; each checks what the spec and the supported
// feature set require of its section.

func (m *Module) readValueType(r *reader) (ValueType, error) {
	c, err := r.byte()
	if err != nil {
		return 0, err
	}
	return checkValueType(r, c)
}

func checkValueType(r *reader, c byte) (ValueType, error) {
	switch ValueType(c) {
	case I32, I64, F32, F64:
		return ValueType(c), nil
	}
	switch c {
	case 0x7B:
		return 0, fmt.Errorf("%w: %w: v128 value", ErrUnsupported, ErrSIMD)
	case 0x70, 0x6F, 0x64, 0x63:
		return 0, fmt.Errorf("%w: reference-typed value 0x%02x", ErrUnsupported, c)
	}
	return 0, r.errf("unknown value type 0x%02x", c)
}

func (m *Module) readTypes(r *reader) error {
	n, err := r.count("types", 3, maxTypes)
	if err != nil {
		return err
	}
	m.types = make([]FuncType, 0, n)
	for i := uint32(0); i < n; i++ {
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return fmt.Errorf("%w: type form 0x%02x (only func types are supported)", ErrUnsupported, form)
		}
		var t FuncType
		for j, limit := range []uint32{maxParams, maxResults} {
			k, err := r.count("value types", 1, limit)
			if err != nil {
				return err
			}
			var vs []ValueType
			if k > 0 {
				vs = make([]ValueType, k)
			}
			for x := range vs {
				if vs[x], err = m.readValueType(r); err != nil {
					return err
				}
			}
			if j == 0 {
				t.Params = vs
			} else {
				t.Results = vs
			}
		}
		m.types = append(m.types, t)
	}
	return nil
}

func (m *Module) typeIndex(r *reader) (uint32, error) {
	idx, err := r.u32()
	if err != nil {
		return 0, err
	}
	if idx >= uint32(len(m.types)) {
		return 0, fmt.Errorf("%w: type index %d out of range (%d types)", ErrInvalid, idx, len(m.types))
	}
	return idx, nil
}

func (m *Module) readImports(r *reader) error {
	n, err := r.count("imports", 4, maxImports)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		var imp Import
		if imp.Module, err = r.name(); err != nil {
			return err
		}
		if imp.Name, err = r.name(); err != nil {
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		imp.Kind = ExternKind(kind)
		switch imp.Kind {
		case KindFunc:
			idx, err := m.typeIndex(r)
			if err != nil {
				return err
			}
			if len(m.funcTypes) >= maxFuncs {
				return fmt.Errorf("%w: more than %d functions", ErrLimit, maxFuncs)
			}
			m.funcTypes = append(m.funcTypes, idx)
			m.numImportedFuncs++
			imp.Func = m.types[idx]
		case KindTable:
			if err := m.readTableType(r); err != nil {
				return err
			}
		case KindMemory:
			if err := m.readMemoryType(r); err != nil {
				return err
			}
		case KindGlobal:
			if err := m.readGlobalType(r); err != nil {
				return err
			}
			m.numImportedGlbs++
		case 4:
			return fmt.Errorf("%w: tag import (exception handling)", ErrUnsupported)
		default:
			return r.errf("unknown import kind %d", kind)
		}
		m.imports = append(m.imports, imp)
	}
	return nil
}

func (m *Module) readFunctions(r *reader) error {
	n, err := r.count("functions", 1, maxFuncs)
	if err != nil {
		return err
	}
	if uint64(n)+uint64(len(m.funcTypes)) > maxFuncs {
		return fmt.Errorf("%w: more than %d functions", ErrLimit, maxFuncs)
	}
	for i := uint32(0); i < n; i++ {
		idx, err := m.typeIndex(r)
		if err != nil {
			return err
		}
		m.funcTypes = append(m.funcTypes, idx)
	}
	return nil
}

// readLimits reads memory or table limits; flags above 1 are shared (threads) or 64-bit.
func readLimits(r *reader, maxMin uint32, what string) error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	switch flags {
	case 0, 1:
	case 2, 3:
		return fmt.Errorf("%w: %w: shared %s", ErrUnsupported, ErrThreads, what)
	case 4, 5, 6, 7:
		return fmt.Errorf("%w: 64-bit %s", ErrUnsupported, what)
	default:
		return r.errf("unknown %s limits flags 0x%02x", what, flags)
	}
	lo, err := r.u32()
	if err != nil {
		return err
	}
	if lo > maxMin {
		return fmt.Errorf("%w: %s minimum %d exceeds %d", ErrInvalid, what, lo, maxMin)
	}
	if flags == 1 {
		hi, err := r.u32()
		if err != nil {
			return err
		}
		if hi > maxMin || hi < lo {
			return fmt.Errorf("%w: %s maximum %d invalid (minimum %d, limit %d)", ErrInvalid, what, hi, lo, maxMin)
		}
	}
	return nil
}

func (m *Module) readTableType(r *reader) error {
	et, err := r.byte()
	if err != nil {
		return err
	}
	if et != 0x70 {
		return fmt.Errorf("%w: table element type 0x%02x (only funcref)", ErrUnsupported, et)
	}
	if err := readLimits(r, maxTableSize, "table"); err != nil {
		return err
	}
	m.tables++
	if m.tables > 1 {
		return fmt.Errorf("%w: more than one table", ErrUnsupported)
	}
	return nil
}

func (m *Module) readMemoryType(r *reader) error {
	if err := readLimits(r, maxPages, "memory"); err != nil {
		return err
	}
	m.memories++
	if m.memories > 1 {
		return fmt.Errorf("%w: more than one memory", ErrUnsupported)
	}
	return nil
}

func (m *Module) readTables(r *reader) error {
	n, err := r.count("tables", 3, maxImports)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if err := m.readTableType(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *Module) readMemories(r *reader) error {
	n, err := r.count("memories", 2, maxImports)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if err := m.readMemoryType(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *Module) readGlobalType(r *reader) error {
	vt, err := m.readValueType(r)
	if err != nil {
		return err
	}
	mut, err := r.byte()
	if err != nil {
		return err
	}
	if mut > 1 {
		return r.errf("global mutability flag %d", mut)
	}
	if len(m.globalTypes) >= maxGlobals {
		return fmt.Errorf("%w: more than %d globals", ErrLimit, maxGlobals)
	}
	m.globalTypes = append(m.globalTypes, vt)
	m.globalMut = append(m.globalMut, mut == 1)
	return nil
}

// constExpr reads an initializer: one constant or a global.get of an immutable imported
// global, then end. Extended constant expressions and references are not supported.
func (m *Module) constExpr(r *reader, want ValueType) error {
	op, err := r.byte()
	if err != nil {
		return err
	}
	var got ValueType
	switch op {
	case 0x41:
		_, err = r.sleb(32)
		got = I32
	case 0x42:
		_, err = r.sleb(64)
		got = I64
	case 0x43:
		_, err = r.bytes(4)
		got = F32
	case 0x44:
		_, err = r.bytes(8)
		got = F64
	case 0x23:
		var idx uint32
		idx, err = r.u32()
		if err == nil {
			if idx >= m.numImportedGlbs || m.globalMut[idx] {
				return fmt.Errorf("%w: constant expression reads global %d (only immutable imported globals)", ErrInvalid, idx)
			}
			got = m.globalTypes[idx]
		}
	case 0xD0, 0xD2:
		return fmt.Errorf("%w: reference in a constant expression", ErrUnsupported)
	case 0xFD:
		return fmt.Errorf("%w: %w: v128 constant", ErrUnsupported, ErrSIMD)
	default:
		return fmt.Errorf("%w: opcode 0x%02x in a constant expression", ErrUnsupported, op)
	}
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: constant expression has type %s, want %s", ErrInvalid, got, want)
	}
	end, err := r.byte()
	if err != nil {
		return err
	}
	if end != 0x0B {
		return fmt.Errorf("%w: constant expression longer than one instruction", ErrUnsupported)
	}
	return nil
}

func (m *Module) readGlobals(r *reader) error {
	n, err := r.count("globals", 4, maxGlobals)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if err := m.readGlobalType(r); err != nil {
			return err
		}
		if err := m.constExpr(r, m.globalTypes[len(m.globalTypes)-1]); err != nil {
			return err
		}
	}
	return nil
}

func (m *Module) readExports(r *reader) error {
	n, err := r.count("exports", 3, maxExports)
	if err != nil {
		return err
	}
	seen := make(map[string]struct{}, n)
	for i := uint32(0); i < n; i++ {
		var e Export
		if e.Name, err = r.name(); err != nil {
			return err
		}
		if _, dup := seen[e.Name]; dup {
			return fmt.Errorf("%w: duplicate export %q", ErrInvalid, e.Name)
		}
		seen[e.Name] = struct{}{}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		e.Kind = ExternKind(kind)
		if e.Index, err = r.u32(); err != nil {
			return err
		}
		var limit uint32
		switch e.Kind {
		case KindFunc:
			limit = uint32(len(m.funcTypes))
		case KindTable:
			limit = m.tables
		case KindMemory:
			limit = m.memories
		case KindGlobal:
			limit = uint32(len(m.globalTypes))
		case 4:
			return fmt.Errorf("%w: tag export (exception handling)", ErrUnsupported)
		default:
			return r.errf("unknown export kind %d", kind)
		}
		if e.Index >= limit {
			return fmt.Errorf("%w: export %q: %s index %d out of range", ErrInvalid, e.Name, e.Kind, e.Index)
		}
		m.exports = append(m.exports, e)
	}
	return nil
}

func (m *Module) readStart(r *reader) error {
	idx, err := r.u32()
	if err != nil {
		return err
	}
	if idx >= uint32(len(m.funcTypes)) {
		return fmt.Errorf("%w: start function %d out of range", ErrInvalid, idx)
	}
	m.hasStart = true
	return nil
}

func (m *Module) readElements(r *reader) error {
	n, err := r.count("element segments", 1, maxElemSegments)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		flags, err := r.u32()
		if err != nil {
			return err
		}
		if flags != 0 {
			if flags > 7 {
				return r.errf("element segment flags %d", flags)
			}
			return fmt.Errorf("%w: element segment flags %d (only active table-0 segments of function indices)", ErrUnsupported, flags)
		}
		if m.tables == 0 {
			return fmt.Errorf("%w: element segment without a table", ErrInvalid)
		}
		if err := m.constExpr(r, I32); err != nil {
			return err
		}
		k, err := r.count("element indices", 1, maxTableSize)
		if err != nil {
			return err
		}
		for j := uint32(0); j < k; j++ {
			idx, err := r.u32()
			if err != nil {
				return err
			}
			if idx >= uint32(len(m.funcTypes)) {
				return fmt.Errorf("%w: element function index %d out of range", ErrInvalid, idx)
			}
		}
	}
	return nil
}

func (m *Module) readCode(r *reader, declared int) error {
	n, err := r.count("function bodies", 2, maxFuncs)
	if err != nil {
		return err
	}
	if declared < 0 {
		declared = 0
	}
	if int(n) != declared {
		return fmt.Errorf("%w: %d function bodies for %d declared functions", ErrMalformed, n, declared)
	}
	m.bodies = make([]body, n)
	for i := range m.bodies {
		size, err := r.u32()
		if err != nil {
			return err
		}
		if size > maxBodySize {
			return fmt.Errorf("%w: function body of %d bytes (limit %d)", ErrLimit, size, maxBodySize)
		}
		raw, err := r.bytes(size)
		if err != nil {
			return err
		}
		b := &m.bodies[i]
		b.funcIdx = m.numImportedFuncs + uint32(i)
		br := &reader{b: raw}
		if b.numDecl, err = br.count("local declarations", 2, maxLocals); err != nil {
			return err
		}
		declStart := br.pos
		var total uint64
		for j := uint32(0); j < b.numDecl; j++ {
			k, err := br.u32()
			if err != nil {
				return err
			}
			total += uint64(k)
			if total > maxLocals {
				return fmt.Errorf("%w: function %d declares more than %d locals", ErrLimit, b.funcIdx, maxLocals)
			}
			if _, err := m.readValueType(br); err != nil {
				return err
			}
		}
		b.numLocals = uint32(total)
		b.locals = raw[declStart:br.pos]
		b.code = raw[br.pos:]
		if len(b.code) == 0 {
			return fmt.Errorf("%w: function %d has no end", ErrMalformed, b.funcIdx)
		}
	}
	return nil
}

func (m *Module) readData(r *reader) error {
	n, err := r.count("data segments", 1, maxDataSegments)
	if err != nil {
		return err
	}
	m.numData = n
	for i := uint32(0); i < n; i++ {
		flags, err := r.u32()
		if err != nil {
			return err
		}
		switch flags {
		case 0, 2:
			if flags == 2 {
				mem, err := r.u32()
				if err != nil {
					return err
				}
				if mem != 0 {
					return fmt.Errorf("%w: data segment for memory %d", ErrUnsupported, mem)
				}
			}
			if m.memories == 0 {
				return fmt.Errorf("%w: active data segment without a memory", ErrInvalid)
			}
			if err := m.constExpr(r, I32); err != nil {
				return err
			}
		case 1:
		default:
			return r.errf("data segment flags %d", flags)
		}
		k, err := r.u32()
		if err != nil {
			return err
		}
		if _, err := r.bytes(k); err != nil {
			return err
		}
	}
	return nil
}
