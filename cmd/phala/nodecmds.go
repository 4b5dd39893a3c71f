package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/devnet"
	"github.com/phala-go/phala/node"
)

func defaultNodeHome() string { return filepath.Join(defaultClientHome(), "node") }

// signalContext ends on SIGINT or SIGTERM, for a clean shutdown.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

func newInitCmd() *cobra.Command {
	var home, chainID, moniker string
	var council, funds, simKeys []string
	var threshold uint32
	var dev bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node home: keys, config and a single-validator genesis",
		Example: `  phala init --home ./mynode --chain-id my-chain --council 45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2 \
    --fund 45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2=1000PHA
  phala init --home ./devnode --chain-id dev --dev-accounts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var g node.GenesisOptions
			var err error
			if dev {
				if err := os.MkdirAll(home, 0o700); err != nil {
					return err
				}
				if g, err = node.DevGenesisFor(chainID, time.Now(), home); err != nil {
					return err
				}
			} else {
				if len(council) == 0 {
					return errors.New("the genesis needs a council: pass --council ADDRESS (or --dev-accounts for a development chain)")
				}
				var members []keys.AccountID
				for _, c := range council {
					id, err := keys.ParseAccountID(c)
					if err != nil {
						return fmt.Errorf("--council %q: %w", c, err)
					}
					members = append(members, id)
				}
				if threshold == 0 {
					threshold = uint32(len(members)/2 + 1)
				}
				g = node.NewGenesis(chainID, time.Now(), members, threshold)
				for _, k := range simKeys {
					b, err := hex.DecodeString(k)
					if err != nil || len(b) != ed25519.PublicKeySize {
						return fmt.Errorf("--sim-platform-key %q: want 64 hex digits", k)
					}
					g.State.Registry.TEE.AllowSim = true
					g.State.Registry.TEE.SimPlatformKeys = append(g.State.Registry.TEE.SimPlatformKeys, registry.SimKey(b))
				}
			}
			for _, f := range funds {
				addr, amt, ok := strings.Cut(f, "=")
				if !ok {
					return fmt.Errorf("--fund %q: write ADDRESS=AMOUNT", f)
				}
				id, err := keys.ParseAccountID(addr)
				if err != nil {
					return fmt.Errorf("--fund %q: %w", f, err)
				}
				a, err := amount.ParsePHA(amt)
				if err != nil {
					return fmt.Errorf("--fund %q: %w", f, err)
				}
				g.State.Accounts.Balances = append(g.State.Accounts.Balances, accounts.GenesisBalance{Address: id, Balance: a})
			}
			cfg := node.DefaultConfig()
			cfg.Moniker = moniker
			id, err := node.Init(home, cfg, g)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "initialised %s\n  chain id: %s\n  node id:  %s\nstart it with: phala node --home %s\n", home, chainID, id.NodeID, home)
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", defaultNodeHome(), "node home directory")
	cmd.Flags().StringVar(&chainID, "chain-id", "phala-local", "chain id")
	cmd.Flags().StringVar(&moniker, "moniker", "phala-node", "node name shown to peers")
	cmd.Flags().StringSliceVar(&council, "council", nil, "council member addresses")
	cmd.Flags().Uint32Var(&threshold, "threshold", 0, "council approvals needed (default: a majority)")
	cmd.Flags().StringArrayVar(&funds, "fund", nil, "genesis balance ADDRESS=AMOUNT (repeatable)")
	cmd.Flags().StringSliceVar(&simKeys, "sim-platform-key", nil, "accept simulated-TEE workers with this platform key (hex); development chains only")
	cmd.Flags().BoolVar(&dev, "dev-accounts", false, "fund the dev accounts (//Alice..//Ferdie) and make Alice the council: development only")
	return cmd
}

// nodeFlags override config-file values for one run.
type nodeFlags struct {
	home, rpc, p2p, metrics, logLevel, logFormat string
}

func (f *nodeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.home, "home", defaultNodeHome(), "node home directory")
	cmd.Flags().StringVar(&f.rpc, "rpc-laddr", "", "RPC listen address, e.g. tcp://127.0.0.1:26657 (overrides the config)")
	cmd.Flags().StringVar(&f.p2p, "p2p-laddr", "", "P2P listen address (overrides the config)")
	cmd.Flags().StringVar(&f.metrics, "metrics-laddr", "", "Prometheus listen address, e.g. 127.0.0.1:26660 (overrides the config)")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (overrides the config)")
	cmd.Flags().StringVar(&f.logFormat, "log-format", "", "text or json (overrides the config)")
}

func (f *nodeFlags) apply(cfg *node.Config) {
	for _, o := range []struct {
		dst *string
		v   string
	}{
		{&cfg.RPC.ListenAddress, f.rpc}, {&cfg.P2P.ListenAddress, f.p2p}, {&cfg.Metrics.ListenAddress, f.metrics},
		{&cfg.Log.Level, f.logLevel}, {&cfg.Log.Format, f.logFormat},
	} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
}

func newNodeCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a validator or full node until SIGINT/SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := node.LoadConfig(f.home)
			if err != nil {
				return err
			}
			f.apply(&cfg)
			logger, err := node.NewLogger(os.Stderr, cfg.Log)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return node.Run(ctx, f.home, cfg, logger, node.Options{Metrics: prometheus.DefaultRegisterer})
		},
	}
	f.add(cmd)
	return cmd
}

func newTestnetCmd() *cobra.Command {
	var n, port int
	var out, chainID string
	var commit time.Duration
	var snapshots int64
	cmd := &cobra.Command{
		Use:   "testnet",
		Short: "Write the homes of a local multi-validator network (dev accounts funded, Alice as council)",
		Example: `  phala testnet --validators 4 --output ./net
  for i in 0 1 2 3; do phala node --home ./net/node$i & done`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			g, err := node.DevGenesisFor(chainID, time.Now(), out)
			if err != nil {
				return err
			}
			cfg := node.DefaultConfig()
			cfg.Consensus.TimeoutCommit = commit
			cfg.Snapshots.Interval = snapshots
			ids, err := node.Testnet(node.TestnetOptions{Validators: n, Output: out, StartingPort: port, Config: cfg, Genesis: g})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %d validator homes for chain %s:\n", len(ids), chainID)
			for i, id := range ids {
				fmt.Fprintf(w, "  %s  p2p 127.0.0.1:%d  rpc http://127.0.0.1:%d\n", id.Home, port+10*i, port+10*i+1)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "validators", 4, "number of validators")
	cmd.Flags().StringVar(&out, "output", "./testnet", "directory for the homes")
	cmd.Flags().StringVar(&chainID, "chain-id", "phala-testnet", "chain id")
	cmd.Flags().IntVar(&port, "starting-port", 26656, "node i listens for P2P on port+10i and RPC on port+10i+1")
	cmd.Flags().DurationVar(&commit, "timeout-commit", time.Second, "pause after each block")
	cmd.Flags().Int64Var(&snapshots, "snapshot-interval", 1000, "blocks between state snapshots served to fast-syncing workers (0: none)")
	return cmd
}

func newDevCmd() *cobra.Command {
	var f nodeFlags
	var chainID, runtimeBin, runtimeAddr string
	var gatekeepers, workers, clusters int
	var blockTime time.Duration
	var examples bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole network for development: validator, gatekeepers, clusters of workers, relayers, a token contract",
		Long: `Starts a single-validator chain whose dev accounts (//Alice..//Ferdie, from the Substrate
dev phrase) hold 1,000,000 PHA each and whose council is Alice alone, and pRuntimes with the
simulated TEE (child processes), each with its relayer (pherry, in process): gk1, gk2, ...
(--gatekeepers) and worker1, worker2, ... (--workers). Once they have registered, Alice makes the
gk runtimes gatekeepers (gk1 creates the master key, the others receive it) and puts the workers
in --clusters clusters, taking them in turn (by default worker1 in cluster 1 and worker2 in
cluster 2, so that contracts can message across clusters); each worker receives its cluster's key
and reports it deployed. Then //Bob deploys the token example
(examples/contracts/token, built with the Go toolchain: run phala dev from the repository; off
with --examples=false) in cluster 1, minting 1,000,000 to //Bob and //Charlie, once per home.
The banner is printed when every runtime holds its keys, the token is ACTIVE and the chain
shows every worker's query URL.

The first runtime's API listens on --pruntime-laddr, the others on the following ports (or
free ones); each worker serves the public query API (signed, encrypted queries: phala contract
query) on the port after its own API, and its relayer publishes that URL on chain. Each runtime
keeps its data in <home>/pruntime/<name> and logs to <home>/pruntime-<name>.log; relayers sign
with //Eve, //Ferdie, //Dave, //Charlie, //Bob in turn and //Eve operates every runtime.

