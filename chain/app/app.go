package app

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	dbm "github.com/cosmos/cosmos-db"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/modules/validators"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/crypto/keys"
)

// AppVersion is the version of the state machine's rules, reported to CometBFT.
const AppVersion = 1

var (
	ErrUnknownQuery   = errcode.New("app", 1, "unknown query path")
	ErrInvalidGenesis = errcode.New("app", 2, "invalid genesis")
	ErrNotReady       = errcode.New("app", 3, "state not initialised")
)

var keyChainID = []byte("app/chain_id")

// ProofOpType names the ICS-23 IAVL proofs that queries return.
const ProofOpType = "ics23:iavl"

// Config is what an App is built from.
type Config struct {
	// DB holds the state tree; the App never closes it.
	DB dbm.DB
	// Logger receives the App's logs; nil discards them.
	Logger *slog.Logger
	// Metrics registers the App's Prometheus metrics; nil leaves them unregistered.
	Metrics prometheus.Registerer
	// SigCacheSize is how many verified transaction hashes CheckTx remembers so FinalizeBlock
	// need not verify them again; 0 means 100,000.
	SigCacheSize int
	// Store adjusts how the state tree is opened (pRuntime's replica loads a checkpointed
	// version and reads only through Merkle nodes).
	Store store.TreeOptions
}

// App is the chain application.
type App struct {
	abci.BaseApplication

	log     *slog.Logger
	metrics *metrics
	router  *module.Router
	modules []module.Module

	sigCache *lru.Cache[[32]byte, struct{}]
	keyCache *keys.KeyCache

	// mu orders state access: CometBFT's unsynchronised local client calls CheckTx and Query
	// while a block executes, so that signature checks run outside the lock, in parallel.
	mu      sync.Mutex
	tree    *store.Tree
	chainID string
	// block holds the writes of the block being finalized until Commit.
	block *store.Cache
	// check is the mempool's view: committed state plus the transactions CheckTx accepted since.
	check     *store.Cache
	lastBlock module.Block
	// genesisHash is InitChain's AppHash, recorded in state by the first block.
	genesisHash []byte
	snapshots   Snapshots
}

var _ abci.Application = (*App)(nil)

// New opens the application over its state database.
func New(cfg Config) (*App, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	size := cfg.SigCacheSize
	if size == 0 {
		size = 100_000
	}
	cache, err := lru.New[[32]byte, struct{}](size)
	if err != nil {
		return nil, err
	}
	tree, err := store.OpenTreeWith(cfg.DB, logger.With("module", "iavl"), cfg.Store)
	if err != nil {
		return nil, err
	}
	router := module.NewRouter()
	queue := mq.New()
	queue.SetKeyResolver(mq.KindWorker, registry.WorkerSigningKey)
	queue.SetKeyResolver(mq.KindGatekeeper, registry.GatekeeperSigningKey)
	queue.Subscribe(mq.TopicPong, registry.HandlePong)
	queue.Subscribe(registry.TopicEndpoint, registry.HandleEndpoint)
	queue.Subscribe(registry.TopicGatekeeper, registry.HandleGatekeeperOutput)
	queue.Subscribe(registry.TopicClusterDeployed, registry.HandleClusterDeployed)
	ctr := contracts.New(queue)
	queue.SetKeyResolver(mq.KindCluster, contracts.ClusterSigningKey)
	queue.Subscribe(registry.TopicGatekeeper, ctr.HandleClusterKey) // after the registry's handler
	queue.Subscribe(contracts.TopicReport, ctr.HandleReport)
	mods := []module.Module{accounts.New(), governance.New(router), registry.New(), queue, validators.New(), ctr}
	for _, m := range mods {
		m.Register(router)
	}
	a := &App{
		log:      logger,
		metrics:  newMetrics(cfg.Metrics),
		router:   router,
		modules:  mods,
		sigCache: cache,
		keyCache: keys.NewKeyCache(size),
		tree:     tree,
	}
	if tree.Version() > 0 {
		a.chainID = string(tree.Working().Get(keyChainID))
		a.lastBlock = module.Block{ChainID: a.chainID, Height: tree.Version()}
		a.resetCheckState()
	}
	return a, nil
}

// SnapshotInfo describes a state snapshot a node serves.
type SnapshotInfo struct {
	Height    int64  `json:"height"`
	Size      int64  `json:"size"`
	Chunks    uint32 `json:"chunks"`
	ChunkSize int    `json:"chunk_size"`
}

// Snapshots serves state snapshots (IAVL export streams) to workers that fast-sync. It is a
// node-local service, not part of consensus: answers differ between nodes and are verified by
// the worker against a light-client-verified AppHash.
type Snapshots interface {
	ListSnapshots() ([]SnapshotInfo, error)
	LoadChunk(height int64, index uint32) ([]byte, error)
}

