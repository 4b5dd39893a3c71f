package gas

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// opcodeByName maps instruction names to opcodes (0xFC ones as fcBase+sub).
var opcodeByName = sync.OnceValue(func() map[string]uint16 {
	m := map[string]uint16{}
	for i := range ops {
		if ops[i].name != "" {
			m[ops[i].name] = uint16(i)
		}
	}
	for i := range fcOps {
		m[fcOps[i].name] = fcBase + uint16(i)
	}
	return m
})

// asm assembles a small text form of instructions, one instruction per token group:
// "local.get 0 i32.const 5 i32.add". Block types: "block", "block i32", "block type=3".
// br_table takes the following integers. Loads and stores take optional offset=N.
// Raw bytes can be spliced with "0x..".
func asm(t testing.TB, src string) []byte {
	t.Helper()
	toks := strings.Fields(src)
	var out []byte
	num := func(i int) (string, bool) {
		if i < len(toks) {
			_, errF := strconv.ParseFloat(toks[i], 64)
			_, errI := strconv.ParseInt(toks[i], 0, 64)
			if errF == nil || errI == nil {
				return toks[i], true
			}
		}
		return "", false
	}
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		if strings.HasPrefix(tok, "0x") {
			v, err := strconv.ParseUint(tok[2:], 16, 64)
			if err != nil {
				t.Fatalf("asm: bad raw byte %q", tok)
			}
			out = append(out, byte(v))
			continue
		}
		op, ok := opcodeByName()[tok]
		if !ok {
			t.Fatalf("asm: unknown instruction %q", tok)
		}
		if op >= fcBase {
			out = append(out, opPrefixFC)
			out = appendU32(out, uint32(op-fcBase))
		} else {
			out = append(out, byte(op))
		}
		inf := info(op)
		arg := func() string {
			s, ok := num(i + 1)
			if !ok {
				t.Fatalf("asm: %s needs an immediate", tok)
			}
			i++
			return s
		}
		u32 := func() uint32 {
			v, err := strconv.ParseUint(arg(), 10, 32)
			if err != nil {
				t.Fatalf("asm: %s: %v", tok, err)
			}
			return uint32(v)
		}
		switch inf.imm {
		case immBlock:
			bt := byte(0x40)
			if i+1 < len(toks) {
				switch next := toks[i+1]; {
				case next == "i32", next == "i64", next == "f32", next == "f64":
					bt = map[string]byte{"i32": 0x7F, "i64": 0x7E, "f32": 0x7D, "f64": 0x7C}[next]
					i++
				case strings.HasPrefix(next, "type="):
					v, _ := strconv.Atoi(next[5:])
					out = appendS64(out, int64(v))
					i++
					continue
				}
			}
			out = append(out, bt)
		case immLabel, immFunc, immLocal, immGlobalGet, immGlobalSet, immData:
			out = appendU32(out, u32())
		case immCallInd:
			out = appendU32(out, u32())
			out = append(out, 0)
		case immBrTable:
			var ls []uint32
			for {
				if _, ok := num(i + 1); !ok {
					break
				}
				ls = append(ls, u32())
			}
			out = appendU32(out, uint32(len(ls)-1))
			for _, l := range ls {
				out = appendU32(out, l)
			}
		case immMem:
			off := uint32(0)
			if i+1 < len(toks) && strings.HasPrefix(toks[i+1], "offset=") {
				v, _ := strconv.ParseUint(toks[i+1][7:], 10, 32)
				off = uint32(v)
				i++
			}
			out = append(out, inf.align)
			out = appendU32(out, off)
		case immMemZero:
			out = append(out, 0)
		case immMemZero2:
			out = append(out, 0, 0)
		case immDataMem:
			out = appendU32(out, u32())
			out = append(out, 0)
		case immI32, immI64:
			v, err := strconv.ParseInt(arg(), 0, 64)
			if err != nil {
				t.Fatalf("asm: %s: %v", tok, err)
			}
			out = appendS64(out, v)
		case immF32:
			v, _ := strconv.ParseFloat(arg(), 32)
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(v)))
		case immF64:
			v, _ := strconv.ParseFloat(arg(), 64)
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
		}
	}
	return out
}

// fn is a function of a test module.
type fn struct {
	name   string // exported under this name if not empty
	typ    FuncType
	locals []ValueType
	code   []byte // without the final end
}

// modSpec describes a test module; build encodes it.
type modSpec struct {
	funcImports []Import // function imports (module env)
	memory      bool     // one memory of 1 page, max 16, exported as "memory"
	table       bool     // a funcref table holding every function, in order
	globals     []ValueType
	data        [][]byte // passive data segments
	funcs       []fn
	extraTypes  []FuncType
	custom      []byte // a custom section payload ("name" + bytes) placed after the types
}

