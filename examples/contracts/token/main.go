// Command token is a confidential fungible token: balances are private contract state, a holder
// reads only its own balance through a signed query, and transfers are encrypted commands.
// Contracts hold tokens like accounts do (a contract's balance is under its address): a
// contract in the same cluster moves them with synchronous calls (the auction example), one in
// any cluster learns of a payment through transfer_notify and pays with asynchronous messages
// (the orderbook example).
//
// Messages:
//
//	instantiate {"name": "Phala Token", "symbol": "PHT", "mint": [{"to": "0x..", "amount": 1000}]}
//	execute     {"transfer": {"to": "0x..", "amount": 5}}
//	execute     {"approve": {"spender": "0x..", "amount": 50}}   sets what spender may take (0 revokes)
//	execute     {"transfer_from": {"from": "0x..", "to": "0x..", "amount": 5}}   by an approved spender
//	execute     {"transfer_notify": {"to": "0x<contract>", "amount": 5}}
//	            transfers, then sends the receiving contract {"received": {"from": "0x..", "amount": 5}}
//	query       {"balance": {}}                     the caller's own balance
//	query       {"allowance": {"spender": "0x.."}}   what spender may take from the caller
//	query       {"info": {}}                        name, symbol, total supply
//
// From the chain: deposits of the chain's currency are accepted (they pay the gas of the
// notifications, which the token's on-chain account pays), and a notification that bounces (the
// receiver refused it, does not exist, or the token's account could not pay its gas) moves the
// tokens back to the sender.
//
// Build: phala contract build ./token (or GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared).
package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"

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

// Transfer moves Amount from the caller to To (transfer and transfer_notify).
type Transfer struct {
	To     sdk.Address `json:"to"`
	Amount uint64      `json:"amount"`
}

// Approve lets Spender take up to Amount of the caller's tokens (it replaces an earlier approval).
type Approve struct {
	Spender sdk.Address `json:"spender"`
	Amount  uint64      `json:"amount"`
}

// TransferFrom moves Amount from From to To; the caller must be approved by From.
type TransferFrom struct {
	From   sdk.Address `json:"from"`
	To     sdk.Address `json:"to"`
	Amount uint64      `json:"amount"`
}

// Received is the message transfer_notify sends to the receiving contract.
type Received struct {
	From   sdk.Address `json:"from"`
	Amount uint64      `json:"amount"`
}

// Notice is a notification in flight: what a bounce undoes.
type Notice struct {
	From   sdk.Address `json:"from"`
	To     sdk.Address `json:"to"`
	Amount uint64      `json:"amount"`
}

// AllowanceQuery names the spender whose allowance the caller asks about.
type AllowanceQuery struct {
	Spender sdk.Address `json:"spender"`
}

// Balance answers the balance and allowance queries.
type Balance struct {
	Balance uint64 `json:"balance"`
}

// Info is the token's public description.
type Info struct {
	Name        string `json:"name"`
	Symbol      string `json:"symbol"`
	TotalSupply uint64 `json:"total_supply"`
}

// notifyGas is the gas a notification runs with, paid by the token's on-chain account.
const notifyGas = 2_000_000

var (
	errAnonymous    = errors.New("the caller must be an account or a contract (sign the query)")
	errInsufficient = errors.New("insufficient balance")
	errAllowance    = errors.New("allowance too small")
)

var (
	info       = sdk.NewItem[Info]("info")
	balances   = sdk.NewMap[uint64]("balance/")
	allowances = sdk.NewMap[uint64]("allowance/") // owner + "/" + spender
	// notices keeps each notification by message number, for the bounce that may come back.
	notices = sdk.NewMap[Notice]("notice/")
)

