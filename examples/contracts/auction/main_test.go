package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/phala-go/phala/sdk"
	"github.com/phala-go/phala/sdk/sdktest"
)

var (
	seller = sdktest.Account("seller")
	alice  = sdktest.Account("alice")
	bob    = sdktest.Account("bob")
	carol  = sdktest.Account("carol")
	token  = sdktest.Contract("token").ID
)

// ledger plays the token contract of the cluster: the auction's synchronous calls reach it
// through Env.CallHandler, with the auction as the caller.
type ledger struct {
	balances map[sdk.Address]uint64
	allowed  map[[2]sdk.Address]uint64 // owner, spender
	down     bool                      // refuse every call
}

func newLedger(holders ...sdk.Caller) *ledger {
	l := &ledger{balances: map[sdk.Address]uint64{}, allowed: map[[2]sdk.Address]uint64{}}
	for _, h := range holders {
		l.balances[h.ID] = 100
	}
	return l
}

func (l *ledger) handle(caller, contract sdk.Address, input []byte, gas uint64) ([]byte, error) {
	if contract != token || gas == 0 || l.down {
		return nil, &sdk.CallError{Message: "token unavailable"}
	}
	var msg struct {
		Transfer     *tokenTransfer     `json:"transfer"`
		TransferFrom *tokenTransferFrom `json:"transfer_from"`
	}
	if err := json.Unmarshal(input, &msg); err != nil {
		return nil, &sdk.CallError{Message: err.Error()}
	}
	from, to, amount := caller, sdk.Address{}, uint64(0)
	switch {
	case msg.Transfer != nil:
		to, amount = msg.Transfer.To, msg.Transfer.Amount
	case msg.TransferFrom != nil:
		from, to, amount = msg.TransferFrom.From, msg.TransferFrom.To, msg.TransferFrom.Amount
		if l.allowed[[2]sdk.Address{from, caller}] < amount {
			return nil, &sdk.CallError{Message: "allowance too small"}
		}
		l.allowed[[2]sdk.Address{from, caller}] -= amount
	default:
		return nil, &sdk.CallError{Message: "unknown command " + string(input)}
	}
	if l.balances[from] < amount {
		return nil, &sdk.CallError{Message: "insufficient balance"}
	}
	l.balances[from] -= amount
	l.balances[to] += amount
	return nil, nil
}

// newAuction opens an auction at height 1 that closes at height 10 with reserve price 5; alice,
// bob and carol hold 100 tokens each and have approved the auction for all of them.
func newAuction(t *testing.T) (*sdktest.Env, *ledger) {
	t.Helper()
	env := sdktest.New()
	l := newLedger(alice, bob, carol)
	for _, who := range []sdk.Caller{alice, bob, carol} {
		l.allowed[[2]sdk.Address{who.ID, env.Self}] = 100
	}
	env.CallHandler = l.handle
	if _, err := env.Instantiate(seller, InitMsg{Item: "Painting", Token: token, CloseHeight: 10, ReservePrice: 5}); err != nil {
		t.Fatal(err)
	}
	return env, l
}

func placeBid(env *sdktest.Env, who sdk.Caller, amount uint64) error {
	_, err := env.Execute(who, sdktest.Msg("bid", BidMsg{Amount: amount}))
	return err
}

func closeAt(t *testing.T, env *sdktest.Env, height uint64) Result {
	t.Helper()
	env.Advance(height - env.Block.Height)
	if _, err := env.Execute(carol, sdktest.Msg("close", struct{}{})); err != nil {
		t.Fatal(err)
	}
	r, err := sdktest.QueryAs[Result](env, sdktest.Anonymous, sdktest.Msg("result", struct{}{}))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSecondPrice(t *testing.T) {
	type bidAt struct {
		who    sdk.Caller
		amount uint64
	}
	tests := []struct {
		name   string
		bids   []bidAt
		winner sdk.Caller
		price  uint64
		sold   bool
	}{
		{"two bids", []bidAt{{alice, 30}, {bob, 20}}, alice, 20, true},
		{"one bid pays the reserve", []bidAt{{bob, 50}}, bob, 5, true},
		{"tie: the earlier bid wins", []bidAt{{bob, 40}, {alice, 40}, {carol, 7}}, bob, 40, true},
		{"a replaced bid counts once", []bidAt{{alice, 100}, {bob, 60}, {alice, 50}}, bob, 50, true},
		{"no bids", nil, sdk.Caller{}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, l := newAuction(t)
			for _, b := range tc.bids {
				if err := placeBid(env, b.who, b.amount); err != nil {
					t.Fatal(err)
				}
			}
			r := closeAt(t, env, 10)
			if r.Sold != tc.sold || r.Winner != tc.winner.ID || r.Price != tc.price {
				t.Fatalf("result %+v, want winner %s price %d sold %v", r, tc.winner.ID, tc.price, tc.sold)
			}
			if len(env.Events) != 1 || env.Events[0].Topic != "auction/closed" {
				t.Fatalf("events %v", env.Events)
			}
			var ev Result
			if err := json.Unmarshal(env.Events[0].Data, &ev); err != nil || ev != r {
				t.Fatalf("event %s does not match the result", env.Events[0].Data)
			}
			// The seller got the price, the winner paid only the price, everyone else got
			// every token back, and the auction holds nothing.
			for _, who := range []sdk.Caller{alice, bob, carol} {
				want := uint64(100)
				if r.Sold && who.ID == r.Winner {
					want -= r.Price
				}
				if got := l.balances[who.ID]; got != want {
					t.Errorf("%s holds %d, want %d", who.ID, got, want)
				}
			}
			if l.balances[seller.ID] != tc.price || l.balances[env.Self] != 0 {
				t.Fatalf("seller %d, auction %d", l.balances[seller.ID], l.balances[env.Self])
			}
		})
	}
}

