package sdk_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/phala-go/phala/sdk"
	"github.com/phala-go/phala/sdk/sdktest"
)

// A small contract exercising the SDK's surface, registered once for this test binary.

type initMsg struct {
	Greeting string `json:"greeting"`
}

type setMsg struct {
	Key   string `json:"key"`
	Value int    `json:"value"`
}

type sendMsg struct {
	To    sdk.Address `json:"to"`
	Key   string      `json:"key"`
	Count int         `json:"count"`
	Gas   uint64      `json:"gas"`
	Fail  bool        `json:"fail"`
}

type payMsg struct {
	To     sdk.Address `json:"to"`
	Amount string      `json:"amount"`
}

type whoami struct {
	Kind   string      `json:"kind"`
	ID     sdk.Address `json:"id"`
	Self   sdk.Address `json:"self"`
	Height uint64      `json:"height"`
	Time   string      `json:"time"`
	Random [32]byte    `json:"random"`
	RO     bool        `json:"read_only"`
}

var (
	greeting = sdk.NewItem[string]("greeting")
	values   = sdk.NewMap[int]("v/")
	errBoom  = errors.New("boom")
)

func init() {
	sdk.Init(func(ctx sdk.Context, m initMsg) error {
		greeting.Set(m.Greeting)
		return nil
	})
	sdk.Handle("set", func(ctx sdk.Context, m setMsg) error {
		values.Set(m.Key, m.Value)
		return nil
	})
	sdk.Handle("set_then_fail", func(ctx sdk.Context, m setMsg) error {
		values.Set(m.Key, m.Value)
		ctx.Emit("failed", m)
		return errBoom
	})
	sdk.Handle("remove", func(ctx sdk.Context, m setMsg) error {
		values.Remove(m.Key)
		return nil
	})
	sdk.Handle("panic", func(ctx sdk.Context, _ struct{}) error { panic("kaboom") })
	sdk.Handle("emit", func(ctx sdk.Context, m setMsg) error {
		ctx.Emit(m.Key, m.Value)
		return nil
	})
	sdk.Handle("raw", func(ctx sdk.Context, m setMsg) error {
		sdk.Set([]byte(m.Key), bytes.Repeat([]byte{'x'}, m.Value))
		return nil
	})
	sdk.Handle("call", func(ctx sdk.Context, m setMsg) error {
		in, err := sdk.Message("ping", m)
		if err != nil {
			return err
		}
		out, err := ctx.Call(sdk.Address{1}, in, 1000)
		if err != nil {
			return err
		}
		values.Set("reply", len(out))
		return nil
	})
	sdk.HandleResult("send", func(ctx sdk.Context, m sendMsg) ([]uint64, error) {
		var numbers []uint64
		for i := range m.Count {
			n, err := ctx.Send(m.To, map[string]setMsg{"set": {Key: m.Key, Value: i}}, m.Gas)
			if err != nil {
				return nil, err
			}
			numbers = append(numbers, n)
		}
		values.Set("sent", len(numbers))
		if m.Fail {
			return nil, errBoom
		}
		return numbers, nil
	})
	sdk.Handle("send_raw", func(ctx sdk.Context, m sendMsg) error {
		_, err := ctx.SendBytes(m.To, []byte(m.Key), m.Gas)
		return err
	})
	sdk.Handle("send_unencodable", func(ctx sdk.Context, m sendMsg) error {
		_, err := ctx.Send(m.To, func() {}, 1)
		return err
	})
	sdk.Handle("pay", func(ctx sdk.Context, m payMsg) error {
		if err := ctx.Transfer(m.To, m.Amount); err != nil {
			return err
		}
		values.Set("paid/"+m.Amount, 1)
		return nil
	})
	sdk.HandleDeposit(func(ctx sdk.Context, d sdk.Deposit) error {
		if d.Amount == "13" {
			return errors.New("unlucky deposit")
		}
		values.Set("deposit/"+d.From.String(), len(d.Amount))
		return nil
	})
	sdk.HandleBounce(func(ctx sdk.Context, b sdk.Bounce) error {
		raw, err := json.Marshal(b)
		if err != nil {
			return err
		}
		sdk.Set([]byte("bounce"), raw)
		return nil
	})
	sdk.HandleResult("double", func(ctx sdk.Context, m setMsg) (int, error) { return 2 * m.Value, nil })
	sdk.HandleQuery("get", func(ctx sdk.Context, m setMsg) (int, error) {
		v, ok := values.Get(m.Key)
		if !ok {
			return 0, errors.New("no such key")
		}
		return v, nil
	})
	sdk.HandleQuery("all", func(ctx sdk.Context, _ struct{}) (map[string]int, error) {
		out := map[string]int{}
		values.Each(func(k string, v int) bool {
			out[k] = v
			return true
		})
		return out, nil
	})
	sdk.HandleQuery("greeting", func(ctx sdk.Context, _ struct{}) (string, error) {
		return greeting.GetOr("none"), nil
	})
	sdk.HandleQuery("qsend", func(ctx sdk.Context, m sendMsg) (uint64, error) {
		return ctx.SendBytes(m.To, []byte("{}"), 1)
	})
	sdk.HandleQuery("qpay", func(ctx sdk.Context, m payMsg) (bool, error) {
		return true, ctx.Transfer(m.To, m.Amount)
	})
	sdk.HandleQuery("write", func(ctx sdk.Context, m setMsg) (int, error) {
		values.Set(m.Key, m.Value)
		return 0, nil
	})
	sdk.HandleQuery("whoami", func(ctx sdk.Context, _ struct{}) (whoami, error) {
		c, b := ctx.Caller(), ctx.Block()
		return whoami{Kind: c.Kind.String(), ID: c.ID, Self: ctx.Self(), Height: b.Height,
			Time: b.Time.Format("2006-01-02T15:04:05Z"), Random: ctx.Randomness(), RO: ctx.ReadOnly()}, nil
	})
}

