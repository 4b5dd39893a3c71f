package bench

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	coretypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/contract/vm"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime"
)

// The chain-level measurements of `phala bench contracts`: encrypted commands against plain
// transfers, and signed encrypted queries against direct calls.

const (
	// grantsPerInstance bounds the mint list of one instantiation: sealed, its init message
	// (about 93 bytes a grant) must fit the chain's 32 KiB payload limit.
	grantsPerInstance = 300
	mintAmount        = 1_000_000
	instantiateGas    = 5_000_000_000
	// commandGas is each transfer's gas limit (a transfer uses about 0.6 million).
	commandGas = 5_000_000
	// queriesPerSession keeps a signer well below the worker's bound on live query nonces.
	queriesPerSession = 1000
)

// measureNetwork starts the in-process network, deploys the token with a balance for each
// sender, and measures throughput and query latency on it.
func measureNetwork(ctx context.Context, token []byte, o ContractsOptions) (e2e EndToEnd, q QueryLatency, err error) {
	instances := (o.Commands + grantsPerInstance - 1) / grantsPerInstance
	accts, err := benchAccounts(o.Commands + instances)
	if err != nil {
		return e2e, q, err
	}
	senders, deployers := accts[:o.Commands], accts[o.Commands:]
	o.Log.Info("starting a validator, a gatekeeper and a one-worker cluster in process", "block_time", o.BlockTime)
	n, err := startContractNet(ctx, o, accts)
	defer func() { err = errors.Join(err, n.stop()) }()
	if err != nil {
		return e2e, q, err
	}
	cts, err := n.deploy(ctx, token, deployers, senders)
	if err != nil {
		return e2e, q, err
	}
	if e2e, err = n.measureThroughput(ctx, cts, senders, o); err != nil {
		return e2e, q, err
	}
	q, err = n.measureQueries(ctx, cts, senders, o.Queries)
	return e2e, q, err
}

// deploy uploads the token and instantiates it once per deployer, encrypted, each instance
// minting to the next grantsPerInstance holders.
func (n *contractNet) deploy(ctx context.Context, token []byte, deployers, holders []keys.PrivateKey) ([]*contracts.Contract, error) {
	alice, err := keys.FromURI(keys.Sr25519, "//Alice")
	if err != nil {
		return nil, err
	}
	n.log.Info("uploading the token", "bytes", len(token))
	hash, _, err := n.chain.UploadCode(ctx, alice, token, client.TxOptions{})
	if err != nil {
		return nil, fmt.Errorf("uploading the token: %w", err)
	}
	n.log.Info("instantiating the token", "instances", len(deployers), "holders", len(holders))
	cts := make([]*contracts.Contract, len(deployers))
	var g errgroup.Group
	for k, d := range deployers {
		g.Go(func() error {
			type grant struct {
				To     address `json:"to"`
				Amount uint64  `json:"amount"`
			}
			init := struct {
				Name   string  `json:"name"`
				Symbol string  `json:"symbol"`
				Mint   []grant `json:"mint"`
			}{Name: "Bench", Symbol: "BCH"}
			for _, h := range holders[k*grantsPerInstance : min((k+1)*grantsPerInstance, len(holders))] {
				init.Mint = append(init.Mint, grant{To: address(h.Public().AccountID()), Amount: mintAmount})
			}
			msg, err := json.Marshal(init)
			if err != nil {
				return err
			}
			ictx, cancel := context.WithTimeout(ctx, stageTimeout)
			defer cancel()
			ct, _, err := n.chain.Instantiate(ictx, d, hash[:], registry.ClusterID(1), []byte("bench"), msg, client.InstantiateOptions{GasLimit: instantiateGas})
			if err != nil {
				return fmt.Errorf("instantiating token %d of %d: %w", k+1, len(deployers), err)
			}
			cts[k] = ct
			return nil
		})
	}
	return cts, g.Wait()
}

