// Command auction is a sealed-bid, second-price auction paid in a token contract of the same
// cluster (the token example). Bids are private contract state until the closing height; then
// anyone may close the auction, which reveals only the winner and the price (the second-highest
// bid, or the reserve price when higher or when there is one bid).
//
// Payment: a bidder first approves the auction in the token ({"approve": {"spender": <the
// auction>, "amount": ...}}). A bid makes the auction take the bid from the bidder's tokens at
// once, by a synchronous call to the token (transfer_from): the auction holds every bid in
// escrow, so the winner cannot fail to pay. Replacing a bid takes or returns the difference.
// The close pays the seller the price and returns the rest: the winner's bid above the price and
// every other bid in full. Each of these calls is part of the bid or close command: if the
// token refuses one, the whole command fails and nothing changes.
//
// Messages:
//
//	instantiate {"item": "Painting", "token": "0x<token contract>", "close_height": 100, "reserve_price": 10}
//	execute     {"bid": {"amount": 42}}   before close_height; a new bid replaces the caller's
//	execute     {"close": {}}             at or after close_height, once
//	query       {"my_bid": {}}            the caller's own bid
//	query       {"status": {}}            item, seller, token, close height, number of bidders, closed
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
	Item         string      `json:"item"`
	Token        sdk.Address `json:"token"`
	CloseHeight  uint64      `json:"close_height"`
	ReservePrice uint64      `json:"reserve_price"`
}

// BidMsg places or replaces the caller's bid.
type BidMsg struct {
	Amount uint64 `json:"amount"`
}

// Bid is a stored bid, held in escrow; Seq orders bids in time and breaks ties (earlier wins).
type Bid struct {
	Amount uint64 `json:"amount"`
	Seq    uint64 `json:"seq"`
}

// Status is the auction's public state.
type Status struct {
	Item         string      `json:"item"`
	Seller       sdk.Address `json:"seller"`
	Token        sdk.Address `json:"token"`
	CloseHeight  uint64      `json:"close_height"`
	ReservePrice uint64      `json:"reserve_price"`
	Bidders      uint64      `json:"bidders"`
	Closed       bool        `json:"closed"`
}

// Result is what the close reveals.
type Result struct {
	Sold   bool        `json:"sold"`
	Winner sdk.Address `json:"winner"`
	Price  uint64      `json:"price"`
}

// The token's commands the auction calls.
type (
	tokenTransfer struct {
		To     sdk.Address `json:"to"`
		Amount uint64      `json:"amount"`
	}
	tokenTransferFrom struct {
		From   sdk.Address `json:"from"`
		To     sdk.Address `json:"to"`
		Amount uint64      `json:"amount"`
	}
)

// tokenGas bounds each call to the token (a transfer uses about 0.6M).
const tokenGas = 10_000_000

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
	if msg.Item == "" || msg.Token.IsZero() {
		return errors.New("item and token are required")
	}
	if msg.CloseHeight <= ctx.Block().Height {
		return fmt.Errorf("close_height %d must be after the current height %d", msg.CloseHeight, ctx.Block().Height)
	}
	seller := ctx.Caller()
	if seller.Kind != sdk.CallerAccount && seller.Kind != sdk.CallerContract {
		return errAnonymous
	}
	status.Set(Status{Item: msg.Item, Seller: seller.ID, Token: msg.Token, CloseHeight: msg.CloseHeight, ReservePrice: msg.ReservePrice})
	return nil
}

func bid(ctx sdk.Context, msg BidMsg) error {
	s, _ := status.Get()
	if ctx.Block().Height >= s.CloseHeight {
		return errClosed
	}
	c := ctx.Caller()
	if c.Kind != sdk.CallerAccount && c.Kind != sdk.CallerContract {
		return errAnonymous
	}
	if c.ID == s.Seller {
		return errors.New("the seller cannot bid")
	}
	if msg.Amount == 0 || msg.Amount < s.ReservePrice {
		return fmt.Errorf("a bid must be positive and at least the reserve price %d", s.ReservePrice)
	}
	prev, had := bids.Get(c.ID.String())
	switch {
	case msg.Amount > prev.Amount:
		err := callToken(ctx, s.Token, "transfer_from", tokenTransferFrom{From: c.ID, To: ctx.Self(), Amount: msg.Amount - prev.Amount})
		if err != nil {
			return fmt.Errorf("taking the bid into escrow (approve the auction in the token first): %w", err)
		}
	case msg.Amount < prev.Amount:
		if err := pay(ctx, s.Token, c.ID, prev.Amount-msg.Amount); err != nil {
			return err
		}
	}
	if !had {
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
	if c.Kind != sdk.CallerAccount && c.Kind != sdk.CallerContract {
		return Bid{}, errAnonymous
	}
	b, ok := bids.Get(c.ID.String())
	if !ok {
		return Bid{}, errors.New("you have not bid")
	}
	return b, nil
}

// closeAuction picks the highest bid (the earliest among equal ones), charges the
// second-highest amount (at least the reserve price) and settles through the token.
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
	if err := settle(ctx, s, r, best.Amount); err != nil {
		return err
	}
	result.Set(r)
	s.Closed = true
	status.Set(s)
	ctx.Emit("auction/closed", r)
	return nil
}

// settle pays the seller the price out of the winner's escrow and returns every other escrowed
// amount to its bidder.
func settle(ctx sdk.Context, s Status, r Result, winning uint64) error {
	if r.Sold {
		if err := pay(ctx, s.Token, s.Seller, r.Price); err != nil {
			return err
		}
	}
	var err error
	bids.Each(func(k string, b Bid) bool {
		who, _ := sdk.ParseAddress(k)
		refund := b.Amount
		if r.Sold && who == r.Winner {
			refund = winning - r.Price
		}
		if refund > 0 {
			err = pay(ctx, s.Token, who, refund)
		}
		return err == nil
	})
	return err
}

// pay moves the auction's own tokens to someone.
func pay(ctx sdk.Context, token, to sdk.Address, amount uint64) error {
	if err := callToken(ctx, token, "transfer", tokenTransfer{To: to, Amount: amount}); err != nil {
		return fmt.Errorf("paying %d to %s: %w", amount, to, err)
	}
	return nil
}

// callToken runs a command of the token synchronously; the token sees the auction as its caller.
func callToken(ctx sdk.Context, token sdk.Address, name string, body any) error {
	in, err := sdk.Message(name, body)
	if err != nil {
		return err
	}
	_, err = ctx.Call(token, in, tokenGas)
	return err
}
