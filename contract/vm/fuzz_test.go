package vm

import (
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzParams decodes up to 9 host-function parameters from raw bytes (8 bytes each; an i32
// parameter keeps the low half, as wazero passes it).
func fuzzParams(raw []byte, n int) []uint64 {
	st := make([]uint64, max(n, 1))
	for i := range st {
		if len(raw) >= 8 {
			st[i] = binary.LittleEndian.Uint64(raw)
			raw = raw[8:]
		} else if len(raw) > 0 {
			st[i] = uint64(raw[0])
			raw = raw[1:]
		}
	}
	return st
}

func params(v ...uint64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}

// fuzzState is a call state over an in-memory host with a generous budget.
func fuzzState(t testing.TB, readOnly bool) (*callState, *memHost) {
	cfg := DefaultConfig()
	h := newHost(newStore(), "fuzz")
	h.st.data["k"] = []byte("value")
	h.st.data["k2"] = []byte{}
	h.callFn = func(_ [32]byte, input []byte, gas uint64) ([]byte, uint64, error) {
		switch {
		case len(input) == 0:
			return nil, gas, ErrOutOfGas
		case input[0] == 'e':
			return nil, 1, &ContractError{Message: string(input)}
		case input[0] == 'h':
			return nil, 1, errors.New("host broke")
		}
		return input, min(gas, 7), nil
	}
	return &callState{cfg: &cfg, host: h, readOnly: readOnly, meter: fakeMeter(t, 1<<40), input: []byte("the input")}, h
}

// allowed reports whether err is one of the failures a host function may report.
func allowed(err error) bool {
	for _, e := range []error{ErrABI, ErrLimit, ErrReadOnly, ErrOutOfGas, ErrHost, ErrTrap} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func fuzzHostFuncs(f *testing.F, funcs []hostFunc, seeds [][]byte) {
	mem := make([]byte, 512)
	copy(mem, "k\x00k2\x00prefix\x00topic/1\x00data")
	for i := range funcs {
		for _, s := range seeds {
			f.Add(uint8(i), s, mem, false)
		}
	}
	f.Fuzz(func(t *testing.T, idx uint8, raw, mem []byte, readOnly bool) {
		fn := &funcs[int(idx)%len(funcs)]
		s, h := fuzzState(t, readOnly)
		st := fuzzParams(raw, max(len(fn.params), len(fn.results)))
		err := s.invoke(fn, testMemory(mem), st, true)
		if err != nil && !allowed(err) {
			t.Fatalf("%s: unexpected error %v", fn.name, err)
		}
		if errors.Is(err, ErrHost) && fn.name != "call" {
			t.Fatalf("%s: a host failure the in-memory host cannot produce: %v", fn.name, err)
		}
		if readOnly && h.writes != 0 {
			t.Fatalf("%s wrote in read-only mode", fn.name)
		}
	})
}

// FuzzPhalaABI calls every phala host function with arbitrary parameters and memory: it must
// fail with one of the VM's errors, never panic, and never write when read-only.
func FuzzPhalaABI(f *testing.F) {
	fuzzHostFuncs(f, phalaFuncs, [][]byte{
		params(0, 1, 0, 1),
		params(0, 2, 508, 4),
		params(1, 0, 6, 7),
		params(1, 32, 64, 32, 96, 3, 128, 64),
		params(14, 8, 22, 4),
		params(100000, 3, 0, 1<<40),
	})
}

// FuzzWASI does the same for the WASI functions.
func FuzzWASI(f *testing.F) {
	fuzzHostFuncs(f, wasiFuncs, [][]byte{
		params(1, 0, 2, 100),
		params(2, 16, 1, 200),
		params(0, 1000, 0),
		params(1, 0, 1<<33, 64),
		params(0, 64, 1, 300),
	})
}

func FuzzDecodeSubscriptions(f *testing.F) {
	sub := make([]byte, 96)
	sub[8] = 0
	binary.LittleEndian.PutUint64(sub[24:], 1_000_000)
	sub[48+8] = 1
	f.Add(sub, uint32(0), uint32(2))
	f.Add(sub, uint32(48), uint32(1))
	f.Add([]byte{}, uint32(0), uint32(1))
	f.Fuzz(func(t *testing.T, mem []byte, in, n uint32) {
		subs, err := decodeSubscriptions(testMemory(mem), in, n)
		if err != nil {
			if !errors.Is(err, ErrABI) {
				t.Fatal(err)
			}
			return
		}
		if uint32(len(subs)) != n {
			t.Fatalf("%d subscriptions, want %d", len(subs), n)
		}
	})
}

func FuzzDecodeIovecs(f *testing.F) {
	f.Add(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 8), 4), uint32(0), uint32(1))
	f.Add([]byte{}, uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, mem []byte, iovs, n uint32) {
		vecs, total, err := decodeIovecs(testMemory(mem), iovs, n)
		if err != nil {
			if !errors.Is(err, ErrABI) {
				t.Fatal(err)
			}
			return
		}
		var sum uint64
		for _, v := range vecs {
			sum += uint64(v[1])
		}
		if uint32(len(vecs)) != n || sum != total {
			t.Fatalf("%d vecs totalling %d, want %d totalling %d", len(vecs), sum, n, total)
		}
	})
}

// FuzzValidate feeds arbitrary modules to Validate and the export rewriter.
func FuzzValidate(f *testing.F) {
	f.Add(baseModule().encode())
	f.Add(baseModule().withImport("phala", "storage_get", [2]string{"ii", "I"}).encode())
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		err := Validate(wasm)
		if err != nil && !errors.Is(err, ErrInvalidModule) {
			t.Fatalf("Validate error outside ErrInvalidModule: %v", err)
		}
		checkExportGlobals(t, wasm, err == nil)
	})
}

// FuzzExportGlobals feeds arbitrary bytes to the section scanner and export rewriter alone.
func FuzzExportGlobals(f *testing.F) {
	f.Add(baseModule().encode())
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x07\x01\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x06\x06\x01\x7f\x01\x41\x00\x0b\x07\x01\x00"))
	f.Fuzz(func(t *testing.T, wasm []byte) { checkExportGlobals(t, wasm, false) })
}

func checkExportGlobals(t *testing.T, wasm []byte, mustWork bool) {
	out, names, err := exportGlobals(wasm)
	if err != nil {
		if mustWork {
			t.Fatalf("exportGlobals failed on a valid module: %v", err)
		}
		return
	}
	before, err1 := scanModule(wasm)
	after, err2 := scanModule(out)
	if err1 != nil || err2 != nil {
		t.Fatalf("rescanning: %v %v", err1, err2)
	}
	if len(after.sections) != len(before.sections) || len(after.mutableGlobals) != len(names) || len(names) != len(before.mutableGlobals) {
		t.Fatalf("rewrite changed the module's shape: %d/%d sections, %d globals, %d names",
			len(before.sections), len(after.sections), len(after.mutableGlobals), len(names))
	}
}