func TestEscrow(t *testing.T) {
	env, l := newAuction(t)
	steps := []struct {
		amount       uint64
		alice, held  uint64
		wantErr      bool
		allowanceCut uint64 // lower alice's allowance before the step
	}{
		{30, 70, 30, false, 0},
		{45, 55, 45, false, 0},  // raising takes the difference
		{20, 80, 20, false, 0},  // lowering returns it
		{101, 80, 20, true, 0},  // more than alice has approved and holds
		{60, 80, 20, true, 100}, // no allowance left: the bid fails and changes nothing
	}
	for i, s := range steps {
		if s.allowanceCut > 0 {
			l.allowed[[2]sdk.Address{alice.ID, env.Self}] = 0
		}
		before := env.Storage()
		err := placeBid(env, alice, s.amount)
		if (err != nil) != s.wantErr {
			t.Fatalf("step %d: err = %v", i, err)
		}
		if s.wantErr && fmt.Sprint(env.Storage()) != fmt.Sprint(before) {
			t.Fatalf("step %d: a refused bid changed the auction's state", i)
		}
		if l.balances[alice.ID] != s.alice || l.balances[env.Self] != s.held {
			t.Fatalf("step %d: alice %d, auction %d; want %d %d", i, l.balances[alice.ID], l.balances[env.Self], s.alice, s.held)
		}
	}
	b, err := sdktest.QueryAs[Bid](env, alice, sdktest.Msg("my_bid", struct{}{}))
	if err != nil || b.Amount != 20 {
		t.Fatalf("alice's bid %+v, %v", b, err)
	}
}

func TestCloseNeedsTheToken(t *testing.T) {
	env, l := newAuction(t)
	if err := placeBid(env, alice, 30); err != nil {
		t.Fatal(err)
	}
	env.Advance(9)
	l.down = true
	if _, err := env.Execute(carol, sdktest.Msg("close", struct{}{})); err == nil {
		t.Fatal("closed without paying")
	}
	if _, err := env.Query(carol, sdktest.Msg("result", struct{}{})); !errors.Is(err, errOpen) {
		t.Fatalf("result after a failed close: %v", err)
	}
	l.down = false
	if r := closeAt(t, env, 10); r.Winner != alice.ID || l.balances[seller.ID] != 5 {
		t.Fatalf("result %+v, seller %d", r, l.balances[seller.ID])
	}
}

func TestBidsAreSealed(t *testing.T) {
	env, _ := newAuction(t)
	if err := placeBid(env, alice, 30); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Query(bob, sdktest.Msg("result", struct{}{})); !errors.Is(err, errOpen) {
		t.Fatalf("result before the close: %v", err)
	}
	if _, err := env.Query(bob, sdktest.Msg("my_bid", struct{}{})); err == nil {
		t.Fatal("bob read a bid he did not place")
	}
	b, err := sdktest.QueryAs[Bid](env, alice, sdktest.Msg("my_bid", struct{}{}))
	if err != nil || b.Amount != 30 {
		t.Fatalf("alice's own bid: %+v %v", b, err)
	}
	s, err := sdktest.QueryAs[Status](env, sdktest.Anonymous, sdktest.Msg("status", struct{}{}))
	if err != nil || s.Bidders != 1 || s.Closed || s.Seller != seller.ID || s.Token != token {
		t.Fatalf("status %+v %v", s, err)
	}
	if len(env.Events) != 0 {
		t.Fatal("bidding published an event")
	}
}

func TestRules(t *testing.T) {
	env, l := newAuction(t)
	tests := []struct {
		name string
		who  sdk.Caller
		msg  []byte
		want error
	}{
		{"below reserve", alice, sdktest.Msg("bid", BidMsg{Amount: 4}), sdktest.ErrContract},
		{"seller bids", seller, sdktest.Msg("bid", BidMsg{Amount: 9}), sdktest.ErrContract},
		{"anonymous bid", sdktest.Anonymous, sdktest.Msg("bid", BidMsg{Amount: 9}), errAnonymous},
		{"the chain bids", sdktest.Chain, sdktest.Msg("bid", BidMsg{Amount: 9}), errAnonymous},
		{"close too early", carol, sdktest.Msg("close", struct{}{}), errOpen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Storage()
			if _, err := env.Execute(tc.who, tc.msg); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if len(env.Storage()) != len(before) {
				t.Fatal("a refused command changed storage")
			}
		})
	}
	if err := placeBid(env, alice, 9); err != nil {
		t.Fatal(err)
	}
	env.Advance(9)
	if err := placeBid(env, bob, 90); !errors.Is(err, errClosed) {
		t.Fatalf("bid at the close height: %v", err)
	}
	if _, err := env.Execute(carol, sdktest.Msg("close", struct{}{})); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Execute(carol, sdktest.Msg("close", struct{}{})); err == nil {
		t.Fatal("closed twice")
	}
	r, err := sdktest.QueryAs[Result](env, bob, sdktest.Msg("result", struct{}{}))
	if err != nil || r.Winner != alice.ID || r.Price != 5 || l.balances[seller.ID] != 5 || l.balances[alice.ID] != 95 {
		t.Fatalf("result %+v %v; seller %d alice %d", r, err, l.balances[seller.ID], l.balances[alice.ID])
	}
}

func TestInstantiateChecks(t *testing.T) {
	for _, m := range []InitMsg{{Token: token, CloseHeight: 10}, {Item: "x", Token: token, CloseHeight: 1}, {Item: "x", CloseHeight: 10}} {
		env := sdktest.New()
		if _, err := env.Instantiate(seller, m); !errors.Is(err, sdktest.ErrContract) {
			t.Errorf("instantiate %+v: %v", m, err)
		}
	}
}
