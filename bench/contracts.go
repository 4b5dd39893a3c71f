package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/phala-go/phala/contract/build"
	"github.com/phala-go/phala/contract/vm"
)

var (
	// ErrNoRepo is returned when the repository, whose example and probe contracts the benchmark
	// builds, is not found.
	ErrNoRepo = errors.New("bench: the Phala-Go repository was not found: run from inside the checkout (make bench runs from its root) or pass its root (phala bench contracts --repo)")
	// ErrOptions is returned for a load size that is not positive.
	ErrOptions = errors.New("bench: every load size and the block time must be positive")
	// ErrFailed is returned when measured work did not do what it should (a refused transaction,
	// a command's failed outcome, a wrong answer): the benchmark reports no figures of failed work.
	ErrFailed = errors.New("bench: measured work failed")
)

// modulePath is the repository's Go module.
const modulePath = "github.com/phala-go/phala"

// ContractsOptions configure `phala bench contracts`.
type ContractsOptions struct {
	// Repo is the repository root; "" finds it from the working directory upwards.
	Repo string
	// Calls is how many runs the per-call measurement takes each way, and the empty command.
	Calls int
	// StartRuns is how many runs the snapshot restore and the instantiation take each.
	StartRuns int
	// LoopIterations is the compute loop's length, run MeterRuns times metered and unmetered.
	LoopIterations int64
	MeterRuns      int
	// Commands is how many encrypted token transfers, then plain PHA transfers, the end-to-end
	// run sends, each from its own account, through Concurrency RPC clients.
	Commands    int
	Concurrency int
	// BlockTime is the chain's timeout_commit.
	BlockTime time.Duration
	// Queries is how many signed encrypted queries, and as many direct ones, the latency run makes.
	Queries int
	// Log receives progress lines; nil discards them.
	Log *slog.Logger `json:"-"`
}

// Timing summarises the durations of repeated runs.
type Timing struct {
	Median time.Duration `json:"median_ns"`
	Best   time.Duration `json:"best_ns"`
	P99    time.Duration `json:"p99_ns"`
}

// CallOverhead compares the token's transfer as a contract call with native Go.
type CallOverhead struct {
	Runs    int    `json:"runs"`
	Native  Timing `json:"native"`
	Wasm    Timing `json:"wasm"`
	WasmGas uint64 `json:"wasm_gas"`
	// Ratio is the contract call's median over native's.
	Ratio float64 `json:"ratio_wasm_over_native"`
}

// Metering compares a compute loop in metered and unmetered Wasm.
type Metering struct {
	Iterations      int64   `json:"iterations"`
	Runs            int     `json:"runs"`
	Unmetered       Timing  `json:"unmetered"`
	Metered         Timing  `json:"metered"`
	GasPerIteration float64 `json:"gas_per_iteration"`
	// Ratio is metered's median over unmetered's.
	Ratio float64 `json:"ratio_metered_over_unmetered"`
}

// StartCost compares the ways of giving a call its post-init state, and times an empty command.
type StartCost struct {
	Runs          int    `json:"runs"`
	EmptyRuns     int    `json:"empty_command_runs"`
	SnapshotBytes int    `json:"snapshot_bytes"`
	Restore       Timing `json:"restore"`
	Instantiate   Timing `json:"instantiate_and_initialize"`
	// Ratio is the restore's median over instantiation's.
	Ratio float64 `json:"ratio_restore_over_instantiate"`
	// EmptyCommand is a whole Code.Call of a command that does nothing.
	EmptyCommand    Timing `json:"empty_command"`
	EmptyCommandGas uint64 `json:"empty_command_gas"`
}

// Rate is N operations from the first submission to the last one done.
type Rate struct {
	Count   int           `json:"count"`
	Elapsed time.Duration `json:"elapsed_ns"`
	PerSec  float64       `json:"per_sec"`
	// Blocks is how many blocks carried the operations (their transactions, or the reports).
	Blocks int `json:"blocks"`
}

// EndToEnd compares encrypted commands with plain transfers on the same chain.
type EndToEnd struct {
	// Contracts is how many token instances the senders are spread over (one instantiation
	// mints to at most grantsPerInstance accounts).
	Contracts int  `json:"contracts"`
	Commands  Rate `json:"encrypted_commands"`
	Transfers Rate `json:"plain_transfers"`
	// GasPerCommand is the gas the cluster reported for one transfer.
	GasPerCommand uint64 `json:"gas_per_command"`
	// Ratio is commands per second over transfers per second.
	Ratio float64 `json:"ratio_commands_over_transfers"`
}