Without --home everything lives in a temporary directory removed on exit; with --home it
resumes where it stopped, running every runtime the home has plus new ones up to the numbers
asked (it never removes one), doing only the key setup the chain lacks and deploying the token
only if it never did.`,
		Example: `  phala dev
  phala dev --home ./devchain --gatekeepers 2 --workers 4 --clusters 2
  phala dev --examples=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if gatekeepers < 1 || workers < 0 || clusters < 1 {
				return fmt.Errorf("--gatekeepers %d --workers %d --clusters %d: a dev network needs at least one gatekeeper, 0 or more workers and at least one cluster", gatekeepers, workers, clusters)
			}
			home, err := filepath.Abs(f.home) // the banner's paths work from any directory
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("home") {
				dir, err := os.MkdirTemp("", "phala-dev-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				home = dir
			}
			if runtimeBin == "" {
				if runtimeBin, err = findPRuntime(); err != nil {
					return err
				}
			}
			cfg := devnet.NodeConfig(blockTime)
			cfg.P2P.ListenAddress = "tcp://127.0.0.1:26656"
			f.apply(&cfg)
			logger, err := node.NewLogger(os.Stderr, cfg.Log)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			n, err := devnet.Start(ctx, devnet.Options{Home: home, ChainID: chainID, Config: cfg, PRuntime: runtimeBin, RuntimeAddr: runtimeAddr,
				Gatekeepers: gatekeepers, Workers: workers, Clusters: clusters, Examples: examples, Logger: logger})
			if errors.Is(err, devnet.ErrExamples) {
				return fmt.Errorf("%w (or pass --examples=false)", err)
			}
			if err != nil {
				return err
			}
			if err := printDevBanner(cmd.OutOrStdout(), home, cfg, n); err != nil {
				return errors.Join(err, n.Stop())
			}
			<-ctx.Done()
			fmt.Fprintln(cmd.OutOrStdout(), "stopping...")
			return n.Stop()
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&chainID, "chain-id", "phala-dev", "chain id")
	cmd.Flags().DurationVar(&blockTime, "block-time", 500*time.Millisecond, "pause after each block (blocks come at most about this far apart)")
	cmd.Flags().StringVar(&runtimeBin, "pruntime", "", "the pruntime binary (default: next to this one, else on PATH)")
	cmd.Flags().StringVar(&runtimeAddr, "pruntime-laddr", "127.0.0.1:8000", "the first runtime's API address; the others take the following ports, a worker's query API the port after its own API, or free ones")
	cmd.Flags().IntVar(&gatekeepers, "gatekeepers", 1, "gatekeeper runtimes (at least 1): they hold the master key")
	cmd.Flags().IntVar(&workers, "workers", 2, "worker runtimes (0: no cluster)")
	cmd.Flags().IntVar(&clusters, "clusters", 2, "clusters the workers form, taking them in turn (at most --workers are filled)")
	cmd.Flags().BoolVar(&examples, "examples", true,
		"deploy the token example (built from examples/contracts/token with the Go toolchain) in cluster 1, once per home")
	return cmd
}

