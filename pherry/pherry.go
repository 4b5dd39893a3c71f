package pherry

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/app"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/collateral"
)

// Config is what a relayer needs.
type Config struct {
	NodeURL     string
	PRuntimeURL string
	// Key is the relayer account: it signs registrations and egress deliveries (egress is
	// fee-free; a registration pays the normal fee).
	Key keys.PrivateKey
	// Operator is the worker's operator account; zero means the relayer account.
	Operator keys.AccountID
	// FastSync starts a fresh runtime from the newest state snapshot the node serves.
	FastSync bool
	// Batch is how many blocks go to the runtime per call; 0 means 50.
	Batch int
	// Collateral fetches TDX and SEV-SNP collateral for registrations.
	Collateral *collateral.Fetcher
	Logger     *slog.Logger
	// Terminal, when set, receives a progress line redrawn in place.
	Terminal io.Writer
	// Endpoint is the worker's public query URL (pruntime run --query-listen, as clients reach
	// it): once the worker is registered, the runtime publishes it on chain whenever the chain's
	// record differs. Empty publishes nothing.
	Endpoint string
}

// Relayer connects one node and one pRuntime.
type Relayer struct {
	cfg      Config
	log      *slog.Logger
	runtime  apiconnect.RuntimeServiceClient
	chain    *client.Client
	fetch    *fetcher
	progress *progress
	pipe     *pipeline
	// registerDeferred is set while the runtime asks to sync before it registers.
	registerDeferred bool
	// endpointErr is the last failure to publish the endpoint, logged once.
	endpointErr string
}

// New prepares a relayer; it connects lazily, so it can start before the node or runtime.
func New(cfg Config) (*Relayer, error) {
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Operator == (keys.AccountID{}) {
		cfg.Operator = cfg.Key.Public().AccountID()
	}
	if cfg.Collateral == nil {
		cfg.Collateral = &collateral.Fetcher{}
	}
	if err := registry.ValidateEndpoint(cfg.Endpoint); err != nil {
		return nil, fmt.Errorf("query endpoint: %w", err)
	}
	httpc := &http.Client{Timeout: 5 * time.Minute}
	return &Relayer{
		cfg:      cfg,
		log:      cfg.Logger,
		runtime:  apiconnect.NewRuntimeServiceClient(httpc, cfg.PRuntimeURL, connect.WithReadMaxBytes(64<<20), connect.WithSendMaxBytes(64<<20)),
		progress: &progress{term: cfg.Terminal, log: cfg.Logger, now: time.Now},
	}, nil
}

