package vm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phala-go/phala/crypto/keys"
)

func TestCommandFailuresKeepNothing(t *testing.T) {
	c := code(t, "probe")
	st := newStore()
	h := newHost(st, "alice")
	mustCall(t, c, h, EntryExecute, `{"set": {"key": "a", "value": "1"}}`)
	cfg := DefaultConfig()
	tests := []struct {
		name    string
		input   string
		gas     uint64
		want    []error
		errText string
	}{
		{"contract error", `{"fail_after_set": {"key": "a", "value": "2"}}`, 1 << 32, []error{ErrContract}, "refused after writing a"},
		{"panic", `{"panic_after_set": {"key": "a", "value": "2"}}`, 1 << 32, []error{ErrTrap}, "panic: boom a"},
		{"malformed JSON", `{"set": {"key": "a", "value": 2`, 1 << 32, []error{ErrContract}, "malformed message"},
		{"unknown field", `{"set": {"key": "a", "valu": "2"}}`, 1 << 32, []error{ErrContract}, `unknown field "valu"`},
		{"not an object", `"set"`, 1 << 32, []error{ErrContract}, "malformed message"},
		{"out of gas in a loop", `{"loop": {"n": 100000000}}`, 1_000_000, []error{ErrOutOfGas}, ""},
		{"recursion", `{"recurse": {"n": 10000000}}`, 1 << 40, []error{ErrTrap, ErrStackExhausted}, ""},
		{"oversized value", fmt.Sprintf(`{"set": {"key": "b", "size": %d}}`, cfg.MaxStateValue+1), 1 << 32, []error{ErrLimit}, "storage value of 65537 bytes"},
		{"oversized key", fmt.Sprintf(`{"set": {"key": %q, "value": "x"}}`, strings.Repeat("k", cfg.MaxKey+1)), 1 << 32, []error{ErrLimit}, "storage key"},
		{"empty key", `{"set": {"key": "", "value": "x"}}`, 1 << 32, []error{ErrABI}, "empty storage key"},
		{"bad event topic", `{"emit": {"key": "no spaces", "value": "x"}}`, 1 << 32, []error{ErrABI}, "event topic"},
		{"out of memory", `{"grow": {"key": "g", "size": 100000000}}`, 1 << 40, []error{ErrTrap}, "out of memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := call(c, h, EntryExecute, tc.input, tc.gas)
			if !errorIs(res.Err, tc.want...) || !strings.Contains(res.Err.Error(), tc.errText) {
				t.Fatalf("err = %v, want %v containing %q", res.Err, tc.want, tc.errText)
			}
			if res.Output != nil || res.GasUsed == 0 || res.GasUsed > tc.gas {
				t.Fatalf("output %q, gas %d of %d", res.Output, res.GasUsed, tc.gas)
			}
			if errors.Is(res.Err, ErrOutOfGas) && res.GasUsed != tc.gas {
				t.Fatalf("out of gas used %d, want the whole budget %d", res.GasUsed, tc.gas)
			}
			// The worker keeps serving, from a clean state.
			if got := mustCall(t, c, h, EntryQuery, `{"get": {"key": "a"}}`); got != `"1"` {
				t.Fatalf("after the failure: a = %s", got)
			}
			if len(st.snapshot()) != 1 {
				t.Fatalf("storage %v", st.snapshot())
			}
		})
	}
	big := fmt.Sprintf(`{"set": {"key": "b", "size": %d}}`, cfg.MaxStateValue)
	mustCall(t, c, h, EntryExecute, big)
	if len(st.snapshot()["b"]) != cfg.MaxStateValue {
		t.Fatal("a value at the limit was not stored")
	}
	long := strings.Repeat("i", cfg.MaxInput+1)
	if res := c.Call(context.Background(), h, EntryExecute, []byte(long), 1<<32); !errors.Is(res.Err, ErrLimit) || res.GasUsed != 0 {
		t.Fatalf("oversized input: %v, gas %d", res.Err, res.GasUsed)
	}
	if res := c.Call(context.Background(), h, Entry(7), nil, 1<<32); !errors.Is(res.Err, ErrNotSupported) {
		t.Fatalf("unknown entry: %v", res.Err)
	}
}

// TestCallsStartFromSnapshot checks that nothing a call leaves in the instance (a package
// variable, a half-finished panic) reaches the next call.
func TestCallsStartFromSnapshot(t *testing.T) {
	c := code(t, "probe")
	h := newHost(newStore(), "alice")
	for range 3 {
		if got := mustCall(t, c, h, EntryExecute, `{"bump": {}}`); got != "1" {
			t.Fatalf("bump = %s, want 1 on every call", got)
		}
		if res := call(c, h, EntryExecute, `{"bump_then_panic": {}}`, 1<<32); !errors.Is(res.Err, ErrTrap) {
			t.Fatalf("bump_then_panic: %v", res.Err)
		}
	}
}

