package gas

import (
	"bytes"
	"fmt"
	"slices"
)

// ValueType is a Wasm number type; contracts may use no other (no v128, no references).
type ValueType byte

// The value types contracts may use.
const (
	I32 ValueType = 0x7F
	I64 ValueType = 0x7E
	F32 ValueType = 0x7D
	F64 ValueType = 0x7C
)

func (v ValueType) String() string {
	switch v {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	}
	return fmt.Sprintf("valtype(0x%02x)", byte(v))
}

// FuncType is a function signature.
type FuncType struct {
	Params, Results []ValueType
}

func (t FuncType) equal(o FuncType) bool {
	return slices.Equal(t.Params, o.Params) && slices.Equal(t.Results, o.Results)
}

func vtBytes(v []ValueType) []byte {
	b := make([]byte, len(v))
	for i, t := range v {
		b[i] = byte(t)
	}
	return b
}

// ExternKind says what an import or export is.
type ExternKind byte

// The kinds of imports and exports.
const (
	KindFunc   ExternKind = 0
	KindTable  ExternKind = 1
	KindMemory ExternKind = 2
	KindGlobal ExternKind = 3
)

func (k ExternKind) String() string {
	switch k {
	case KindFunc:
		return "func"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Import is one entry of the import section. Func is set for function imports.
type Import struct {
	Module, Name string
	Kind         ExternKind
	Func         FuncType
}

// Export is one entry of the export section. Index is in the index space of Kind; Func is
// set for function exports.
type Export struct {
	Name  string
	Kind  ExternKind
	Index uint32
	Func  FuncType
}

// Limits of the decoder: the JS embedding API's limits, except a smaller module size.
const (
	MaxModuleSize   = 64 << 20
	maxTypes        = 1_000_000
	maxFuncs        = 1_000_000
	maxImports      = 100_000
	maxExports      = 100_000
	maxGlobals      = 1_000_000
	maxDataSegments = 100_000
	maxElemSegments = 10_000_000
	maxTableSize    = 10_000_000
	maxParams       = 1_000
	maxResults      = 1_000
	maxLocals       = 50_000
	maxBodySize     = 7_654_321
	maxPages        = 65_536
)

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank is the position a non-custom section must take; the data count section sits
// between element and code.
var sectionRank = [...]int{secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secGlobal: 6, secExport: 7, secStart: 8, secElement: 9, secDataCount: 10, secCode: 11, secData: 12}

type section struct {
	id      byte
	payload []byte
	raw     []byte // id, size and payload, as in the input
}

// body is one function body of the code section.
type body struct {
	funcIdx   uint32
	numLocals uint32 // declared locals, params excluded
	locals    []byte // the locals vector entries, without its count
	numDecl   uint32 // number of locals vector entries
	code      []byte // instructions, final end included
}

// Module is a parsed Wasm binary: enough structure to validate an upload and to instrument it.
type Module struct {
	sections         []section
	types            []FuncType
	imports          []Import
	funcTypes        []uint32 // type index of every function, imported ones first
	numImportedFuncs uint32
	tables           uint32
	memories         uint32
	globalTypes      []ValueType
	globalMut        []bool
	numImportedGlbs  uint32
	exports          []Export
	hasStart         bool
	hasDataCount     bool
	dataCount        uint32
	numData          uint32
	bodies           []body
}

// Imports lists the module's imports in order.
func (m *Module) Imports() []Import { return append([]Import(nil), m.imports...) }

// Exports lists the module's exports in order.
func (m *Module) Exports() []Export { return append([]Export(nil), m.exports...) }

// Parse decodes and validates wasm strictly. Every function body is decoded and its indices,
// labels and nesting checked; operand-stack typing is left to the engine's own validation at
// compile time. Errors wrap ErrMalformed, ErrInvalid, ErrUnsupported (ErrSIMD, ErrThreads) or
// ErrLimit.
func Parse(wasm []byte) (*Module, error) {
	m, err := parse(wasm)
	if err != nil {
		return nil, err
	}
	var d decoder
	for i := range m.bodies {
		if err := d.decode(m, &m.bodies[i]); err != nil {
			return nil, err
		}
	}
	return m, nil
}

var wasmHeader = []byte{0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00}

// parse decodes everything but the instructions of function bodies.
func parse(wasm []byte) (*Module, error) {
	if len(wasm) > MaxModuleSize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrLimit, len(wasm), MaxModuleSize)
	}
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], wasmHeader[:4]) {
		return nil, fmt.Errorf("%w: missing the \\0asm magic", ErrMalformed)
	}
	if !bytes.Equal(wasm[4:8], wasmHeader[4:]) {
		return nil, fmt.Errorf("%w: unsupported binary version %x (want 1)", ErrMalformed, wasm[4:8])
	}
	m := &Module{}
	r := &reader{b: wasm, pos: 8}
	lastRank := 0
	funcCount := -1
	for !r.eof() {
		start := r.pos
		id, _ := r.byte()
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		payload, err := r.bytes(size)
		if err != nil {
			return nil, err
		}
		sec := section{id: id, payload: payload, raw: wasm[start:r.pos]}
		m.sections = append(m.sections, sec)
		if id == secTag {
			return nil, fmt.Errorf("%w: tag section (exception handling)", ErrUnsupported)
		}
		if int(id) >= len(sectionRank) {
			return nil, fmt.Errorf("%w: unknown section id %d", ErrMalformed, id)
		}
		if id != secCustom {
			if sectionRank[id] <= lastRank {
				return nil, fmt.Errorf("%w: section %d duplicated or out of order", ErrMalformed, id)
			}
			lastRank = sectionRank[id]
		}
		sr := &reader{b: payload}
		switch id {
		case secCustom:
			_, err = sr.name()
			sr.pos = len(payload)
		case secType:
			err = m.readTypes(sr)
		case secImport:
			err = m.readImports(sr)
		case secFunction:
			err = m.readFunctions(sr)
			funcCount = len(m.funcTypes) - int(m.numImportedFuncs)
		case secTable:
			err = m.readTables(sr)
		case secMemory:
			err = m.readMemories(sr)
		case secGlobal:
			err = m.readGlobals(sr)
		case secExport:
			err = m.readExports(sr)
		case secStart:
			err = m.readStart(sr)
		case secElement:
			err = m.readElements(sr)
		case secDataCount:
			m.dataCount, err = sr.u32()
			m.hasDataCount = true
		case secCode:
			err = m.readCode(sr, funcCount)
			funcCount = -2
		case secData:
			err = m.readData(sr)
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		if sr.pos != len(payload) {
			return nil, fmt.Errorf("%w: section %d has %d trailing bytes", ErrMalformed, id, len(payload)-sr.pos)
		}
	}
	if funcCount > 0 {
		return nil, fmt.Errorf("%w: function section declares %d functions but the code section is missing", ErrMalformed, funcCount)
	}
	if m.hasDataCount && m.dataCount != m.numData {
		return nil, fmt.Errorf("%w: data count %d but %d data segments", ErrMalformed, m.dataCount, m.numData)
	}
	for i := range m.exports {
		if m.exports[i].Kind == KindFunc {
			m.exports[i].Func = m.types[m.funcTypes[m.exports[i].Index]]
		}
	}
	return m, nil
}
