package main

import (
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/logging"
	"github.com/phala-go/phala/pherry"
	"github.com/phala-go/phala/tee/collateral"
)

func newPherryCmd(g *globals) *cobra.Command {
	var from, runtimeURL, operator, cacheDir, logLevel, logFormat, endpoint string
	var fastSync bool
	var batch int
	cmd := &cobra.Command{
		Use:   "pherry",
		Short: "Relay between a node and a pRuntime: init, register, sync blocks, deliver egress",
		Example: `  pruntime run --data-dir ./worker --listen 127.0.0.1:8000 &
  phala pherry --node http://127.0.0.1:26657 --pruntime http://127.0.0.1:8000 --from relayer`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logging.New(os.Stderr, logLevel, logFormat)
			if err != nil {
				return err
			}
			key, err := g.signer(from)
			if err != nil {
				return err
			}
			cfg := pherry.Config{
				NodeURL: g.node, PRuntimeURL: runtimeURL, Key: key, FastSync: fastSync, Batch: batch,
				Collateral: &collateral.Fetcher{CacheDir: cacheDir}, Logger: logger.With("module", "pherry"), Endpoint: endpoint,
			}
			if operator != "" {
				if cfg.Operator, err = keys.ParseAccountID(operator); err != nil {
					return err
				}
			}
			if term.IsTerminal(int(os.Stderr.Fd())) {
				cfg.Terminal = os.Stderr
			}
			r, err := pherry.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return r.Run(ctx)
		},
	}
	addClientFlags(cmd, g)
	cmd.Flags().StringVar(&from, "from", "", "relayer account (keyring name): signs registrations and egress deliveries")
	cmd.Flags().StringVar(&runtimeURL, "pruntime", "http://127.0.0.1:8000", "the pRuntime API address")
	cmd.Flags().StringVar(&operator, "operator", "", "the worker's operator account (default: the relayer account)")
	cmd.Flags().BoolVar(&fastSync, "fast-sync", false, "start a fresh worker from the node's newest state snapshot")
	cmd.Flags().IntVar(&batch, "batch", 50, "blocks per runtime call")
	cmd.Flags().StringVar(&endpoint, "endpoint", "",
		"the worker's public query URL as clients reach it (what pruntime run --query-listen serves, e.g. https://worker.example.com:8100): published on chain once the worker is registered")
	cmd.Flags().StringVar(&cacheDir, "collateral-cache", "", "directory caching Intel PCS / AMD KDS collateral (TDX, SEV-SNP)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "text or json")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}