func TestOutOfGasBoundary(t *testing.T) {
	c := code(t, "probe")
	for _, input := range []string{
		`{"set": {"key": "k", "value": "v"}}`,
		`{"loop": {"n": 1000}}`,
		`{"emit": {"key": "topic", "value": "data"}}`,
	} {
		t.Run(input, func(t *testing.T) {
			st := newStore()
			h := newHost(st, "alice")
			full := call(c, h, EntryExecute, input, 1<<40)
			if full.Err != nil {
				t.Fatal(full.Err)
			}
			exact := call(c, newHost(newStore(), "alice"), EntryExecute, input, full.GasUsed)
			if exact.Err != nil || exact.GasUsed != full.GasUsed || string(exact.Output) != string(full.Output) {
				t.Fatalf("with exactly %d gas: %v, used %d", full.GasUsed, exact.Err, exact.GasUsed)
			}
			short := newHost(newStore(), "alice")
			res := call(c, short, EntryExecute, input, full.GasUsed-1)
			if !errors.Is(res.Err, ErrOutOfGas) || res.GasUsed != full.GasUsed-1 {
				t.Fatalf("with one gas less: %v, used %d", res.Err, res.GasUsed)
			}
			if len(short.st.snapshot()) != 0 {
				t.Fatal("an out-of-gas call kept its writes")
			}
		})
	}
	h := newHost(newStore(), "alice")
	if res := call(c, h, EntryExecute, `{}`, DefaultHostCosts().Start-1); !errors.Is(res.Err, ErrOutOfGas) || res.GasUsed != DefaultHostCosts().Start-1 {
		t.Fatalf("budget below the call cost: %v, used %d", res.Err, res.GasUsed)
	}
}