// measureThroughput sends one encrypted transfer from each sender, then one plain transfer from
// each, and times each wave from its first submission to its last report or commit.
func (n *contractNet) measureThroughput(ctx context.Context, cts []*contracts.Contract, senders []keys.PrivateKey, o ContractsOptions) (EndToEnd, error) {
	var params accounts.Params
	if _, err := n.chain.QueryProto(ctx, "/accounts/"+accounts.QueryParams, nil, &params); err != nil {
		return EndToEnd{}, err
	}
	// Sign everything before the clock starts: sealing and signing are the clients' cost.
	n.log.Info("sealing and signing the transactions", "senders", len(senders))
	commands, transfers := make([][]byte, len(senders)), make([][]byte, len(senders))
	var g errgroup.Group
	g.SetLimit(runtime.NumCPU())
	for i, k := range senders {
		g.Go(func() error {
			ct := cts[i/grantsPerInstance]
			from, to := k.Public().AccountID(), senders[(i+1)%len(senders)].Public().AccountID()
			msg, err := sealedTransfer(ct, from, to)
			if err != nil {
				return err
			}
			u := tx.Unsigned{ChainID: n.chain.ChainID(), Nonce: 0, Msgs: []proto.Message{msg}}
			if commands[i], err = client.BuildWithMinimumFee(u, k, &params); err != nil {
				return err
			}
			u = tx.Unsigned{ChainID: n.chain.ChainID(), Nonce: 1, Msgs: []proto.Message{&accounts.MsgTransfer{To: to[:], Amount: "1"}}}
			transfers[i], err = client.BuildWithMinimumFee(u, k, &params)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return EndToEnd{}, err
	}
	reports := map[string]bool{}
	for _, ct := range cts {
		reports[hex.EncodeToString(ct.GetId())] = true
	}
	e := EndToEnd{Contracts: len(cts)}
	var err error
	n.log.Info("sending encrypted token transfers", "commands", len(commands), "concurrency", o.Concurrency)
	if e.Commands, e.GasPerCommand, err = n.load(ctx, commands, o.Concurrency, reports); err != nil {
		return EndToEnd{}, fmt.Errorf("encrypted commands: %w", err)
	}
	n.log.Info("measured", "commands_per_sec", e.Commands.PerSec, "elapsed", e.Commands.Elapsed)
	n.log.Info("sending plain transfers", "transfers", len(transfers), "concurrency", o.Concurrency)
	if e.Transfers, _, err = n.load(ctx, transfers, o.Concurrency, nil); err != nil {
		return EndToEnd{}, fmt.Errorf("plain transfers: %w", err)
	}
	n.log.Info("measured", "transfers_per_sec", e.Transfers.PerSec, "elapsed", e.Transfers.Elapsed)
	e.Ratio = e.Commands.PerSec / e.Transfers.PerSec
	return e, nil
}

// sealedTransfer is a command to ct moving 1 token from from to to, sealed as clients seal it:
// to the contract's newest X-Wing key, bound to the contract and the sender.
func sealedTransfer(ct *contracts.Contract, from, to keys.AccountID) (*contracts.MsgExecute, error) {
	ks := ct.GetKeys()
	if len(ks) == 0 {
		return nil, fmt.Errorf("contract %X has no keys", ct.GetId())
	}
	newest := ks[len(ks)-1]
	for _, k := range newest.GetEncryptionKeys() {
		if envelope.KEM(k.GetKem()) != envelope.XWing {
			continue
		}
		input := fmt.Appendf(nil, `{"transfer":{"to":%q,"amount":1}}`, address(to))
		env, err := envelope.Seal(envelope.PublicKey{KEM: envelope.XWing, Key: k.GetPublicKey()}, envelope.PurposeCommand, ct.GetId(), from[:], input)
		if err != nil {
			return nil, err
		}
		return &contracts.MsgExecute{Contract: ct.GetId(), Payload: env, Encrypted: true, KeyGeneration: newest.GetClusterGeneration(), GasLimit: commandGas}, nil
	}
	return nil, fmt.Errorf("contract %X publishes no X-Wing key", ct.GetId())
}

// load broadcasts txs from concurrency clients and returns the rate from the first submission
// to the commit of the block that completed the wave: the last of txs when reports is nil,
// else the last cluster report (contract_executed) of one of txs, whose contracts reports holds
// (hex ids). Every transaction and every report must succeed. gas is a report's gas_used.
func (n *contractNet) load(ctx context.Context, txs [][]byte, concurrency int, reports map[string]bool) (r Rate, gas uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, stageTimeout+time.Duration(len(txs))*50*time.Millisecond)
	defer cancel()
	w, err := n.watchCommits(ctx)
	if err != nil {
		return r, 0, err
	}
	defer w.stop()
	pending := map[string]bool{}
	for _, raw := range txs {
		pending[string(cmttypes.Tx(raw).Hash())] = true
	}
	start := time.Now()
	if err := n.broadcast(ctx, txs, concurrency); err != nil {
		return r, 0, err
	}
	var done, last int64
	for h := w.from + 1; done < int64(len(txs)); h++ {
		if err := w.wait(ctx, h); err != nil {
			return r, 0, fmt.Errorf("%d of %d done: %w", done, len(txs), err)
		}
		b, err := n.rpc.Block(ctx, &h)
		if err != nil {
			return r, 0, err
		}
		res, err := n.rpc.BlockResults(ctx, &h)
		if err != nil {
			return r, 0, err
		}
		found, g, err := countDone(b, res, pending, reports)
		if err != nil {
			return r, 0, err
		}
		if found > 0 {
			done, gas = done+found, g
			last = h
			r.Blocks++
		}
	}
	if done != int64(len(txs)) {
		return r, 0, fmt.Errorf("%w: %d done for %d transactions", ErrFailed, done, len(txs))
	}
	r.Count, r.Elapsed = len(txs), w.at(last).Sub(start)
	r.PerSec = float64(r.Count) / r.Elapsed.Seconds()
	return r, gas, nil
}

// countDone counts what block b (with its results res) completed of a load: the transactions
// among pending when reports is nil, else the reports of contracts among reports. Every
// transaction among pending and every such report must have succeeded. gas is the gas_used of
// the last report counted.
func countDone(b *coretypes.ResultBlock, res *coretypes.ResultBlockResults, pending, reports map[string]bool) (found int64, gas uint64, err error) {
	h := b.Block.Height
	for i, raw := range b.Block.Data.Txs {
		if !pending[string(raw.Hash())] {
			continue
		}
		if i >= len(res.TxsResults) {
			return 0, 0, fmt.Errorf("%w: block %d has %d transactions and %d results", ErrFailed, h, len(b.Block.Data.Txs), len(res.TxsResults))
		}
		if res.TxsResults[i].Code != 0 {
			return 0, 0, fmt.Errorf("%w: a transaction failed in block %d: %s", ErrFailed, h, res.TxsResults[i].Log)
		}
		found++
	}
	if reports == nil {
		return found, 0, nil
	}
	found = 0
	for _, t := range res.TxsResults {
		for _, ev := range t.Events {
			attr := map[string]string{}
			for _, a := range ev.Attributes {
				attr[a.Key] = a.Value
			}
			if ev.Type != "contract_executed" || !reports[attr["contract"]] {
				continue
			}
			if attr["outcome"] != "ok" {
				return 0, 0, fmt.Errorf("%w: command %s of contract %s: outcome %q", ErrFailed, attr["command"], attr["contract"], attr["outcome"])
			}
			if gas, err = strconv.ParseUint(attr["gas_used"], 10, 64); err != nil {
				return 0, 0, fmt.Errorf("%w: contract_executed in block %d: gas_used %q", ErrFailed, h, attr["gas_used"])
			}
			found++
		}
	}
	return found, gas, nil
}

// broadcast submits txs from concurrency clients; each must enter the mempool.
func (n *contractNet) broadcast(ctx context.Context, txs [][]byte, concurrency int) error {
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range concurrency {
		g.Go(func() error {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(txs)) {
					return nil
				}
				res, err := n.rpc.BroadcastTxSync(ctx, txs[i])
				if err != nil {
					return err
				}
				if res.Code != 0 {
					return fmt.Errorf("%w: transaction refused: code %d %s", ErrFailed, res.Code, res.Log)
				}
			}
		})
	}
	return g.Wait()
}