// QueryLatency compares signed encrypted queries with direct calls on the same worker.
type QueryLatency struct {
	Queries int    `json:"queries"`
	Signed  Timing `json:"signed_encrypted"`
	Direct  Timing `json:"direct"`
	// RatioP50 and RatioP99 are signed over direct.
	RatioP50 float64 `json:"ratio_p50_signed_over_direct"`
	RatioP99 float64 `json:"ratio_p99_signed_over_direct"`
}

// ContractsResult is `phala bench contracts`' outcome.
type ContractsResult struct {
	Options  ContractsOptions `json:"options"`
	CPUs     int              `json:"cpus"`
	Call     CallOverhead     `json:"call_overhead"`
	Metering Metering         `json:"metering"`
	Start    StartCost        `json:"start"`
	EndToEnd EndToEnd         `json:"end_to_end"`
	Query    QueryLatency     `json:"query_latency"`
}

// Contracts measures confidential contracts, each figure against a baseline in the same run:
// a contract call against native Go, metered against unmetered Wasm, the snapshot restore
// against instantiation, encrypted commands against plain transfers on the same chain, and
// signed encrypted queries against direct calls on the same worker.
func Contracts(ctx context.Context, o ContractsOptions) (*ContractsResult, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Calls < 1 || o.StartRuns < 1 || o.MeterRuns < 1 || o.LoopIterations < 1 || o.Commands < 1 || o.Concurrency < 1 || o.Queries < 1 || o.BlockTime <= 0 {
		return nil, ErrOptions
	}
	if o.Repo == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if o.Repo, err = findRepo(wd); err != nil {
			return nil, err
		}
	}
	res := &ContractsResult{Options: o, CPUs: runtime.NumCPU()}
	o.Log.Info("building the token example and the probe contract", "repo", o.Repo)
	token, err := buildContract(ctx, filepath.Join(o.Repo, "examples", "contracts", "token"))
	if err != nil {
		return nil, err
	}
	probe, err := buildContract(ctx, filepath.Join(o.Repo, "contract", "vm", "testdata", "probe"))
	if err != nil {
		return nil, err
	}

	// The VM as workers run it: default config, compilation cache in memory.
	e, err := vm.NewEngine(ctx, vm.DefaultConfig())
	if err != nil {
		return nil, err
	}
	defer e.Close(ctx)
	o.Log.Info("measuring a token transfer: contract call against native Go", "runs", o.Calls)
	if res.Call, err = measureCallOverhead(ctx, e, token, o.Calls); err != nil {
		return nil, err
	}
	o.Log.Info("measuring the compute loop metered against unmetered", "iterations", o.LoopIterations, "runs", o.MeterRuns)
	if res.Metering, err = measureMetering(ctx, e, probe, o.LoopIterations, o.MeterRuns); err != nil {
		return nil, err
	}
	o.Log.Info("measuring the start of a call", "runs", o.StartRuns, "empty_commands", o.Calls)
	if res.Start, err = measureStart(ctx, e, token, probe, o.StartRuns, o.Calls); err != nil {
		return nil, err
	}

	if res.EndToEnd, res.Query, err = measureNetwork(ctx, token, o); err != nil {
		return nil, err
	}
	return res, nil
}

// findRepo returns the first directory from dir upwards holding the module's go.mod and the
// token example.
func findRepo(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && isModule(mod) {
			if _, err := os.Stat(filepath.Join(dir, "examples", "contracts", "token")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoRepo
		}
		dir = parent
	}
}

func isModule(gomod []byte) bool {
	for line := range bytes.Lines(gomod) {
		if f := bytes.Fields(line); len(f) == 2 && string(f[0]) == "module" && string(f[1]) == modulePath {
			return true
		}
	}
	return false
}

// buildContract builds a contract directory to Wasm with the Go toolchain, unoptimized (as
// `phala contract build --wasm-opt -`), so the figures do not depend on wasm-opt being installed.
func buildContract(ctx context.Context, dir string) ([]byte, error) {
	out, err := build.BuildWith(ctx, dir, build.Options{WasmOpt: "-"})
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", dir, err)
	}
	return out.Wasm, nil
}

// timing summarises durations.
func timing(d []time.Duration) Timing {
	if len(d) == 0 {
		return Timing{}
	}
	s := slices.Sorted(slices.Values(d))
	return Timing{Median: s[len(s)/2], Best: s[0], P99: s[(len(s)*99+99)/100-1]}
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