// SetSnapshots makes the application answer /snapshot queries from s.
func (a *App) SetSnapshots(s Snapshots) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.snapshots = s
}

// Router exposes the message router, for clients that need to decode transactions.
func (a *App) Router() *module.Router { return a.router }

// State opens a committed version for reading: pRuntime reads the messages routed to it and
// the registry from its own verified replica this way.
func (a *App) State(version int64) (*store.Snapshot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tree.Snapshot(version)
}

// Rollback discards a finalized block that was not committed: a replica does this when the next
// header shows the block's result was not the chain's. Before the first commit it also discards
// the genesis state, which InitChain must then write again.
func (a *App) Rollback() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tree.Rollback()
	a.block = nil
}

// Height is the last committed height.
func (a *App) Height() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tree.Version()
}

// Close releases the state tree.
func (a *App) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tree.Close()
}

func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &abci.ResponseInfo{
		Data:             "phala",
		AppVersion:       AppVersion,
		LastBlockHeight:  a.tree.Version(),
		LastBlockAppHash: a.tree.Hash(),
	}, nil
}

// InitChain writes the genesis state. Its root hash becomes the AppHash of the first block.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (resp *abci.ResponseInitChain, err error) {
	defer recoverFatal(&err)
	a.mu.Lock()
	defer a.mu.Unlock()
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(req.AppStateBytes, &sections); err != nil {
		return nil, errcode.Wrapf(ErrInvalidGenesis, "app_state is not a JSON object: %v", err)
	}
	for name := range sections {
		if !a.hasModule(name) {
			return nil, errcode.Wrapf(ErrInvalidGenesis, "app_state has a section %q that no module reads", name)
		}
	}
	a.tree.SetInitialVersion(req.InitialHeight)
	a.chainID = req.ChainId
	b := module.Block{ChainID: req.ChainId, Height: req.InitialHeight, Time: req.Time}
	cache := store.NewCache(a.tree.Working())
	ctx := module.NewContext(cache, b)
	ctx.Set(keyChainID, []byte(req.ChainId))
	if err := validators.InitFromConsensus(ctx, req.Validators); err != nil {
		return nil, err
	}
	for _, m := range a.modules {
		if err := m.InitGenesis(ctx, sections[m.Name()]); err != nil {
			return nil, fmt.Errorf("genesis section %q: %w", m.Name(), err)
		}
	}
	cache.Write(a.tree.Working())
	a.genesisHash = a.tree.WorkingHash()
	return &abci.ResponseInitChain{AppHash: a.genesisHash}, nil
}

func (a *App) hasModule(name string) bool {
	for _, m := range a.modules {
		if m.Name() == name {
			return true
		}
	}
	return false
}

// CheckTx admits a transaction to the mempool only if it would succeed now: decoded, signed,
// and executed against the mempool's view of state.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (resp *abci.ResponseCheckTx, err error) {
	defer recoverFatal(&err)
	d, err := tx.Decode(req.Tx, a.router)
	if err == nil && !a.sigCache.Contains(d.Hash) {
		if err = d.VerifySignature(a.keyCache); err == nil {
			a.sigCache.Add(d.Hash, struct{}{})
		}
	}
	if err != nil {
		a.metrics.checkTx(err)
		return checkTxResponse(err), nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.check == nil {
		return checkTxResponse(ErrNotReady), nil
	}
	// A transaction refused here does not enter the mempool, so none of its effects (not even
	// the fee and nonce Ante takes) may remain in the mempool's view.
	branch := store.NewCache(a.check)
	ctx := module.NewContext(branch, module.Block{ChainID: a.chainID, Height: a.lastBlock.Height + 1, Time: a.lastBlock.Time})
	if _, err = a.runTx(ctx, d); err == nil {
		branch.Write(a.check)
	}
	a.metrics.checkTx(err)
	return checkTxResponse(err), nil
}

func checkTxResponse(err error) *abci.ResponseCheckTx {
	if err == nil {
		return &abci.ResponseCheckTx{Code: abci.CodeTypeOK}
	}
	space, code, log := errcode.ABCI(err)
	return &abci.ResponseCheckTx{Code: code, Codespace: space, Log: log}
}

