package vm

// A minimal Wasm encoder for hand-made test modules.

type wimport struct {
	module, name string
	kind         byte // 0 func, 2 memory
	typ          uint32
}

type wfunc struct {
	typ  uint32
	body []byte // instructions, final end included; no locals
}

type wexport struct {
	name string
	kind byte
	idx  uint32
}

type wmod struct {
	types       [][2]string // params, results: 'i' i32, 'I' i64
	imports     []wimport
	funcs       []wfunc
	memory      []byte // encoded limits; nil for none
	exports     []wexport
	start       *uint32
	passiveData bool
}

func vec(n int, items ...[]byte) []byte {
	b := appendULEB(nil, uint32(n))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func name(s string) []byte { return append(appendULEB(nil, uint32(len(s))), s...) }

func section(id byte, payload []byte) []byte {
	return append(append([]byte{id}, appendULEB(nil, uint32(len(payload)))...), payload...)
}

func valtypes(s string) []byte {
	b := appendULEB(nil, uint32(len(s)))
	for _, c := range s {
		if c == 'I' {
			b = append(b, 0x7E)
		} else {
			b = append(b, 0x7F)
		}
	}
	return b
}

func (m wmod) encode() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	var items [][]byte
	for _, t := range m.types {
		items = append(items, append(append([]byte{0x60}, valtypes(t[0])...), valtypes(t[1])...))
	}
	out = append(out, section(1, vec(len(items), items...))...)
	if len(m.imports) > 0 {
		items = nil
		for _, im := range m.imports {
			it := append(name(im.module), name(im.name)...)
			it = append(it, im.kind)
			if im.kind == 0 {
				it = appendULEB(it, im.typ)
			} else {
				it = append(it, 0x00, 0x01)
			}
			items = append(items, it)
		}
		out = append(out, section(2, vec(len(items), items...))...)
	}
	items = nil
	for _, f := range m.funcs {
		items = append(items, appendULEB(nil, f.typ))
	}
	out = append(out, section(3, vec(len(items), items...))...)
	if m.memory != nil {
		out = append(out, section(5, vec(1, m.memory))...)
	}
	items = nil
	for _, e := range m.exports {
		items = append(items, appendULEB(append(name(e.name), e.kind), e.idx))
	}
	out = append(out, section(7, vec(len(items), items...))...)
	if m.start != nil {
		out = append(out, section(8, appendULEB(nil, *m.start))...)
	}
	items = nil
	for _, f := range m.funcs {
		body := append([]byte{0}, f.body...) // no locals
		items = append(items, append(appendULEB(nil, uint32(len(body))), body...))
	}
	out = append(out, section(10, vec(len(items), items...))...)
	if m.passiveData {
		out = append(out, section(11, vec(1, []byte{1, 2, 'h', 'i'}))...)
	}
	return out
}

// Instruction bytes.
var (
	opEnd     = []byte{0x0B}
	retZero   = []byte{0x41, 0x00, 0x0B} // i32.const 0; end
	opUnreach = []byte{0x00, 0x0B}
)

// baseModule is the smallest valid contract: _initialize does nothing, the three entry points
// return status 0. Function indices: imports first, then _initialize, instantiate, execute,
// query.
func baseModule() wmod {
	return wmod{
		types:  [][2]string{{"", ""}, {"i", "i"}},
		funcs:  []wfunc{{0, opEnd}, {1, retZero}, {1, retZero}, {1, retZero}},
		memory: []byte{0x00, 0x01},
		exports: []wexport{
			{"memory", 2, 0}, {"_initialize", 0, 0}, {"instantiate", 0, 1}, {"execute", 0, 2}, {"query", 0, 3},
		},
	}
}

// withImport adds a function import of type typ and shifts the exported function indices.
func (m wmod) withImport(module, fn string, typ [2]string) wmod {
	m.types = append(append([][2]string{}, m.types...), typ)
	m.imports = append(append([]wimport{}, m.imports...), wimport{module, fn, 0, uint32(len(m.types) - 1)})
	ex := append([]wexport{}, m.exports...)
	for i := range ex {
		if ex[i].kind == 0 {
			ex[i].idx++
		}
	}
	m.exports = ex
	return m
}

// withBody replaces the body of defined function k (0 _initialize, 1 instantiate, 2 execute,
// 3 query).
func (m wmod) withBody(k int, body []byte) wmod {
	m.funcs = append([]wfunc{}, m.funcs...)
	m.funcs[k].body = body
	return m
}
