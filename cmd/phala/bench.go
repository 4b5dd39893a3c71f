package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/bench"
	"github.com/phala-go/phala/node"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Whole-system benchmarks that compare against a baseline in the same run"}
	var o bench.TransfersOptions
	transfers := &cobra.Command{
		Use:   "transfers",
		Short: "Committed signed transfers per second against CometBFT's kvstore example, same settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, &o.Log, func(ctx context.Context) (*bench.TransfersResult, error) { return bench.Transfers(ctx, o) },
				func(w io.Writer, r *bench.TransfersResult) {
					fmt.Fprintf(w, "phala bench transfers: %d clients for %s over HTTP RPC, timeout_commit %s, %d CPUs\n",
						o.Concurrency, o.Duration, o.TimeoutCommit, r.CPUs)
					for _, t := range []bench.Throughput{r.KVStore, r.Phala} {
						fmt.Fprintf(w, "  %-8s %8.0f tx/s committed (%d txs in %d blocks over %s)\n", t.Name, t.TxPerSec, t.Committed, t.Blocks, t.Elapsed.Round(time.Millisecond))
					}
					fmt.Fprintf(w, "  ratio phala / kvstore: %.2f (signed sr25519 transfers against unsigned kvstore writes)\n", r.Ratio)
				})
		},
	}
	transfers.Flags().DurationVar(&o.Duration, "duration", 10*time.Second, "load duration per system")
	transfers.Flags().IntVar(&o.Concurrency, "concurrency", 8, "concurrent RPC clients")
	transfers.Flags().IntVar(&o.Accounts, "accounts", 512, "sending accounts on the chain")
	transfers.Flags().DurationVar(&o.TimeoutCommit, "timeout-commit", 300*time.Millisecond, "consensus timeout_commit for both systems")
	var so bench.SyncOptions
	syncCmd := &cobra.Command{
		Use:   "sync",
		Short: "Time fresh workers syncing a loaded chain, from genesis and from a snapshot, against production",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, &so.Log, func(ctx context.Context) (*bench.SyncResult, error) { return bench.Sync(ctx, so) },
				func(w io.Writer, r *bench.SyncResult) {
					pr := r.Production
					fmt.Fprintf(w, "phala bench sync: %d signed transfers, block time %s\n", pr.Txs, so.BlockTime)
					fmt.Fprintf(w, "  production     %d blocks in %s: %.2f blocks/s, %.0f tx/s\n", pr.Height, pr.Elapsed.Round(time.Millisecond), pr.BlocksPS, pr.TxsPS)
					for _, s := range []bench.SyncRun{r.Genesis, r.Snapshot} {
						from := s.Name
						if s.SnapshotHeight > 0 {
							from = fmt.Sprintf("%s at %d", s.Name, s.SnapshotHeight)
						}
						fmt.Fprintf(w, "  sync %-23s %d blocks in %s: %.1f blocks/s, %.1fx production speed\n", from, pr.Height, s.Elapsed.Round(time.Millisecond), s.BlocksPS, s.Ratio)
					}
				})
		},
	}
	syncCmd.Flags().IntVar(&so.Transfers, "transfers", 100_000, "signed transfers the chain carries")
	syncCmd.Flags().IntVar(&so.Rate, "rate", 1000, "transfers submitted per second while producing (0: as fast as the chain takes them)")
	syncCmd.Flags().DurationVar(&so.BlockTime, "block-time", time.Second, "timeout_commit while producing (CometBFT's and the node's default)")
	syncCmd.Flags().IntVar(&so.Accounts, "accounts", 512, "sending accounts")
	syncCmd.Flags().Int64Var(&so.SnapshotInterval, "snapshot-interval", 20, "blocks between the node's state snapshots")
	cmd.AddCommand(transfers, syncCmd, newBenchContractsCmd(), newBenchMessagesCmd())
	return cmd
}