// runTx executes a decoded, signature-checked transaction on ctx. Fee and nonce are charged
// whenever Ante passes; the messages apply all or nothing. The returned events are those to
// report (the fee's always, the messages' only on success); err is the transaction's failure.
func (a *App) runTx(ctx *module.Context, d *tx.Decoded) ([]abci.Event, error) {
	if d.Body.GetChainId() != a.chainID {
		return nil, errcode.Wrapf(tx.ErrWrongChain, "transaction is for chain %q, this is %q", d.Body.GetChainId(), a.chainID)
	}
	anteCtx, commitAnte := ctx.Branch()
	if err := accounts.Ante(anteCtx, d, a.router.FeeExempt(d.Msgs)); err != nil {
		return nil, err
	}
	msgCtx, commitMsgs := anteCtx.Branch()
	caller := module.AccountCaller(d.Signer.AccountID())
	var msgErr error
	for i, m := range d.Msgs {
		if err := a.router.Dispatch(msgCtx, caller, m); err != nil {
			msgErr = fmt.Errorf("message %d (%s): %w", i, module.TypeURL(m), err)
			break
		}
	}
	if msgErr == nil {
		commitMsgs()
	}
	events := anteCtx.Events()
	commitAnte()
	return events, msgErr
}

// FinalizeBlock executes a decided block. Its writes stay in a cache until Commit.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (resp *abci.ResponseFinalizeBlock, err error) {
	defer recoverFatal(&err)
	decoded, errs := a.decodeAndVerify(req.Txs)
	a.mu.Lock()
	defer a.mu.Unlock()
	b := module.Block{ChainID: a.chainID, Height: req.Height, Time: req.Time, Hash: req.Hash}
	a.block = store.NewCache(a.tree.Working())
	blockCtx := module.NewContext(a.block, b)
	if module.GenesisHash(a.block) == nil {
		module.SetGenesisHash(a.block, a.genesisHash)
	}
	module.RecordBlock(a.block, b)
	results := make([]*abci.ExecTxResult, len(req.Txs))
	for i := range req.Txs {
		var events []abci.Event
		txErr := errs[i]
		if txErr == nil {
			events, txErr = a.runTx(blockCtx, decoded[i])
		}
		results[i] = execResult(events, txErr)
		a.metrics.deliverTx(txErr)
	}
	endCtx, commitEnd := blockCtx.Branch()
	for _, m := range a.modules {
		if eb, ok := m.(module.EndBlocker); ok {
			if err := eb.EndBlock(endCtx); err != nil {
				return nil, fmt.Errorf("end block of %s at height %d: %w", m.Name(), req.Height, err)
			}
		}
	}
	updates := validators.TakeUpdates(endCtx)
	commitEnd()
	a.block.Write(a.tree.Working())
	a.lastBlock = b
	a.metrics.block(req.Height, len(req.Txs))
	return &abci.ResponseFinalizeBlock{
		TxResults:        results,
		Events:           endCtx.Events(),
		ValidatorUpdates: updates,
		AppHash:          a.tree.WorkingHash(),
	}, nil
}

func execResult(events []abci.Event, err error) *abci.ExecTxResult {
	if err == nil {
		return &abci.ExecTxResult{Code: abci.CodeTypeOK, Events: events}
	}
	space, code, log := errcode.ABCI(err)
	return &abci.ExecTxResult{Code: code, Codespace: space, Log: log, Events: events}
}

// decodeAndVerify decodes every transaction and checks the signatures that CheckTx has not
// already checked, in parallel batches. errs[i] is the failure of transaction i, if any.
func (a *App) decodeAndVerify(txs [][]byte) ([]*tx.Decoded, []error) {
	decoded := make([]*tx.Decoded, len(txs))
	errs := make([]error, len(txs))
	workers := runtime.GOMAXPROCS(0)
	var g errgroup.Group
	g.SetLimit(workers)
	for i, raw := range txs {
		g.Go(func() error {
			decoded[i], errs[i] = tx.Decode(raw, a.router)
			return nil
		})
	}
	_ = g.Wait()
	var todo []int
	for i, d := range decoded {
		if errs[i] == nil && !a.sigCache.Contains(d.Hash) {
			todo = append(todo, i)
		}
	}
	chunk := (len(todo) + workers - 1) / max(workers, 1)
	for start := 0; start < len(todo); start += chunk {
		part := todo[start:min(start+chunk, len(todo))]
		g.Go(func() error {
			ds := make([]*tx.Decoded, len(part))
			for j, i := range part {
				ds[j] = decoded[i]
			}
			for j, err := range tx.VerifySignatures(ds, a.keyCache) {
				errs[part[j]] = err
			}
			return nil
		})
	}
	_ = g.Wait()
	return decoded, errs
}

// Commit persists the finalized block and resets the mempool's view to the new state.
func (a *App) Commit(context.Context, *abci.RequestCommit) (resp *abci.ResponseCommit, err error) {
	defer recoverFatal(&err)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, _, err := a.tree.Commit(); err != nil {
		return nil, err
	}
	a.block = nil
	a.resetCheckState()
	return &abci.ResponseCommit{}, nil
}

func (a *App) resetCheckState() {
	snap, err := a.tree.Snapshot(a.tree.Version())
	if err != nil {
		panic(&store.FatalError{Err: err})
	}
	a.check = store.NewCache(snap)
}