// commitWatch records when each height was committed, as the application reports it.
type commitWatch struct {
	// from is the height committed when the watch started.
	from  int64
	mu    sync.Mutex
	times map[int64]time.Time
	top   int64
	err   error
	quit  context.CancelFunc
	done  chan struct{}
}

// watchCommits polls the application's committed height every few milliseconds.
func (n *contractNet) watchCommits(ctx context.Context) (*commitWatch, error) {
	info, err := n.rpc.ABCIInfo(ctx)
	if err != nil {
		return nil, err
	}
	ctx, quit := context.WithCancel(ctx)
	w := &commitWatch{from: info.Response.LastBlockHeight, top: info.Response.LastBlockHeight, times: map[int64]time.Time{}, quit: quit, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			info, err := n.rpc.ABCIInfo(ctx)
			now := time.Now()
			w.mu.Lock()
			if err != nil && ctx.Err() == nil {
				w.err = err
			}
			if err == nil {
				for h := w.top + 1; h <= info.Response.LastBlockHeight; h++ {
					w.times[h] = now
				}
				w.top = max(w.top, info.Response.LastBlockHeight)
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// wait returns once height h is committed.
func (w *commitWatch) wait(ctx context.Context, h int64) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		w.mu.Lock()
		top, err := w.top, w.err
		w.mu.Unlock()
		if top >= h {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("waiting for block %d: %w (last error: %v)", h, ctx.Err(), err)
			}
			return fmt.Errorf("waiting for block %d: %w", h, ctx.Err())
		case <-tick.C:
		}
	}
}

