package vm

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/phala-go/phala/contract/gas"
)

// requiredExports are the exports every contract has, with their signatures.
var requiredExports = []struct {
	name string
	sig  gas.FuncType
}{
	{"_initialize", gas.FuncType{}},
	{"instantiate", gas.FuncType{Params: []gas.ValueType{gas.I32}, Results: []gas.ValueType{gas.I32}}},
	{"execute", gas.FuncType{Params: []gas.ValueType{gas.I32}, Results: []gas.ValueType{gas.I32}}},
	{"query", gas.FuncType{Params: []gas.ValueType{gas.I32}, Results: []gas.ValueType{gas.I32}}},
}

// provided maps "module.name" to the signature of every function the VM provides.
var provided = sync.OnceValue(func() map[string]gas.FuncType {
	m := map[string]gas.FuncType{}
	for _, f := range phalaFuncs {
		m[phalaModule+"."+f.name] = f.sig()
	}
	for _, f := range wasiFuncs {
		m[wasiModule+"."+f.name] = f.sig()
	}
	return m
})

// Validate checks a contract module at upload, before it is instrumented: it must decode and
// validate (gas.Parse: SIMD and threads refused with ErrSIMD / ErrThreads), have no start
// section and no passive data, import only functions the VM provides with their exact
// signatures, export its memory as "memory" and the functions _initialize, instantiate, execute
// and query, and export nothing under the reserved prefix "__phala_". Every error wraps
// ErrInvalidModule and a specific sentinel. Validate is deterministic and cheap (no
// compilation); the engine's own type check of the code happens in Engine.Load.
func Validate(wasm []byte) error {
	m, err := gas.Parse(wasm)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	scan, err := scanModule(wasm)
	if err != nil {
		return fmt.Errorf("%w: %w: %w", ErrInvalidModule, gas.ErrMalformed, err)
	}
	if scan.hasStart {
		return fmt.Errorf("%w: %w", ErrInvalidModule, ErrStartSection)
	}
	if scan.passiveData {
		return fmt.Errorf("%w: %w", ErrInvalidModule, ErrPassiveData)
	}
	for _, im := range m.Imports() {
		if im.Kind != gas.KindFunc {
			return fmt.Errorf("%w: %w: %s %s.%s (only functions may be imported)", ErrInvalidModule, ErrUnknownImport, im.Kind, im.Module, im.Name)
		}
		want, ok := provided()[im.Module+"."+im.Name]
		if !ok {
			return fmt.Errorf("%w: %w: %s.%s", ErrInvalidModule, ErrUnknownImport, im.Module, im.Name)
		}
		if !sameSig(want, im.Func) {
			return fmt.Errorf("%w: %w: %s.%s has signature %s, the VM provides %s", ErrInvalidModule, ErrUnknownImport, im.Module, im.Name, sigString(im.Func), sigString(want))
		}
	}
	exports := map[string]gas.Export{}
	for _, ex := range m.Exports() {
		if strings.HasPrefix(ex.Name, reservedPrefix) {
			return fmt.Errorf("%w: %w: %q", ErrInvalidModule, ErrReservedExport, ex.Name)
		}
		exports[ex.Name] = ex
	}
	if ex, ok := exports["memory"]; !ok || ex.Kind != gas.KindMemory {
		return fmt.Errorf("%w: %w: the memory, exported as \"memory\"", ErrInvalidModule, ErrMissingExport)
	}
	for _, r := range requiredExports {
		ex, ok := exports[r.name]
		if !ok || ex.Kind != gas.KindFunc {
			return fmt.Errorf("%w: %w: function %q", ErrInvalidModule, ErrMissingExport, r.name)
		}
		if !sameSig(r.sig, ex.Func) {
			return fmt.Errorf("%w: %w: %q has signature %s, want %s", ErrInvalidModule, ErrMissingExport, r.name, sigString(ex.Func), sigString(r.sig))
		}
	}
	return nil
}

func sameSig(a, b gas.FuncType) bool {
	return slices.Equal(a.Params, b.Params) && slices.Equal(a.Results, b.Results)
}

func sigString(t gas.FuncType) string {
	join := func(v []gas.ValueType) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = x.String()
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return join(t.Params) + " -> " + join(t.Results)
}