// findPRuntime looks for the pruntime binary next to this one, then on PATH.
func findPRuntime() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "pruntime")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("pruntime"); err == nil {
		return p, nil
	}
	return "", errors.New("no pruntime binary next to phala or on PATH: run `make build` (or pass --pruntime)")
}

func printDevBanner(w io.Writer, home string, cfg node.Config, n *devnet.Network) error {
	devs, err := node.DevAccounts()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `
Phala-Go dev network is running.
  RPC:      %s
  home:     %s
  metrics:  %s

Dev accounts (sr25519; %s each):
`, n.RPC, home, orNone(cfg.Metrics.ListenAddress), amount.FormatPHA(node.DevBalance))
	for _, d := range devs {
		fmt.Fprintf(w, "  %-8s %-9s %s\n", strings.ToLower(d.Name), d.URI, d.Key.Public().AccountID())
	}
	fmt.Fprintf(w, "\nRuntimes (pRuntime, simulated TEE, measurement %s; operated by //%s):\n", n.Measured, devnet.OperatorAccount)
	for _, rt := range n.Runtimes {
		role := "worker"
		if rt.Gatekeeper {
			role = "gatekeeper"
		}
		fmt.Fprintf(w, "  %-8s %-10s identity %x\n", rt.Name, role, rt.Identity)
		fmt.Fprintf(w, "  %-8s API %s  log %s  relayer //%s\n", "", rt.URL, rt.Log, rt.Relayer)
		if rt.QueryURL != "" {
			fmt.Fprintf(w, "  %-8s queries %s\n", "", rt.QueryURL)
		}
	}
	named := func(id []byte) string {
		if name := n.Name(id); name != "" {
			return name
		}
		return "(not run here)"
	}
	fmt.Fprintf(w, "\nGatekeepers (master key generation %d):\n", n.MasterGeneration)
	for _, id := range n.Gatekeepers {
		fmt.Fprintf(w, "  %-14s %x\n", named(id), id)
	}
	for _, c := range n.Clusters {
		fmt.Fprintf(w, "\nCluster %s (key generation %d, id %x):\n", registry.ClusterLabel(c.GetId()), c.GetGeneration(), c.GetId())
		for _, id := range c.GetWorkers() {
			fmt.Fprintf(w, "  %-14s %x\n", named(id), id)
		}
	}
	if n.Token != nil {
		holders := devnet.TokenHolders()
		for i, h := range holders {
			holders[i] = "//" + h
		}
		fmt.Fprintf(w, "\nToken example (examples/contracts/token) in cluster 1, deployed by //%s:\n  contract %x\n  %s hold %d PHT each\n",
			devnet.TokenDeployer, n.Token, strings.Join(holders, " and "), devnet.TokenGrant)
	}
	fmt.Fprintf(w, `
Try, in another terminal:
  export PATH=$PWD/bin:$PATH PHALA_KEYRING_BACKEND=test
  phala keys import alice //Alice
  phala tx transfer --from alice --to %s --amount 1.5PHA
  phala query balance %s --prove
  phala worker list
  phala worker ping --from alice
  phala gatekeeper list
`, devs[1].Key.Public().AccountID(), devs[1].Key.Public().AccountID())
	if len(n.Clusters) > 0 {
		fmt.Fprintf(w, "  phala cluster show %s\n", registry.ClusterLabel(n.Clusters[0].GetId()))
	}
	if n.Token != nil {
		charlie, err := keys.FromURI(keys.Sr25519, "//Charlie")
		if err != nil {
			return err
		}
		to := charlie.Public().AccountID()
		fmt.Fprintf(w, `  phala keys import bob //Bob
  phala contract exec %x '{"transfer":{"to":"0x%x","amount":250}}' --from bob --wait
  phala contract query %x '{"balance":{}}' --from bob
`, n.Token, to[:], n.Token)
	}
	fmt.Fprint(w, "\nPress Ctrl-C to stop.\n")
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "off"
	}
	return s
}