// at is when h was first seen committed.
func (w *commitWatch) at(h int64) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.times[h]
}

func (w *commitWatch) stop() {
	w.quit()
	<-w.done
}

// measureQueries asks each query twice, alternately: signed by a session key and sealed to the
// worker through the query API over HTTP (client.QueryClient, as users query), and directly
// through Runtime.QueryContract on the same worker, unsigned and unencrypted. Both must answer
// the same balance.
func (n *contractNet) measureQueries(ctx context.Context, cts []*contracts.Contract, senders []keys.PrivateKey, queries int) (QueryLatency, error) {
	v, err := n.chain.NewVerifier(ctx, filepath.Join(n.dir, "light"), client.Trust{})
	if err != nil {
		return QueryLatency{}, err
	}
	defer v.Close()
	n.log.Info("querying balances: signed and encrypted over the query API, and directly", "queries", queries)
	input := []byte(`{"balance":{}}`)
	q := QueryLatency{Queries: queries}
	var signed, direct []time.Duration
	for first := 0; first < queries; first += queriesPerSession {
		i := (first / queriesPerSession) % len(senders)
		k, contract := senders[i], [32]byte(cts[i/grantsPerInstance].GetId())
		caller := vm.Caller{Kind: vm.CallerAccount, ID: k.Public().AccountID()}
		s, err := client.NewSession(k, n.chain.ChainID(), time.Hour, time.Now())
		if err != nil {
			return q, err
		}
		qc := client.NewQueryClient(v, s, nil)
		// The first query finds the contract's workers through verified reads: not timed.
		want, _, err := qc.Query(ctx, contract, input, client.QueryOptions{})
		if err != nil {
			return q, err
		}
		check := func(got []byte, err error, path string) error {
			if err == nil && !bytes.Equal(got, want) {
				err = fmt.Errorf("%w: %s query answered %s, the first answer was %s", ErrFailed, path, got, want)
			}
			return err
		}
		ds, dd, err := interleave(min(queriesPerSession, queries-first), func() error {
			out, _, err := qc.Query(ctx, contract, input, client.QueryOptions{})
			return check(out, err, "signed")
		}, func() error {
			ans, err := n.worker.rt.QueryContract(ctx, contract[:], caller, input, pruntime.MaxQueryGas)
			if err == nil {
				return check(ans.Result.Output, ans.Result.Err, "direct")
			}
			return err
		})
		if err != nil {
			return q, err
		}
		signed, direct = append(signed, ds...), append(direct, dd...)
	}
	q.Signed, q.Direct = timing(signed), timing(direct)
	q.RatioP50, q.RatioP99 = ratio(q.Signed.Median, q.Direct.Median), ratio(q.Signed.P99, q.Direct.P99)
	return q, nil
}
