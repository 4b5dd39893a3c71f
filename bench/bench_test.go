package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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

func TestContractsRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	o := ContractsOptions{Calls: 5, StartRuns: 3, LoopIterations: 10_000, MeterRuns: 3, Commands: 6, Concurrency: 2, BlockTime: 200 * time.Millisecond, Queries: 6}
	r, err := Contracts(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	c, m, s, e, q := r.Call, r.Metering, r.Start, r.EndToEnd, r.Query
	if c.Runs != 5 || c.Native.Median <= 0 || c.Wasm.Median <= 0 || c.WasmGas == 0 || c.Ratio <= 0 {
		t.Errorf("per call: %+v", c)
	}
	if m.Runs != 3 || m.Unmetered.Median <= 0 || m.Metered.Median <= 0 || m.GasPerIteration < 1 || m.Ratio <= 0 {
		t.Errorf("metering: %+v", m)
	}
	if s.Runs != 3 || s.EmptyRuns != 5 || s.Restore.Median <= 0 || s.Instantiate.Median <= 0 || s.Ratio <= 0 || s.SnapshotBytes == 0 || s.EmptyCommand.Median <= 0 || s.EmptyCommandGas == 0 {
		t.Errorf("start: %+v", s)
	}
	for _, rate := range []Rate{e.Commands, e.Transfers} {
		if rate.Count != 6 || rate.Elapsed <= 0 || rate.PerSec <= 0 || rate.Blocks < 1 {
			t.Errorf("end to end: %+v", rate)
		}
	}
	if e.Contracts != 1 || e.GasPerCommand == 0 || e.Ratio <= 0 {
		t.Errorf("end to end: %+v", e)
	}
	if q.Queries != 6 || q.Signed.Median <= 0 || q.Direct.Median <= 0 || q.Signed.P99 < q.Signed.Median || q.RatioP50 <= 0 {
		t.Errorf("queries: %+v", q)
	}
}

func TestFindRepo(t *testing.T) {
	root, err := findRepo(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "examples", "contracts", "token", "main.go")); err != nil {
		t.Errorf("found %s: %v", root, err)
	}
	if _, err := findRepo(t.TempDir()); !errors.Is(err, ErrNoRepo) {
		t.Errorf("outside the repository: %v, want ErrNoRepo", err)
	}
}

func TestContractsOptions(t *testing.T) {
	o := ContractsOptions{Calls: 1, StartRuns: 1, LoopIterations: 1, MeterRuns: 1, Commands: 1, Concurrency: 1, BlockTime: time.Second}
	if r, err := Contracts(context.Background(), o); !errors.Is(err, ErrOptions) || r != nil {
		t.Errorf("no queries: %v, want ErrOptions", err)
	}
}

func TestMessagesRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "pruntime")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/phala-go/phala/cmd/pruntime")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building pruntime: %v\n%s", err, out)
	}
	r, err := Messages(ctx, MessagesOptions{PRuntime: bin, Rounds: 2, BlockTime: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]Latency{"command": r.Command, "same cluster": r.SameCluster, "across clusters": r.CrossCluster} {
		if l.Blocks.Min < 1 || l.Blocks.Median < l.Blocks.Min || l.Blocks.Max < l.Blocks.Median || l.Duration.Median <= 0 {
			t.Errorf("%s: %+v", name, l)
		}
	}
	if r.Ratio <= 0 {
		t.Errorf("ratio %v", r.Ratio)
	}
	if _, err := Messages(ctx, MessagesOptions{PRuntime: bin, Rounds: 0, BlockTime: time.Second}); !errors.Is(err, ErrOptions) {
		t.Errorf("no rounds: %v, want ErrOptions", err)
	}
}
