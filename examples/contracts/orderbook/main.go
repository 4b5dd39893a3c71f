// Command orderbook is a private limit order book that trades the tokens of two token contracts
// (the token example), base and quote, which may run in other clusters: it talks to them only
// through asynchronous messages. Orders are private; they match inside the contract, and
// nobody but the two parties learns of a trade.
//
// Funding: a user sends tokens with the token's transfer_notify to the order book's address;
// the token then messages the order book {"received": {"from": <user>, "amount": n}}, and the
// order book credits the user's funds in that token (the message's caller is the token, so
// only a configured token can credit anything).
//
// Trading: an order locks funds (a sell its amount of base, a buy amount × price of quote) and
// matches the best opposite orders at their price (price-time priority); what is left rests in
// the book. Each match settles at once by messages to the tokens: the buyer receives the base,
// the seller the quote, both from the order book's balance in the token. A buy that matches
// below its price gets the difference back in its funds. cancel unlocks an order's rest; withdraw
// sends funds back through the token.
//
// Bounces: the order book keeps each payment it sends by message number. When one bounces (the
// token refused it, does not exist any more, or the order book's account could not pay the
// gas), the amount goes back to the recipient's funds in the order book, to withdraw later. The
// order book's on-chain account pays the gas of its messages: fund it with deposits, which it
// accepts.
//
// Prices are quote units per base unit; amounts are base units.
//
// Messages:
//
//	instantiate {"base": "0x<token>", "quote": "0x<token>"}
//	execute     {"received": {"from": "0x..", "amount": 5}}   from a token only (transfer_notify)
//	execute     {"order": {"side": "buy", "price": 3, "amount": 10}}   returns the order's id
//	execute     {"cancel": {"id": 4}}
//	execute     {"withdraw": {"token": "0x..", "amount": 5}}
//	query       {"my_funds": {}}    the caller's free funds in base and quote
//	query       {"my_orders": {}}   the caller's open orders
package main

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"

	"github.com/phala-go/phala/sdk"
)

func main() {}

// InitMsg names the two tokens.
type InitMsg struct {
	Base  sdk.Address `json:"base"`
	Quote sdk.Address `json:"quote"`
}

// Received is what a token's transfer_notify sends.
type Received struct {
	From   sdk.Address `json:"from"`
	Amount uint64      `json:"amount"`
}

// Side is "buy" or "sell".
type Side string

// The sides of an order.
const (
	Buy  Side = "buy"
	Sell Side = "sell"
)

// OrderMsg places an order.
type OrderMsg struct {
	Side   Side   `json:"side"`
	Price  uint64 `json:"price"`
	Amount uint64 `json:"amount"`
}

// Order is a resting order; Amount is what is left of it.
type Order struct {
	ID     uint64      `json:"id"`
	Owner  sdk.Address `json:"owner"`
	Side   Side        `json:"side"`
	Price  uint64      `json:"price"`
	Amount uint64      `json:"amount"`
}

// CancelMsg cancels one of the caller's orders.
type CancelMsg struct {
	ID uint64 `json:"id"`
}

// WithdrawMsg sends the caller's free funds in Token back to the caller's account in the token.
type WithdrawMsg struct {
	Token  sdk.Address `json:"token"`
	Amount uint64      `json:"amount"`
}

// Funds are a user's free (not locked in orders) funds.
type Funds struct {
	Base  uint64 `json:"base"`
	Quote uint64 `json:"quote"`
}

// Payment is a transfer message in flight: what a bounce restores.
type Payment struct {
	Token  sdk.Address `json:"token"`
	To     sdk.Address `json:"to"`
	Amount uint64      `json:"amount"`
}

// tokenTransfer is the token's transfer command.
type tokenTransfer struct {
	To     sdk.Address `json:"to"`
	Amount uint64      `json:"amount"`
}

// paymentGas is the gas of each payment message (a token transfer uses about 0.6M), paid by
// the order book's on-chain account.
const paymentGas = 2_000_000

var (
	errAccount  = errors.New("the caller must be an account")
	errNotToken = errors.New("received is accepted only from the order book's two tokens")
	errFunds    = errors.New("insufficient funds")
)

var (
	config = sdk.NewItem[InitMsg]("config")
	seq    = sdk.NewItem[uint64]("seq")
	// funds is <token>/<account> -> free amount.
	funds = sdk.NewMap[uint64]("funds/")
	// The book: bid/ and ask/ keys sort best first (bids by descending, asks by ascending
	// price, then by id), so iteration visits orders in priority order.
	bidBook = sdk.NewMap[Order]("bid/")
	askBook = sdk.NewMap[Order]("ask/")
	// orderKeys maps an order's id to its key in the book.
	orderKeys = sdk.NewMap[string]("id/")
	// payments keeps the payments sent, by message number, for bounces.
	payments = sdk.NewMap[Payment]("payment/")
)

