package vm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func addr(name string) string {
	a := account(name)
	return "0x" + hex.EncodeToString(a[:])
}

// asAccount returns a host over the same store and block for another calling account.
func asAccount(h *memHost, name string) *memHost {
	return &memHost{st: h.st, caller: Caller{Kind: CallerAccount, ID: account(name)}, self: h.self, block: h.block, callFn: h.callFn}
}

func TestTokenThroughVM(t *testing.T) {
	c := code(t, "token")
	st := newStore()
	alice := newHost(st, "alice")
	init := fmt.Sprintf(`{"name": "Phala Token", "symbol": "PHT", "mint": [{"to": %q, "amount": 1000}]}`, addr("alice"))
	mustCall(t, c, alice, EntryInstantiate, init)
	mustCall(t, c, alice, EntryExecute, fmt.Sprintf(`{"transfer": {"to": %q, "amount": 150}}`, addr("bob")))

	tests := []struct {
		who     string
		entry   Entry
		input   string
		want    string
		errText string
	}{
		{"alice", EntryQuery, `{"balance": {}}`, `{"balance":850}`, ""},
		{"bob", EntryQuery, `{"balance": {}}`, `{"balance":150}`, ""},
		{"carol", EntryQuery, `{"balance": {}}`, `{"balance":0}`, ""},
		{"carol", EntryQuery, `{"info": {}}`, `{"name":"Phala Token","symbol":"PHT","total_supply":1000}`, ""},
		{"bob", EntryExecute, fmt.Sprintf(`{"transfer": {"to": %q, "amount": 151}}`, addr("carol")), "", "insufficient balance: have 150"},
		{"bob", EntryQuery, fmt.Sprintf(`{"balance": {"account": %q}}`, addr("alice")), "", `unknown field "account"`},
		{"bob", EntryExecute, `{"transfer": {"to": "0x12", "amount": 1}}`, "", "malformed message"},
		{"bob", EntryExecute, `{"mint": {}}`, "", `no command "mint" (known: approve, bounce, deposit, transfer, transfer_from, transfer_notify)`},
	}
	for _, tc := range tests {
		t.Run(tc.input, func(t *testing.T) {
			h := asAccount(alice, tc.who)
			before := st.snapshot()
			res := call(c, h, tc.entry, tc.input, 1<<32)
			if tc.errText != "" {
				var ce *ContractError
				if !errors.As(res.Err, &ce) || !errors.Is(res.Err, ErrContract) || !strings.Contains(ce.Message, tc.errText) {
					t.Fatalf("err = %v, want a contract error containing %q", res.Err, tc.errText)
				}
				if fmt.Sprint(st.snapshot()) != fmt.Sprint(before) {
					t.Fatal("a refused call changed storage")
				}
				return
			}
			if res.Err != nil || string(res.Output) != tc.want {
				t.Fatalf("got %s, %v; want %s", res.Output, res.Err, tc.want)
			}
		})
	}
	anon := asAccount(alice, "x")
	anon.caller = Caller{}
	if res := call(c, anon, EntryQuery, `{"balance": {}}`, 1<<32); !errors.Is(res.Err, ErrContract) {
		t.Fatalf("anonymous balance query: %v", res.Err)
	}
}

func TestVoteThroughVM(t *testing.T) {
	c := code(t, "vote")
	st := newStore()
	admin := newHost(st, "admin")
	mustCall(t, c, admin, EntryInstantiate, `{"question": "Lunch?", "options": ["pizza", "sushi"], "end_height": 5}`)
	for _, v := range []struct{ who, opt string }{{"alice", "sushi"}, {"bob", "pizza"}, {"carol", "sushi"}} {
		mustCall(t, c, asAccount(admin, v.who), EntryExecute, fmt.Sprintf(`{"vote": {"option": %q}}`, v.opt))
	}
	again := call(c, asAccount(admin, "alice"), EntryExecute, `{"vote": {"option": "pizza"}}`, 1<<32)
	if !errors.Is(again.Err, ErrContract) || !strings.Contains(again.Err.Error(), "already voted") {
		t.Fatalf("second vote: %v", again.Err)
	}
	if res := call(c, admin, EntryQuery, `{"tally": {}}`, 1<<32); !errors.Is(res.Err, ErrContract) {
		t.Fatalf("tally before the end: %v", res.Err)
	}
	end := asAccount(admin, "anyone")
	end.block.Height = 5
	got := mustCall(t, c, end, EntryQuery, `{"tally": {}}`)
	if want := `{"question":"Lunch?","results":[{"option":"pizza","votes":1},{"option":"sushi","votes":2}],"ballots":3}`; got != want {
		t.Fatalf("tally %s, want %s", got, want)
	}
	if res := call(c, end, EntryExecute, `{"vote": {"option": "pizza"}}`, 1<<32); !errors.Is(res.Err, ErrContract) {
		t.Fatalf("late vote: %v", res.Err)
	}
}