// Run relays until ctx ends, backing off on errors.
func (r *Relayer) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		caughtUp, err := r.step(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Warn("relay step failed; retrying", "err", err, "in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, 10*time.Second)
			r.chain = nil // reconnect: the node may have restarted
			r.dropPipeline()
		case caughtUp:
			backoff = 100 * time.Millisecond
			if !sleep(ctx, 200*time.Millisecond) {
				return nil
			}
		default:
			backoff = 100 * time.Millisecond
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Sync initialises the runtime if needed and returns once it has verified the state at target
// (fast-syncing first when configured), without registering the worker or delivering egress: to
// prepare a worker, or to measure sync speed. Verifying target takes the block after it, so
// target must be below the chain tip.
func (r *Relayer) Sync(ctx context.Context, target int64) error {
	c, err := client.New(ctx, r.cfg.NodeURL)
	if err != nil {
		return err
	}
	r.chain, r.fetch = c, &fetcher{rpc: c.RPC()}
	info, err := r.info(ctx)
	if err != nil {
		return err
	}
	if !info.Initialized {
		if info, err = r.initRuntime(ctx); err != nil {
			return err
		}
	}
	if r.cfg.FastSync && info.GetVerifiedHeight() == 0 {
		if err := r.fastSync(ctx, info); err != nil {
			return fmt.Errorf("fast sync: %w", err)
		}
		if info, err = r.info(ctx); err != nil {
			return err
		}
	}
	defer r.dropPipeline()
	limit := func(context.Context) (int64, error) { return target + 1, nil }
	for {
		info, err := r.info(ctx)
		if err != nil {
			return err
		}
		if info.GetVerifiedHeight() >= target {
			return nil
		}
		if err := r.syncBatch(ctx, info.GetNextHeight(), target, limit); err != nil {
			return err
		}
	}
}

// step makes one round of progress; it reports whether the runtime is at the chain tip.
func (r *Relayer) step(ctx context.Context) (caughtUp bool, err error) {
	if r.chain == nil {
		c, err := client.New(ctx, r.cfg.NodeURL)
		if err != nil {
			return false, err
		}
		r.chain, r.fetch = c, &fetcher{rpc: c.RPC()}
	}
	info, err := r.info(ctx)
	if err != nil {
		return false, err
	}
	if !info.Initialized {
		if info, err = r.initRuntime(ctx); err != nil {
			return false, err
		}
	}
	if r.cfg.FastSync && info.GetVerifiedHeight() == 0 {
		if err := r.fastSync(ctx, info); err != nil {
			return false, fmt.Errorf("fast sync: %w", err)
		}
		if info, err = r.info(ctx); err != nil {
			return false, err
		}
	}
	if err := r.ensureRegistered(ctx, info); err != nil {
		// A runtime that received its keys by handover registers only once it has verified the
		// chain past the old runtime's registration: sync first.
		if connect.CodeOf(err) != connect.CodeFailedPrecondition {
			return false, fmt.Errorf("registration: %w", err)
		}
		if !r.registerDeferred {
			r.log.Info("runtime not ready to register yet; syncing first", "reason", err)
		}
		r.registerDeferred = true
	} else {
		r.registerDeferred = false
	}
	if r.cfg.Endpoint != "" && info.GetRegistered() {
		r.publishEndpoint(ctx)
	}
	st, err := r.chain.Status(ctx)
	if err != nil {
		return false, err
	}
	target := st.SyncInfo.LatestBlockHeight
	from := info.GetNextHeight()
	if from <= target {
		if err := r.syncBatch(ctx, from, target, chainTip(r.chain)); err != nil {
			return false, err
		}
	}
	if err := r.deliverEgress(ctx); err != nil {
		return false, fmt.Errorf("egress: %w", err)
	}
	return from >= target, nil
}

// chainTip reports the latest height of chain; bound to one client, so a reconnect (which
// replaces r.chain) cannot race with the pipeline using it.
func chainTip(chain *client.Client) func(context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) {
		st, err := chain.Status(ctx)
		if err != nil {
			return 0, err
		}
		return st.SyncInfo.LatestBlockHeight, nil
	}
}

// syncBatch hands the runtime the next prefetched batch starting at from. The pipeline restarts
// whenever the runtime expects another height (it restarted, or refused a batch).
func (r *Relayer) syncBatch(ctx context.Context, from, target int64, tip func(context.Context) (int64, error)) error {
	if r.pipe == nil || r.pipe.next != from {
		r.dropPipeline()
		r.pipe = r.startPipeline(ctx, from, tip)
	}
	f, ok := r.pipe.take(ctx)
	if !ok || f.err != nil {
		r.dropPipeline()
		if !ok {
			return fmt.Errorf("block prefetch stopped")
		}
		return f.err
	}
	resp, err := r.runtime.SyncBlocks(ctx, connect.NewRequest(&api.SyncBlocksRequest{Blocks: f.blocks, ChainHeight: target}))
	if err != nil {
		r.dropPipeline()
		return fmt.Errorf("runtime refused blocks %d..%d: %w", f.from, f.to, err)
	}
	r.pipe.next = resp.Msg.GetNextHeight()
	r.progress.update(resp.Msg.GetVerifiedHeight(), target)
	return nil
}

func (r *Relayer) dropPipeline() {
	if r.pipe != nil {
		r.pipe.stop()
		r.pipe = nil
	}
}

func (r *Relayer) info(ctx context.Context) (*api.InfoResponse, error) {
	resp, err := r.runtime.Info(ctx, connect.NewRequest(&api.InfoRequest{}))
	if err != nil {
		return nil, fmt.Errorf("runtime at %s: %w", r.cfg.PRuntimeURL, err)
	}
	return resp.Msg, nil
}

func (r *Relayer) initRuntime(ctx context.Context) (*api.InfoResponse, error) {
	gen, err := r.chain.RPC().Genesis(ctx)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	doc, err := cmtjson.Marshal(gen.Genesis)
	if err != nil {
		return nil, err
	}
	if _, err := r.runtime.Init(ctx, connect.NewRequest(&api.InitRequest{Genesis: doc, Operator: r.cfg.Operator[:]})); err != nil {
		return nil, fmt.Errorf("init runtime: %w", err)
	}
	r.log.Info("runtime initialised", "chain_id", gen.Genesis.ChainID)
	return r.info(ctx)
}

// ensureRegistered registers the worker, or re-registers it when its attestation has used up
// three quarters of its validity.
func (r *Relayer) ensureRegistered(ctx context.Context, info *api.InfoResponse) error {
	var w registry.Worker
	_, err := r.chain.QueryProto(ctx, "/registry/"+registry.QueryWorker, info.GetIdentityKey(), &w)
	st, serr := r.chain.Status(ctx)
	if serr != nil {
		return serr
	}
	now := st.SyncInfo.LatestBlockTime.Unix()
	switch {
	case err == nil:
		validity := w.GetExpiresAt() - w.GetAttestedAt()
		// Re-register near expiry, and when another runtime build serves the identity (upgrade).
		if now < w.GetExpiresAt()-validity/4 && w.GetInfo().GetRuntimeVersion() == info.GetRuntimeVersion() &&
			bytes.Equal(w.GetMeasurement(), info.GetMeasurement()) {
			return nil
		}
	case !errors.Is(err, registry.ErrWorkerNotFound):
		return err
	}
	reg, err := r.runtime.Registration(ctx, connect.NewRequest(&api.RegistrationRequest{
		FreshHeight: st.SyncInfo.LatestBlockHeight, FreshHash: st.SyncInfo.LatestBlockHash,
	}))
	if err != nil {
		return err
	}
	var ev tee.Evidence
	if err := ev.UnmarshalBinary(reg.Msg.GetEvidence()); err != nil {
		return err
	}
	msg := &registry.MsgRegisterWorker{Info: reg.Msg.GetInfo(), Evidence: reg.Msg.GetEvidence()}
	if ev.Kind != tee.KindSim {
		var col tee.Collateral
		if ev.Kind == tee.KindSEVSNP {
			col, err = r.cfg.Collateral.FetchSNP(ctx, ev, reg.Msg.GetSevCertTable())
		} else {
			col, err = r.cfg.Collateral.Fetch(ctx, ev)
		}
		if err != nil {
			return fmt.Errorf("collateral: %w", err)
		}
		if msg.Collateral, err = col.MarshalBinary(); err != nil {
			return err
		}
	}
	res, err := r.submit(ctx, client.TxOptions{}, msg)
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	r.log.Info("worker registered", "identity", fmt.Sprintf("%x", info.GetIdentityKey()), "height", res.Height)
	return nil
}

// publishEndpoint has the runtime publish the query endpoint if the chain's record differs (a
// re-registration may have reset it). A failure does not stop relaying.
func (r *Relayer) publishEndpoint(ctx context.Context) {
	resp, err := r.runtime.SetEndpoint(ctx, connect.NewRequest(&api.SetEndpointRequest{Url: r.cfg.Endpoint}))
	switch {
	case err != nil && err.Error() != r.endpointErr:
		r.endpointErr = err.Error()
		r.log.Warn("cannot publish the query endpoint; retrying", "url", r.cfg.Endpoint, "err", err)
	case err == nil && resp.Msg.GetSent():
		r.endpointErr = ""
		r.log.Info("query endpoint sent to the chain", "url", r.cfg.Endpoint)
	}
}

// submit sends a transaction, retrying when the nonce raced with another transaction of the
// same account (the next attempt reads the node's mempool nonce again).
func (r *Relayer) submit(ctx context.Context, opts client.TxOptions, msgs ...proto.Message) (*client.TxResult, error) {
	for attempt := 0; ; attempt++ {
		sub, cancel := context.WithTimeout(ctx, time.Minute)
		res, err := r.chain.Submit(sub, r.cfg.Key, opts, msgs...)
		cancel()
		if (errors.Is(err, tx.ErrNonceReplayed) || errors.Is(err, tx.ErrNonceGap)) && attempt < 5 {
			continue
		}
		return res, err
	}
}

// maxEgressPerTx bounds one delivery transaction (tx.MaxMessages is the chain's limit).
const maxEgressPerTx = 50

// deliverEgress submits every message the chain has not accepted yet, in sequence order.
func (r *Relayer) deliverEgress(ctx context.Context) error {
	resp, err := r.runtime.Egress(ctx, connect.NewRequest(&api.EgressRequest{}))
	if err != nil {
		return err
	}
	next := map[string]uint64{}
	var pending []proto.Message
	for _, sm := range resp.Msg.GetMessages() {
		m, err := mq.DecodeMessage(sm.GetMessage())
		if err != nil {
			return fmt.Errorf("runtime produced an undecodable message: %w", err)
		}
		key := string(module.Marshal(m.GetOrigin()))
		n, ok := next[key]
		if !ok {
			b, _, err := r.chain.Query(ctx, "/mq/"+mq.QueryNextSequence, []byte(key), 0)
			if err != nil {
				return err
			}
			n = binary.BigEndian.Uint64(b)
			next[key] = n
		}
		if sm.GetSequence() >= n {
			pending = append(pending, &mq.MsgSyncOffchain{Message: sm})
		}
	}
	// Every batch goes to the mempool at once (each takes the next nonce of the mempool's view),
	// so a backlog lands in one block rather than one batch per block; then wait for the last.
	zero := amount.Zero
	var last string
	for len(pending) > 0 {
		batch := pending[:min(len(pending), maxEgressPerTx)]
		pending = pending[len(batch):]
		raw, err := r.chain.Build(ctx, r.cfg.Key, client.TxOptions{Fee: &zero}, batch...)
		if err != nil {
			return err
		}
		hash, err := r.chain.Broadcast(ctx, raw)
		if errors.Is(err, mq.ErrStale) {
			break // another relayer delivered first: re-read the counters next round
		}
		if err != nil {
			return err
		}
		last = hash
	}
	if last == "" {
		return nil
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := r.chain.WaitTx(wait, last)
	if err != nil {
		return err
	}
	if res.Err != nil && !errors.Is(res.Err, mq.ErrStale) {
		return res.Err
	}
	return nil
}

// fastSync installs the newest snapshot the node serves that the runtime can use: one below
// the chain tip (its next header must exist) and, for a worker already registered, before its
// registration, so no message meant for it is skipped.
func (r *Relayer) fastSync(ctx context.Context, info *api.InfoResponse) error {
	b, _, err := r.chain.Query(ctx, "/snapshot/list", nil, 0)
	if err != nil {
		return err
	}
	var list []app.SnapshotInfo
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	limit := int64(1) << 62
	var w registry.Worker
	if _, err := r.chain.QueryProto(ctx, "/registry/"+registry.QueryWorker, info.GetIdentityKey(), &w); err == nil {
		limit = w.GetRegisteredHeight() - 1
	}
	st, err := r.chain.Status(ctx)
	if err != nil {
		return err
	}
	var snap *app.SnapshotInfo
	for i := range list {
		if h := list[i].Height; h < st.SyncInfo.LatestBlockHeight && h <= limit {
			snap = &list[i]
		}
	}
	if snap == nil {
		r.log.Info("no usable state snapshot: syncing from genesis")
		return nil
	}
	r.log.Info("fast sync", "snapshot_height", snap.Height)
	for from := info.GetHeaderHeight() + 1; from <= snap.Height+1; from += 500 {
		hs, err := r.fetch.headers(ctx, from, min(from+499, snap.Height+1))
		if err != nil {
			return err
		}
		if _, err := r.runtime.SyncHeaders(ctx, connect.NewRequest(&api.SyncHeadersRequest{Headers: hs})); err != nil {
			return err
		}
		r.progress.update(min(from+499, snap.Height+1), snap.Height+1)
	}
	for i := uint32(0); i < snap.Chunks; i++ {
		data := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, uint64(snap.Height)), i)
		chunk, _, err := r.chain.Query(ctx, "/snapshot/chunk", data, 0)
		if err != nil {
			return err
		}
		if _, err := r.runtime.LoadSnapshot(ctx, connect.NewRequest(&api.LoadSnapshotRequest{Height: snap.Height, Chunk: chunk, Last: i+1 == snap.Chunks})); err != nil {
			return err
		}
	}
	return nil
}
