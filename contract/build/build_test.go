package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/phala-go/phala/contract/vm"
)

const tokenDir = "../../examples/contracts/token"

// memHost is the smallest Host for a smoke test of a built module.
type memHost struct{ data map[string][]byte }

func (h *memHost) Get(k []byte) ([]byte, error) { return h.data[string(k)], nil }
func (h *memHost) Set(k, v []byte) error        { h.data[string(k)] = v; return nil }
func (h *memHost) Remove(k []byte) error        { delete(h.data, string(k)); return nil }
func (h *memHost) Next(_, _ []byte) ([]byte, []byte, bool, error) {
	return nil, nil, false, nil
}
func (h *memHost) Caller() vm.Caller         { return vm.Caller{Kind: vm.CallerAccount, ID: [32]byte{1}} }
func (h *memHost) Self() [32]byte            { return [32]byte{2} }
func (h *memHost) Block() vm.Block           { return vm.Block{Height: 1} }
func (h *memHost) Emit(string, []byte) error { return nil }
func (h *memHost) Randomness() [32]byte      { return [32]byte{} }
func (h *memHost) Log(string)                {}
func (h *memHost) ReadOnly() bool            { return false }
func (h *memHost) Call([32]byte, []byte, uint64) ([]byte, uint64, error) {
	return nil, 0, vm.ErrNotSupported
}
func (h *memHost) Send([32]byte, []byte, uint64) (uint64, error) { return 0, vm.ErrNotSupported }
func (h *memHost) Transfer([32]byte, string) error               { return vm.ErrNotSupported }

// runToken instantiates the token module and reads the instantiator's balance.
func runToken(t *testing.T, wasm []byte) {
	t.Helper()
	ctx := context.Background()
	cfg := vm.DefaultConfig()
	cfg.Interpreter = true
	e, err := vm.NewEngine(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	c, err := e.Load(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	h := &memHost{data: map[string][]byte{}}
	init := `{"name": "T", "symbol": "T", "mint": [{"to": "0x0100000000000000000000000000000000000000000000000000000000000000", "amount": 7}]}`
	if res := c.Call(ctx, h, vm.EntryInstantiate, []byte(init), 1<<32); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := c.Call(ctx, h, vm.EntryQuery, []byte(`{"balance": {}}`), 1<<32); res.Err != nil || string(res.Output) != `{"balance":7}` {
		t.Fatalf("balance: %s %v", res.Output, res.Err)
	}
}

func TestBuildWithoutWasmOpt(t *testing.T) {
	out, err := BuildWith(context.Background(), tokenDir, Options{WasmOpt: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Optimized || out.Note == "" {
		t.Fatalf("optimized %v, note %q", out.Optimized, out.Note)
	}
	runToken(t, out.Wasm)
	again, err := BuildWith(context.Background(), tokenDir, Options{WasmOpt: "-"})
	if err != nil || !bytes.Equal(again.Wasm, out.Wasm) {
		t.Fatalf("the build is not reproducible (%v)", err)
	}
}

// TestBuild runs Build as the CLI does: with wasm-opt when it is installed (the module must
// then be smaller than the plain one), without it otherwise.
func TestBuild(t *testing.T) {
	wasm, err := Build(context.Background(), tokenDir)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := BuildWith(context.Background(), tokenDir, Options{WasmOpt: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if _, lookErr := exec.LookPath("wasm-opt"); lookErr != nil {
		if !bytes.Equal(wasm, plain.Wasm) {
			t.Fatal("without wasm-opt, Build must return the plain module")
		}
	} else if len(wasm) >= len(plain.Wasm) {
		t.Fatalf("wasm-opt is installed but the module did not shrink: %d >= %d bytes", len(wasm), len(plain.Wasm))
	}
	runToken(t, wasm)
}

func TestBuildFailures(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module broken\n\ngo 1.26\n")
	write("main.go", "package main\n\nfunc main() { undefined() }\n")
	if _, err := Build(context.Background(), dir); !errors.Is(err, ErrCompile) {
		t.Fatalf("compile error: %v", err)
	}
	// A main package without the SDK lacks the entry points.
	write("main.go", "package main\n\nfunc main() {}\n")
	if _, err := Build(context.Background(), dir); !errors.Is(err, ErrInvalid) || !errors.Is(err, vm.ErrMissingExport) {
		t.Fatalf("module without exports: %v", err)
	}
	_, err := BuildWith(context.Background(), tokenDir, Options{WasmOpt: filepath.Join(dir, "no-such-wasm-opt")})
	if err != nil {
		t.Fatalf("a failing wasm-opt must fall back to the plain module: %v", err)
	}
}
