package gas

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseGoContract(t *testing.T) {
	m, err := Parse(goContract)
	require.NoError(t, err)
	imps := m.Imports()
	require.Contains(t, imps, Import{Module: "env", Name: "consume", Kind: KindFunc, Func: sig("i32", "")})
	wasi := 0
	for _, imp := range imps {
		if imp.Module == "wasi_snapshot_preview1" {
			wasi++
		}
	}
	require.Greater(t, wasi, 0)
	exps := map[string]Export{}
	for _, e := range m.Exports() {
		exps[e.Name] = e
	}
	require.Equal(t, sig("i32", "i64"), exps["burn"].Func)
	require.Equal(t, KindFunc, exps["burn"].Kind)
	require.Equal(t, sig("", ""), exps["_initialize"].Func)
	require.Equal(t, KindMemory, exps["memory"].Kind)
	// The accessors return copies.
	m.Exports()[0].Name = "changed"
	require.NotEqual(t, "changed", m.Exports()[0].Name)
}

func TestParseErrors(t *testing.T) {
	valid := modSpec{memory: true, funcs: []fn{{name: "f", typ: sig("i32", "i32"), code: asm(t, "local.get 0")}}}.build()
	_, err := Parse(valid)
	require.NoError(t, err)
	hdr := wasmHeader
	with := func(sections ...[]byte) []byte {
		out := append([]byte(nil), hdr...)
		for _, s := range sections {
			out = append(out, s...)
		}
		return out
	}
	section := func(id byte, payload ...byte) []byte {
		return append(append([]byte{id}, appendU32(nil, uint32(len(payload)))...), payload...)
	}
	oneFunc := func(code ...byte) []byte {
		body := append([]byte{0}, code...)
		return with(section(secType, 1, 0x60, 1, 0x7F, 1, 0x7F), section(secFunction, 1, 0),
			section(secMemory, 1, 0, 1), section(secCode, append([]byte{1, byte(len(body))}, body...)...))
	}
	for _, c := range []struct {
		name string
		wasm []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"bad magic", []byte("\x00asn\x01\x00\x00\x00"), ErrMalformed},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), ErrMalformed},
		{"truncated section", with([]byte{secType, 5, 0}), ErrMalformed},
		{"section size overflows u32", with([]byte{secType, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}), ErrMalformed},
		{"unknown section", with(section(14)), ErrMalformed},
		{"out of order", with(section(secFunction, 0), section(secType, 0)), ErrMalformed},
		{"duplicate", with(section(secType, 0), section(secType, 0)), ErrMalformed},
		{"trailing bytes in section", with(section(secType, 0, 0)), ErrMalformed},
		{"type count too large", with(section(secType, 0xFF, 0xFF, 0x03)), ErrMalformed},
		{"func type form", with(section(secType, 1, 0x5F, 0, 0)), ErrUnsupported},
		{"unknown value type", with(section(secType, 1, 0x60, 1, 0x01, 0)), ErrMalformed},
		{"function without code", with(section(secType, 1, 0x60, 0, 0), section(secFunction, 1, 0)), ErrMalformed},
		{"function type out of range", with(section(secType, 1, 0x60, 0, 0), section(secFunction, 1, 5)), ErrInvalid},
		{"bad utf-8 import", with(section(secImport, 1, 1, 0xFF, 1, 'x', 2, 0, 1)), ErrMalformed},
		{"duplicate export", with(section(secMemory, 1, 0, 1), section(secExport, 2, 1, 'm', 2, 0, 1, 'm', 2, 0)), ErrInvalid},
		{"export out of range", with(section(secExport, 1, 1, 'm', 2, 0)), ErrInvalid},
		{"two memories", with(section(secMemory, 2, 0, 1, 0, 1)), ErrUnsupported},
		{"two tables", with(section(secTable, 2, 0x70, 0, 1, 0x70, 0, 1)), ErrUnsupported},
		{"externref table", with(section(secTable, 1, 0x6F, 0, 1)), ErrUnsupported},
		{"too many imports", with(section(secImport, 0xFF, 0xFF, 0x7F)), ErrLimit},
		{"memory too large", with(section(secMemory, 1, 0, 0x81, 0x80, 0x04)), ErrInvalid},
		{"memory max below min", with(section(secMemory, 1, 1, 2, 1)), ErrInvalid},
		{"memory64", with(section(secMemory, 1, 4, 1)), ErrUnsupported},
		{"global init type", with(section(secGlobal, 1, 0x7E, 0, opI32Const, 0, opEnd)), ErrInvalid},
		{"global init too long", with(section(secGlobal, 1, 0x7F, 0, opI32Const, 0, opI32Const, 0, opEnd)), ErrUnsupported},
		{"data count mismatch", with(section(secDataCount, 2)), ErrMalformed},
		{"element flags", with(section(secElement, 1, 1, 0, 0)), ErrUnsupported},
		{"element without table", with(section(secElement, 1, 0, opI32Const, 0, opEnd, 0)), ErrInvalid},
		{"u32 with high bits", oneFunc(opLocalGet, 0x80, 0x80, 0x80, 0x80, 0x10, opEnd), ErrMalformed},
		{"local out of range", oneFunc(opLocalGet, 1, opEnd), ErrInvalid},
		{"label out of range", oneFunc(opBr, 1, opEnd), ErrInvalid},
		{"else without if", oneFunc(opBlock, 0x40, opElse, opEnd, opLocalGet, 0, opEnd), ErrInvalid},
		{"unbalanced", oneFunc(opBlock, 0x40, opLocalGet, 0, opEnd), ErrMalformed},
		{"code after end", oneFunc(opLocalGet, 0, opEnd, opNop), ErrMalformed},
		{"unknown opcode", oneFunc(0x27, opEnd), ErrMalformed},
		{"unknown 0xFC", oneFunc(opPrefixFC, 0x20, opEnd), ErrMalformed},
		{"table instruction", oneFunc(opPrefixFC, 0x0F, opEnd), ErrUnsupported},
		{"alignment", oneFunc(opLocalGet, 0, 0x28, 3, 0, opEnd), ErrInvalid},
		{"memory index", oneFunc(opLocalGet, 0, 0x28, 0x42, 0, 0, opEnd), ErrUnsupported},
		{"data.drop without data count", oneFunc(opPrefixFC, 9, 0, opLocalGet, 0, opEnd), ErrInvalid},
		{"call out of range", oneFunc(opCall, 3, opEnd), ErrInvalid},
		{"call_indirect without table", oneFunc(opLocalGet, 0, opCallIndirect, 0, 0, opEnd), ErrInvalid},
		{"block type out of range", oneFunc(opBlock, 9, opEnd, opLocalGet, 0, opEnd), ErrInvalid},
		{"block type v128", oneFunc(opBlock, 0x7B, opEnd, opLocalGet, 0, opEnd), ErrSIMD},
		{"i32.const overflow", oneFunc(opI32Const, 0x80, 0x80, 0x80, 0x80, 0x70, opEnd), ErrMalformed},
		{"exceptions", oneFunc(0x06, 0x40, opEnd, opLocalGet, 0, opEnd), ErrUnsupported},
		{"global.set immutable", with(section(secType, 1, 0x60, 0, 0), section(secFunction, 1, 0),
			section(secGlobal, 1, 0x7F, 0, opI32Const, 0, opEnd),
			section(secCode, 1, 6, 0, opI32Const, 0, opGlobalSet, 0, opEnd)), ErrInvalid},
	} {
		m, err := Parse(c.wasm)
		require.Nil(t, m, c.name)
		require.ErrorIs(t, err, c.want, c.name)
		_, err = Instrument(c.wasm, DefaultConfig())
		require.ErrorIs(t, err, c.want, "Instrument: %s", c.name)
	}
	// A byte flipped anywhere in a valid module never panics.
	for i := range valid {
		b := bytes.Clone(valid)
		b[i] ^= 0xFF
		_, _ = Parse(b)
		_, _ = Instrument(b, DefaultConfig())
	}
}

