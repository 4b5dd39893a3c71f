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

func TestApproveAndTransferFrom(t *testing.T) {
	auction := sdktest.Contract("auction")
	tests := []struct {
		name                string
		approve             uint64
		take                uint64
		spender             sdk.Caller
		err                 error
		alice, carol, allow uint64
	}{
		{"within the allowance", 50, 30, auction, nil, 970, 30, 20},
		{"the whole allowance", 50, 50, auction, nil, 950, 50, 0},
		{"above the allowance", 50, 51, auction, errAllowance, 1000, 0, 50},
		{"not approved", 0, 1, auction, errAllowance, 1000, 0, 0},
		{"another spender", 50, 1, bob, errAllowance, 1000, 0, 50},
		{"above the balance", 5000, 1001, auction, errInsufficient, 1000, 0, 5000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newToken(t)
			if _, err := env.Execute(alice, sdktest.Msg("approve", Approve{Spender: auction.ID, Amount: tc.approve})); err != nil {
				t.Fatal(err)
			}
			_, err := env.Execute(tc.spender, sdktest.Msg("transfer_from", TransferFrom{From: alice.ID, To: carol.ID, Amount: tc.take}))
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			allow, err := sdktest.QueryAs[Balance](env, alice, sdktest.Msg("allowance", AllowanceQuery{Spender: auction.ID}))
			if err != nil || balanceOf(t, env, alice) != tc.alice || balanceOf(t, env, carol) != tc.carol || allow.Balance != tc.allow {
				t.Fatalf("alice %d carol %d allowance %d (%v), want %d %d %d", balanceOf(t, env, alice), balanceOf(t, env, carol), allow.Balance, err, tc.alice, tc.carol, tc.allow)
			}
		})
	}
}

func TestTransferNotify(t *testing.T) {
	book := sdktest.Contract("orderbook")
	env := newToken(t)
	if _, err := env.Execute(alice, sdktest.Msg("transfer_notify", Transfer{To: book.ID, Amount: 40})); err != nil {
		t.Fatal(err)
	}
	if balanceOf(t, env, alice) != 960 || balanceOf(t, env, book) != 40 {
		t.Fatal("transfer_notify did not transfer")
	}
	want := `{"received":{"from":"` + alice.ID.String() + `","amount":40}}`
	if len(env.Sent) != 1 || env.Sent[0].To != book.ID || string(env.Sent[0].Input) != want || env.Sent[0].GasLimit != notifyGas {
		t.Fatalf("sent %+v, want %s", env.Sent, want)
	}
	// Refusals send nothing.
	for _, m := range []Transfer{{To: book.ID, Amount: 961}, {To: alice.ID, Amount: 1}, {To: book.ID}} {
		if _, err := env.Execute(alice, sdktest.Msg("transfer_notify", m)); !errors.Is(err, sdktest.ErrContract) || len(env.Sent) != 1 {
			t.Fatalf("transfer_notify %+v: %v, %d sent", m, err, len(env.Sent))
		}
	}

	// Only the chain bounces; a bounce returns the tokens once.
	fake := sdktest.Msg("bounce", sdk.Bounce{Kind: sdk.BounceMessage, To: book.ID, Number: 0})
	for _, c := range []sdk.Caller{alice, book} {
		if _, err := env.Execute(c, fake); !errors.Is(err, sdk.ErrNotFromChain) || balanceOf(t, env, alice) != 960 {
			t.Fatalf("bounce faked by %s: %v", c.Kind, err)
		}
	}
	if err := env.BounceMessage(env.Sent[0], "contract refused: unknown token"); err != nil {
		t.Fatal(err)
	}
	if balanceOf(t, env, alice) != 1000 || balanceOf(t, env, book) != 0 {
		t.Fatal("the bounce did not return the tokens")
	}
	if err := env.BounceMessage(env.Sent[0], "again"); err == nil || balanceOf(t, env, alice) != 1000 {
		t.Fatalf("a second bounce of the same message: %v", err)
	}

	// A receiver that spent the tokens keeps the bounce from taking them from others.
	if _, err := env.Execute(alice, sdktest.Msg("transfer_notify", Transfer{To: book.ID, Amount: 10})); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Execute(book, sdktest.Msg("transfer", Transfer{To: carol.ID, Amount: 10})); err != nil {
		t.Fatal(err)
	}
	if err := env.BounceMessage(env.Sent[1], "late"); !errors.Is(err, errInsufficient) || balanceOf(t, env, carol) != 10 {
		t.Fatalf("bounce after the receiver spent the tokens: %v", err)
	}
}

func TestChainFunds(t *testing.T) {
	env := newToken(t)
	if err := env.Deposit(alice.ID, "1000000000000"); err != nil {
		t.Fatalf("deposit refused: %v", err)
	}
	if err := env.BounceTransfer(sdktest.Transfer{To: alice.ID, Amount: "1"}, "balance short"); err != nil {
		t.Fatalf("transfer bounce: %v", err)
	}
	if _, err := env.Execute(alice, sdktest.Msg("deposit", sdk.Deposit{From: alice.ID, Amount: "1"})); !errors.Is(err, sdk.ErrNotFromChain) {
		t.Fatalf("deposit faked by an account: %v", err)
	}
}