func TestRouter(t *testing.T) {
	env := sdktest.New()
	alice := sdktest.Account("alice")
	if _, err := env.Instantiate(alice, initMsg{Greeting: "hi"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		entry   string
		input   string
		want    string
		wantErr error
		errText string
	}{
		{"command", "execute", `{"set": {"key": "a", "value": 7}}`, ``, nil, ""},
		{"query", "query", `{"get": {"key": "a"}}`, `7`, nil, ""},
		{"result", "execute", `{"double": {"value": 21}}`, `42`, nil, ""},
		{"greeting", "query", `{"greeting": null}`, `"hi"`, nil, ""},
		{"not json", "execute", `{"set"`, ``, sdk.ErrMalformedMessage, "want a JSON object"},
		{"two keys", "execute", `{"set": {}, "get": {}}`, ``, sdk.ErrMalformedMessage, "exactly one key"},
		{"no keys", "execute", `{}`, ``, sdk.ErrMalformedMessage, "got 0 keys"},
		{"array", "execute", `[1]`, ``, sdk.ErrMalformedMessage, ""},
		{"unknown field", "execute", `{"set": {"key": "a", "valeu": 1}}`, ``, sdk.ErrMalformedMessage, `unknown field "valeu"`},
		{"wrong type", "execute", `{"set": {"key": 5}}`, ``, sdk.ErrMalformedMessage, `command "set"`},
		{"unknown command", "execute", `{"nope": {}}`, ``, sdk.ErrUnknownMessage, `no command "nope" (known: bounce, call, deposit, double, emit, panic, pay, raw, remove, send, send_raw, send_unencodable, set, set_then_fail)`},
		{"query is not a command", "execute", `{"get": {}}`, ``, sdk.ErrUnknownMessage, ""},
		{"handler error", "query", `{"get": {"key": "zz"}}`, ``, sdktest.ErrContract, "no such key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out []byte
			var err error
			if tc.entry == "query" {
				out, err = env.Query(alice, []byte(tc.input))
			} else {
				out, err = env.Execute(alice, []byte(tc.input))
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.errText)
				}
				return
			}
			if err != nil || string(out) != tc.want {
				t.Fatalf("out = %q, err = %v; want %q", out, err, tc.want)
			}
		})
	}
}