func init() {
	sdk.Init(instantiate)
	sdk.Handle("received", received)
	sdk.HandleResult("order", placeOrder)
	sdk.Handle("cancel", cancel)
	sdk.Handle("withdraw", withdraw)
	sdk.HandleDeposit(func(sdk.Context, sdk.Deposit) error { return nil })
	sdk.HandleBounce(bounce)
	sdk.HandleQuery("my_funds", myFunds)
	sdk.HandleQuery("my_orders", myOrders)
}

func instantiate(ctx sdk.Context, msg InitMsg) error {
	if msg.Base.IsZero() || msg.Quote.IsZero() || msg.Base == msg.Quote {
		return errors.New("base and quote must be two different token contracts")
	}
	config.Set(msg)
	return nil
}

func fundsKey(token, owner sdk.Address) string { return token.String() + "/" + owner.String() }

func credit(token, owner sdk.Address, amount uint64) error {
	k := fundsKey(token, owner)
	have := funds.GetOr(k, 0)
	if have > math.MaxUint64-amount {
		return errors.New("funds overflow")
	}
	funds.Set(k, have+amount)
	return nil
}

func debit(token, owner sdk.Address, amount uint64) error {
	k := fundsKey(token, owner)
	have := funds.GetOr(k, 0)
	if have < amount {
		return fmt.Errorf("%w: have %d, need %d", errFunds, have, amount)
	}
	funds.Set(k, have-amount)
	return nil
}

func account(ctx sdk.Context) (sdk.Address, error) {
	c := ctx.Caller()
	if c.Kind != sdk.CallerAccount {
		return sdk.Address{}, errAccount
	}
	return c.ID, nil
}

// received credits a payment a token announced. Refusing it makes the message bounce, and the
// token then returns the tokens to their sender.
func received(ctx sdk.Context, msg Received) error {
	c, cfg := ctx.Caller(), config.GetOr(InitMsg{})
	if c.Kind != sdk.CallerContract || c.ID != cfg.Base && c.ID != cfg.Quote {
		return errNotToken
	}
	return credit(c.ID, msg.From, msg.Amount)
}

// cost is amount × price, the quote an order of amount base at price is worth.
func cost(amount, price uint64) (uint64, error) {
	hi, lo := bits.Mul64(amount, price)
	if hi != 0 {
		return 0, errors.New("amount × price overflows 64 bits")
	}
	return lo, nil
}

// bookKey sorts the book best first: bids by descending price, asks by ascending, then by id.
func bookKey(side Side, price, id uint64) string {
	if side == Buy {
		price = math.MaxUint64 - price
	}
	return fmt.Sprintf("%020d/%020d", price, id)
}

func book(side Side) sdk.Map[Order] {
	if side == Buy {
		return bidBook
	}
	return askBook
}

// placeOrder locks the order's funds, matches it against the opposite side and rests the rest.
func placeOrder(ctx sdk.Context, msg OrderMsg) (uint64, error) {
	owner, err := account(ctx)
	if err != nil {
		return 0, err
	}
	if msg.Side != Buy && msg.Side != Sell || msg.Price == 0 || msg.Amount == 0 {
		return 0, errors.New("an order needs a side (buy or sell), a positive price and a positive amount")
	}
	cfg := config.GetOr(InitMsg{})
	locked, lockToken := msg.Amount, cfg.Base
	if msg.Side == Buy {
		if locked, err = cost(msg.Amount, msg.Price); err != nil {
			return 0, err
		}
		lockToken = cfg.Quote
	}
	if err := debit(lockToken, owner, locked); err != nil {
		return 0, err
	}
	id := seq.GetOr(0) + 1
	seq.Set(id)
	taker := Order{ID: id, Owner: owner, Side: msg.Side, Price: msg.Price, Amount: msg.Amount}
	if err := match(ctx, cfg, &taker); err != nil {
		return 0, err
	}
	if taker.Amount > 0 {
		k := bookKey(taker.Side, taker.Price, taker.ID)
		book(taker.Side).Set(k, taker)
		orderKeys.Set(strconv.FormatUint(id, 10), k)
	}
	return id, nil
}