func newBenchContractsCmd() *cobra.Command {
	var o bench.ContractsOptions
	cmd := &cobra.Command{
		Use:   "contracts",
		Short: "Confidential contracts against baselines: native Go, unmetered Wasm, instantiation, plain transfers, direct queries",
		Long: `Measures, each against a baseline in the same run:
  - a token transfer as a contract call (Wasm, in-memory host) against the same logic in native Go;
  - a compute loop in metered Wasm against the same loop unmetered;
  - restoring the post-init snapshot against instantiating and initialising the module, and an
    empty command's whole call;
  - encrypted token transfers per second end to end (transaction to the cluster's report landed)
    against plain PHA transfers per second to their commit, on the same in-process chain with a
    gatekeeper and a one-worker cluster;
  - signed encrypted queries over the worker's query API against direct calls on the same worker.
It builds the token example and the VM's probe contract with the Go toolchain: run it inside the
repository (make bench does) or pass --repo.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, &o.Log, func(ctx context.Context) (*bench.ContractsResult, error) { return bench.Contracts(ctx, o) },
				func(w io.Writer, r *bench.ContractsResult) { printContracts(w, r) })
		},
	}
	cmd.Flags().StringVar(&o.Repo, "repo", "", "repository root holding the contracts to build (default: found from the working directory)")
	cmd.Flags().IntVar(&o.Calls, "calls", 2000, "runs of each way of the token transfer, and of the empty command")
	cmd.Flags().IntVar(&o.StartRuns, "start-runs", 200, "runs of the snapshot restore and of the instantiation")
	cmd.Flags().Int64Var(&o.LoopIterations, "loop", 1_000_000, "iterations of the compute loop")
	cmd.Flags().IntVar(&o.MeterRuns, "meter-runs", 200, "runs of the compute loop, each way")
	cmd.Flags().IntVar(&o.Commands, "commands", 1000, "encrypted transfers, then plain transfers, each from its own account")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 8, "concurrent RPC clients sending them")
	cmd.Flags().DurationVar(&o.BlockTime, "block-time", time.Second, "the chain's timeout_commit (the node's default)")
	cmd.Flags().IntVar(&o.Queries, "queries", 2000, "signed encrypted queries, and as many direct ones")
	return cmd
}

func newBenchMessagesCmd() *cobra.Command {
	var o bench.MessagesOptions
	cmd := &cobra.Command{
		Use:   "messages",
		Short: "Contract message latency on phala dev: across clusters against within a cluster",
		Long: `Starts a phala dev network (a gatekeeper, two clusters of one worker, the token example in
cluster 1, blocks --block-time apart) and deploys an order book in each cluster. The token then
notifies the books with transfer_notify, alternately the one of its own cluster (the baseline)
and the one of cluster 2, and each message is timed from the sender's report on chain to the
receiver's, in blocks and in block time; a command's own latency (its transaction to its
report) is shown too. It builds the examples with the Go toolchain: run it inside the
repository (make bench does) or pass --repo.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.PRuntime == "" {
				var err error
				if o.PRuntime, err = findPRuntime(); err != nil {
					return err
				}
			}
			return runBench(cmd, &o.Log, func(ctx context.Context) (*bench.MessagesResult, error) { return bench.Messages(ctx, o) },
				func(w io.Writer, r *bench.MessagesResult) {
					fmt.Fprintf(w, "phala bench messages: %d messages each way, block time %s, %d CPUs\n", o.Rounds, o.BlockTime, r.CPUs)
					for _, l := range []struct {
						name string
						l    bench.Latency
					}{{"command (tx to report)", r.Command}, {"message, same cluster", r.SameCluster}, {"message, across clusters", r.CrossCluster}} {
						fmt.Fprintf(w, "  %-26s %d blocks median (%d..%d), %s median, p99 %s\n", l.name, l.l.Blocks.Median, l.l.Blocks.Min, l.l.Blocks.Max,
							l.l.Duration.Median.Round(time.Millisecond), l.l.Duration.P99.Round(time.Millisecond))
					}
					fmt.Fprintf(w, "  across clusters / same cluster: %.2fx\n", r.Ratio)
				})
		},
	}
	cmd.Flags().StringVar(&o.Repo, "repo", "", "repository root holding the examples to build (default: found from the working directory)")
	cmd.Flags().StringVar(&o.PRuntime, "pruntime", "", "the pruntime binary (default: next to this one, else on PATH)")
	cmd.Flags().IntVar(&o.Rounds, "rounds", 20, "messages each way")
	cmd.Flags().DurationVar(&o.BlockTime, "block-time", 500*time.Millisecond, "the chain's timeout_commit (phala dev's default)")
	return cmd
}