// Query answers reads. Paths:
//
//	/store                   data: raw state key; with Prove, an ICS-23 proof against the AppHash
//	                         of the queried height (found in the header of height+1)
//	/<module>/<path>         a module's query on committed state at Height (0: latest)
//	/pending/<module>/<path> the same on the mempool's view (e.g. the next usable nonce)
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (resp *abci.ResponseQuery, err error) {
	defer recoverFatal(&err)
	a.mu.Lock()
	defer a.mu.Unlock()
	resp, qerr := a.query(req)
	if qerr != nil {
		space, code, log := errcode.ABCI(qerr)
		return &abci.ResponseQuery{Code: code, Codespace: space, Log: log, Height: resp.GetHeight()}, nil
	}
	return resp, nil
}

func (a *App) query(req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	if a.tree.Version() == 0 {
		return nil, ErrNotReady
	}
	path := strings.TrimPrefix(req.Path, "/")
	if rest, ok := strings.CutPrefix(path, "snapshot/"); ok {
		value, err := a.snapshotQuery(rest, req.Data)
		return &abci.ResponseQuery{Value: value, Height: a.tree.Version()}, err
	}
	if rest, ok := strings.CutPrefix(path, "pending/"); ok {
		value, err := a.moduleQuery(a.check, rest, req.Data)
		return &abci.ResponseQuery{Value: value, Height: a.tree.Version()}, err
	}
	height := req.Height
	if height == 0 {
		height = a.tree.Version()
	}
	snap, err := a.tree.Snapshot(height)
	if err != nil {
		return nil, errcode.Wrapf(ErrUnknownQuery, "%v", err)
	}
	resp := &abci.ResponseQuery{Height: height, Key: req.Data}
	if path == "store" {
		if len(req.Data) == 0 {
			return resp, errcode.Wrapf(ErrUnknownQuery, "/store needs a key")
		}
		if !req.Prove {
			resp.Value = snap.Get(req.Data)
			return resp, nil
		}
		value, proof, err := snap.Prove(req.Data)
		if err != nil {
			return resp, err
		}
		pb, err := proof.Marshal()
		if err != nil {
			return resp, err
		}
		resp.Value = value
		resp.ProofOps = &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: ProofOpType, Key: req.Data, Data: pb}}}
		return resp, nil
	}
	resp.Value, err = a.moduleQuery(snap, path, req.Data)
	return resp, err
}

// snapshotQuery answers /snapshot/list (JSON list of SnapshotInfo) and /snapshot/chunk (data:
// 8-byte height, 4-byte chunk index).
func (a *App) snapshotQuery(path string, data []byte) ([]byte, error) {
	if a.snapshots == nil {
		return nil, errcode.Wrapf(ErrUnknownQuery, "this node serves no state snapshots (enable [snapshots] in its config)")
	}
	switch path {
	case "list":
		list, err := a.snapshots.ListSnapshots()
		if err != nil {
			return nil, err
		}
		return json.Marshal(list)
	case "chunk":
		if len(data) != 12 {
			return nil, errcode.Wrapf(ErrUnknownQuery, "/snapshot/chunk needs an 8-byte height and a 4-byte index")
		}
		return a.snapshots.LoadChunk(int64(binary.BigEndian.Uint64(data)), binary.BigEndian.Uint32(data[8:]))
	}
	return nil, errcode.Wrapf(ErrUnknownQuery, "/snapshot/%s", path)
}

func (a *App) moduleQuery(r store.Reader, path string, data []byte) ([]byte, error) {
	name, sub, _ := strings.Cut(path, "/")
	for _, m := range a.modules {
		if m.Name() == name {
			return m.Query(r, sub, data)
		}
	}
	return nil, errcode.Wrapf(ErrUnknownQuery, "%q: no module %q", path, name)
}

// recoverFatal turns a storage failure raised inside the state machine into an error, which
// makes CometBFT stop the node instead of running on a state it cannot trust.
func recoverFatal(err *error) {
	r := recover()
	if r == nil {
		return
	}
	var fe *store.FatalError
	if e, ok := r.(error); ok && errors.As(e, &fe) {
		*err = fe
		return
	}
	panic(r)
}

// GenesisState is the app_state of a genesis document: one section per module.
type GenesisState struct {
	Accounts   accounts.Genesis   `json:"accounts"`
	Governance governance.Genesis `json:"governance"`
	Registry   registry.Genesis   `json:"registry"`
	// Contracts may be absent: the defaults apply.
	Contracts *contracts.Genesis `json:"contracts,omitempty"`
}

// Marshal encodes the app_state.
func (g GenesisState) Marshal() (json.RawMessage, error) { return json.Marshal(g) }
