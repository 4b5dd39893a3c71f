package vm

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
)

// world runs several contracts as a cluster and the chain do: synchronous calls between them,
// and a queue of asynchronous messages delivered in order after the sending call succeeded,
// with a bounce to the sender when a delivery fails. A top-level call that fails leaves every
// contract's storage and the queue as they were.
type world struct {
	t      *testing.T
	codes  map[[32]byte]*Code
	stores map[[32]byte]*store
	height uint64
	queue  []delivery
	// bounced holds the reasons of the bounces delivered, dropped those of failed bounces.
	bounced, dropped []string
}

// delivery is a message or a bounce waiting in the queue.
type delivery struct {
	from   [32]byte // the sender (for a bounce: the chain, zero)
	to     [32]byte
	caller Caller
	input  string
	gas    uint64
	number uint64
}

const bounceGas = 10_000_000

func newWorld(t *testing.T) *world {
	return &world{t: t, codes: map[[32]byte]*Code{}, stores: map[[32]byte]*store{}, height: 1}
}

// deploy instantiates a test contract under id.
func (w *world) deploy(name string, id [32]byte, by string, init string) {
	w.t.Helper()
	w.codes[id], w.stores[id] = code(w.t, name), newStore()
	if res := w.exec(id, by, EntryInstantiate, init); res.Err != nil {
		w.t.Fatalf("instantiating %s: %v", name, res.Err)
	}
}

// run calls contract id and returns the messages it (and the contracts it called) sent.
func (w *world) run(id [32]byte, caller Caller, entry Entry, input string, gas uint64, readOnly bool) (Result, []delivery) {
	h := newHost(w.stores[id], "")
	h.caller, h.self, h.readOnly, h.block.Height = caller, id, readOnly, w.height
	var nested []delivery
	h.callFn = func(callee [32]byte, in []byte, limit uint64) ([]byte, uint64, error) {
		if w.codes[callee] == nil {
			return nil, 0, &ContractError{Message: "no such contract"}
		}
		entry := EntryExecute
		if readOnly {
			entry = EntryQuery
		}
		res, sent := w.run(callee, Caller{Kind: CallerContract, ID: id}, entry, string(in), limit, readOnly)
		if res.Err == nil {
			nested = append(nested, sent...)
		}
		return res.Output, res.GasUsed, res.Err
	}
	res := call(w.codes[id], h, entry, input, gas)
	if res.Err != nil {
		return res, nil
	}
	for _, m := range h.messages {
		nested = append(nested, delivery{from: id, to: m.to, caller: Caller{Kind: CallerContract, ID: id}, input: m.input, gas: m.gasLimit, number: m.number})
	}
	return res, nested
}

// exec runs a top-level call by account who (or a query); its messages join the queue.
func (w *world) exec(id [32]byte, who string, entry Entry, input string) Result {
	return w.execAs(id, Caller{Kind: CallerAccount, ID: account(who)}, entry, input, 1<<32)
}

func (w *world) execAs(id [32]byte, caller Caller, entry Entry, input string, gas uint64) Result {
	type saved struct {
		data map[string][]byte
		sent uint64
	}
	before := map[[32]byte]saved{}
	for k, st := range w.stores {
		before[k] = saved{maps.Clone(st.data), st.sent}
	}
	res, sent := w.run(id, caller, entry, input, gas, entry == EntryQuery)
	if res.Err != nil {
		for k, s := range before {
			w.stores[k].data, w.stores[k].sent = s.data, s.sent
		}
		return res
	}
	w.queue = append(w.queue, sent...)
	return res
}

// must runs a top-level call that must succeed and returns its output.
func (w *world) must(id [32]byte, who string, entry Entry, input string) string {
	w.t.Helper()
	res := w.exec(id, who, entry, input)
	if res.Err != nil {
		w.t.Fatalf("%s %s: %v", entry, input, res.Err)
	}
	return string(res.Output)
}

// deliver runs the queue until it is empty.
func (w *world) deliver() {
	for len(w.queue) > 0 {
		d := w.queue[0]
		w.queue = w.queue[1:]
		var reason string
		if w.codes[d.to] == nil {
			reason = "the contract does not exist or is not active"
		} else {
			res := w.execAs(d.to, d.caller, EntryExecute, d.input, d.gas)
			w.t.Logf("delivered %.30s...: %d gas of %d", d.input, res.GasUsed, d.gas)
			if res.Err != nil {
				reason = "the contract failed: " + res.Err.Error()
			}
		}
		switch {
		case reason == "":
		case d.caller.Kind == CallerChain:
			w.dropped = append(w.dropped, reason)
		default:
			w.bounced = append(w.bounced, reason)
			b, err := json.Marshal(map[string]any{"bounce": map[string]any{"kind": "message", "to": "0x" + hex.EncodeToString(d.to[:]), "number": d.number, "reason": reason}})
			if err != nil {
				w.t.Fatal(err)
			}
			w.queue = append(w.queue, delivery{to: d.from, caller: Caller{Kind: CallerChain}, input: string(b), gas: bounceGas})
		}
	}
}

