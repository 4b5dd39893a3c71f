package sdk_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/phala-go/phala/sdk"
	"github.com/phala-go/phala/sdk/sdktest"
)

// The handlers used here (send, send_raw, pay, deposit, bounce, qsend, qpay) are registered in
// sdk_test.go.

func TestSend(t *testing.T) {
	env := sdktest.New()
	alice := sdktest.Account("alice")
	token := sdktest.Contract("token").ID
	send := func(m sendMsg) ([]uint64, error) {
		return sdktest.ExecuteAs[[]uint64](env, alice, sdktest.Msg("send", m))
	}
	numbers, err := send(sendMsg{To: token, Key: "k", Count: 2, Gas: 500})
	if err != nil || fmt.Sprint(numbers) != "[0 1]" {
		t.Fatalf("numbers %v, %v", numbers, err)
	}
	want := sdktest.Sent{Number: 1, From: env.Self, To: token, Input: []byte(`{"set":{"key":"k","value":1}}`), GasLimit: 500}
	if len(env.Sent) != 2 || fmt.Sprint(env.Sent[1]) != fmt.Sprint(want) {
		t.Fatalf("sent %+v", env.Sent)
	}
	// A failed call sends nothing, and its numbers are used again.
	if _, err := send(sendMsg{To: token, Count: 3, Gas: 1, Fail: true}); !errors.Is(err, errBoom) || len(env.Sent) != 2 {
		t.Fatalf("failed call: %v, %d sent", err, len(env.Sent))
	}
	if numbers, err := send(sendMsg{To: token, Count: 1, Gas: 1}); err != nil || fmt.Sprint(numbers) != "[2]" {
		t.Fatalf("after the failure: %v, %v", numbers, err)
	}
	tests := []struct {
		name  string
		query bool
		msg   []byte
		want  error
	}{
		{"zero gas", false, sdktest.Msg("send", sendMsg{To: token, Count: 1}), sdk.ErrBadGasLimit},
		{"from a query", true, sdktest.Msg("qsend", sendMsg{To: token}), sdktest.ErrReadOnly},
		{"input above the limit", false, sdktest.Msg("send_raw", sendMsg{To: token, Key: strings.Repeat("x", sdktest.MaxInput+1), Gas: 1}), sdktest.ErrLimit},
		{"unencodable message", false, sdktest.Msg("send_unencodable", sendMsg{To: token}), sdktest.ErrContract},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Storage()
			var err error
			if tc.query {
				_, err = env.Query(alice, tc.msg)
			} else {
				_, err = env.Execute(alice, tc.msg)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if len(env.Sent) != 3 || !mapsEqual(before, env.Storage()) {
				t.Fatal("a refused send changed state")
			}
		})
	}
	if _, err := env.Execute(alice, sdktest.Msg("send_raw", sendMsg{To: token, Key: strings.Repeat("x", sdktest.MaxInput), Gas: 1})); err != nil {
		t.Fatalf("input at the limit: %v", err)
	}
}

func TestTransfer(t *testing.T) {
	bob := sdktest.Account("bob").ID
	tests := []struct {
		amount string
		ok     bool
	}{
		{"1", true},
		{"1500", true},
		{"340282366920938463463374607431768211455", true}, // 2^128-1
		{"340282366920938463463374607431768211456", false},
		{"999999999999999999999999999999999999999", false},
		{"1000000000000000000000000000000000000000", false}, // 40 digits
		{"0", false},
		{"", false},
		{"007", false},
		{"-5", false},
		{"+5", false},
		{"1.5", false},
		{"1e3", false},
		{" 5", false},
	}
	for _, tc := range tests {
		t.Run(tc.amount, func(t *testing.T) {
			env := sdktest.New()
			_, err := env.Execute(sdktest.Account("alice"), sdktest.Msg("pay", payMsg{To: bob, Amount: tc.amount}))
			if tc.ok {
				if err != nil || len(env.Transfers) != 1 || env.Transfers[0] != (sdktest.Transfer{To: bob, Amount: tc.amount}) {
					t.Fatalf("err %v, transfers %+v", err, env.Transfers)
				}
				return
			}
			if !errors.Is(err, sdk.ErrBadAmount) || len(env.Transfers) != 0 || len(env.Storage()) != 0 {
				t.Fatalf("err = %v, transfers %+v: want ErrBadAmount and nothing queued", err, env.Transfers)
			}
		})
	}
	env := sdktest.New()
	if _, err := env.Query(sdktest.Account("alice"), sdktest.Msg("qpay", payMsg{To: bob, Amount: "1"})); !errors.Is(err, sdktest.ErrReadOnly) || len(env.Transfers) != 0 {
		t.Fatalf("transfer from a query: %v", err)
	}
}

