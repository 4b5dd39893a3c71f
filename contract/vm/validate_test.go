package vm

import (
	"context"
	"errors"
	"testing"

	"github.com/phala-go/phala/contract/gas"
)

func TestValidate(t *testing.T) {
	simd := append([]byte{0xFD, 0x0C}, make([]byte, 16)...)    // v128.const
	simd = append(simd, 0x1A, 0x41, 0x00, 0x0B)                // drop; i32.const 0; end
	atomic := []byte{0x41, 0x00, 0xFE, 0x10, 0x02, 0x00, 0x0B} // i32.const 0; i32.atomic.load; end
	start := uint32(0)
	m := baseModule()
	noQuery := m
	noQuery.exports = m.exports[:4]
	noMemory := m
	noMemory.exports = m.exports[1:]
	badSig := m
	badSig.types = append(append([][2]string{}, m.types...), [2]string{"i", ""})
	badSig.funcs = append([]wfunc{}, m.funcs...)
	badSig.funcs[2] = wfunc{2, opEnd}
	shared := m
	shared.memory = []byte{0x03, 0x01, 0x01}
	withStart := m
	withStart.start = &start
	passive := m
	passive.passiveData = true
	reserved := m
	reserved.exports = append(append([]wexport{}, m.exports...), wexport{"__phala_mine", 0, 0})
	memImport := m
	memImport.imports = []wimport{{"env", "memory", 2, 0}}
	memImport.memory = nil

	tests := []struct {
		name string
		wasm []byte
		want []error // nil: valid
	}{
		{"minimal contract", m.encode(), nil},
		{"provided imports", m.withImport("phala", "storage_get", [2]string{"ii", "I"}).withImport("wasi_snapshot_preview1", "fd_write", [2]string{"iiii", "i"}).encode(), nil},
		{"send and transfer", m.withImport("phala", "send", [2]string{"iiiI", "I"}).withImport("phala", "transfer", [2]string{"iii", ""}).encode(), nil},
		{"send, wrong signature", m.withImport("phala", "send", [2]string{"iiiI", "i"}).encode(), []error{ErrInvalidModule, ErrUnknownImport}},
		{"transfer, wrong signature", m.withImport("phala", "transfer", [2]string{"iiI", ""}).encode(), []error{ErrInvalidModule, ErrUnknownImport}},
		{"garbage", []byte("not wasm at all"), []error{ErrInvalidModule, gas.ErrMalformed}},
		{"truncated", m.encode()[:30], []error{ErrInvalidModule, gas.ErrMalformed}},
		{"missing query", noQuery.encode(), []error{ErrInvalidModule, ErrMissingExport}},
		{"missing memory export", noMemory.encode(), []error{ErrInvalidModule, ErrMissingExport}},
		{"execute with the wrong signature", badSig.encode(), []error{ErrInvalidModule, ErrMissingExport}},
		{"unknown import", m.withImport("env", "abort", [2]string{"", ""}).encode(), []error{ErrInvalidModule, ErrUnknownImport}},
		{"unknown wasi function", m.withImport("wasi_snapshot_preview1", "thread_spawn", [2]string{"i", "i"}).encode(), []error{ErrInvalidModule, ErrUnknownImport}},
		{"provided import, wrong signature", m.withImport("phala", "storage_get", [2]string{"ii", "i"}).encode(), []error{ErrInvalidModule, ErrUnknownImport}},
		{"imported memory", memImport.encode(), []error{ErrInvalidModule, ErrUnknownImport}},
		{"SIMD", m.withBody(2, simd).encode(), []error{ErrInvalidModule, ErrSIMD, gas.ErrUnsupported}},
		{"atomics", m.withBody(2, atomic).encode(), []error{ErrInvalidModule, ErrThreads}},
		{"shared memory", shared.encode(), []error{ErrInvalidModule, ErrThreads}},
		{"start section", withStart.encode(), []error{ErrInvalidModule, ErrStartSection}},
		{"passive data", passive.encode(), []error{ErrInvalidModule, ErrPassiveData}},
		{"reserved export", reserved.encode(), []error{ErrInvalidModule, ErrReservedExport}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.wasm)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errorIs(err, tc.want...) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
			// Load refuses with the same error and loads nothing.
			e := engine(t, true)
			if _, err := e.Load(context.Background(), tc.wasm); !errorIs(err, tc.want...) {
				t.Fatalf("Load = %v, want %v", err, tc.want)
			}
		})
	}
	for name, wasm := range contracts {
		if err := Validate(wasm); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestHandMadeModules runs tiny contracts on both engines: ABI violations, traps and the
// gas of the smallest call.
func TestHandMadeModules(t *testing.T) {
	const inputRead = 0 // import index
	withInput := baseModule().withImport("phala", "input_read", [2]string{"ii", ""})
	// i32.const ptr; i32.const n; call input_read; i32.const 0; end (ptr is a signed LEB128)
	callInput := func(ptr []byte, n byte) []byte {
		b := append([]byte{0x41}, ptr...)
		return append(b, 0x41, n, 0x10, inputRead, 0x41, 0x00, 0x0B)
	}
	inBounds, outside := []byte{0x80, 0x01}, []byte{0x80, 0x80, 0x04} // 128; 65536
	initHost := baseModule().withImport("phala", "block_height", [2]string{"", "I"})
	tests := []struct {
		name    string
		wasm    []byte
		input   string
		gas     uint64
		want    []error
		loadErr []error
	}{
		{"empty call", baseModule().encode(), "", 1 << 20, nil, nil},
		{"status 7", baseModule().withBody(2, []byte{0x41, 0x07, 0x0B}).encode(), "", 1 << 20, []error{ErrABI}, nil},
		{"unreachable", baseModule().withBody(2, opUnreach).encode(), "", 1 << 20, []error{ErrTrap}, nil},
		{"infinite loop", baseModule().withBody(2, []byte{0x03, 0x40, 0x0C, 0x00, 0x0B, 0x41, 0x00, 0x0B}).encode(), "", 1 << 20, []error{ErrOutOfGas}, nil},
		{"input read in bounds", withInput.withBody(2, callInput(inBounds, 4)).encode(), "abcd", 1 << 20, nil, nil},
		{"input read past the input", withInput.withBody(2, callInput(inBounds, 5)).encode(), "abcd", 1 << 20, []error{ErrABI}, nil},
		{"input read outside memory", withInput.withBody(2, callInput(outside, 4)).encode(), "abcd", 1 << 20, []error{ErrABI}, nil},
		{"host call during _initialize", initHost.withBody(0, []byte{0x10, 0x00, 0x1A, 0x0B}).encode(), "", 1 << 20, nil, []error{ErrInit, ErrABI}},
		{"trap during _initialize", baseModule().withBody(0, opUnreach).encode(), "", 1 << 20, nil, []error{ErrInit, ErrTrap}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gasUsed [2]uint64
			for k, interp := range []bool{false, true} {
				e := engine(t, interp)
				c, err := e.Load(context.Background(), tc.wasm)
				if tc.loadErr != nil {
					if !errorIs(err, tc.loadErr...) {
						t.Fatalf("Load = %v, want %v", err, tc.loadErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(context.Background())
				res := call(c, newHost(newStore(), "alice"), EntryExecute, tc.input, tc.gas)
				if tc.want == nil && res.Err != nil || tc.want != nil && !errorIs(res.Err, tc.want...) {
					t.Fatalf("interpreter=%v: err = %v, want %v", interp, res.Err, tc.want)
				}
				gasUsed[k] = res.GasUsed
			}
			if gasUsed[0] != gasUsed[1] {
				t.Fatalf("gas differs between engines: %v", gasUsed)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	mutate := []func(*Config){
		func(c *Config) { c.MaxMemoryPages = 0 },
		func(c *Config) { c.MaxMemoryPages = 65536 },
		func(c *Config) { c.MaxKey = 0 },
		func(c *Config) { c.MaxStateValue = -1 },
		func(c *Config) { c.MaxInput = 1 << 31 },
		func(c *Config) { c.InitGas = 0 },
		func(c *Config) { c.QueryInstances = 0 },
		func(c *Config) { c.QueryWait = -1 },
	}
	for i, f := range mutate {
		cfg := DefaultConfig()
		f(&cfg)
		if _, err := NewEngine(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("mutation %d: err = %v, want ErrConfig", i, err)
		}
	}
	cfg := DefaultConfig()
	cfg.Interpreter = true
	cfg.Gas.MaxStackDepth = 0
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	if _, err := e.Load(context.Background(), baseModule().encode()); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad gas config: %v", err)
	}
}