// balance queries the token balance of who (an account name, or a contract by id).
func (w *world) balance(token [32]byte, who any) string {
	w.t.Helper()
	caller := Caller{Kind: CallerContract}
	switch v := who.(type) {
	case string:
		caller = Caller{Kind: CallerAccount, ID: account(v)}
	case [32]byte:
		caller.ID = v
	}
	res := w.execAs(token, caller, EntryQuery, `{"balance": {}}`, 1<<32)
	if res.Err != nil {
		w.t.Fatalf("balance: %v", res.Err)
	}
	return string(res.Output)
}

func hexID(id [32]byte) string { return "0x" + hex.EncodeToString(id[:]) }

// TestAuctionThroughVM runs the auction and the token on the VM: bids taken into escrow by
// synchronous calls to the token, and the close paying the seller and refunding the others.
func TestAuctionThroughVM(t *testing.T) {
	w := newWorld(t)
	token, auction := account("contract:token"), account("contract:auction")
	w.deploy("token", token, "admin", fmt.Sprintf(`{"name": "T", "symbol": "T", "mint": [{"to": %q, "amount": 100}, {"to": %q, "amount": 100}, {"to": %q, "amount": 100}]}`,
		addr("alice"), addr("bob"), addr("carol")))
	w.deploy("auction", auction, "seller", fmt.Sprintf(`{"item": "Painting", "token": %q, "close_height": 10, "reserve_price": 5}`, hexID(token)))

	bid := func(who string, amount int) Result {
		return w.exec(auction, who, EntryExecute, fmt.Sprintf(`{"bid": {"amount": %d}}`, amount))
	}
	if res := bid("alice", 30); !errorIs(res.Err, ErrContract) || !strings.Contains(res.Err.Error(), "allowance too small") {
		t.Fatalf("bid without an approval: %v", res.Err)
	}
	for _, who := range []string{"alice", "bob", "carol"} {
		w.must(token, who, EntryExecute, fmt.Sprintf(`{"approve": {"spender": %q, "amount": 100}}`, hexID(auction)))
	}
	for who, amount := range map[string]int{"alice": 30, "bob": 20, "carol": 25} {
		if res := bid(who, amount); res.Err != nil {
			t.Fatalf("%s bids: %v", who, res.Err)
		}
	}
	if res := bid("bob", 10); res.Err != nil { // lowering returns the difference
		t.Fatal(res.Err)
	}
	if got := w.balance(token, auction); got != `{"balance":65}` {
		t.Fatalf("the auction holds %s in escrow, want 65", got)
	}
	if res := w.exec(auction, "bob", EntryQuery, `{"result": {}}`); !errorIs(res.Err, ErrContract) || !strings.Contains(res.Err.Error(), "sealed") {
		t.Fatalf("result before the close: %v", res.Err)
	}
	if res := w.exec(auction, "bob", EntryExecute, `{"close": {}}`); !errorIs(res.Err, ErrContract) {
		t.Fatalf("early close: %v", res.Err)
	}
	w.height = 10
	w.must(auction, "dave", EntryExecute, `{"close": {}}`)
	var r struct {
		Winner string `json:"winner"`
		Price  uint64 `json:"price"`
	}
	if err := json.Unmarshal([]byte(w.must(auction, "dave", EntryQuery, `{"result": {}}`)), &r); err != nil {
		t.Fatal(err)
	}
	if r.Winner != addr("alice") || r.Price != 25 {
		t.Fatalf("result %+v", r)
	}
	for who, want := range map[any]string{"seller": `{"balance":25}`, "alice": `{"balance":75}`, "bob": `{"balance":100}`, "carol": `{"balance":100}`, auction: `{"balance":0}`} {
		if got := w.balance(token, who); got != want {
			t.Errorf("%v holds %s, want %s", who, got, want)
		}
	}
	if len(w.queue) != 0 {
		t.Fatalf("the auction sent messages: %+v", w.queue)
	}
}

