package devnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/pruntime"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/sim"
)

var (
	// ErrOptions is a bad Options value.
	ErrOptions = errors.New("devnet: bad options")
	// ErrOldHome is a home laid out by an older `phala dev`.
	ErrOldHome = errors.New("devnet: home from an older phala dev")
	// ErrRuntimeExited is a runtime process that ended while the network was starting.
	ErrRuntimeExited = errors.New("devnet: pruntime exited")
	// ErrTimeout is a start stage that took too long.
	ErrTimeout = errors.New("devnet: timed out")
	// ErrExamples is a contract example that cannot be built here: no repository checkout to
	// find it in, or no Go toolchain.
	ErrExamples = errors.New("devnet: cannot build the contract examples")
)

// councilAccount is the dev council alone: it allows runtimes and governs key management.
const councilAccount = "Alice"

// waitTimeout bounds each stage of a start: registration, the master key, the cluster key.
const waitTimeout = 2 * time.Minute

// NodeConfig is the validator's config of a development network with blocks blockTime apart
// (the listen addresses are the caller's to set): `phala dev` and the benchmarks run on it.
func NodeConfig(blockTime time.Duration) node.Config {
	cfg := node.DefaultConfig()
	cfg.Moniker = "dev"
	cfg.P2P.Local = true
	cfg.Consensus.TimeoutCommit = blockTime
	cfg.Consensus.TimeoutPropose = blockTime
	cfg.Snapshots.Interval = 100
	return cfg
}

// Options configure a development network.
type Options struct {
	Home    string
	ChainID string
	// Config is the validator's node config (used when the home is new; the listen addresses
	// always).
	Config node.Config
	// PRuntime is the pruntime binary. RuntimeAddr is the first runtime's API address; the
	// others take the following ports, a worker's query API the port after its API, or free
	// ones where those are taken (all of them when its port is 0).
	PRuntime    string
	RuntimeAddr string
	// Gatekeepers (at least 1) and Workers (0 for no cluster) are how many runtimes of each
	// role to run; a resumed home runs at least the ones it already has. The workers form
	// Clusters clusters (0 counts as 1; more than Workers leaves the extra ones empty): worker
	// i joins cluster slot (i-1) mod Clusters, so 2 workers and 2 clusters put worker1 in
	// cluster 1 and worker2 in cluster 2.
	Gatekeepers int
	Workers     int
	Clusters    int
	// Examples deploys the token example in cluster 1, once per home (see the package comment);
	// ExamplesDir is the examples/contracts directory, "" to look for it (FindExamples) from
	// the working directory and the executable's.
	Examples    bool
	ExamplesDir string
	// Logger is nil for no logs.
	Logger *slog.Logger
}

// Network is a running development network.
type Network struct {
	Node *node.Node
	RPC  string
	// Measured is the runtimes' measurement (tee.FormatMeasurement).
	Measured string
	// Runtimes are the gatekeeper runtimes then the workers, in name order.
	Runtimes []*Runtime
	// Gatekeepers is the chain's gatekeeper set and MasterGeneration the newest published
	// master key generation, as the start left them.
	Gatekeepers      [][]byte
	MasterGeneration uint32
	// Clusters are the clusters of the worker runtimes, by id (none without workers).
	Clusters []*registry.Cluster
	// Token is the id of the token example in cluster 1 (TokenDeployer deployed it, TokenGrant
	// minted to each of TokenHolders); nil when none was deployed.
	Token []byte

	log    *slog.Logger
	chain  *client.Client
	exited chan *Runtime
}

