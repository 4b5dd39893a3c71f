package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/bench"
	"github.com/phala-go/phala/node"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Whole-system benchmarks that compare against a baseline in the same run"}
	var o bench.TransfersOptions
	var output string
	transfers := &cobra.Command{
		Use:   "transfers",
		Short: "Committed signed transfers per second against CometBFT's kvstore example, same settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			output, _ = cmd.Flags().GetString("output")
			p := printer{w: cmd.OutOrStdout(), json: output == "json"}
			logger, err := node.NewLogger(os.Stderr, node.LogConfig{Level: "info", Format: "text"})
			if err != nil {
				return err
			}
			o.Log = logger
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			r, err := bench.Transfers(ctx, o)
			if err != nil {
				return err
			}
			return p.print(r, func(w io.Writer) {
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
			output, _ = cmd.Flags().GetString("output")
			p := printer{w: cmd.OutOrStdout(), json: output == "json"}
			logger, err := node.NewLogger(os.Stderr, node.LogConfig{Level: "info", Format: "text"})
			if err != nil {
				return err
			}
			so.Log = logger
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			r, err := bench.Sync(ctx, so)
			if err != nil {
				return err
			}
			return p.print(r, func(w io.Writer) {
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
	cmd.AddCommand(transfers, syncCmd)
	return cmd
}
