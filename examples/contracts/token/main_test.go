package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/phala-go/phala/sdk"
	"github.com/phala-go/phala/sdk/sdktest"
)

var (
	alice = sdktest.Account("alice")
	bob   = sdktest.Account("bob")
	carol = sdktest.Account("carol")
)

func newToken(t *testing.T) *sdktest.Env {
	t.Helper()
	env := sdktest.New()
	_, err := env.Instantiate(alice, InitMsg{Name: "Phala Token", Symbol: "PHT",
		Mint: []Grant{{To: alice.ID, Amount: 1000}, {To: bob.ID, Amount: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func balanceOf(t *testing.T, env *sdktest.Env, who sdk.Caller) uint64 {
	t.Helper()
	b, err := sdktest.QueryAs[Balance](env, who, sdktest.Msg("balance", struct{}{}))
	if err != nil {
		t.Fatal(err)
	}
	return b.Balance
}

func TestInstantiate(t *testing.T) {
	env := newToken(t)
	i, err := sdktest.QueryAs[Info](env, sdktest.Anonymous, sdktest.Msg("info", struct{}{}))
	if err != nil || i != (Info{Name: "Phala Token", Symbol: "PHT", TotalSupply: 1010}) {
		t.Fatalf("info = %+v, %v", i, err)
	}
	if balanceOf(t, env, alice) != 1000 || balanceOf(t, env, bob) != 10 || balanceOf(t, env, carol) != 0 {
		t.Fatal("minted balances")
	}
	bad := []InitMsg{
		{Symbol: "X", Mint: []Grant{{To: alice.ID, Amount: 1}}},
		{Name: "X", Symbol: "X"},
		{Name: "X", Symbol: "X", Mint: []Grant{{Amount: 1}}},
		{Name: "X", Symbol: "X", Mint: []Grant{{To: alice.ID, Amount: 1 << 63}, {To: bob.ID, Amount: 1 << 63}}},
	}
	for _, m := range bad {
		env := sdktest.New()
		if _, err := env.Instantiate(alice, m); !errors.Is(err, sdktest.ErrContract) || len(env.Storage()) != 0 {
			t.Errorf("instantiate %+v: err = %v, storage %d keys", m, err, len(env.Storage()))
		}
	}
}

func TestTransfer(t *testing.T) {
	tests := []struct {
		name       string
		from       sdk.Caller
		msg        Transfer
		err        error
		errText    string
		alice, bob uint64
	}{
		{"ok", alice, Transfer{To: bob.ID, Amount: 100}, nil, "", 900, 110},
		{"all of it", bob, Transfer{To: alice.ID, Amount: 10}, nil, "", 1010, 0},
		{"to self", alice, Transfer{To: alice.ID, Amount: 5}, nil, "", 1000, 10},
		{"insufficient", bob, Transfer{To: alice.ID, Amount: 11}, errInsufficient, "have 10", 1000, 10},
		{"zero amount", alice, Transfer{To: bob.ID}, sdktest.ErrContract, "non-zero", 1000, 10},
		{"no recipient", alice, Transfer{Amount: 1}, sdktest.ErrContract, "non-zero", 1000, 10},
		{"anonymous", sdktest.Anonymous, Transfer{To: bob.ID, Amount: 1}, errAnonymous, "", 1000, 10},
		{"empty account", carol, Transfer{To: bob.ID, Amount: 1}, errInsufficient, "have 0", 1000, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newToken(t)
			_, err := env.Execute(tc.from, sdktest.Msg("transfer", tc.msg))
			if tc.err == nil && err != nil || tc.err != nil && (!errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.errText)) {
				t.Fatalf("err = %v, want %v (%q)", err, tc.err, tc.errText)
			}
			if a, b := balanceOf(t, env, alice), balanceOf(t, env, bob); a != tc.alice || b != tc.bob {
				t.Fatalf("balances alice %d bob %d, want %d %d", a, b, tc.alice, tc.bob)
			}
		})
	}
}

func TestBalanceIsPrivate(t *testing.T) {
	env := newToken(t)
	if _, err := env.Query(sdktest.Anonymous, sdktest.Msg("balance", struct{}{})); !errors.Is(err, errAnonymous) {
		t.Fatalf("anonymous balance query: %v", err)
	}
	// The query takes no account argument: a querier cannot name someone else's account.
	if _, err := env.Query(carol, []byte(`{"balance": {"account": "`+alice.ID.String()+`"}}`)); !errors.Is(err, sdk.ErrMalformedMessage) {
		t.Fatalf("balance of another account: %v", err)
	}
	if len(env.Events) != 0 {
		t.Fatal("the token must not publish events")
	}
	if _, err := env.Execute(alice, sdktest.Msg("transfer", Transfer{To: bob.ID, Amount: 1})); err != nil || len(env.Events) != 0 {
		t.Fatalf("transfer published events: %v %v", err, env.Events)
	}
}