func TestFailedCallKeepsNothing(t *testing.T) {
	env := sdktest.New()
	alice := sdktest.Account("alice")
	if _, err := env.Execute(alice, sdktest.Msg("set", setMsg{Key: "a", Value: 1})); err != nil {
		t.Fatal(err)
	}
	before := env.Storage()
	_, err := env.Execute(alice, sdktest.Msg("set_then_fail", setMsg{Key: "a", Value: 2}))
	if !errors.Is(err, errBoom) || !errors.Is(err, sdktest.ErrContract) {
		t.Fatalf("err = %v, want errBoom", err)
	}
	_, err = env.Execute(alice, sdktest.Msg("panic", struct{}{}))
	if !errors.Is(err, sdktest.ErrTrap) || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("err = %v, want a trap with the panic message", err)
	}
	if !mapsEqual(before, env.Storage()) || len(env.Events) != 0 {
		t.Fatalf("a failed call changed storage or events: %v %v", env.Storage(), env.Events)
	}
}

func TestHostRules(t *testing.T) {
	env := sdktest.New()
	alice := sdktest.Account("alice")
	tests := []struct {
		name  string
		query bool
		msg   []byte
		want  error
	}{
		{"write from query", true, sdktest.Msg("write", setMsg{Key: "a", Value: 1}), sdktest.ErrReadOnly},
		{"bad topic", false, sdktest.Msg("emit", setMsg{Key: "no spaces"}), sdktest.ErrLimit},
		{"empty topic", false, sdktest.Msg("emit", setMsg{Key: ""}), sdktest.ErrLimit},
		{"value too large", false, sdktest.Msg("raw", setMsg{Key: "k", Value: sdktest.MaxValue + 1}), sdktest.ErrLimit},
		{"empty key", false, sdktest.Msg("raw", setMsg{Key: "", Value: 1}), sdktest.ErrLimit},
		{"no call handler", false, sdktest.Msg("call", setMsg{}), sdk.ErrCallNotSupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.query {
				_, err = env.Query(alice, tc.msg)
			} else {
				_, err = env.Execute(alice, tc.msg)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if len(env.Storage()) != 0 || len(env.Events) != 0 {
				t.Fatal("a refused call changed state")
			}
		})
	}
	if _, err := env.Execute(alice, sdktest.Msg("raw", setMsg{Key: "k", Value: sdktest.MaxValue})); err != nil {
		t.Fatalf("a value at the limit: %v", err)
	}
	if _, err := env.Execute(alice, sdktest.Msg("emit", setMsg{Key: "a.B-c_d:e/9", Value: 3})); err != nil || len(env.Events) != 1 || string(env.Events[0].Data) != "3" {
		t.Fatalf("emit: %v %v", err, env.Events)
	}
}

func TestCall(t *testing.T) {
	env := sdktest.New()
	alice := sdktest.Account("alice")
	env.CallHandler = func(caller, contract sdk.Address, input []byte, gas uint64) ([]byte, error) {
		if caller != env.Self || contract != (sdk.Address{1}) || gas != 1000 || string(input) != `{"ping":{"key":"","value":3}}` {
			return nil, &sdk.CallError{Message: "unexpected call " + string(input)}
		}
		return []byte("pong"), nil
	}
	if _, err := env.Execute(alice, sdktest.Msg("call", setMsg{Value: 3})); err != nil {
		t.Fatal(err)
	}
	if got, err := sdktest.QueryAs[int](env, alice, sdktest.Msg("get", setMsg{Key: "reply"})); err != nil || got != 4 {
		t.Fatalf("reply = %d, %v", got, err)
	}
	env.CallHandler = func(_, _ sdk.Address, _ []byte, _ uint64) ([]byte, error) {
		return nil, &sdk.CallError{Message: "nope"}
	}
	var ce *sdk.CallError
	if _, err := env.Execute(alice, sdktest.Msg("call", setMsg{})); !errors.As(err, &ce) || ce.Message != "nope" {
		t.Fatalf("err = %v, want the callee's message", err)
	}
	env.CallHandler = func(_, _ sdk.Address, _ []byte, _ uint64) ([]byte, error) { return nil, sdk.ErrCalleeOutOfGas }
	if _, err := env.Execute(alice, sdktest.Msg("call", setMsg{})); !errors.Is(err, sdk.ErrCalleeOutOfGas) {
		t.Fatalf("err = %v", err)
	}
}

