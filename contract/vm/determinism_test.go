package vm

import (
	"context"
	"fmt"
	"testing"
)

// step is one call of a replayed sequence.
type step struct {
	contract string
	who      string
	entry    Entry
	input    string
	height   uint64
	gas      uint64 // 0: 50M
}

// outcome is everything a replica must agree on.
type outcome struct {
	Output  string
	GasUsed uint64
	Err     string
}

// replay runs steps on fresh storage with one Code per contract of engine e.
func replay(t *testing.T, e *Engine, steps []step) []outcome {
	t.Helper()
	codes, stores := map[string]*Code{}, map[string]*store{}
	var out []outcome
	for _, s := range steps {
		c := codes[s.contract]
		if c == nil {
			c = load(t, e, s.contract)
			codes[s.contract], stores[s.contract] = c, newStore()
		}
		h := newHost(stores[s.contract], s.who)
		h.block.Height = s.height
		budget := s.gas
		if budget == 0 {
			budget = 50_000_000
		}
		res := call(c, h, s.entry, s.input, budget)
		o := outcome{Output: string(res.Output), GasUsed: res.GasUsed}
		if res.Err != nil {
			o.Err = res.Err.Error()
		}
		out = append(out, o)
	}
	return out
}

func determinismSteps() []step {
	transfer := func(to string, n int) string {
		return fmt.Sprintf(`{"transfer": {"to": %q, "amount": %d}}`, addr(to), n)
	}
	return []step{
		{"token", "alice", EntryInstantiate, fmt.Sprintf(`{"name": "T", "symbol": "T", "mint": [{"to": %q, "amount": 100}]}`, addr("alice")), 1, 0},
		{"token", "alice", EntryExecute, transfer("bob", 30), 2, 0},
		{"token", "bob", EntryExecute, transfer("carol", 31), 2, 0},
		{"token", "bob", EntryQuery, `{"balance": {}}`, 2, 0},
		{"token", "bob", EntryQuery, `{"balance": {}}`, 2, 0},
		{"token", "alice", EntryExecute, `{"transfer": {"to": "0x1", "amount": 1}}`, 3, 0},
		{"probe", "alice", EntryQuery, `{"env": {}}`, 3, 0},
		{"probe", "alice", EntryExecute, `{"panic_after_set": {"key": "a", "value": "b"}}`, 3, 0},
		{"probe", "alice", EntryExecute, `{"loop": {"n": 100000}}`, 3, 0},
		{"probe", "alice", EntryExecute, `{"loop": {"n": 100000000}}`, 3, 0},
		{"probe", "alice", EntryExecute, `{"grow": {"key": "g", "size": 1500000}}`, 4, 200_000_000},
		{"probe", "alice", EntryQuery, `{"iterate": {"key": ""}}`, 4, 0},
		{"probe", "alice", EntryQuery, `{"env": {}}`, 4, 0},
		{"probe", "alice", EntryExecute, sendInput(account("token"), `{"transfer":{}}`, 0, 3, 100_000, false), 4, 0},
		{"probe", "alice", EntryExecute, payInput(account("bob"), "1500"), 4, 0},
		{"vote", "alice", EntryInstantiate, `{"question": "q", "options": ["a", "b"], "end_height": 9}`, 1, 0},
		{"vote", "bob", EntryExecute, `{"vote": {"option": "b"}}`, 2, 0},
		{"vote", "bob", EntryQuery, `{"tally": {}}`, 9, 0},
	}
}

// TestDeterminism replays the same sequence on the shared compiler engine, on a new compiler
// engine reading the same compilation cache (a restarted worker) and on the interpreter: every
// output, error and gas figure must agree.
func TestDeterminism(t *testing.T) {
	steps := determinismSteps()
	want := replay(t, engine(t, false), steps)
	restarted, err := NewEngine(context.Background(), testConfig(false))
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close(context.Background())
	for name, e := range map[string]*Engine{"restarted compiler": restarted, "interpreter": engine(t, true)} {
		got := replay(t, e, steps)
		for i := range steps {
			if got[i] != want[i] {
				t.Errorf("%s, step %d (%s %s): %+v, want %+v", name, i, steps[i].entry, steps[i].input, got[i], want[i])
			}
		}
	}
	// Identical calls in a row use identical gas: each starts from the snapshot.
	if want[3] != want[4] {
		t.Errorf("repeated query: %+v then %+v", want[3], want[4])
	}
	for i, o := range want {
		if o.GasUsed == 0 {
			t.Errorf("step %d used no gas", i)
		}
	}
	if want[13].Output != "[0,1,2]" || want[14].Err != "" {
		t.Errorf("send and transfer: %+v %+v", want[13], want[14])
	}
	if want[10].Err != "" {
		t.Errorf("the memory-growing step failed: %s", want[10].Err)
	}
}
