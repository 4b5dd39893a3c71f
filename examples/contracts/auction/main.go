// Command auction is a sealed-bid, second-price auction: bids are private contract state until
// the closing height; then anyone may close the auction, which reveals only the winner and the
// price (the second-highest bid, or the reserve price when higher or when there is one bid).
//
// Messages:
//
//	instantiate {"item": "Painting", "close_height": 100, "reserve_price": 10}
//	execute     {"bid": {"amount": 42}}   before close_height; a new bid replaces the caller's
//	execute     {"close": {}}             at or after close_height, once
//	query       {"my_bid": {}}            the caller's own bid
//	query       {"status": {}}            item, seller, close height, number of bidders, closed
//	query       {"result": {}}            after the close: winner, price
package main

import (
	"errors"
	"fmt"

	"github.com/phala-go/phala/sdk"
)

func main() {}

// InitMsg describes the sale; the instantiator is the seller.
type InitMsg struct {
	Item         string `json:"item"`
	CloseHeight  uint64 `json:"close_height"`
	ReservePrice uint64 `json:"reserve_price"`
}

// BidMsg places or replaces the caller's bid.
type BidMsg struct {
	Amount uint64 `json:"amount"`
}

// Bid is a stored bid; Seq orders bids in time and breaks ties (earlier wins).
type Bid struct {
	Amount uint64 `json:"amount"`
	Seq    uint64 `json:"seq"`
}

// Status is the auction's public state.
type Status struct {
	Item         string      `json:"item"`
	Seller       sdk.Address `json:"seller"`
	CloseHeight  uint64      `json:"close_height"`
	ReservePrice uint64      `json:"reserve_price"`
	Bidders      uint64      `json:"bidders"`
	Closed       bool        `json:"closed"`
}

// Result is what the close reveals.
type Result struct {
	Sold       bool        `json:"sold"`
	Winner     sdk.Address `json:"winner"`
	Price      uint64      `json:"price"`
	Settlement string      `json:"settlement"`
}

var (
	errOpen      = errors.New("the auction is still open: bids are sealed until it closes")
	errClosed    = errors.New("bidding has closed")
	errAnonymous = errors.New("the caller must be an account or a contract")
)

var (
	status = sdk.NewItem[Status]("status")
	seq    = sdk.NewItem[uint64]("seq")
	bids   = sdk.NewMap[Bid]("bid/")
	result = sdk.NewItem[Result]("result")
)

func init() {
	sdk.Init(instantiate)
	sdk.Handle("bid", bid)
	sdk.Handle("close", closeAuction)
	sdk.HandleQuery("my_bid", myBid)
	sdk.HandleQuery("status", func(sdk.Context, struct{}) (Status, error) {
		s, _ := status.Get()
		return s, nil
	})
	sdk.HandleQuery("result", func(ctx sdk.Context, _ struct{}) (Result, error) {
		r, ok := result.Get()
		if !ok {
			return Result{}, errOpen
		}
		return r, nil
	})
}

func instantiate(ctx sdk.Context, msg InitMsg) error {
	if msg.Item == "" {
		return errors.New("item is required")
	}
	if msg.CloseHeight <= ctx.Block().Height {
		return fmt.Errorf("close_height %d must be after the current height %d", msg.CloseHeight, ctx.Block().Height)
	}
	seller := ctx.Caller()
	if seller.Anonymous() {
		return errAnonymous
	}
	status.Set(Status{Item: msg.Item, Seller: seller.ID, CloseHeight: msg.CloseHeight, ReservePrice: msg.ReservePrice})
	return nil
}

func bid(ctx sdk.Context, msg BidMsg) error {
	s, _ := status.Get()
	if ctx.Block().Height >= s.CloseHeight {
		return errClosed
	}
	c := ctx.Caller()
	if c.Anonymous() {
		return errAnonymous
	}
	if c.ID == s.Seller {
		return errors.New("the seller cannot bid")
	}
	if msg.Amount == 0 || msg.Amount < s.ReservePrice {
		return fmt.Errorf("a bid must be positive and at least the reserve price %d", s.ReservePrice)
	}
	if !bids.Has(c.ID.String()) {
		s.Bidders++
		status.Set(s)
	}
	n := seq.GetOr(0) + 1
	seq.Set(n)
	bids.Set(c.ID.String(), Bid{Amount: msg.Amount, Seq: n})
	return nil
}

func myBid(ctx sdk.Context, _ struct{}) (Bid, error) {
	c := ctx.Caller()
	if c.Anonymous() {
		return Bid{}, errAnonymous
	}
	b, ok := bids.Get(c.ID.String())
	if !ok {
		return Bid{}, errors.New("you have not bid")
	}
	return b, nil
}

// closeAuction picks the highest bid (the earliest among equal ones) and charges the
// second-highest amount, at least the reserve price.
func closeAuction(ctx sdk.Context, _ struct{}) error {
	s, _ := status.Get()
	if s.Closed {
		return errors.New("the auction is already closed")
	}
	if ctx.Block().Height < s.CloseHeight {
		return fmt.Errorf("%w (closes at height %d)", errOpen, s.CloseHeight)
	}
	var winner string
	var best Bid
	var second uint64
	bids.Each(func(k string, b Bid) bool {
		if winner == "" || b.Amount > best.Amount || b.Amount == best.Amount && b.Seq < best.Seq {
			if winner != "" {
				second = max(second, best.Amount)
			}
			winner, best = k, b
		} else {
			second = max(second, b.Amount)
		}
		return true
	})
	var r Result
	if winner != "" {
		r.Sold = true
		r.Winner, _ = sdk.ParseAddress(winner) // keys are Address.String()
		r.Price = max(second, s.ReservePrice)
	}
	settle(&r)
	result.Set(r)
	s.Closed = true
	status.Set(s)
	ctx.Emit("auction/closed", r)
	return nil
}

// settle is the seam for payment. Paying through the token contract (moving Price from the
// winner's escrow to the seller) needs synchronous cross-contract calls (sdk.Context.Call),
// which the chain does not route yet; until then the result records that payment is due and
// the parties settle outside the contract.
func settle(r *Result) {
	if r.Sold {
		r.Settlement = "payment due"
	}
}
