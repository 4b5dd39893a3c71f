package vm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestQueryOverload fills every query slot with a query blocked in the host, checks that one
// more query is refused with ErrOverloaded, then releases them.
func TestQueryOverload(t *testing.T) {
	c := load(t, engine(t, false), "probe")
	slots := testConfig(false).QueryInstances
	st := newStore()
	mustCall(t, c, newHost(st, "alice"), EntryExecute, `{"set": {"key": "a", "value": "1"}}`)
	blocked := newHost(st, "alice")
	blocked.entered, blocked.release = make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	results := make([]Result, slots)
	for i := range slots {
		wg.Go(func() {
			results[i] = c.Call(context.Background(), blocked, EntryQuery, []byte(`{"get": {"key": "a"}}`), 1<<32)
		})
	}
	for range slots {
		<-blocked.entered
	}
	res := c.Call(context.Background(), newHost(st, "bob"), EntryQuery, []byte(`{"get": {"key": "a"}}`), 1<<32)
	if !errors.Is(res.Err, ErrOverloaded) || res.GasUsed != 0 {
		t.Fatalf("query beyond the bound: %v (gas %d)", res.Err, res.GasUsed)
	}
	// Commands are not bounded by the query slots.
	mustCall(t, c, newHost(st, "bob"), EntryExecute, `{"set": {"key": "b", "value": "2"}}`)
	close(blocked.release)
	wg.Wait()
	for i, r := range results {
		if r.Err != nil || string(r.Output) != `"1"` {
			t.Fatalf("query %d: %s, %v", i, r.Output, r.Err)
		}
	}
	if got := mustCall(t, c, newHost(st, "bob"), EntryQuery, `{"get": {"key": "b"}}`); got != `"2"` {
		t.Fatalf("after the overload: %s", got)
	}
}

// TestQueryWait checks that a query waits up to QueryWait for a slot, and that a cancelled
// context ends the wait.
func TestQueryWait(t *testing.T) {
	cfg := testConfig(false)
	cfg.QueryInstances = 1
	cfg.QueryWait = time.Hour
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	c := load(t, e, "probe")
	st := newStore()
	blocked := newHost(st, "alice")
	blocked.entered, blocked.release = make(chan struct{}), make(chan struct{})
	done := make(chan Result)
	go func() {
		done <- c.Call(context.Background(), blocked, EntryQuery, []byte(`{"get": {"key": "a"}}`), 1<<32)
	}()
	<-blocked.entered
	waiting := make(chan Result)
	go func() {
		waiting <- c.Call(context.Background(), newHost(st, "bob"), EntryQuery, []byte(`{"get": {"key": "a"}}`), 1<<32)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res := c.Call(ctx, newHost(st, "bob"), EntryQuery, nil, 1<<32); !errors.Is(res.Err, ErrOverloaded) || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", res.Err)
	}
	close(blocked.release)
	for _, ch := range []chan Result{done, waiting} {
		if r := <-ch; !errors.Is(r.Err, ErrContract) { // "absent": the key was never set
			t.Fatalf("query: %v", r.Err)
		}
	}
}

// TestConcurrentQueries runs many queries and commands at once (run with -race): every query
// sees committed state and uses the same gas as when run alone.
func TestConcurrentQueries(t *testing.T) {
	c := load(t, engine(t, false), "token")
	st := newStore()
	mint := `{"name": "T", "symbol": "T", "mint": [`
	for i := range 8 {
		if i > 0 {
			mint += ","
		}
		mint += fmt.Sprintf(`{"to": %q, "amount": %d}`, addr(fmt.Sprint("user", i)), 100+i)
	}
	mustCall(t, c, newHost(st, "admin"), EntryInstantiate, mint+`]}`)
	alone := call(c, newHost(st, "user0"), EntryQuery, `{"balance": {}}`, 1<<32)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() {
			for range 10 {
				var res Result
				for {
					res = c.Call(context.Background(), newHost(st, fmt.Sprint("user", i)), EntryQuery, []byte(`{"balance": {}}`), 1<<32)
					if !errors.Is(res.Err, ErrOverloaded) {
						break
					}
				}
				if want := fmt.Sprintf(`{"balance":%d}`, 100+i); res.Err != nil || string(res.Output) != want || res.GasUsed != alone.GasUsed {
					errs <- fmt.Errorf("user%d: %s %v gas %d (alone %d)", i, res.Output, res.Err, res.GasUsed, alone.GasUsed)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			// A command that fails (insufficient funds) alongside the queries.
			if res := c.Call(context.Background(), newHost(st, "nobody"), EntryExecute, []byte(fmt.Sprintf(`{"transfer": {"to": %q, "amount": 1}}`, addr("user0"))), 1<<32); !errors.Is(res.Err, ErrContract) {
				errs <- fmt.Errorf("command: %v", res.Err)
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
