package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
)

// TransfersOptions configure `phala bench transfers`.
type TransfersOptions struct {
	Duration      time.Duration
	Concurrency   int
	Accounts      int
	TimeoutCommit time.Duration
	// Log receives progress lines; nil discards them.
	Log *slog.Logger
}

// Throughput is one system's measured load.
type Throughput struct {
	Name      string        `json:"name"`
	Sent      int64         `json:"sent"`
	Committed int64         `json:"committed"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	TxPerSec  float64       `json:"tx_per_sec"`
	Blocks    int64         `json:"blocks"`
}

// TransfersResult compares the chain with CometBFT's kvstore example.
type TransfersResult struct {
	Options TransfersOptions `json:"options"`
	CPUs    int              `json:"cpus"`
	KVStore Throughput       `json:"kvstore"`
	Phala   Throughput       `json:"phala"`
	Ratio   float64          `json:"ratio_phala_over_kvstore"`
}

// Transfers runs (a) a validator with CometBFT's kvstore example application and (b) a chain
// validator with the same consensus settings, drives each with the same RPC client and
// concurrency for the same time, and compares committed transactions per second: unsigned
// kvstore writes against signed sr25519 transfers.
func Transfers(ctx context.Context, o TransfersOptions) (*TransfersResult, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	res := &TransfersResult{Options: o, CPUs: runtime.NumCPU()}
	var err error
	o.Log.Info("measuring CometBFT kvstore", "duration", o.Duration, "concurrency", o.Concurrency)
	if res.KVStore, err = runKVStore(ctx, o); err != nil {
		return nil, fmt.Errorf("kvstore: %w", err)
	}
	o.Log.Info("measuring phala transfers", "duration", o.Duration, "concurrency", o.Concurrency)
	if res.Phala, err = runPhala(ctx, o); err != nil {
		return nil, fmt.Errorf("phala: %w", err)
	}
	if res.KVStore.TxPerSec > 0 {
		res.Ratio = res.Phala.TxPerSec / res.KVStore.TxPerSec
	}
	return res, nil
}

// benchNode writes a home with the dev genesis (kvstore ignores the app state) and free ports.
func benchNode(o TransfersOptions, g node.GenesisOptions) (home string, cfg node.Config, err error) {
	home, err = os.MkdirTemp("", "phala-bench-")
	if err != nil {
		return "", cfg, err
	}
	cfg = node.DefaultConfig()
	cfg.Consensus.TimeoutCommit = o.TimeoutCommit
	ports, err := node.FreePorts(2)
	if err != nil {
		return home, cfg, err
	}
	cfg.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[0])
	cfg.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])
	cfg.Mempool.Size = 200_000
	cfg.Log.ConsensusLevel = "error"
	cfg.P2P.Local = true // one node: no peer exchange, no address book
	_, err = node.Init(home, cfg, g)
	return home, cfg, err
}

func runKVStore(ctx context.Context, o TransfersOptions) (Throughput, error) {
	g, err := node.DevGenesis("bench-kvstore", time.Now())
	if err != nil {
		return Throughput{}, err
	}
	home, cfg, err := benchNode(o, g)
	defer os.RemoveAll(home)
	if err != nil {
		return Throughput{}, err
	}
	app := kvstore.NewPersistentApplication(home + "/data/kvstore")
	n, err := node.NewWithApplication(home, cfg, o.Log, app, app.Close)
	if err != nil {
		return Throughput{}, err
	}
	var seq atomic.Int64
	next := func(int) ([]byte, bool) {
		i := seq.Add(1)
		return fmt.Appendf(nil, "bench%d=value%d", i, i), true
	}
	return drive(ctx, "kvstore", n, cfg, o, next)
}

func runPhala(ctx context.Context, o TransfersOptions) (Throughput, error) {
	g, err := node.DevGenesis("bench-phala", time.Now())
	if err != nil {
		return Throughput{}, err
	}
	senders, err := benchAccounts(o.Accounts)
	if err != nil {
		return Throughput{}, err
	}
	for _, k := range senders {
		g.State.Accounts.Balances = append(g.State.Accounts.Balances, accounts.GenesisBalance{Address: k.Public().AccountID(), Balance: node.DevBalance})
	}
	home, cfg, err := benchNode(o, g)
	defer os.RemoveAll(home)
	if err != nil {
		return Throughput{}, err
	}
	// Sign every transaction before the clock starts: signing is the client's cost, not the
	// chain's. Enough for 20,000 tx/s over the whole duration.
	perAccount := int(20_000*o.Duration.Seconds())/len(senders) + 1
	o.Log.Info("signing transfers", "accounts", len(senders), "per_account", perAccount)
	txs, err := signTransfers(senders, perAccount, g.ChainID)
	if err != nil {
		return Throughput{}, err
	}
	n, err := node.New(home, cfg, o.Log, node.Options{})
	if err != nil {
		return Throughput{}, err
	}
	// Worker w owns accounts w, w+C, w+2C, ... and sends their transactions round-robin, so each
	// account's nonces arrive in order.
	cursors := make([]int, o.Concurrency)
	next := func(w int) ([]byte, bool) {
		owned := (len(senders) - w + o.Concurrency - 1) / o.Concurrency
		c := cursors[w]
		acct, round := w+(c%owned)*o.Concurrency, c/owned
		if round >= perAccount {
			return nil, false
		}
		cursors[w]++
		return txs[acct][round], true
	}
	return drive(ctx, "phala", n, cfg, o, next)
}

func benchAccounts(n int) ([]keys.PrivateKey, error) {
	out := make([]keys.PrivateKey, n)
	for i := range out {
		seed := sha256.Sum256(fmt.Appendf(nil, "phala bench account %d", i))
		k, err := keys.FromURI(keys.Sr25519, fmt.Sprintf("0x%x", seed))
		if err != nil {
			return nil, err
		}
		out[i] = k
	}
	return out, nil
}

// signTransfers signs perAccount transfers for each sender. Every transfer has the same size,
// so the minimum fee is computed once, from the largest nonce.
func signTransfers(senders []keys.PrivateKey, perAccount int, chainID string) ([][][]byte, error) {
	dp := accounts.DefaultParams()
	params := &accounts.Params{FeePerByte: dp.FeePerByte.String(), FeePerMessage: dp.FeePerMessage.String()}
	transfer := func(i, n int) tx.Unsigned {
		to := senders[(i+1)%len(senders)].Public().AccountID()
		return tx.Unsigned{ChainID: chainID, Nonce: uint64(n),
			Msgs: []proto.Message{&accounts.MsgTransfer{To: to[:], Amount: "1"}}}
	}
	sample, err := client.BuildWithMinimumFee(transfer(0, perAccount), senders[0], params)
	if err != nil {
		return nil, err
	}
	fee, err := accounts.RequiredFee(params, len(sample)+8, 1)
	if err != nil {
		return nil, err
	}
	out := make([][][]byte, len(senders))
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	for i, k := range senders {
		g.Go(func() error {
			out[i] = make([][]byte, perAccount)
			for n := range perAccount {
				u := transfer(i, n)
				u.Fee = fee
				raw, err := tx.Build(u, k)
				if err != nil {
					return err
				}
				out[i][n] = raw
			}
			return nil
		})
	}
	return out, g.Wait()
}

// drive starts n, sends transactions from o.Concurrency workers for o.Duration, waits for the
// mempool to drain, and reports committed transactions over the time from the first to the last
// block that carried load.
func drive(ctx context.Context, name string, n *node.Node, cfg node.Config, o TransfersOptions, next func(worker int) ([]byte, bool)) (Throughput, error) {
	if err := n.Start(); err != nil {
		return Throughput{}, errors.Join(err, n.Stop())
	}
	defer n.Stop()
	rpc, err := rpchttp.New(node.RPCURL(cfg.RPC.ListenAddress), "/websocket")
	if err != nil {
		return Throughput{}, err
	}
	if err := waitHeight(ctx, rpc, 2); err != nil {
		return Throughput{}, err
	}
	startHeight := n.BlockStore().Height()
	var sent atomic.Int64
	loadCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				mu.Lock()
				raw, ok := next(w)
				mu.Unlock()
				if !ok {
					return
				}
				for loadCtx.Err() == nil {
					res, err := rpc.BroadcastTxSync(loadCtx, raw)
					if err == nil && res.Code == 0 {
						sent.Add(1)
						break
					}
					if err == nil && loadCtx.Err() == nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("transaction refused: code %d %s", res.Code, res.Log)
						}
						mu.Unlock()
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return Throughput{}, firstErr
	}
	if err := waitDrained(ctx, rpc); err != nil {
		return Throughput{}, err
	}
	// Count from the block store: the committed transactions and the span of the blocks that
	// carried them.
	bs := n.BlockStore()
	end := bs.Height()
	var committed, blocks int64
	var first, last time.Time
	for h := startHeight + 1; h <= end; h++ {
		m := bs.LoadBlockMeta(h)
		if m == nil || m.NumTxs == 0 {
			continue
		}
		if first.IsZero() {
			// The first loaded block's time is when its proposal was made; measure from the block
			// before it so the first block's transactions have a duration to be counted over.
			if prev := bs.LoadBlockMeta(h - 1); prev != nil {
				first = prev.Header.Time
			}
		}
		committed += int64(m.NumTxs)
		blocks++
		last = m.Header.Time
	}
	t := Throughput{Name: name, Sent: sent.Load(), Committed: committed, Elapsed: last.Sub(first), Blocks: blocks}
	if t.Elapsed > 0 {
		t.TxPerSec = float64(committed) / t.Elapsed.Seconds()
	}
	o.Log.Info("measured", "system", name, "committed", committed, "tx_per_sec", int(t.TxPerSec), "blocks", blocks)
	return t, nil
}

func waitHeight(ctx context.Context, rpc *rpchttp.HTTP, h int64) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		st, err := rpc.Status(ctx)
		if err == nil && st.SyncInfo.LatestBlockHeight >= h {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node did not reach height %d: %w", h, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitDrained(ctx context.Context, rpc *rpchttp.HTTP) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		res, err := rpc.NumUnconfirmedTxs(ctx)
		if err == nil && res.Total == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mempool did not drain: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