func init() {
	sdk.Init(instantiate)
	sdk.Handle("transfer", func(ctx sdk.Context, msg Transfer) error {
		from, err := holder(ctx)
		if err != nil {
			return err
		}
		return move(from, msg.To, msg.Amount)
	})
	sdk.Handle("approve", approve)
	sdk.Handle("transfer_from", transferFrom)
	sdk.Handle("transfer_notify", transferNotify)
	sdk.HandleDeposit(func(sdk.Context, sdk.Deposit) error { return nil })
	sdk.HandleBounce(bounce)
	sdk.HandleQuery("balance", balance)
	sdk.HandleQuery("allowance", allowance)
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

// holder returns the caller when it may hold tokens: an account or a contract.
func holder(ctx sdk.Context) (sdk.Address, error) {
	c := ctx.Caller()
	if c.Kind != sdk.CallerAccount && c.Kind != sdk.CallerContract {
		return sdk.Address{}, errAnonymous
	}
	return c.ID, nil
}

// move transfers amount from one holder to another.
func move(from, to sdk.Address, amount uint64) error {
	if amount == 0 || to.IsZero() {
		return errors.New("transfer needs a non-zero amount and recipient")
	}
	have := balances.GetOr(from.String(), 0)
	if have < amount {
		return fmt.Errorf("%w: have %d, want to send %d", errInsufficient, have, amount)
	}
	if to == from {
		return nil
	}
	balances.Set(from.String(), have-amount)
	// No overflow: every balance is part of a supply that fits in 64 bits.
	balances.Set(to.String(), balances.GetOr(to.String(), 0)+amount)
	return nil
}

func approve(ctx sdk.Context, msg Approve) error {
	owner, err := holder(ctx)
	if err != nil {
		return err
	}
	if msg.Spender.IsZero() {
		return errors.New("approve needs a spender")
	}
	if msg.Amount == 0 {
		allowances.Remove(owner.String() + "/" + msg.Spender.String())
		return nil
	}
	allowances.Set(owner.String()+"/"+msg.Spender.String(), msg.Amount)
	return nil
}

func transferFrom(ctx sdk.Context, msg TransferFrom) error {
	spender, err := holder(ctx)
	if err != nil {
		return err
	}
	key := msg.From.String() + "/" + spender.String()
	allowed := allowances.GetOr(key, 0)
	if allowed < msg.Amount {
		return fmt.Errorf("%w: %d approved, %d asked", errAllowance, allowed, msg.Amount)
	}
	if err := move(msg.From, msg.To, msg.Amount); err != nil {
		return err
	}
	if allowed == msg.Amount {
		allowances.Remove(key)
	} else {
		allowances.Set(key, allowed-msg.Amount)
	}
	return nil
}

// transferNotify transfers to a contract and tells it so with a message; the message's caller
// is this token, so the receiver knows which token paid it.
func transferNotify(ctx sdk.Context, msg Transfer) error {
	from, err := holder(ctx)
	if err != nil {
		return err
	}
	if msg.To == from {
		return errors.New("transfer_notify needs a recipient other than the sender")
	}
	if err := move(from, msg.To, msg.Amount); err != nil {
		return err
	}
	n, err := ctx.Send(msg.To, map[string]Received{"received": {From: from, Amount: msg.Amount}}, notifyGas)
	if err != nil {
		return err
	}
	notices.Set(strconv.FormatUint(n, 10), Notice{From: from, To: msg.To, Amount: msg.Amount})
	return nil
}

// bounce undoes a notification the receiver did not take: the tokens go back to the sender if
// the receiver still holds them (it refused them, so it has not counted them as its own).
func bounce(ctx sdk.Context, b sdk.Bounce) error {
	if b.Kind != sdk.BounceMessage {
		return nil // the token makes no transfers of the chain's currency
	}
	key := strconv.FormatUint(b.Number, 10)
	n, ok := notices.Get(key)
	if !ok {
		return fmt.Errorf("no notification %d", b.Number)
	}
	notices.Remove(key)
	return move(n.To, n.From, n.Amount)
}

// balance answers only the querier's own balance: the query's caller is authenticated by the
// worker, so nobody can read another holder's balance.
func balance(ctx sdk.Context, _ struct{}) (Balance, error) {
	c, err := holder(ctx)
	if err != nil {
		return Balance{}, err
	}
	return Balance{Balance: balances.GetOr(c.String(), 0)}, nil
}

// allowance answers what spender may take from the querier.
func allowance(ctx sdk.Context, q AllowanceQuery) (Balance, error) {
	c, err := holder(ctx)
	if err != nil {
		return Balance{}, err
	}
	return Balance{Balance: allowances.GetOr(c.String()+"/"+q.Spender.String(), 0)}, nil
}
