package main

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/phala-go/phala/sdk"
	"github.com/phala-go/phala/sdk/sdktest"
)

var (
	seller = sdktest.Account("seller")
	alice  = sdktest.Account("alice")
	bob    = sdktest.Account("bob")
	carol  = sdktest.Account("carol")
)

// newAuction opens an auction at height 1 that closes at height 10 with reserve price 5.
func newAuction(t *testing.T) *sdktest.Env {
	t.Helper()
	env := sdktest.New()
	if _, err := env.Instantiate(seller, InitMsg{Item: "Painting", CloseHeight: 10, ReservePrice: 5}); err != nil {
		t.Fatal(err)
	}
	return env
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
			env := newAuction(t)
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
		})
	}
}

func TestBidsAreSealed(t *testing.T) {
	env := newAuction(t)
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
	if err != nil || s.Bidders != 1 || s.Closed || s.Seller != seller.ID {
		t.Fatalf("status %+v %v", s, err)
	}
	if len(env.Events) != 0 {
		t.Fatal("bidding published an event")
	}
}

func TestRules(t *testing.T) {
	env := newAuction(t)
	tests := []struct {
		name string
		who  sdk.Caller
		msg  []byte
		want error
	}{
		{"below reserve", alice, sdktest.Msg("bid", BidMsg{Amount: 4}), sdktest.ErrContract},
		{"seller bids", seller, sdktest.Msg("bid", BidMsg{Amount: 9}), sdktest.ErrContract},
		{"anonymous bid", sdktest.Anonymous, sdktest.Msg("bid", BidMsg{Amount: 9}), errAnonymous},
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
	if err != nil || r.Winner != alice.ID || r.Price != 5 || r.Settlement != "payment due" {
		t.Fatalf("result %+v %v", r, err)
	}
}

func TestInstantiateChecks(t *testing.T) {
	for _, m := range []InitMsg{{CloseHeight: 10}, {Item: "x", CloseHeight: 1}} {
		env := sdktest.New()
		if _, err := env.Instantiate(seller, m); !errors.Is(err, sdktest.ErrContract) {
			t.Errorf("instantiate %+v: %v", m, err)
		}
	}
}
