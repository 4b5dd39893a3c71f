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
	"sync"
	"sync/atomic"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/pherry"
	"github.com/phala-go/phala/pruntime"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/sim"
)

// SyncOptions configure `phala bench sync`.
type SyncOptions struct {
	// Transfers is the load the chain carries.
	Transfers int
	// Rate is how many transfers per second are submitted while producing; 0 submits as fast as
	// the chain takes them.
	Rate int
	// BlockTime is the chain's timeout_commit while producing.
	BlockTime time.Duration
	Accounts  int
	// SnapshotInterval is how often the node snapshots its state (the fast-sync run uses the
	// newest one).
	SnapshotInterval int64
	Log              *slog.Logger
}

// Production describes how the chain produced blocks 1..Height carrying the load.
type Production struct {
	Height   int64         `json:"height"`
	Txs      int64         `json:"txs"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	BlocksPS float64       `json:"blocks_per_sec"`
	TxsPS    float64       `json:"txs_per_sec"`
}

// SyncRun is one fresh worker catching up to the production's height.
type SyncRun struct {
	Name    string        `json:"name"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// BlocksPS is the height reached over the time taken.
	BlocksPS float64 `json:"blocks_per_sec"`
	// Ratio is production time over sync time for the same blocks.
	Ratio float64 `json:"ratio_to_production"`
	// SnapshotHeight is where a fast sync started (0 from genesis).
	SnapshotHeight int64 `json:"snapshot_height"`
}

// SyncResult is the benchmark's outcome.
type SyncResult struct {
	Options    SyncOptions `json:"options"`
	Production Production  `json:"production"`
	Genesis    SyncRun     `json:"from_genesis"`
	Snapshot   SyncRun     `json:"from_snapshot"`
}

// Sync produces a chain loaded with signed transfers, then times fresh workers (the real
// pRuntime behind its API, fed by pherry over the node's RPC) syncing it from genesis and from
// a state snapshot.
func Sync(ctx context.Context, o SyncOptions) (*SyncResult, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	res := &SyncResult{Options: o}
	dir, err := os.MkdirTemp("", "phala-bench-sync-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	measurement := bytes.Repeat([]byte{0x5b}, tee.SimMeasurementSize)
	simSecret := filepath.Join(dir, "sim-secret")
	platform, err := sim.PlatformKey(simSecret)
	if err != nil {
		return nil, err
	}
	g, err := node.DevGenesis("bench-sync", time.Now(), platform)
	if err != nil {
		return nil, err
	}
	m, _ := tee.FormatMeasurement(tee.KindSim, measurement)
	g.State.Registry.Runtimes = append(g.State.Registry.Runtimes, registry.GenesisRuntime{Measurement: m, Version: pruntime.Version})
	senders, err := benchAccounts(o.Accounts)
	if err != nil {
		return nil, err
	}
	for _, k := range senders {
		g.State.Accounts.Balances = append(g.State.Accounts.Balances, accounts.GenesisBalance{Address: k.Public().AccountID(), Balance: node.DevBalance})
	}
	home := filepath.Join(dir, "node")
	cfg := node.DefaultConfig()
	ports, err := node.FreePorts(2)
	if err != nil {
		return nil, err
	}
	cfg.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[0])
	cfg.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])
	cfg.P2P.Local = true
	cfg.Consensus.TimeoutCommit = o.BlockTime
	cfg.Mempool.Size = 200_000
	cfg.Log.ConsensusLevel = "error"
	cfg.Snapshots = node.SnapshotsConfig{Interval: o.SnapshotInterval, Keep: 2}
	if _, err := node.Init(home, cfg, g); err != nil {
		return nil, err
	}
	perAccount := o.Transfers/len(senders) + 1
	o.Log.Info("signing transfers", "transfers", o.Transfers)
	txs, err := signTransfers(senders, perAccount, g.ChainID)
	if err != nil {
		return nil, err
	}
	n, err := node.New(home, cfg, o.Log, node.Options{})
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		return nil, errors.Join(err, n.Stop())
	}
	defer n.Stop()
	rpcURL := n.RPCURL()
	if err := n.WaitHeight(ctx, 2); err != nil {
		return nil, err
	}

	o.Log.Info("producing", "transfers", o.Transfers, "rate", o.Rate, "block_time", o.BlockTime)
	if res.Production, err = produce(ctx, n, rpcURL, txs, o); err != nil {
		return nil, err
	}
	// The block after the target verifies it; a snapshot near the end serves the fast sync.
	target := res.Production.Height
	if err := n.WaitHeight(ctx, target+2); err != nil {
		return nil, err
	}
	waitUntil(ctx, func() bool { return n.LatestSnapshot() > target-o.SnapshotInterval })

	o.Log.Info("syncing a fresh worker from genesis", "target", target)
	if res.Genesis, err = syncWorker(ctx, "from genesis", dir, simSecret, measurement, rpcURL, target, false, o); err != nil {
		return nil, err
	}
	o.Log.Info("syncing a fresh worker from a state snapshot", "target", target)
	if res.Snapshot, err = syncWorker(ctx, "from snapshot", dir, simSecret, measurement, rpcURL, target, true, o); err != nil {
		return nil, err
	}
	for _, r := range []*SyncRun{&res.Genesis, &res.Snapshot} {
		r.BlocksPS = float64(target) / r.Elapsed.Seconds()
		r.Ratio = res.Production.Elapsed.Seconds() / r.Elapsed.Seconds()
	}
	return res, nil
}