// TestOrderBookThroughVM runs the order book with two tokens on the VM, linked only by
// messages: funding by transfer_notify, a trade settled by payment messages, a notification the
// order book refuses (the token returns the tokens), and payments that bounce because the
// token is not active (the order book restores the funds).
func TestOrderBookThroughVM(t *testing.T) {
	w := newWorld(t)
	pht, usd, eur, book := account("contract:pht"), account("contract:usd"), account("contract:eur"), account("contract:orderbook")
	mint := func(symbol, who string, amount int) string {
		return fmt.Sprintf(`{"name": %q, "symbol": %q, "mint": [{"to": %q, "amount": %d}]}`, symbol, symbol, addr(who), amount)
	}
	w.deploy("token", pht, "admin", mint("PHT", "alice", 100))
	w.deploy("token", usd, "admin", mint("USD", "bob", 1000))
	w.deploy("token", eur, "admin", mint("EUR", "carol", 50))
	w.deploy("orderbook", book, "admin", fmt.Sprintf(`{"base": %q, "quote": %q}`, hexID(pht), hexID(usd)))
	notify := func(token [32]byte, who string, amount int) {
		w.must(token, who, EntryExecute, fmt.Sprintf(`{"transfer_notify": {"to": %q, "amount": %d}}`, hexID(book), amount))
	}
	funds := func(who string) string { return w.must(book, who, EntryQuery, `{"my_funds": {}}`) }

	notify(pht, "alice", 100)
	notify(usd, "bob", 1000)
	notify(eur, "carol", 50) // not one of the book's tokens: refused, bounced, refunded
	w.deliver()
	if funds("alice") != `{"base":100,"quote":0}` || funds("bob") != `{"base":0,"quote":1000}` || funds("carol") != `{"base":0,"quote":0}` {
		t.Fatalf("funds: alice %s, bob %s, carol %s", funds("alice"), funds("bob"), funds("carol"))
	}
	if len(w.bounced) != 1 || !strings.Contains(w.bounced[0], "only from the order book's two tokens") || w.balance(eur, "carol") != `{"balance":50}` || w.balance(eur, book) != `{"balance":0}` {
		t.Fatalf("the refused notification: bounces %q, carol holds %s", w.bounced, w.balance(eur, "carol"))
	}

	if got := w.must(book, "alice", EntryExecute, `{"order": {"side": "sell", "price": 3, "amount": 10}}`); got != "1" {
		t.Fatalf("order id %s", got)
	}
	w.must(book, "bob", EntryExecute, `{"order": {"side": "buy", "price": 5, "amount": 4}}`)
	if len(w.queue) != 2 {
		t.Fatalf("%d payments queued, want 2", len(w.queue))
	}
	w.deliver()
	if w.balance(pht, "bob") != `{"balance":4}` || w.balance(usd, "alice") != `{"balance":12}` || funds("bob") != `{"base":0,"quote":988}` {
		t.Fatalf("after the trade: bob %s PHT, alice %s USD, bob's funds %s", w.balance(pht, "bob"), w.balance(usd, "alice"), funds("bob"))
	}
	if w.balance(pht, book) != `{"balance":96}` || w.balance(usd, book) != `{"balance":988}` {
		t.Fatalf("the book holds %s PHT, %s USD", w.balance(pht, book), w.balance(usd, book))
	}

	// The USD token goes away: alice's withdrawal bounces and her funds come back.
	w.must(book, "alice", EntryExecute, `{"cancel": {"id": 1}}`)
	w.codes[usd] = nil
	w.must(book, "bob", EntryExecute, fmt.Sprintf(`{"withdraw": {"token": %q, "amount": 988}}`, hexID(usd)))
	if funds("bob") != `{"base":0,"quote":0}` {
		t.Fatalf("bob's funds during the withdrawal %s", funds("bob"))
	}
	w.deliver()
	if len(w.bounced) != 2 || len(w.dropped) != 0 || funds("bob") != `{"base":0,"quote":988}` {
		t.Fatalf("after the bounce: bob's funds %s, bounces %q, dropped %q", funds("bob"), w.bounced, w.dropped)
	}
	w.codes[usd] = code(t, "token")
	w.must(book, "bob", EntryExecute, fmt.Sprintf(`{"withdraw": {"token": %q, "amount": 988}}`, hexID(usd)))
	w.deliver()
	if w.balance(usd, "bob") != `{"balance":988}` || w.balance(usd, book) != `{"balance":0}` || funds("alice") != `{"base":96,"quote":0}` {
		t.Fatalf("after the withdrawal: bob %s USD, book %s, alice's funds %s", w.balance(usd, "bob"), w.balance(usd, book), funds("alice"))
	}
	// Only the chain delivers bounces.
	fake := `{"bounce": {"kind": "message", "to": "` + hexID(usd) + `", "number": 0, "reason": "fake"}}`
	if res := w.execAs(book, Caller{Kind: CallerContract, ID: usd}, EntryExecute, fake, 1<<32); !errorIs(res.Err, ErrContract) || !strings.Contains(res.Err.Error(), "only the chain") {
		t.Fatalf("a bounce faked by the token: %v", res.Err)
	}
}
