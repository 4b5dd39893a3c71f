package vm

import (
	"errors"
	"fmt"
	"strconv"
)

// reservedPrefix starts every export name the VM and package gas add to a module; contracts may
// not use it.
const reservedPrefix = "__phala_"

// snapshotGlobalPrefix names the exports that expose mutable globals for the snapshot.
const snapshotGlobalPrefix = reservedPrefix + "global_"

// errScan reports bytes the section scanner cannot follow. Validate runs gas.Parse first, so a
// module reaching the scanner is well-formed and this error means a bug or a hostile input to
// the scanner alone (the fuzz target).
var errScan = errors.New("vm: malformed module section")

// moduleScan is what the VM needs to know about a module beyond package gas's Parse: where its
// sections are, whether it has a start section or passive data, and its mutable globals.
type moduleScan struct {
	sections       []rawSection
	hasStart       bool
	passiveData    bool
	importGlobals  uint32
	mutableGlobals []uint32 // indices in the global index space
	exportSection  int      // index into sections, -1 if absent
}

type rawSection struct {
	id             byte
	start, payload int // offset of the id byte and of the payload
	end            int
}

// scanModule walks the sections of a Wasm binary.
func scanModule(wasm []byte) (*moduleScan, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%w: no wasm header", errScan)
	}
	m := &moduleScan{exportSection: -1}
	r := &byteReader{b: wasm, pos: 8}
	for r.pos < len(wasm) {
		start := r.pos
		id := r.byte()
		size := r.u32()
		if r.err != nil || uint64(size) > uint64(len(wasm)-r.pos) {
			return nil, fmt.Errorf("%w: section at offset %d", errScan, start)
		}
		s := rawSection{id: id, start: start, payload: r.pos, end: r.pos + int(size)}
		r.pos = s.end
		sr := &byteReader{b: wasm[:s.end], pos: s.payload}
		switch id {
		case 2:
			m.scanImports(sr)
		case 6:
			m.scanGlobals(sr)
		case 7:
			m.exportSection = len(m.sections)
		case 8:
			m.hasStart = true
		case 11:
			m.scanData(sr)
		}
		if sr.err != nil {
			return nil, fmt.Errorf("%w: section %d: %v", errScan, id, sr.err)
		}
		m.sections = append(m.sections, s)
	}
	return m, nil
}

func (m *moduleScan) scanImports(r *byteReader) {
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0:
			r.u32()
		case 1:
			r.byte()
			r.limits()
		case 2:
			r.limits()
		case 3:
			r.byte()
			if r.byte() == 1 {
				m.mutableGlobals = append(m.mutableGlobals, m.importGlobals)
			}
			m.importGlobals++
		default:
			r.fail("import kind %d", kind)
		}
	}
}

func (m *moduleScan) scanGlobals(r *byteReader) {
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.byte() // value type
		if r.byte() == 1 {
			m.mutableGlobals = append(m.mutableGlobals, m.importGlobals+i)
		}
		r.constExpr()
	}
}

func (m *moduleScan) scanData(r *byteReader) {
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch flag := r.u32(); flag {
		case 0:
			r.constExpr()
		case 1:
			m.passiveData = true
		case 2:
			r.u32()
			r.constExpr()
		default:
			r.fail("data segment flag %d", flag)
		}
		r.skip(r.u32())
	}
}

// exportGlobals returns wasm with an export named snapshotGlobalPrefix+index appended for each
// mutable global, and those names in index order: wazero exposes only exported globals, and
// the snapshot must save and restore all of them (Go keeps its stack pointer in one).
func exportGlobals(wasm []byte) ([]byte, []string, error) {
	m, err := scanModule(wasm)
	if err != nil {
		return nil, nil, err
	}
	if m.exportSection < 0 {
		return nil, nil, fmt.Errorf("%w: no export section", errScan)
	}
	s := m.sections[m.exportSection]
	r := &byteReader{b: wasm[:s.end], pos: s.payload}
	count := r.u32()
	if r.err != nil {
		return nil, nil, fmt.Errorf("%w: export section: %v", errScan, r.err)
	}
	names := make([]string, len(m.mutableGlobals))
	payload := appendULEB(nil, count+uint32(len(names)))
	payload = append(payload, wasm[r.pos:s.end]...)
	for i, g := range m.mutableGlobals {
		names[i] = snapshotGlobalPrefix + strconv.FormatUint(uint64(g), 10)
		payload = appendULEB(payload, uint32(len(names[i])))
		payload = append(payload, names[i]...)
		payload = append(payload, 3) // global
		payload = appendULEB(payload, g)
	}
	out := make([]byte, 0, len(wasm)+len(payload)-(s.end-s.payload)+8)
	out = append(out, wasm[:s.start]...)
	out = append(out, 7)
	out = appendULEB(out, uint32(len(payload)))
	out = append(out, payload...)
	out = append(out, wasm[s.end:]...)
	return out, names, nil
}

func appendULEB(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// byteReader decodes the Wasm binary encoding; the first error sticks and later reads return
// zero values.
type byteReader struct {
	b   []byte
	pos int
	err error
}

func (r *byteReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at offset %d: "+format, append([]any{r.pos}, args...)...)
	}
}

func (r *byteReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	r.pos++
	return r.b[r.pos-1]
}

// leb reads an unsigned or signed LEB128 of at most maxBytes bytes, returning its raw value.
func (r *byteReader) leb(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 longer than %d bytes", maxBytes)
	return 0
}

func (r *byteReader) u32() uint32 {
	v := r.leb(5)
	if v > 0xFFFFFFFF {
		r.fail("u32 overflow")
		return 0
	}
	return uint32(v)
}

func (r *byteReader) skip(n uint32) {
	if r.err == nil && uint64(n) > uint64(len(r.b)-r.pos) {
		r.fail("%d bytes past the end", n)
	}
	if r.err == nil {
		r.pos += int(n)
	}
}

func (r *byteReader) name() { r.skip(r.u32()) }

func (r *byteReader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// constExpr skips a constant expression of the forms Parse accepts.
func (r *byteReader) constExpr() {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0B: // end
			return
		case 0x41, 0x23, 0xD2: // i32.const, global.get, ref.func
			r.leb(5)
		case 0x42: // i64.const
			r.leb(10)
		case 0x43:
			r.skip(4)
		case 0x44:
			r.skip(8)
		case 0xD0: // ref.null t
			r.byte()
		default:
			r.fail("opcode 0x%02x in a constant expression", op)
		}
	}
}