// Start builds (or resumes) the home and starts the validator, the runtimes and their
// relayers, then bootstraps key management and, with Examples, deploys the token example. It
// returns once every gatekeeper runtime holds the master key, every worker runtime holds and
// has reported its cluster's key, and the chain shows each worker's current query URL.
func Start(ctx context.Context, o Options) (n *Network, err error) {
	if o.Gatekeepers < 1 || o.Workers < 0 || o.Clusters < 0 {
		return nil, fmt.Errorf("%w: %d gatekeepers, %d workers and %d clusters: want at least 1 gatekeeper and no negative count", ErrOptions, o.Gatekeepers, o.Workers, o.Clusters)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	meas, err := sim.MeasureFile(o.PRuntime)
	if err != nil {
		return nil, fmt.Errorf("pruntime binary %s: %w (build it: make build)", o.PRuntime, err)
	}
	measurement, err := tee.FormatMeasurement(tee.KindSim, meas)
	if err != nil {
		return nil, err
	}
	rts, err := plan(o.Home, o.Gatekeepers, o.Workers)
	if err != nil {
		return nil, err
	}
	rec, err := loadRecord(recordPath(o.Home))
	if err != nil {
		return nil, err
	}
	// Whether the token example can be built is known before anything starts.
	examples := ""
	if o.Examples && rec.Token == "" && slices.ContainsFunc(rts, func(rt *Runtime) bool { return !rt.Gatekeeper }) {
		if examples, err = examplesDir(o.ExamplesDir); err != nil {
			return nil, err
		}
	}
	if err := initHome(o, measurement); err != nil {
		return nil, err
	}
	if got := len(rts); got > o.Gatekeepers+o.Workers {
		o.Logger.Info("the home has more runtimes than asked: running all of them (a dev home never drops one)", "runtimes", got)
	}
	cfg, err := node.LoadConfig(o.Home)
	if err != nil {
		return nil, err
	}
	cfg.RPC.ListenAddress = o.Config.RPC.ListenAddress
	cfg.P2P.ListenAddress = o.Config.P2P.ListenAddress
	cfg.Metrics.ListenAddress = o.Config.Metrics.ListenAddress
	nd, err := node.New(o.Home, cfg, o.Logger, node.Options{})
	if err != nil {
		return nil, err
	}
	n = &Network{Node: nd, RPC: nd.RPCURL(), Measured: measurement, log: o.Logger, exited: make(chan *Runtime, len(rts))}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Stop())
		}
	}()
	if err := nd.Start(); err != nil {
		return n, err
	}
	if err := nd.WaitHeight(ctx, 2); err != nil {
		return n, err
	}
	if n.chain, err = client.New(ctx, n.RPC); err != nil {
		return n, err
	}
	if err := n.allowRuntime(ctx, meas); err != nil {
		return n, fmt.Errorf("allow the pruntime build: %w", err)
	}
	addrs, queryAddrs, err := runtimeAddrs(o.RuntimeAddr, rts)
	if err != nil {
		return n, err
	}
	operator, err := keys.FromURI(keys.Sr25519, "//"+OperatorAccount)
	if err != nil {
		return n, err
	}
	for i, rt := range rts {
		if err := rt.start(o.PRuntime, addrs[i], queryAddrs[i], simSecret(o.Home), n.exited); err != nil {
			return n, err
		}
		n.Runtimes = append(n.Runtimes, rt)
	}
	if err := n.waitServing(ctx); err != nil {
		return n, err
	}
	for _, rt := range n.Runtimes {
		if err := rt.relay(n.RPC, operator.Public().AccountID(), cfg.Snapshots.Interval > 0, o.Logger); err != nil {
			return n, err
		}
	}
	if err := n.waitRegistered(ctx); err != nil {
		return n, err
	}
	if err := n.bootstrap(ctx, rec, recordPath(o.Home), o.Clusters); err != nil {
		return n, err
	}
	if o.Examples {
		if err := n.deployExamples(ctx, examples, rec, recordPath(o.Home)); err != nil {
			return n, fmt.Errorf("deploy the token example: %w", err)
		}
	}
	return n, n.waitEndpoints(ctx)
}

// initHome creates the node home of a new network, its genesis allowing the pruntime build.
func initHome(o Options, measurement string) error {
	if _, err := os.Stat(filepath.Join(o.Home, node.ConfigFile)); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(o.Home, 0o700); err != nil {
		return err
	}
	g, err := node.DevGenesisFor(o.ChainID, time.Now(), o.Home)
	if err != nil {
		return err
	}
	g.State.Registry.Runtimes = append(g.State.Registry.Runtimes, registry.GenesisRuntime{Measurement: measurement, Version: pruntime.Version})
	_, err = node.Init(o.Home, o.Config, g)
	return err
}

// allowRuntime makes sure the pruntime binary's measurement is allowed: a resumed dev chain may
// meet a rebuilt binary, which the council then allows.
func (n *Network) allowRuntime(ctx context.Context, meas []byte) error {
	var rts registry.Runtimes
	if _, err := n.chain.QueryProto(ctx, "/registry/"+registry.QueryRuntimes, nil, &rts); err != nil {
		return err
	}
	for _, rt := range rts.Runtimes {
		if rt.TeeKind == string(tee.KindSim) && bytes.Equal(rt.Measurement, meas) {
			return nil
		}
	}
	return n.govern(ctx, "phala dev: allow the current pruntime build",
		&registry.MsgAllowRuntime{TeeKind: string(tee.KindSim), Measurement: meas, Version: pruntime.Version})
}