func TestReadOnly(t *testing.T) {
	c := code(t, "probe")
	st := newStore()
	h := newHost(st, "alice")
	tests := []struct {
		name  string
		entry Entry
		ro    bool
		input string
	}{
		{"query writes", EntryQuery, false, `{"write": {"key": "a", "value": "x"}}`},
		{"query emits", EntryQuery, false, `{"emit": {"key": "topic", "value": "x"}}`},
		{"read-only host, command writes", EntryExecute, true, `{"set": {"key": "a", "value": "x"}}`},
		{"read-only host, command removes", EntryExecute, true, `{"remove": {"key": "a"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.readOnly = tc.ro
			res := call(c, h, tc.entry, tc.input, 1<<32)
			if !errors.Is(res.Err, ErrReadOnly) {
				t.Fatalf("err = %v, want ErrReadOnly", res.Err)
			}
			if h.writes != 0 || len(st.snapshot()) != 0 {
				t.Fatal("the host saw a write")
			}
		})
	}
}

func TestMemoryGrowth(t *testing.T) {
	c := load(t, engine(t, false), "probe")
	h := newHost(newStore(), "alice")
	ref := call(c, h, EntryQuery, `{"get": {"key": "g"}}`, 1<<32)
	mustCall(t, c, h, EntryExecute, `{"grow": {"key": "g", "size": 8000000}}`)
	// The grown instance was dropped: the next calls start from the snapshot's memory size.
	c.mu.Lock()
	idle := len(c.idle)
	c.mu.Unlock()
	if idle != 0 {
		t.Fatalf("%d idle instances after the growth, want 0 (the grown one dropped)", idle)
	}
	for range 3 {
		res := call(c, h, EntryQuery, `{"get": {"key": "z"}}`, 1<<32)
		if res.GasUsed != ref.GasUsed {
			t.Fatalf("gas %d after growth, %d before", res.GasUsed, ref.GasUsed)
		}
	}
	if got := mustCall(t, c, h, EntryQuery, `{"iterate": {"key": ""}}`); !strings.HasPrefix(got, `["g=`) {
		t.Fatalf("iterate: %s", got)
	}
}

func TestLogs(t *testing.T) {
	c := code(t, "probe")
	h := newHost(newStore(), "alice")
	mustCall(t, c, h, EntryExecute, `{"log": {"value": "hello"}}`)
	if strings.Join(h.logs, "|") != "log: hello|stdout: hello\n" {
		t.Fatalf("logs %q", h.logs)
	}
	h.logs = nil
	call(c, h, EntryExecute, `{"panic_after_set": {"key": "p", "value": "v"}}`, 1<<32)
	if !strings.Contains(strings.Join(h.logs, "|"), "panic: boom p") {
		t.Fatalf("a panic's output is not logged: %q", h.logs)
	}
}

// failingHost fails every storage read.
type failingHost struct{ *memHost }

func (failingHost) Get([]byte) ([]byte, error) { return nil, errors.New("disk on fire") }

func TestHostFailure(t *testing.T) {
	c := code(t, "probe")
	res := c.Call(context.Background(), failingHost{newHost(newStore(), "alice")}, EntryQuery, []byte(`{"get": {"key": "a"}}`), 1<<32)
	if !errors.Is(res.Err, ErrHost) || !strings.Contains(res.Err.Error(), "disk on fire") {
		t.Fatalf("err = %v, want ErrHost", res.Err)
	}
	if res := c.Call(context.Background(), nil, EntryQuery, nil, 1<<32); !errors.Is(res.Err, ErrHost) {
		t.Fatalf("nil host: %v", res.Err)
	}
}

func TestHostFunctions(t *testing.T) {
	c := code(t, "probe")
	h := newHost(newStore(), "alice")
	if got := mustCall(t, c, h, EntryQuery, `{"hash": {"value": "abc"}}`); got != `["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"]` {
		t.Fatalf("hash: %s", got)
	}
	ed, err := keys.FromURI(keys.Ed25519, "//Alice")
	if err != nil {
		t.Fatal(err)
	}
	sr, err := keys.FromURI(keys.Sr25519, "//Alice")
	if err != nil {
		t.Fatal(err)
	}
	edSig, err := ed.Sign("app/v1", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	srSig, err := sr.Sign("app/v1", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	pub := func(k keys.PrivateKey) string { return k.Public().Hex() }
	tests := []struct {
		alg, pub, ctx, msg, sig string
		want                    string
	}{
		{"ed25519", pub(ed), "app/v1", "hello", hex.EncodeToString(edSig), "true"},
		{"ed25519", pub(ed), "app/v2", "hello", hex.EncodeToString(edSig), "false"},
		{"ed25519", pub(ed), "app/v1", "hellO", hex.EncodeToString(edSig), "false"},
		{"ed25519", pub(sr), "app/v1", "hello", hex.EncodeToString(edSig), "false"},
		{"sr25519", pub(sr), "app/v1", "hello", hex.EncodeToString(srSig), "true"},
		{"sr25519", pub(sr), "app/v1", "hello", hex.EncodeToString(edSig), "false"},
		{"sr25519", pub(sr), "", "hello", hex.EncodeToString(srSig), "false"},
		{"sr25519", pub(sr), "app/v1", "hello", "00", "false"},
	}
	for _, tc := range tests {
		in := fmt.Sprintf(`{"verify": {"alg": %q, "pub": %q, "context": %q, "msg": %q, "sig": %q}}`, tc.alg, tc.pub, tc.ctx, tc.msg, tc.sig)
		if got := mustCall(t, c, h, EntryQuery, in); got != tc.want {
			t.Errorf("%s ctx=%q msg=%q: %s, want %s", tc.alg, tc.ctx, tc.msg, got, tc.want)
		}
	}
}

// TestEnvironment checks what a contract observes of time, randomness, arguments and files.
func TestEnvironment(t *testing.T) {
	c := code(t, "probe")
	h := newHost(newStore(), "alice")
	h.block = Block{Height: 42, Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	got := mustCall(t, c, h, EntryQuery, `{"env": {}}`)
	for _, want := range []string{
		`"height":42`, `"block_time":"2026-03-01T12:00:00Z"`,
		`"now":"2026-03-01T12:00:00.01`, // block time plus the virtual time of the sleep
		`"args":0`, `"environ":0`, `"file_err":"open /etc/passwd: Bad file number"`,
		`"caller":"account:0x` + hex.EncodeToString(h.caller.ID[:]),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("env %s lacks %s", got, want)
		}
	}
	if again := mustCall(t, c, h, EntryQuery, `{"env": {}}`); again != got {
		t.Fatalf("the same query differs:\n%s\n%s", got, again)
	}
	h.block.Height = 43
	other := mustCall(t, c, h, EntryQuery, `{"env": {}}`)
	field := func(s, name string) string {
		i := strings.Index(s, `"`+name+`":`)
		return s[i : i+strings.Index(s[i:], ",")]
	}
	if field(other, "crypto_rand") == field(got, "crypto_rand") || field(other, "randomness") == field(got, "randomness") {
		t.Fatalf("randomness did not change with the block:\n%s\n%s", got, other)
	}
	// math/rand's global source was seeded during _initialize: the same in every call
	// (docs/contracts.md tells authors to seed from ctx.Randomness instead).
	if field(other, "math_rand") != field(got, "math_rand") {
		t.Fatalf("math/rand changed between calls:\n%s\n%s", got, other)
	}
}