func TestDepositsAndBounces(t *testing.T) {
	alice := sdktest.Account("alice")
	tests := []struct {
		name   string
		caller sdk.Caller
		input  string
		want   error
		stored string // the key the handler writes
	}{
		{"deposit", sdktest.Chain, fmt.Sprintf(`{"deposit": {"from": %q, "amount": "100"}}`, alice.ID), nil, "v/deposit/" + alice.ID.String()},
		{"message bounce", sdktest.Chain, fmt.Sprintf(`{"bounce": {"kind": "message", "to": %q, "number": 7, "reason": "no such contract"}}`, alice.ID), nil, "bounce"},
		{"transfer bounce", sdktest.Chain, fmt.Sprintf(`{"bounce": {"kind": "transfer", "to": %q, "amount": "5", "reason": "balance short"}}`, alice.ID), nil, "bounce"},
		{"deposit faked by an account", alice, fmt.Sprintf(`{"deposit": {"from": %q, "amount": "100"}}`, alice.ID), sdk.ErrNotFromChain, ""},
		{"deposit faked by a contract", sdktest.Contract("evil"), fmt.Sprintf(`{"deposit": {"from": %q, "amount": "100"}}`, alice.ID), sdk.ErrNotFromChain, ""},
		{"anonymous deposit", sdktest.Anonymous, fmt.Sprintf(`{"deposit": {"from": %q, "amount": "100"}}`, alice.ID), sdk.ErrNotFromChain, ""},
		{"bounce faked by an account", alice, `{"bounce": {"kind": "message", "number": 1}}`, sdk.ErrNotFromChain, ""},
		{"bounce faked by a contract", sdktest.Contract("evil"), `{"bounce": {"kind": "message", "number": 1}}`, sdk.ErrNotFromChain, ""},
		{"malformed deposit", sdktest.Chain, `{"deposit": {"from": "0x12", "amount": "1"}}`, sdk.ErrMalformedMessage, ""},
		{"deposit with a field added by a later chain", sdktest.Chain, fmt.Sprintf(`{"deposit": {"from": %q, "amount": "1", "memo": "x"}}`, alice.ID), nil, "v/deposit/" + alice.ID.String()},
		{"deposit that is not an object", sdktest.Chain, `{"deposit": "1"}`, sdk.ErrMalformedMessage, ""},
		{"bounce of an unknown kind", sdktest.Chain, `{"bounce": {"kind": "refund"}}`, sdk.ErrBadBounce, ""},
		{"refused deposit", sdktest.Chain, fmt.Sprintf(`{"deposit": {"from": %q, "amount": "13"}}`, alice.ID), sdktest.ErrContract, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := sdktest.New()
			_, err := env.Execute(tc.caller, []byte(tc.input))
			if tc.want != nil {
				if !errors.Is(err, tc.want) || len(env.Storage()) != 0 {
					t.Fatalf("err = %v, storage %v: want %v and nothing stored", err, env.Storage(), tc.want)
				}
				return
			}
			if _, ok := env.Storage()[tc.stored]; err != nil || !ok {
				t.Fatalf("err = %v, storage %v: want %s", err, env.Storage(), tc.stored)
			}
		})
	}
}

// TestChainForms checks what sdktest delivers against the exact JSON the chain sends.
func TestChainForms(t *testing.T) {
	to := sdktest.Account("bob").ID
	for _, tc := range []struct {
		b    sdk.Bounce
		want string
	}{
		{sdk.Bounce{Kind: sdk.BounceMessage, To: to, Number: 0, Amount: "ignored", Reason: "r"},
			`{"kind":"message","to":"` + to.String() + `","number":0,"reason":"r"}`},
		{sdk.Bounce{Kind: sdk.BounceTransfer, To: to, Number: 9, Amount: "12", Reason: "balance short"},
			`{"kind":"transfer","to":"` + to.String() + `","amount":"12","reason":"balance short"}`},
	} {
		got, err := json.Marshal(tc.b)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s, %v; want %s", got, err, tc.want)
		}
		env := sdktest.New()
		if err := env.Bounce(tc.b); err != nil {
			t.Fatal(err)
		}
		if stored := string(env.Storage()["bounce"]); stored != tc.want {
			t.Errorf("the handler saw %s, want %s", stored, tc.want)
		}
	}
	env := sdktest.New()
	if err := env.Deposit(to, "42"); err != nil || len(env.Storage()) != 1 {
		t.Fatalf("deposit: %v", err)
	}
	if err := env.Deposit(to, "13"); !errors.Is(err, sdktest.ErrContract) {
		t.Fatalf("refused deposit: %v", err)
	}
}

func TestDeliver(t *testing.T) {
	sender, receiver := sdktest.New(), sdktest.New()
	sender.Self = sdktest.Contract("sender").ID
	if _, err := sender.Execute(sdktest.Account("alice"), sdktest.Msg("send", sendMsg{To: receiver.Self, Key: "m", Count: 1, Gas: 10})); err != nil {
		t.Fatal(err)
	}
	if _, err := receiver.Deliver(sender.Sent[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := sdktest.QueryAs[int](receiver, sdktest.Anonymous, sdktest.Msg("get", setMsg{Key: "m"})); err != nil || got != 0 {
		t.Fatalf("delivered value %d, %v", got, err)
	}
	if _, err := sender.Deliver(sender.Sent[0]); err == nil {
		t.Fatal("delivered a message to a contract it was not sent to")
	}
}

func TestReservedNames(t *testing.T) {
	for _, name := range []string{"deposit", "bounce"} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "HandleDeposit or HandleBounce") {
					t.Errorf("Handle(%q): recovered %v", name, r)
				}
			}()
			sdk.Handle(name, func(sdk.Context, struct{}) error { return nil })
		}()
	}
}
