package vm

import (
	"context"
	"errors"
	"testing"
)

func TestMeasureMetering(t *testing.T) {
	ctx := context.Background()
	e := engine(t, false)
	runs, err := e.MeasureMetering(ctx, contracts["probe"], "burn", 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs.Metered) != 3 || len(runs.Unmetered) != 3 {
		t.Fatalf("%d metered and %d unmetered runs, want 3 each", len(runs.Metered), len(runs.Unmetered))
	}
	for i := range 3 {
		if runs.Metered[i] <= 0 || runs.Unmetered[i] <= 0 {
			t.Errorf("run %d: metered %v, unmetered %v", i, runs.Metered[i], runs.Unmetered[i])
		}
	}
	// Gas is exact: the same loop uses the same gas, and ten times the iterations about ten
	// times the gas.
	again, err := e.MeasureMetering(ctx, contracts["probe"], "burn", 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	more, err := e.MeasureMetering(ctx, contracts["probe"], "burn", 10_000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if runs.GasUsed < 1000 || again.GasUsed != runs.GasUsed || more.GasUsed < 9*runs.GasUsed {
		t.Errorf("gas of burn(1000) %d then %d, of burn(10000) %d", runs.GasUsed, again.GasUsed, more.GasUsed)
	}

	for _, tc := range []struct {
		name   string
		wasm   []byte
		export string
		n      int
		want   error
	}{
		{"no runs", contracts["probe"], "burn", 0, ErrConfig},
		{"absent export", contracts["probe"], "no_such_export", 1, ErrMissingExport},
		{"other signature", contracts["probe"], "execute", 1, ErrMissingExport},
		{"not a module", []byte("not wasm"), "burn", 1, ErrInvalidModule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if runs, err := e.MeasureMetering(ctx, tc.wasm, tc.export, 1, tc.n); !errors.Is(err, tc.want) || runs != nil {
				t.Fatalf("err = %v (runs %v), want %v", err, runs, tc.want)
			}
		})
	}
}

func TestMeasureStart(t *testing.T) {
	ctx := context.Background()
	c := load(t, engine(t, false), "probe")
	runs, err := c.MeasureStart(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs.Restore) != 2 || len(runs.Instantiate) != 2 {
		t.Fatalf("%d restores and %d instantiations, want 2 each", len(runs.Restore), len(runs.Instantiate))
	}
	for i := range 2 {
		if runs.Restore[i] <= 0 || runs.Instantiate[i] <= 0 {
			t.Errorf("run %d: restore %v, instantiate %v", i, runs.Restore[i], runs.Instantiate[i])
		}
	}
	// The Code still serves calls from the post-init state: bump sees its package variable at
	// its initial value.
	h := newHost(newStore(), "alice")
	if got := mustCall(t, c, h, EntryExecute, `{"bump": {}}`); got != "1" {
		t.Errorf("bump after MeasureStart = %s, want 1", got)
	}
	if runs, err := c.MeasureStart(ctx, 0); !errors.Is(err, ErrConfig) || runs != nil {
		t.Errorf("no runs: err = %v, runs %v", err, runs)
	}
	c.Close(ctx)
	if runs, err := c.MeasureStart(ctx, 1); !errors.Is(err, ErrClosed) || runs != nil {
		t.Errorf("closed Code: err = %v, runs %v", err, runs)
	}
}