func TestReaderLEB(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		bits uint
		want int64
		ok   bool
	}{
		{[]byte{0}, 32, 0, true},
		{[]byte{0x7F}, 32, -1, true},
		{[]byte{0x80, 0x7F}, 32, -128, true},
		{[]byte{0xFF, 0xFF, 0xFF, 0xFF, 0x07}, 32, 1<<31 - 1, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x78}, 32, -1 << 31, true},
		{[]byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, 32, 0, false},       // 2^32-1 does not fit s32
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 32, 0, false}, // too long
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x00}, 32, 0, true},        // padding is allowed
		{[]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, 64, -1, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7F}, 64, -1 << 63, true},
		{[]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, 64, 0, false},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x0F}, 33, 15 << 28, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x70}, 33, -1 << 32, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x10}, 33, 0, false}, // sign bit set, extension bits clear
		{[]byte{0x80}, 32, 0, false},
	} {
		r := &reader{b: c.in}
		v, err := r.sleb(c.bits)
		if !c.ok {
			require.ErrorIs(t, err, ErrMalformed, "%x", c.in)
			continue
		}
		require.NoError(t, err, "%x", c.in)
		require.Equal(t, c.want, v, "%x", c.in)
		require.Equal(t, len(c.in), r.pos)
	}
	for _, v := range []int64{0, 1, -1, 63, 64, -64, -65, 1 << 40, -1 << 63, 1<<63 - 1} {
		r := &reader{b: appendS64(nil, v)}
		got, err := r.sleb(64)
		require.NoError(t, err)
		require.Equal(t, v, got)
	}
	for _, v := range []uint32{0, 127, 128, 1 << 31, 1<<32 - 1} {
		r := &reader{b: appendU32(nil, v)}
		got, err := r.u32()
		require.NoError(t, err)
		require.Equal(t, v, got)
	}
}

// Opcodes only the tests spell out.
const (
	opNop          = 0x01
	opCallIndirect = 0x11
)