func printContracts(w io.Writer, r *bench.ContractsResult) {
	d := func(t time.Duration) string { return t.Round(100 * time.Nanosecond).String() }
	o := r.Options
	fmt.Fprintf(w, "phala bench contracts: %d CPUs; medians of interleaved runs unless said\n", r.CPUs)
	c := r.Call
	fmt.Fprintf(w, "  per call      token transfer, %d runs: native Go %s, Wasm (Code.Call, in-memory host, %d gas) %s: %.1fx\n",
		c.Runs, d(c.Native.Median), c.WasmGas, d(c.Wasm.Median), c.Ratio)
	m := r.Metering
	fmt.Fprintf(w, "  metering      loop of %d iterations, %d runs: unmetered %s, metered %s (%.1f gas/iteration): %.3fx (aim 1.15x or better)\n",
		m.Iterations, m.Runs, d(m.Unmetered.Median), d(m.Metered.Median), m.GasPerIteration, m.Ratio)
	s := r.Start
	fmt.Fprintf(w, "  call start    token, %d runs: snapshot restore (%d KiB) %s, instantiate + _initialize %s: %.4fx (%.0fx cheaper)\n",
		s.Runs, s.SnapshotBytes>>10, d(s.Restore.Median), d(s.Instantiate.Median), s.Ratio, 1/s.Ratio)
	fmt.Fprintf(w, "                empty command (probe, loop of 0), whole Code.Call, %d runs: %s, %d gas\n", s.EmptyRuns, d(s.EmptyCommand.Median), s.EmptyCommandGas)
	e := r.EndToEnd
	fmt.Fprintf(w, "  end to end    block time %s, %d clients, %d token instances:\n", o.BlockTime, o.Concurrency, e.Contracts)
	fmt.Fprintf(w, "                %d encrypted transfers to their reports: %.1f commands/s (%s, reports in %d blocks, a transfer %d gas)\n",
		e.Commands.Count, e.Commands.PerSec, e.Commands.Elapsed.Round(time.Millisecond), e.Commands.Blocks, e.GasPerCommand)
	fmt.Fprintf(w, "                %d plain PHA transfers to their commit: %.1f transfers/s (%s, in %d blocks)\n",
		e.Transfers.Count, e.Transfers.PerSec, e.Transfers.Elapsed.Round(time.Millisecond), e.Transfers.Blocks)
	fmt.Fprintf(w, "                ratio commands / transfers: %.3f\n", e.Ratio)
	q := r.Query
	fmt.Fprintf(w, "  queries       %d token balance queries each way, one at a time:\n", q.Queries)
	fmt.Fprintf(w, "                signed (session) + X-Wing sealed, query API over HTTP: p50 %s, p99 %s\n", d(q.Signed.Median), d(q.Signed.P99))
	fmt.Fprintf(w, "                direct Runtime.QueryContract, same worker:               p50 %s, p99 %s\n", d(q.Direct.Median), d(q.Direct.P99))
	fmt.Fprintf(w, "                ratio signed / direct: p50 %.2fx, p99 %.2fx\n", q.RatioP50, q.RatioP99)
}

// runBench runs a bench subcommand: its progress goes to a logger on standard error (set into
// *log before run), Ctrl-C cancels it, and its result goes to standard output as text or JSON
// (-o).
func runBench[R any](cmd *cobra.Command, log **slog.Logger, run func(context.Context) (R, error), text func(io.Writer, R)) error {
	output, _ := cmd.Flags().GetString("output")
	logger, err := node.NewLogger(os.Stderr, node.LogConfig{Level: "info", Format: "text"})
	if err != nil {
		return err
	}
	*log = logger
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	r, err := run(ctx)
	if err != nil {
		return err
	}
	p := printer{w: cmd.OutOrStdout(), json: output == "json"}
	return p.print(r, func(w io.Writer) { text(w, r) })
}
