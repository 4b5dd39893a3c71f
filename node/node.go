package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cmtdb "github.com/cometbft/cometbft-db"
	abci "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	cmttypes "github.com/cometbft/cometbft/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/syndtr/goleveldb/leveldb"

	"github.com/phala-go/phala/chain/app"
)

// Node is a running chain node.
type Node struct {
	home string
	cfg  Config
	log  *slog.Logger
	cmt  *cmtnode.Node
	// closers release what the node opened besides CometBFT, after consensus stopped.
	closers   []func() error
	snapshots *snapshotter
	// stopBackground ends the background services and waits for them.
	stopBackground func()
}

// Options are the process-level choices a node does not read from its config file.
type Options struct {
	// Metrics registers the application's metrics; use prometheus.DefaultRegisterer in a
	// process that runs one node, nil otherwise.
	Metrics prometheus.Registerer
}

// New opens a node's databases and builds (but does not start) CometBFT and the chain
// application.
func New(home string, cfg Config, logger *slog.Logger, opts Options) (*Node, error) {
	appDB, err := dbm.NewGoLevelDB("application", filepath.Join(home, "data"), nil)
	if err != nil {
		return nil, fmt.Errorf("open application database: %w", err)
	}
	a, err := app.New(app.Config{DB: appDB, Logger: logger.With("module", "app"), Metrics: opts.Metrics})
	if err != nil {
		appDB.Close()
		return nil, err
	}
	n, err := NewWithApplication(home, cfg, logger, a, a.Close, appDB.Close)
	if err != nil {
		a.Close()
		appDB.Close()
		return nil, err
	}
	if cfg.Snapshots.Interval > 0 {
		dir := filepath.Join(home, "data", "snapshots")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, errors.Join(err, n.Stop())
		}
		n.snapshots = &snapshotter{dir: dir, app: a, interval: cfg.Snapshots.Interval, keep: cfg.Snapshots.Keep, log: logger.With("module", "snapshots")}
		a.SetSnapshots(n.snapshots)
	}
	return n, nil
}

// NewWithApplication builds a node around any ABCI application with this package's config and
// home layout; closers run after consensus stops. The benchmark uses it to run CometBFT's
// kvstore example under exactly the chain's consensus settings.
func NewWithApplication(home string, cfg Config, logger *slog.Logger, a abci.Application, closers ...func() error) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cc := cfg.cometConfig(home)
	if err := cc.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	nodeKeyPath, pvKeyPath, pvStatePath, _ := paths(home)
	nodeKey, err := p2p.LoadNodeKey(nodeKeyPath)
	if err != nil {
		return nil, fmt.Errorf("load node key: %w (was the home created with `phala init`?)", err)
	}
	pv, err := loadPrivValidator(pvKeyPath, pvStatePath)
	if err != nil {
		return nil, err
	}
	cl, err := newCometLogger(logger, cfg.Log.ConsensusLevel)
	if err != nil {
		return nil, err
	}
	dbs := &openedDBs{}
	n, err := cmtnode.NewNode(cc, pv, nodeKey,
		// One mutex per ABCI connection: the application synchronises itself, so mempool checks
		// and queries proceed while a block executes.
		proxy.NewConnSyncLocalClientCreator(a),
		cmtnode.DefaultGenesisDocProviderFunc(cc),
		dbs.provide,
		cmtnode.DefaultMetricsProvider(cc.Instrumentation),
		cl)
	if err != nil {
		dbs.close()
		return nil, fmt.Errorf("start consensus: %w", err)
	}
	return &Node{home: home, cfg: cfg, log: logger, cmt: n, closers: append([]func() error{dbs.close}, closers...)}, nil
}

// openedDBs records the databases CometBFT opens. CometBFT v0.38 does not close the transaction
// indexer's database when it stops, which keeps its lock held; closing every database after
// consensus stopped lets the same process open the home again.
type openedDBs struct {
	mu  sync.Mutex
	dbs []cmtdb.DB
}

func (o *openedDBs) provide(ctx *cmtcfg.DBContext) (cmtdb.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err == nil {
		o.mu.Lock()
		o.dbs = append(o.dbs, db)
		o.mu.Unlock()
	}
	return db, err
}

func (o *openedDBs) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, db := range o.dbs {
		if err := db.Close(); err != nil && !errors.Is(err, leveldb.ErrClosed) {
			errs = append(errs, err)
		}
	}
	o.dbs = nil
	return errors.Join(errs...)
}

// loadPrivValidator loads the validator key and its last-sign state, reporting problems as
// errors (CometBFT's loader exits the process instead).
func loadPrivValidator(keyPath, statePath string) (*privval.FilePV, error) {
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("validator key: %w", err)
	}
	var key privval.FilePVKey
	if err := cmtjson.Unmarshal(kb, &key); err != nil {
		return nil, fmt.Errorf("validator key %s: %w", keyPath, err)
	}
	sb, err := os.ReadFile(statePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("validator state %s is missing: restore it from a backup; starting without it risks double signing", statePath)
	}
	if err != nil {
		return nil, err
	}
	var state privval.FilePVLastSignState
	if err := cmtjson.Unmarshal(sb, &state); err != nil {
		return nil, fmt.Errorf("validator state %s: %w", statePath, err)
	}
	return privval.LoadFilePV(keyPath, statePath), nil
}

// Start starts consensus, P2P and RPC.
func (n *Node) Start() error {
	if err := n.cmt.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if n.snapshots != nil {
		wg.Add(1)
		go func() { defer wg.Done(); n.snapshots.run(ctx) }()
	}
	n.stopBackground = func() { cancel(); wg.Wait() }
	n.log.Info("node started", "moniker", n.cfg.Moniker, "node_id", n.cmt.NodeInfo().ID(), "rpc", n.RPCURL(), "p2p", n.cfg.P2P.ListenAddress)
	return nil
}

// Stop shuts down cleanly: consensus stops before the application's database closes.
func (n *Node) Stop() error {
	var errs []error
	if n.stopBackground != nil {
		n.stopBackground()
	}
	if n.cmt.IsRunning() {
		errs = append(errs, n.cmt.Stop())
		n.cmt.Wait()
	}
	for _, c := range n.closers {
		errs = append(errs, c())
	}
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// RPCURL is the HTTP address of the node's RPC.
func (n *Node) RPCURL() string { return RPCURL(n.cfg.RPC.ListenAddress) }

// RPCURL turns a CometBFT listen address (tcp://host:port) into an HTTP URL.
func RPCURL(laddr string) string {
	return "http://" + strings.TrimPrefix(laddr, "tcp://")
}

// Run starts a node and stops it when ctx ends.
func Run(ctx context.Context, home string, cfg Config, logger *slog.Logger, opts Options) error {
	n, err := New(home, cfg, logger, opts)
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		return errors.Join(err, n.Stop())
	}
	<-ctx.Done()
	return n.Stop()
}

// BlockStore exposes the committed blocks, for in-process observers such as the benchmark.
func (n *Node) BlockStore() BlockStore { return n.cmt.BlockStore() }

// BlockStore is the read side of CometBFT's block store.
type BlockStore interface {
	Height() int64
	LoadBlockMeta(height int64) *cmttypes.BlockMeta
}

// WaitHeight returns once the node has stored block h (so the application committed h-1), or
// when ctx ends.
func (n *Node) WaitHeight(ctx context.Context, h int64) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n.cmt.BlockStore().Height() < h {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for block %d: %w", h, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}
