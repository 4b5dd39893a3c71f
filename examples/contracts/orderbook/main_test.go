package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/phala-go/phala/sdk"
	"github.com/phala-go/phala/sdk/sdktest"
)

var (
	alice = sdktest.Account("alice")
	bob   = sdktest.Account("bob")
	carol = sdktest.Account("carol")
	// The two token contracts, in another cluster: they reach the order book only by messages.
	pht   = sdktest.Contract("pht")
	base  = pht.ID
	quote = sdktest.Contract("usd").ID
)

func newBook(t *testing.T) *sdktest.Env {
	t.Helper()
	env := sdktest.New()
	if _, err := env.Instantiate(alice, InitMsg{Base: base, Quote: quote}); err != nil {
		t.Fatal(err)
	}
	return env
}

// fund delivers the message a token's transfer_notify sends.
func fund(t *testing.T, env *sdktest.Env, token sdk.Address, who sdk.Caller, amount uint64) {
	t.Helper()
	m := sdktest.Sent{From: token, To: env.Self, Input: sdktest.Msg("received", Received{From: who.ID, Amount: amount}), GasLimit: 5_000_000}
	if _, err := env.Deliver(m); err != nil {
		t.Fatal(err)
	}
}

func fundsOf(t *testing.T, env *sdktest.Env, who sdk.Caller) Funds {
	t.Helper()
	f, err := sdktest.QueryAs[Funds](env, who, sdktest.Msg("my_funds", struct{}{}))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func order(env *sdktest.Env, who sdk.Caller, side Side, price, amount uint64) (uint64, error) {
	return sdktest.ExecuteAs[uint64](env, who, sdktest.Msg("order", OrderMsg{Side: side, Price: price, Amount: amount}))
}

// payment is a payment message as the token receives it.
func payment(token, to sdk.Address, amount uint64) string {
	return fmt.Sprintf("%s %s", token, sdktest.Msg("transfer", tokenTransfer{To: to, Amount: amount}))
}

func sent(env *sdktest.Env, from int) []string {
	var out []string
	for _, m := range env.Sent[from:] {
		out = append(out, fmt.Sprintf("%s %s", m.To, m.Input))
	}
	return out
}

func TestTrade(t *testing.T) {
	env := newBook(t)
	fund(t, env, base, alice, 100)
	fund(t, env, quote, bob, 1000)
	if f := fundsOf(t, env, alice); f != (Funds{Base: 100}) {
		t.Fatalf("alice's funds %+v", f)
	}
	ask, err := order(env, alice, Sell, 3, 10)
	if err != nil || len(env.Sent) != 0 {
		t.Fatalf("resting sell: %v, %d messages", err, len(env.Sent))
	}
	// bob buys 4 at up to 5: he gets 4 base at the resting price 3, alice 12 quote, and bob
	// the 8 quote he locked above the price.
	if _, err := order(env, bob, Buy, 5, 4); err != nil {
		t.Fatal(err)
	}
	want := []string{payment(base, bob.ID, 4), payment(quote, alice.ID, 12)}
	if got := sent(env, 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("payments\n%v\nwant\n%v", got, want)
	}
	if env.Sent[0].GasLimit != paymentGas {
		t.Fatalf("gas limit %d", env.Sent[0].GasLimit)
	}
	if f := fundsOf(t, env, bob); f != (Funds{Quote: 988}) {
		t.Fatalf("bob's funds %+v", f)
	}
	mine, err := sdktest.QueryAs[[]Order](env, alice, sdktest.Msg("my_orders", struct{}{}))
	if err != nil || len(mine) != 1 || mine[0] != (Order{ID: ask, Owner: alice.ID, Side: Sell, Price: 3, Amount: 6}) {
		t.Fatalf("alice's orders %+v, %v", mine, err)
	}
	// Cancelling returns the rest; withdrawing pays it out through the token.
	if _, err := env.Execute(bob, sdktest.Msg("cancel", CancelMsg{ID: ask})); err == nil {
		t.Fatal("bob cancelled alice's order")
	}
	if _, err := env.Execute(alice, sdktest.Msg("cancel", CancelMsg{ID: ask})); err != nil {
		t.Fatal(err)
	}
	if f := fundsOf(t, env, alice); f != (Funds{Base: 96}) {
		t.Fatalf("alice's funds after the cancel %+v", f)
	}
	if _, err := env.Execute(alice, sdktest.Msg("withdraw", WithdrawMsg{Token: base, Amount: 96})); err != nil {
		t.Fatal(err)
	}
	if got := sent(env, 2); fmt.Sprint(got) != fmt.Sprint([]string{payment(base, alice.ID, 96)}) || fundsOf(t, env, alice) != (Funds{}) {
		t.Fatalf("withdrawal: %v", got)
	}
}

func TestPriceTimePriority(t *testing.T) {
	env := newBook(t)
	fund(t, env, base, alice, 100)
	fund(t, env, base, carol, 100)
	fund(t, env, quote, bob, 1000)
	for _, o := range []struct {
		who           sdk.Caller
		price, amount uint64
	}{{alice, 5, 3}, {carol, 4, 2}, {alice, 4, 4}} {
		if _, err := order(env, o.who, Sell, o.price, o.amount); err != nil {
			t.Fatal(err)
		}
	}
	// A buy of 7 at 5 takes carol's 2 at 4, then alice's 4 at 4 (later, same price), then 1 of
	// alice's 3 at 5.
	if _, err := order(env, bob, Buy, 5, 7); err != nil {
		t.Fatal(err)
	}
	want := []string{
		payment(base, bob.ID, 2), payment(quote, carol.ID, 8),
		payment(base, bob.ID, 4), payment(quote, alice.ID, 16),
		payment(base, bob.ID, 1), payment(quote, alice.ID, 5),
	}
	if got := sent(env, 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("payments\n%v\nwant\n%v", got, want)
	}
	if f := fundsOf(t, env, bob); f != (Funds{Quote: 1000 - 35 + 6}) {
		t.Fatalf("bob's funds %+v", f)
	}
	// bob's buy of 3 at 9 takes alice's last 2 at 5 and rests for 1; a sell below it trades at
	// the bid's price.
	if _, err := order(env, bob, Buy, 9, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := order(env, carol, Sell, 2, 1); err != nil {
		t.Fatal(err)
	}
	want = []string{payment(base, bob.ID, 2), payment(quote, alice.ID, 10), payment(base, bob.ID, 1), payment(quote, carol.ID, 9)}
	if got := sent(env, 6); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("payments\n%v\nwant\n%v", got, want)
	}
	if f := fundsOf(t, env, bob); f != (Funds{Quote: 1000 - 35 + 6 - 27 + 8}) {
		t.Fatalf("bob's funds %+v", f)
	}
}

func TestBounceRestoresFunds(t *testing.T) {
	env := newBook(t)
	fund(t, env, base, alice, 10)
	fund(t, env, quote, bob, 30)
	if _, err := order(env, alice, Sell, 3, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := order(env, bob, Buy, 3, 10); err != nil {
		t.Fatal(err)
	}
	toBob, toAlice := env.Sent[0], env.Sent[1]
	// Nobody but the chain bounces.
	for _, c := range []sdk.Caller{bob, pht} {
		if _, err := env.Execute(c, sdktest.Msg("bounce", sdk.Bounce{Kind: sdk.BounceMessage, To: base, Number: toBob.Number})); !errors.Is(err, sdk.ErrNotFromChain) {
			t.Fatalf("bounce faked by %s: %v", c.Kind, err)
		}
	}
	// The base token refused the payment to bob: bob finds the base in his funds here.
	if err := env.BounceMessage(toBob, "the contract refused the message: insufficient balance"); err != nil {
		t.Fatal(err)
	}
	if f := fundsOf(t, env, bob); f != (Funds{Base: 10}) {
		t.Fatalf("bob's funds after the bounce %+v", f)
	}
	if err := env.BounceMessage(toBob, "twice"); err == nil || fundsOf(t, env, bob) != (Funds{Base: 10}) {
		t.Fatalf("a payment restored twice: %v", err)
	}
	if fundsOf(t, env, alice) != (Funds{}) || toAlice.Input == nil {
		t.Fatal("alice's payment is unaffected")
	}
	// bob withdraws again; this time it goes through.
	if _, err := env.Execute(bob, sdktest.Msg("withdraw", WithdrawMsg{Token: base, Amount: 10})); err != nil {
		t.Fatal(err)
	}
	if got := sent(env, 2); len(got) != 1 || got[0] != payment(base, bob.ID, 10) {
		t.Fatalf("withdrawal %v", got)
	}
	// Deposits of the chain's currency pay for the messages; transfer bounces do not concern
	// the order book.
	if err := env.Deposit(alice.ID, "5000000000"); err != nil {
		t.Fatal(err)
	}
	if err := env.BounceTransfer(sdktest.Transfer{To: alice.ID, Amount: "1"}, "balance short"); err != nil {
		t.Fatal(err)
	}
}

func TestRefusals(t *testing.T) {
	env := newBook(t)
	fund(t, env, quote, bob, 30)
	tests := []struct {
		name   string
		caller sdk.Caller
		msg    []byte
		want   error
	}{
		{"received from another contract", sdktest.Contract("fake"), sdktest.Msg("received", Received{From: bob.ID, Amount: 5}), errNotToken},
		{"received from an account", bob, sdktest.Msg("received", Received{From: bob.ID, Amount: 5}), errNotToken},
		{"received from the chain", sdktest.Chain, sdktest.Msg("received", Received{From: bob.ID, Amount: 5}), errNotToken},
		{"buy without the funds", bob, sdktest.Msg("order", OrderMsg{Side: Buy, Price: 4, Amount: 8}), errFunds},
		{"sell without the funds", bob, sdktest.Msg("order", OrderMsg{Side: Sell, Price: 1, Amount: 1}), errFunds},
		{"unknown side", bob, sdktest.Msg("order", OrderMsg{Side: "hold", Price: 1, Amount: 1}), sdktest.ErrContract},
		{"zero price", bob, sdktest.Msg("order", OrderMsg{Side: Buy, Amount: 1}), sdktest.ErrContract},
		{"overflowing cost", bob, sdktest.Msg("order", OrderMsg{Side: Buy, Price: 1 << 40, Amount: 1 << 40}), sdktest.ErrContract},
		{"order from a contract", pht, sdktest.Msg("order", OrderMsg{Side: Buy, Price: 1, Amount: 1}), errAccount},
		{"withdraw above the funds", bob, sdktest.Msg("withdraw", WithdrawMsg{Token: quote, Amount: 31}), errFunds},
		{"withdraw another token", bob, sdktest.Msg("withdraw", WithdrawMsg{Token: sdktest.Contract("fake").ID, Amount: 1}), sdktest.ErrContract},
		{"cancel nothing", bob, sdktest.Msg("cancel", CancelMsg{ID: 9}), sdktest.ErrContract},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Storage()
			if _, err := env.Execute(tc.caller, tc.msg); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if fmt.Sprint(env.Storage()) != fmt.Sprint(before) || len(env.Sent) != 0 {
				t.Fatal("a refused command changed state or sent a message")
			}
		})
	}
	if _, err := env.Instantiate(alice, InitMsg{Base: base, Quote: base}); err == nil {
		t.Fatal("instantiated with one token twice")
	}
}
