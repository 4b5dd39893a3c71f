package bench

import (
	"context"
	"testing"
	"time"
)

// The benchmarks' figures are not asserted (timing depends on the machine); these tests check
// that each harness runs end to end on a small load and reports coherent numbers.

func TestTransfersRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Transfers(ctx, TransfersOptions{Duration: 2 * time.Second, Concurrency: 2, Accounts: 8, TimeoutCommit: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range []Throughput{r.KVStore, r.Phala} {
		// A broadcast cut off by the end of the load may still be accepted and committed without
		// being counted as sent: at most one per client.
		if th.Committed == 0 || th.Committed > th.Sent+2 || th.Blocks == 0 {
			t.Errorf("%s: committed %d of %d in %d blocks", th.Name, th.Committed, th.Sent, th.Blocks)
		}
	}
	if r.Ratio <= 0 {
		t.Errorf("ratio %v", r.Ratio)
	}
}

func TestSyncRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Sync(ctx, SyncOptions{Transfers: 400, Rate: 400, BlockTime: 100 * time.Millisecond, Accounts: 8, SnapshotInterval: 3})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Production
	if p.Txs < 400 || p.Height < 2 || p.Elapsed <= 0 {
		t.Fatalf("production %+v", p)
	}
	if r.Genesis.SnapshotHeight != 0 || r.Genesis.Elapsed <= 0 || r.Genesis.Ratio <= 0 {
		t.Errorf("from genesis: %+v", r.Genesis)
	}
	if r.Snapshot.SnapshotHeight == 0 || r.Snapshot.Elapsed <= 0 {
		t.Errorf("from snapshot: %+v (expected to start from a snapshot)", r.Snapshot)
	}
}