// govern has the council (Alice alone) propose msgs and execute them at once.
func (n *Network) govern(ctx context.Context, memo string, msgs ...proto.Message) error {
	ctx, cancel := stage(ctx)
	defer cancel()
	council, err := keys.FromURI(keys.Sr25519, "//"+councilAccount)
	if err != nil {
		return err
	}
	anys := make([]*anypb.Any, len(msgs))
	for i, m := range msgs {
		if anys[i], err = module.Pack(m); err != nil {
			return err
		}
	}
	res, err := n.chain.Submit(ctx, council, client.TxOptions{}, &governance.MsgPropose{Messages: anys, Memo: memo})
	if err != nil {
		return fmt.Errorf("propose: %w", err)
	}
	if res.Err != nil {
		return fmt.Errorf("propose: %w", res.Err)
	}
	id, _ := res.Attr("proposal_submitted", "proposal_id")
	pid, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return fmt.Errorf("the proposal's transaction %s names no proposal id (%q)", res.Hash, id)
	}
	if res, err = n.chain.Submit(ctx, council, client.TxOptions{}, &governance.MsgExecute{ProposalId: pid}); err != nil {
		return fmt.Errorf("execute proposal %d: %w", pid, err)
	}
	if res.Err != nil {
		return fmt.Errorf("execute proposal %d: %w", pid, res.Err)
	}
	n.log.Info("council executed", "proposal", pid, "memo", memo)
	return nil
}

// waitServing returns once every runtime answers on its API, so that relayers start on live
// runtimes.
func (n *Network) waitServing(ctx context.Context) error {
	ctx, cancel := stage(ctx)
	defer cancel()
	for _, rt := range n.Runtimes {
		err := n.await(ctx, "runtime "+rt.Name+" to serve its API at "+rt.URL, rt.Log, func(ctx context.Context) (bool, error) {
			_, err := rt.info(ctx)
			return err == nil, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// waitRegistered returns once every runtime's own verified state shows it registered.
func (n *Network) waitRegistered(ctx context.Context) error {
	ctx, cancel := stage(ctx)
	defer cancel()
	for _, rt := range n.Runtimes {
		err := n.await(ctx, "runtime "+rt.Name+" to register", rt.Log, func(ctx context.Context) (bool, error) {
			info, err := rt.info(ctx)
			if err != nil {
				return false, err
			}
			rt.Identity = info.GetIdentityKey()
			return info.GetRegistered(), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// waitEndpoints returns once the chain records each worker's current query URL, which its
// relayer publishes once the worker is registered (and again when a resumed home picked
// another port): clients find workers there.
func (n *Network) waitEndpoints(ctx context.Context) error {
	ctx, cancel := stage(ctx)
	defer cancel()
	for _, rt := range n.Runtimes {
		if rt.QueryURL == "" {
			continue
		}
		err := n.await(ctx, "worker "+rt.Name+" to publish its query URL "+rt.QueryURL, rt.Log, func(ctx context.Context) (bool, error) {
			var w registry.Worker
			if _, err := n.chain.QueryProto(ctx, "/registry/"+registry.QueryWorker, rt.Identity, &w); err != nil {
				return false, err
			}
			return w.GetEndpoint() == rt.QueryURL, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// stage bounds one stage of the start.
func stage(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, waitTimeout, fmt.Errorf("%w after %s", ErrTimeout, waitTimeout))
}

// await polls cond until it holds. A runtime exiting or ctx ending stops it with an error that
// names what it waited for and the log to read.
func (n *Network) await(ctx context.Context, what, log string, cond func(context.Context) (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			err := context.Cause(ctx)
			if last != nil {
				err = fmt.Errorf("%w (last error: %v)", err, last)
			}
			return fmt.Errorf("waiting for %s: %w; read %s", what, err, log)
		case rt := <-n.exited:
			return fmt.Errorf("waiting for %s: %w: %s (%v); read %s", what, ErrRuntimeExited, rt.Name, rt.exitErr, rt.Log)
		case <-tick.C:
		}
	}
}

// Name is the name of the network's runtime with this identity key, or "".
func (n *Network) Name(identity []byte) string {
	for _, rt := range n.Runtimes {
		if bytes.Equal(rt.Identity, identity) {
			return rt.Name
		}
	}
	return ""
}

// Stop stops every relayer, then every runtime (which checkpoints; killed after 30 s), then
// the validator. Calling it again does nothing.
func (n *Network) Stop() error {
	var errs []error
	for _, rt := range n.Runtimes {
		errs = append(errs, rt.stopRelayer())
	}
	for _, rt := range n.Runtimes {
		rt.terminate()
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	for _, rt := range n.Runtimes {
		errs = append(errs, rt.wait(ctx))
	}
	if n.Node != nil {
		errs = append(errs, n.Node.Stop())
		n.Node = nil
	}
	return errors.Join(errs...)
}