func TestIterationAndRemove(t *testing.T) {
	env := sdktest.New()
	alice := sdktest.Account("alice")
	for i, k := range []string{"b", "a", "c"} {
		if _, err := env.Execute(alice, sdktest.Msg("set", setMsg{Key: k, Value: i})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Execute(alice, sdktest.Msg("remove", setMsg{Key: "c"})); err != nil {
		t.Fatal(err)
	}
	got, err := env.Query(alice, sdktest.Msg("all", struct{}{}))
	if err != nil || string(got) != `{"a":1,"b":0}` {
		t.Fatalf("all = %s, %v", got, err)
	}
}

func TestContext(t *testing.T) {
	env := sdktest.New()
	env.Advance(9)
	bob := sdktest.Account("bob")
	w, err := sdktest.QueryAs[whoami](env, bob, sdktest.Msg("whoami", nil))
	if err != nil {
		t.Fatal(err)
	}
	if w.Kind != "account" || w.ID != bob.ID || w.Self != env.Self || w.Height != 10 || w.Time != "2026-01-01T00:00:54Z" || !w.RO || w.Random == ([32]byte{}) {
		t.Fatalf("whoami = %+v", w)
	}
	anon, err := sdktest.QueryAs[whoami](env, sdktest.Anonymous, sdktest.Msg("whoami", nil))
	if err != nil || anon.Kind != "none" || anon.Random != w.Random {
		t.Fatalf("anonymous whoami = %+v, %v", anon, err)
	}
}

func TestAddress(t *testing.T) {
	a := sdktest.Account("alice").ID
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back sdk.Address
	if err := json.Unmarshal(b, &back); err != nil || back != a {
		t.Fatalf("round trip %s: %v", b, err)
	}
	if p, err := sdk.ParseAddress(strings.TrimPrefix(a.String(), "0x")); err != nil || p != a {
		t.Fatalf("without 0x: %v", err)
	}
	for _, bad := range []string{"", "0x12", a.String() + "00", "0x" + strings.Repeat("zz", 32)} {
		if _, err := sdk.ParseAddress(bad); !errors.Is(err, sdk.ErrBadAddress) {
			t.Errorf("ParseAddress(%q) = %v, want ErrBadAddress", bad, err)
		}
	}
	if !(sdk.Address{}).IsZero() || a.IsZero() {
		t.Fatal("IsZero")
	}
}

func TestCrypto(t *testing.T) {
	data := []byte("phala")
	if sdk.SHA256(data) != sha256.Sum256(data) || sdk.SHA3_256(data) != sha3.Sum256(data) {
		t.Fatal("hash mismatch")
	}
	// SignedBytes is crypto/keys' domain separation: byte(len(ctx)) || ctx || msg.
	if got := sdk.SignedBytes("app/v1", []byte("m")); string(got) != "\x06app/v1m" {
		t.Fatalf("SignedBytes = %q", got)
	}
	pub, priv, err := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	sig := sdktest.SignEd25519(priv, "app/v1", data)
	var pk [32]byte
	copy(pk[:], pub)
	tests := []struct {
		name string
		ctx  string
		msg  []byte
		sig  []byte
		want bool
	}{
		{"valid", "app/v1", data, sig, true},
		{"other context", "app/v2", data, sig, false},
		{"other message", "app/v1", []byte("x"), sig, false},
		{"short signature", "app/v1", data, sig[:63], false},
		{"empty context", "", data, ed25519.Sign(priv, sdk.SignedBytes("", data)), false},
		{"context too long", strings.Repeat("c", 65), data, sig, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sdk.VerifyEd25519(pk, tc.ctx, tc.msg, tc.sig); got != tc.want {
				t.Fatalf("VerifyEd25519 = %v, want %v", got, tc.want)
			}
		})
	}
}

func mapsEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}
