package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/pherry"
	"github.com/phala-go/phala/pruntime"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/sim"
)

// stageTimeout bounds each wait of the network's start (registration, the master key, the
// cluster key, an instantiation).
const stageTimeout = 3 * time.Minute

// contractNet is a chain with a gatekeeper and a one-worker cluster, all in this process: a
// validator, two pRuntimes behind their HTTP APIs (the worker also serves the public query API
// on a listener of its own), each fed by its pherry, as `phala dev` runs them in processes.
type contractNet struct {
	log      *slog.Logger
	dir      string
	node     *node.Node
	rpc      *rpchttp.HTTP
	chain    *client.Client
	gk       *benchRuntime
	worker   *benchRuntime
	runtimes []*benchRuntime
}

// benchRuntime is one in-process pRuntime, its servers and its relayer.
type benchRuntime struct {
	rt       *pruntime.Runtime
	servers  []*http.Server
	queryURL string
	// stopRelay ends the relayer, which then reports on relayed.
	stopRelay context.CancelFunc
	relayed   chan error
}

// startContractNet starts the validator with funded accounts, the two runtimes and their
// relayers, and bootstraps key management: the gatekeeper holds the master key and the worker
// the key of cluster 1. The caller stops the network, also after an error.
func startContractNet(ctx context.Context, o ContractsOptions, funded []keys.PrivateKey) (*contractNet, error) {
	n := &contractNet{log: o.Log}
	var err error
	if n.dir, err = os.MkdirTemp("", "phala-bench-contracts-"); err != nil {
		return n, err
	}
	measurement := bytes.Repeat([]byte{0x5c}, tee.SimMeasurementSize)
	simSecret := filepath.Join(n.dir, "sim-secret")
	platform, err := sim.PlatformKey(simSecret)
	if err != nil {
		return n, err
	}
	g, err := node.DevGenesis("bench-contracts", time.Now(), platform)
	if err != nil {
		return n, err
	}
	m, err := tee.FormatMeasurement(tee.KindSim, measurement)
	if err != nil {
		return n, err
	}
	g.State.Registry.Runtimes = append(g.State.Registry.Runtimes, registry.GenesisRuntime{Measurement: m, Version: pruntime.Version})
	for _, k := range funded {
		g.State.Accounts.Balances = append(g.State.Accounts.Balances, accounts.GenesisBalance{Address: k.Public().AccountID(), Balance: node.DevBalance})
	}
	home := filepath.Join(n.dir, "node")
	cfg := node.DefaultConfig()
	ports, err := node.FreePorts(2)
	if err != nil {
		return n, err
	}
	cfg.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[0])
	cfg.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])
	cfg.P2P.Local = true
	cfg.Consensus.TimeoutCommit = o.BlockTime
	cfg.Mempool.Size = 200_000
	cfg.Log.ConsensusLevel = "error"
	if _, err := node.Init(home, cfg, g); err != nil {
		return n, err
	}
	nd, err := node.New(home, cfg, o.Log, node.Options{})
	if err != nil {
		return n, err
	}
	if err := nd.Start(); err != nil {
		return n, errors.Join(err, nd.Stop())
	}
	n.node = nd
	if err := nd.WaitHeight(ctx, 2); err != nil {
		return n, err
	}
	if n.rpc, err = rpchttp.New(nd.RPCURL(), "/websocket"); err != nil {
		return n, err
	}
	if n.chain, err = client.New(ctx, nd.RPCURL()); err != nil {
		return n, err
	}
	if n.gk, err = n.startRuntime("gatekeeper", "Eve", simSecret, measurement, false); err != nil {
		return n, err
	}
	if n.worker, err = n.startRuntime("worker", "Ferdie", simSecret, measurement, true); err != nil {
		return n, err
	}
	return n, n.bootstrap(ctx)
}

// startRuntime opens a runtime in n.dir/name behind its API and starts its relayer, signing as
// the dev account relayer. A worker also serves queries, at the endpoint its relayer publishes.
func (n *contractNet) startRuntime(name, relayer, simSecret string, measurement []byte, queries bool) (*benchRuntime, error) {
	guest, err := sim.Open(sim.Config{SecretPath: simSecret, Measurement: measurement})
	if err != nil {
		return nil, err
	}
	rt, err := pruntime.Open(pruntime.Config{DataDir: filepath.Join(n.dir, name), Guest: guest, Logger: n.log.With("module", "pruntime", "runtime", name)})
	if err != nil {
		return nil, err
	}
	br := &benchRuntime{rt: rt}
	n.runtimes = append(n.runtimes, br)
	apiURL, err := br.serve(pruntime.Handler(rt))
	if err != nil {
		return nil, err
	}
	if queries {
		if br.queryURL, err = br.serve(pruntime.QueryHandler(rt)); err != nil {
			return nil, err
		}
	}
	key, err := keys.FromURI(keys.Sr25519, "//"+relayer)
	if err != nil {
		return nil, err
	}
	p, err := pherry.New(pherry.Config{NodeURL: n.node.RPCURL(), PRuntimeURL: apiURL, Key: key, Endpoint: br.queryURL,
		Logger: n.log.With("module", "pherry", "runtime", name)})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	br.stopRelay, br.relayed = cancel, make(chan error, 1)
	go func() { br.relayed <- p.Run(ctx) }()
	return br, nil
}

