package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/phala-go/phala/contract/vm"
)

var (
	// ErrCompile reports a failed go build; the error carries the compiler's output.
	ErrCompile = errors.New("build: go build failed")
	// ErrInvalid reports a module the VM would refuse at upload (it wraps the vm error).
	ErrInvalid = errors.New("build: the built module is not a valid contract")
)

// Options tunes BuildWith.
type Options struct {
	// Go is the go command ("" = "go" on PATH).
	Go string
	// WasmOpt is the wasm-opt command: "" looks it up on PATH and skips the step when it is
	// absent; "-" skips it.
	WasmOpt string
}

// Output is a built contract.
type Output struct {
	Wasm []byte
	// Optimized reports whether wasm-opt ran and its output was kept.
	Optimized bool
	// Note says why the module was not optimized ("" when it was).
	Note string
}

// wasmOptFlags enable exactly the features Go emits, so wasm-opt introduces nothing the VM
// refuses (no SIMD, no threads).
var wasmOptFlags = []string{"-Oz", "--enable-sign-ext", "--enable-bulk-memory", "--enable-nontrapping-float-to-int"}

// Build compiles the contract in dir and returns the module bytes, optimized by wasm-opt when
// it is installed.
func Build(ctx context.Context, dir string) ([]byte, error) {
	out, err := BuildWith(ctx, dir, Options{})
	if err != nil {
		return nil, err
	}
	return out.Wasm, nil
}

// BuildWith is Build with options; it also reports whether wasm-opt ran. If wasm-opt fails or
// its output does not validate, the unoptimized module is returned with a Note.
func BuildWith(ctx context.Context, dir string, opt Options) (*Output, error) {
	tmp, err := os.MkdirTemp("", "phala-contract-build-")
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	defer os.RemoveAll(tmp)
	goCmd := opt.Go
	if goCmd == "" {
		goCmd = "go"
	}
	plain := filepath.Join(tmp, "contract.wasm")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "-o", plain, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%w in %s: %v\n%s", ErrCompile, dir, err, bytes.TrimSpace(msg))
	}
	wasm, err := os.ReadFile(plain)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if err := vm.Validate(wasm); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	out := &Output{Wasm: wasm}
	wasmOpt := opt.WasmOpt
	switch wasmOpt {
	case "-":
		out.Note = "wasm-opt disabled"
		return out, nil
	case "":
		if wasmOpt, err = exec.LookPath("wasm-opt"); err != nil {
			out.Note = "wasm-opt not found on PATH: the module is not optimized"
			return out, nil
		}
	}
	optimized := filepath.Join(tmp, "contract.opt.wasm")
	cmd = exec.CommandContext(ctx, wasmOpt, append(wasmOptFlags, plain, "-o", optimized)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		out.Note = fmt.Sprintf("wasm-opt failed (%v: %s): the module is not optimized", err, firstLine(msg))
		return out, nil
	}
	small, err := os.ReadFile(optimized)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if err := vm.Validate(small); err != nil {
		out.Note = fmt.Sprintf("wasm-opt's output is not a valid contract (%v): the module is not optimized", err)
		return out, nil
	}
	out.Wasm, out.Optimized = small, true
	return out, nil
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(bytes.TrimSpace(b)), "\n")
	return line
}
