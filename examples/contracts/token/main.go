// Command token is a confidential fungible token: balances are private contract state, a holder
// reads only its own balance through a signed query, and transfers are encrypted commands.
//
// Messages:
//
//	instantiate {"name": "Phala Token", "symbol": "PHT", "mint": [{"to": "0x..", "amount": 1000}]}
//	execute     {"transfer": {"to": "0x..", "amount": 5}}
//	query       {"balance": {}}   the caller's own balance
//	query       {"info": {}}      name, symbol, total supply
//
// Build: phala contract build ./token (or GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared).
package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/phala-go/phala/sdk"
)

func main() {}

// InitMsg names the token and mints its whole supply.
type InitMsg struct {
	Name   string  `json:"name"`
	Symbol string  `json:"symbol"`
	Mint   []Grant `json:"mint"`
}

// Grant is an initial balance.
type Grant struct {
	To     sdk.Address `json:"to"`
	Amount uint64      `json:"amount"`
}

// Transfer moves Amount from the caller to To.
type Transfer struct {
	To     sdk.Address `json:"to"`
	Amount uint64      `json:"amount"`
}

// Balance answers the balance query.
type Balance struct {
	Balance uint64 `json:"balance"`
}

// Info is the token's public description.
type Info struct {
	Name        string `json:"name"`
	Symbol      string `json:"symbol"`
	TotalSupply uint64 `json:"total_supply"`
}

var (
	errAnonymous    = errors.New("the caller must be an account or a contract (sign the query)")
	errInsufficient = errors.New("insufficient balance")
)

var (
	info     = sdk.NewItem[Info]("info")
	balances = sdk.NewMap[uint64]("balance/")
)

func init() {
	sdk.Init(instantiate)
	sdk.Handle("transfer", transfer)
	sdk.HandleQuery("balance", balance)
	sdk.HandleQuery("info", func(sdk.Context, struct{}) (Info, error) {
		i, _ := info.Get()
		return i, nil
	})
}

func instantiate(ctx sdk.Context, msg InitMsg) error {
	if msg.Name == "" || msg.Symbol == "" {
		return errors.New("name and symbol are required")
	}
	if len(msg.Mint) == 0 {
		return errors.New("mint at least one balance")
	}
	var total uint64
	for _, g := range msg.Mint {
		if g.To.IsZero() || g.Amount == 0 {
			return errors.New("every grant needs a non-zero address and amount")
		}
		if g.Amount > math.MaxUint64-total {
			return errors.New("the total supply overflows 64 bits")
		}
		total += g.Amount
		balances.Set(g.To.String(), balances.GetOr(g.To.String(), 0)+g.Amount)
	}
	info.Set(Info{Name: msg.Name, Symbol: msg.Symbol, TotalSupply: total})
	return nil
}

func transfer(ctx sdk.Context, msg Transfer) error {
	from := ctx.Caller()
	if from.Anonymous() {
		return errAnonymous
	}
	if msg.Amount == 0 || msg.To.IsZero() {
		return errors.New("transfer needs a non-zero amount and recipient")
	}
	have := balances.GetOr(from.ID.String(), 0)
	if have < msg.Amount {
		return fmt.Errorf("%w: have %d, want to send %d", errInsufficient, have, msg.Amount)
	}
	if msg.To == from.ID {
		return nil
	}
	balances.Set(from.ID.String(), have-msg.Amount)
	// No overflow: every balance is part of a supply that fits in 64 bits.
	balances.Set(msg.To.String(), balances.GetOr(msg.To.String(), 0)+msg.Amount)
	return nil
}

// balance answers only the querier's own balance: the query's caller is authenticated by the
// worker, so nobody can read another holder's balance.
func balance(ctx sdk.Context, _ struct{}) (Balance, error) {
	c := ctx.Caller()
	if c.Anonymous() {
		return Balance{}, errAnonymous
	}
	return Balance{Balance: balances.GetOr(c.ID.String(), 0)}, nil
}