// serve serves handler on a loopback port and returns its URL.
func (br *benchRuntime) serve(path string, handler http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle(path, handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	br.servers = append(br.servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

// bootstrap makes the first runtime the gatekeeper and puts the second in cluster 1, and waits
// until the worker holds the cluster's key, the chain shows it deployed, and the worker's query
// endpoint is published.
func (n *contractNet) bootstrap(ctx context.Context) error {
	err := n.await(ctx, "both runtimes to register", func(context.Context) (bool, error) {
		return n.gk.rt.Info().GetRegistered() && n.worker.rt.Info().GetRegistered(), nil
	})
	if err != nil {
		return err
	}
	gkID, workerID := n.gk.rt.Info().GetIdentityKey(), n.worker.rt.Info().GetIdentityKey()
	if err := n.govern(ctx, &registry.MsgRegisterGatekeeper{Worker: gkID}); err != nil {
		return fmt.Errorf("registering the gatekeeper: %w", err)
	}
	err = n.await(ctx, "the gatekeeper to hold the master key", func(context.Context) (bool, error) {
		return n.gk.rt.Info().GetMasterGeneration() >= 1, nil
	})
	if err != nil {
		return err
	}
	if err := n.govern(ctx, &registry.MsgCreateCluster{Workers: [][]byte{workerID}}); err != nil {
		return fmt.Errorf("creating the cluster: %w", err)
	}
	err = n.await(ctx, "the worker to hold and deploy the cluster's key", func(ctx context.Context) (bool, error) {
		var c registry.Cluster
		if _, err := n.chain.QueryProto(ctx, "/registry/"+registry.QueryCluster, registry.ClusterID(1), &c); err != nil {
			return false, err
		}
		return len(c.GetKeys()) > 0 && slices.ContainsFunc(c.GetDeployed(), func(d *registry.Deployment) bool {
			return bytes.Equal(d.GetWorker(), workerID) && d.GetGeneration() >= c.GetGeneration()
		}), nil
	})
	if err != nil {
		return err
	}
	return n.await(ctx, "the worker's query endpoint on chain", func(ctx context.Context) (bool, error) {
		var w registry.Worker
		if _, err := n.chain.QueryProto(ctx, "/registry/"+registry.QueryWorker, workerID, &w); err != nil {
			return false, err
		}
		return w.GetEndpoint() == n.worker.queryURL, nil
	})
}

// govern has the council (Alice alone on a dev chain) propose msgs and execute them at once.
func (n *contractNet) govern(ctx context.Context, msgs ...proto.Message) error {
	council, err := keys.FromURI(keys.Sr25519, "//Alice")
	if err != nil {
		return err
	}
	anys := make([]*anypb.Any, len(msgs))
	for i, m := range msgs {
		if anys[i], err = module.Pack(m); err != nil {
			return err
		}
	}
	res, err := n.chain.Submit(ctx, council, client.TxOptions{}, &governance.MsgPropose{Messages: anys, Memo: "phala bench contracts"})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("propose: %w", err)
	}
	id, _ := res.Attr("proposal_submitted", "proposal_id")
	pid, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return fmt.Errorf("the proposal's transaction %s names no proposal id (%q)", res.Hash, id)
	}
	if res, err = n.chain.Submit(ctx, council, client.TxOptions{}, &governance.MsgExecute{ProposalId: pid}); err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("execute proposal %d: %w", pid, err)
	}
	return nil
}

// await polls cond until it holds, for at most stageTimeout.
func (n *contractNet) await(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	n.log.Info("waiting for " + what)
	ctx, cancel := context.WithTimeout(ctx, stageTimeout)
	defer cancel()
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
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// stop ends the relayers, the runtimes' servers, the runtimes and the validator, and removes
// the network's files.
func (n *contractNet) stop() error {
	var errs []error
	for _, br := range n.runtimes {
		if br.stopRelay != nil {
			br.stopRelay()
			errs = append(errs, <-br.relayed)
		}
	}
	for _, br := range n.runtimes {
		for _, srv := range br.servers {
			errs = append(errs, srv.Close())
		}
		errs = append(errs, br.rt.Close())
	}
	if n.node != nil {
		errs = append(errs, n.node.Stop())
	}
	if n.dir != "" {
		errs = append(errs, os.RemoveAll(n.dir))
	}
	return errors.Join(errs...)
}