// match trades the taker against the best opposite orders while the prices cross.
func match(ctx sdk.Context, cfg InitMsg, taker *Order) error {
	opposite := book(Sell)
	if taker.Side == Sell {
		opposite = book(Buy)
	}
	var err error
	opposite.Each(func(k string, o Order) bool {
		if taker.Amount == 0 || taker.Side == Buy && o.Price > taker.Price || taker.Side == Sell && o.Price < taker.Price {
			return false
		}
		q := min(taker.Amount, o.Amount)
		taker.Amount -= q
		o.Amount -= q
		if o.Amount == 0 {
			opposite.Remove(k)
			orderKeys.Remove(strconv.FormatUint(o.ID, 10))
		} else {
			opposite.Set(k, o)
		}
		err = settle(ctx, cfg, *taker, o, q)
		return err == nil
	})
	return err
}

// settle pays one trade of q base at the resting order's price: base to the buyer, quote to the
// seller, and to a buying taker the quote it locked above that price.
func settle(ctx sdk.Context, cfg InitMsg, taker, resting Order, q uint64) error {
	buyer, seller := taker.Owner, resting.Owner
	if taker.Side == Sell {
		buyer, seller = resting.Owner, taker.Owner
	}
	paid, err := cost(q, resting.Price) // no overflow: at most what a buy locked
	if err != nil {
		return err
	}
	if err := pay(ctx, cfg.Base, buyer, q); err != nil {
		return err
	}
	if err := pay(ctx, cfg.Quote, seller, paid); err != nil {
		return err
	}
	if taker.Side == Buy && taker.Price > resting.Price {
		return credit(cfg.Quote, buyer, q*(taker.Price-resting.Price))
	}
	return nil
}

// pay sends a transfer of the order book's tokens and keeps it for a bounce.
func pay(ctx sdk.Context, token, to sdk.Address, amount uint64) error {
	n, err := ctx.Send(token, map[string]tokenTransfer{"transfer": {To: to, Amount: amount}}, paymentGas)
	if err != nil {
		return err
	}
	payments.Set(strconv.FormatUint(n, 10), Payment{Token: token, To: to, Amount: amount})
	return nil
}

func cancel(ctx sdk.Context, msg CancelMsg) error {
	owner, err := account(ctx)
	if err != nil {
		return err
	}
	id := strconv.FormatUint(msg.ID, 10)
	k, ok := orderKeys.Get(id)
	var o Order
	if ok {
		o, ok = bidBook.Get(k)
		if !ok {
			o, ok = askBook.Get(k)
		}
	}
	if !ok || o.Owner != owner {
		return fmt.Errorf("you have no open order %d", msg.ID)
	}
	book(o.Side).Remove(k)
	orderKeys.Remove(id)
	cfg := config.GetOr(InitMsg{})
	if o.Side == Sell {
		return credit(cfg.Base, owner, o.Amount)
	}
	return credit(cfg.Quote, owner, o.Amount*o.Price) // no overflow: it was locked
}

func withdraw(ctx sdk.Context, msg WithdrawMsg) error {
	owner, err := account(ctx)
	if err != nil {
		return err
	}
	cfg := config.GetOr(InitMsg{})
	if msg.Token != cfg.Base && msg.Token != cfg.Quote || msg.Amount == 0 {
		return errors.New("withdraw needs one of the two tokens and a positive amount")
	}
	if err := debit(msg.Token, owner, msg.Amount); err != nil {
		return err
	}
	return pay(ctx, msg.Token, owner, msg.Amount)
}

// bounce restores a payment the token did not make: the amount goes back to the recipient's
// funds here.
func bounce(ctx sdk.Context, b sdk.Bounce) error {
	if b.Kind != sdk.BounceMessage {
		return nil // the order book makes no transfers of the chain's currency
	}
	k := strconv.FormatUint(b.Number, 10)
	p, ok := payments.Get(k)
	if !ok {
		return fmt.Errorf("no payment %d", b.Number)
	}
	payments.Remove(k)
	ctx.Log("payment %d of %d to %s bounced: %s", b.Number, p.Amount, p.To, b.Reason)
	return credit(p.Token, p.To, p.Amount)
}

func myFunds(ctx sdk.Context, _ struct{}) (Funds, error) {
	owner, err := account(ctx)
	if err != nil {
		return Funds{}, err
	}
	cfg := config.GetOr(InitMsg{})
	return Funds{Base: funds.GetOr(fundsKey(cfg.Base, owner), 0), Quote: funds.GetOr(fundsKey(cfg.Quote, owner), 0)}, nil
}

// myOrders scans the whole book: fine for a demonstration, an index by owner would scale.
func myOrders(ctx sdk.Context, _ struct{}) ([]Order, error) {
	owner, err := account(ctx)
	if err != nil {
		return nil, err
	}
	out := []Order{}
	for _, b := range []sdk.Map[Order]{bidBook, askBook} {
		b.Each(func(_ string, o Order) bool {
			if o.Owner == owner {
				out = append(out, o)
			}
			return true
		})
	}
	return out, nil
}