func (s modSpec) build() []byte {
	var types []FuncType
	typeOf := func(t FuncType) uint32 {
		for i, u := range types {
			if u.equal(t) {
				return uint32(i)
			}
		}
		types = append(types, t)
		return uint32(len(types) - 1)
	}
	for _, t := range s.extraTypes {
		typeOf(t)
	}
	sec := func(out []byte, id byte, body []byte) []byte {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		return append(out, body...)
	}
	vec := func(n int, f func(b []byte, i int) []byte) []byte {
		b := appendU32(nil, uint32(n))
		for i := 0; i < n; i++ {
			b = f(b, i)
		}
		return b
	}
	imps := vec(len(s.funcImports), func(b []byte, i int) []byte {
		b = appendName(b, s.funcImports[i].Module)
		b = appendName(b, s.funcImports[i].Name)
		return appendU32(append(b, 0), typeOf(s.funcImports[i].Func))
	})
	funcs := vec(len(s.funcs), func(b []byte, i int) []byte { return appendU32(b, typeOf(s.funcs[i].typ)) })
	typeSec := vec(len(types), func(b []byte, i int) []byte {
		b = append(b, 0x60)
		b = appendU32(b, uint32(len(types[i].Params)))
		b = append(b, vtBytes(types[i].Params)...)
		b = appendU32(b, uint32(len(types[i].Results)))
		return append(b, vtBytes(types[i].Results)...)
	})
	nImp := len(s.funcImports)
	var exports []byte
	count := 0
	for i, f := range s.funcs {
		if f.name != "" {
			exports = appendName(exports, f.name)
			exports = append(exports, 0)
			exports = appendU32(exports, uint32(nImp+i))
			count++
		}
	}
	if s.memory {
		exports = appendName(exports, "memory")
		exports = append(exports, 2, 0)
		count++
	}
	out := append([]byte(nil), wasmHeader...)
	out = sec(out, secType, typeSec)
	if s.custom != nil {
		out = sec(out, secCustom, s.custom)
	}
	if nImp > 0 {
		out = sec(out, secImport, imps)
	}
	out = sec(out, secFunction, funcs)
	total := nImp + len(s.funcs)
	if s.table {
		out = sec(out, secTable, []byte{1, 0x70, 0, byte(total)})
	}
	if s.memory {
		out = sec(out, secMemory, []byte{1, 1, 1, 16})
	}
	if len(s.globals) > 0 {
		out = sec(out, secGlobal, vec(len(s.globals), func(b []byte, i int) []byte {
			b = append(b, byte(s.globals[i]), 1)
			switch s.globals[i] {
			case I32:
				return append(b, opI32Const, 0, opEnd)
			case I64:
				return append(b, opI64Const, 0, opEnd)
			case F32:
				return append(b, opF32Const, 0, 0, 0, 0, opEnd)
			}
			return append(b, opF64Const, 0, 0, 0, 0, 0, 0, 0, 0, opEnd)
		}))
	}
	out = sec(out, secExport, append(appendU32(nil, uint32(count)), exports...))
	if s.table {
		out = sec(out, secElement, append([]byte{1, 0, opI32Const, 0, opEnd}, vec(total, func(b []byte, i int) []byte {
			return appendU32(b, uint32(i))
		})...))
	}
	if len(s.data) > 0 {
		out = sec(out, secDataCount, appendU32(nil, uint32(len(s.data))))
	}
	out = sec(out, secCode, vec(len(s.funcs), func(b []byte, i int) []byte {
		f := s.funcs[i]
		body := vec(len(f.locals), func(b []byte, j int) []byte { return append(b, 1, byte(f.locals[j])) })
		body = append(body, f.code...)
		body = append(body, opEnd)
		return append(appendU32(b, uint32(len(body))), body...)
	}))
	if len(s.data) > 0 {
		out = sec(out, secData, vec(len(s.data), func(b []byte, i int) []byte {
			b = append(b, 1)
			b = appendU32(b, uint32(len(s.data[i])))
			return append(b, s.data[i]...)
		}))
	}
	return out
}

func sig(params string, results string) FuncType {
	conv := func(s string) []ValueType {
		var vs []ValueType
		for _, f := range strings.Fields(s) {
			vs = append(vs, map[string]ValueType{"i32": I32, "i64": I64, "f32": F32, "f64": F64}[f])
		}
		return vs
	}
	return FuncType{Params: conv(params), Results: conv(results)}
}

func TestAsm(t *testing.T) {
	got := fmt.Sprintf("%x", asm(t, "local.get 0 i32.const -1 i32.add block i32 br_table 0 1 0 end memory.fill i32.load offset=8"))
	want := "2000417f6a027f0e020001000bfc0b0028020" + "8"
	if got != want {
		t.Fatalf("asm = %s, want %s", got, want)
	}
}