func waitUntil(ctx context.Context, cond func() bool) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// produce submits the transfers (at Rate per second, or as fast as accepted) and measures the
// blocks that carried them.
func produce(ctx context.Context, n *node.Node, rpcURL string, txs [][][]byte, o SyncOptions) (Production, error) {
	rpc, err := rpchttp.New(rpcURL, "/websocket")
	if err != nil {
		return Production{}, err
	}
	start := n.BlockStore().Height()
	var sent atomic.Int64
	var mu sync.Mutex
	var firstErr error
	const workers = 8
	var wg sync.WaitGroup
	interval := time.Duration(0)
	if o.Rate > 0 {
		interval = time.Second * workers / time.Duration(o.Rate)
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(max(interval, time.Microsecond))
			defer tick.Stop()
			for round := 0; ; round++ {
				for acct := w; acct < len(txs); acct += workers {
					if sent.Load() >= int64(o.Transfers) || ctx.Err() != nil || round >= len(txs[acct]) {
						return
					}
					if interval > 0 {
						<-tick.C
					}
					res, err := rpc.BroadcastTxSync(ctx, txs[acct][round])
					if err != nil || res.Code != 0 {
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("transfer refused: %v %v", err, res)
						}
						mu.Unlock()
						return
					}
					sent.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return Production{}, firstErr
	}
	if err := waitDrained(ctx, rpc); err != nil {
		return Production{}, err
	}
	// Production covers everything up to the last loaded block, from the genesis time.
	bs := n.BlockStore()
	p := Production{}
	var genesis time.Time
	for h := int64(1); h <= bs.Height(); h++ {
		meta := bs.LoadBlockMeta(h)
		if meta == nil {
			continue
		}
		if h == 1 {
			genesis = meta.Header.Time
		}
		if h > start && meta.NumTxs > 0 {
			p.Height = h
			p.Elapsed = meta.Header.Time.Sub(genesis)
		}
		p.Txs += int64(meta.NumTxs)
	}
	p.BlocksPS = float64(p.Height) / p.Elapsed.Seconds()
	p.TxsPS = float64(p.Txs) / p.Elapsed.Seconds()
	return p, nil
}

// syncWorker runs a fresh pRuntime behind its HTTP API and times pherry bringing it to target.
func syncWorker(ctx context.Context, name, dir, simSecret string, measurement []byte, rpcURL string, target int64, fast bool, o SyncOptions) (SyncRun, error) {
	guest, err := sim.Open(sim.Config{SecretPath: simSecret, Measurement: measurement})
	if err != nil {
		return SyncRun{}, err
	}
	data, err := os.MkdirTemp(dir, "worker-")
	if err != nil {
		return SyncRun{}, err
	}
	rt, err := pruntime.Open(pruntime.Config{DataDir: data, Guest: guest, CheckpointInterval: 1000, Logger: o.Log.With("module", "pruntime")})
	if err != nil {
		return SyncRun{}, err
	}
	defer rt.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return SyncRun{}, err
	}
	mux := http.NewServeMux()
	mux.Handle(pruntime.Handler(rt))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	relayerKey, err := keys.FromURI(keys.Sr25519, "//Eve")
	if err != nil {
		return SyncRun{}, err
	}
	r, err := pherry.New(pherry.Config{NodeURL: rpcURL, PRuntimeURL: "http://" + ln.Addr().String(), Key: relayerKey, FastSync: fast, Batch: 50,
		Logger: o.Log.With("module", "pherry")})
	if err != nil {
		return SyncRun{}, err
	}
	start := time.Now()
	if err := r.Sync(ctx, target); err != nil {
		return SyncRun{}, err
	}
	run := SyncRun{Name: name, Elapsed: time.Since(start)}
	if fast {
		if run.SnapshotHeight = rt.SnapshotHeight(); run.SnapshotHeight == 0 {
			run.Name += " (none taken yet, so from genesis)"
		}
	}
	o.Log.Info("synced", "run", name, "height", target, "elapsed", run.Elapsed)
	return run, nil
}
