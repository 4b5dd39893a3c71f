package pruntime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmttypes "github.com/cometbft/cometbft/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phala-go/phala/chain/app"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/contract/vm"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/replica"
	"github.com/phala-go/phala/pruntime/seal"
	"github.com/phala-go/phala/tee"
)

// Version is this runtime's version, which registrations declare and the allowlist pins.
const Version = 1

var (
	// ErrNotInitialized is returned before Init.
	ErrNotInitialized = errors.New("runtime not initialised: call Init with the chain's genesis first")
	// ErrOtherChain is returned by Init for a genesis other than the pinned one.
	ErrOtherChain = errors.New("runtime already pinned to another chain")
)

// Config is how a Runtime is opened.
type Config struct {
	// DataDir holds everything the runtime persists, all sealed.
	DataDir string
	// Guest is the TEE the runtime runs in.
	Guest tee.Guest
	// CheckpointInterval is how many committed blocks pass between checkpoints (also written at
	// Close); 0 means 100.
	CheckpointInterval int64
	Logger             *slog.Logger
	// Metrics registers the runtime's metrics; nil leaves them unregistered.
	Metrics prometheus.Registerer
}

const (
	initFile       = "init.sealed"
	checkpointFile = "checkpoint.sealed"
	stateDir       = "state"
)

// initState is what Init pins.
type initState struct {
	Genesis  []byte `json:"genesis"`
	Operator []byte `json:"operator"`
}

// Runtime is a worker runtime. Its methods are safe for concurrent use; blocks are processed
// one at a time.
type Runtime struct {
	mu sync.Mutex
	// treeMu orders the state trees' writers (holding mu too) before the queries that read
	// snapshots of them without mu: IAVL's writer mutates nodes its snapshots share.
	treeMu  sync.RWMutex
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	fileKey seal.Key
	dbKey   seal.Key
	keys    *workerKeys
	meas    []byte

	init    *initState
	genesis replica.Genesis
	db      dbm.DB
	app     *app.App
	replica *replica.Replica
	// state is the runtime's own versioned state, committed in lockstep with the replica.
	state *store.Tree
	// chainHeight is the host's view of the chain tip, for the lag metric.
	chainHeight int64
	// importing is a snapshot being loaded (fast sync).
	importing *importing
	// snapshotHeight is the height of the snapshot this runtime started from (0: genesis).
	snapshotHeight int64
	// engine runs contracts; codes are the contracts' compiled code, loaded on first use.
	engine  *vm.Engine
	codesMu sync.Mutex
	codes   map[string]*vm.Code
	// replay remembers the nonces of live signed queries.
	replay *replayCache
}

// SnapshotHeight is the height of the state snapshot the runtime fast-synced from, 0 if it
// synced from genesis (since it last started).
func (r *Runtime) SnapshotHeight() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshotHeight
}

// Open loads a runtime from its data directory, resuming from the newest valid checkpoint.
func Open(cfg Config) (*Runtime, error) {
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	sk, err := cfg.Guest.SealingKey()
	if err != nil {
		return nil, fmt.Errorf("TEE sealing key: %w", err)
	}
	fileKey, err := seal.Derive(sk, "files")
	if err != nil {
		return nil, err
	}
	dbKey, err := seal.Derive(sk, "db")
	if err != nil {
		return nil, err
	}
	keys, err := loadOrCreateKeys(cfg.DataDir, fileKey)
	if err != nil {
		return nil, err
	}
	meas, err := cfg.Guest.Measurement()
	if err != nil {
		return nil, fmt.Errorf("TEE measurement: %w", err)
	}
	// The compilation cache stays in memory: compiled code is executed as is, so it must never
	// come from storage the host can write.
	engine, err := vm.NewEngine(context.Background(), vm.DefaultConfig())
	if err != nil {
		return nil, err
	}
	r := &Runtime{cfg: cfg, log: cfg.Logger, metrics: newMetrics(cfg.Metrics), fileKey: fileKey, dbKey: dbKey, keys: keys, meas: meas,
		engine: engine, codes: map[string]*vm.Code{}, replay: newReplayCache(maxNoncesPerSigner, maxNonces)}
	b, err := fileKey.ReadFile(filepath.Join(cfg.DataDir, initFile), "init")
	switch {
	case errors.Is(err, os.ErrNotExist):
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("init record: %w: remove %s to start over", err, cfg.DataDir)
	}
	var in initState
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("init record: %w", err)
	}
	if err := r.pin(&in); err != nil {
		return nil, err
	}
	if err := r.openState(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Runtime) pin(in *initState) error {
	g, err := replica.ParseGenesis(in.Genesis)
	if err != nil {
		return err
	}
	if len(in.Operator) != 32 {
		return fmt.Errorf("operator account has %d bytes, want 32", len(in.Operator))
	}
	r.init, r.genesis = in, g
	return nil
}

// checkpoint is the sealed manifest naming a consistent committed height.
type checkpoint struct {
	ChainID   string `json:"chain_id"`
	Height    int64  `json:"height"`
	AppHash   []byte `json:"app_hash"`
	StateHash []byte `json:"state_hash"`
}

// openState resumes from the checkpoint, or starts a verified re-sync from genesis when there is
// none or it cannot be trusted.
func (r *Runtime) openState() error {
	b, err := r.fileKey.ReadFile(filepath.Join(r.cfg.DataDir, checkpointFile), "checkpoint")
	if errors.Is(err, os.ErrNotExist) {
		return r.reset("no checkpoint")
	}
	if err != nil {
		r.metrics.integrity.WithLabelValues("checkpoint_tampered").Inc()
		r.log.Error("checkpoint does not authenticate: re-syncing from genesis", "err", err)
		return r.reset("tampered checkpoint")
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil || cp.ChainID != r.genesis.Doc.ChainID {
		r.metrics.integrity.WithLabelValues("checkpoint_tampered").Inc()
		r.log.Error("checkpoint unreadable or for another chain: re-syncing from genesis", "err", err)
		return r.reset("bad checkpoint")
	}
	if err := r.resume(cp); err != nil {
		r.metrics.integrity.WithLabelValues("state_mismatch").Inc()
		r.log.Error("state does not match the checkpoint: re-syncing from genesis", "height", cp.Height, "err", err)
		return r.reset("state mismatch")
	}
	return nil
}

func (r *Runtime) openDB() error {
	inner, err := dbm.NewGoLevelDB("state", filepath.Join(r.cfg.DataDir, stateDir), nil)
	if err != nil {
		return fmt.Errorf("open state database: %w", err)
	}
	r.db = seal.NewDB(inner, r.dbKey)
	return nil
}

func (r *Runtime) chainDB() dbm.DB   { return dbm.NewPrefixDB(r.db, []byte("c/")) }
func (r *Runtime) runtimeDB() dbm.DB { return dbm.NewPrefixDB(r.db, []byte("r/")) }

// resume opens both trees at the checkpoint's height and checks them against it.
func (r *Runtime) resume(cp checkpoint) (err error) {
	defer recoverStorage(&err)
	if err := r.openDB(); err != nil {
		return err
	}
	latest, err := store.OpenTreeWith(r.chainDB(), nil, store.TreeOptions{NoFastIndex: true})
	if err != nil {
		return err
	}
	// Checkpoints are written at least every CheckpointInterval commits and at shutdown, so state
	// far ahead of the checkpoint means an older checkpoint was put back in place.
	if ahead := latest.Version() - cp.Height; ahead > r.cfg.CheckpointInterval+1 {
		r.metrics.integrity.WithLabelValues("checkpoint_rolled_back").Inc()
		r.log.Error("checkpoint is older than the state: it was rolled back; resuming from it and replaying",
			"checkpoint_height", cp.Height, "state_height", latest.Version())
	}
	a, err := app.New(app.Config{DB: r.chainDB(), Logger: r.log.With("module", "replica"), Store: store.TreeOptions{Version: cp.Height, NoFastIndex: true}})
	if err != nil {
		return err
	}
	st, err := store.OpenTreeWith(r.runtimeDB(), nil, store.TreeOptions{Version: cp.Height, NoFastIndex: true})
	if err != nil {
		return err
	}
	snap, err := a.State(cp.Height)
	if err != nil {
		return err
	}
	if !bytes.Equal(snap.Hash(), cp.AppHash) || !bytes.Equal(st.Hash(), cp.StateHash) {
		return fmt.Errorf("roots differ from the checkpoint's")
	}
	last, err := decodeHeader(st.Working().Get(keyHeader))
	if err != nil {
		return err
	}
	gh := module.GenesisHash(snap)
	rep, err := replica.Resume(a, r.genesis, gh, last)
	if err != nil {
		return err
	}
	r.app, r.replica, r.state = a, rep, st
	r.metrics.verified.Set(float64(cp.Height))
	r.log.Info("resumed from checkpoint", "height", cp.Height)
	return nil
}

// reset wipes the state and starts a verified sync from genesis.
func (r *Runtime) reset(why string) error {
	r.closeDB()
	if err := os.RemoveAll(filepath.Join(r.cfg.DataDir, stateDir)); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(r.cfg.DataDir, checkpointFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := r.openDB(); err != nil {
		return err
	}
	a, err := app.New(app.Config{DB: r.chainDB(), Logger: r.log.With("module", "replica"), Store: store.TreeOptions{NoFastIndex: true}})
	if err != nil {
		return err
	}
	rep, err := replica.New(a, r.genesis)
	if err != nil {
		return err
	}
	st, err := store.OpenTreeWith(r.runtimeDB(), nil, store.TreeOptions{NoFastIndex: true})
	if err != nil {
		return err
	}
	r.app, r.replica, r.state = a, rep, st
	r.metrics.verified.Set(0)
	r.log.Info("syncing from genesis", "reason", why, "chain_id", r.genesis.Doc.ChainID)
	return nil
}

func (r *Runtime) closeDB() {
	if r.app != nil {
		_ = r.app.Close()
	}
	if r.state != nil {
		_ = r.state.Close()
	}
	if r.db != nil {
		_ = r.db.Close()
	}
	r.app, r.replica, r.state, r.db = nil, nil, nil, nil
}

// recoverStorage turns a storage failure raised by the trees (a value that does not
// authenticate, a missing node) into an error.
func recoverStorage(err *error) {
	if p := recover(); p != nil {
		var fe *store.FatalError
		if e, ok := p.(error); ok && errors.As(e, &fe) {
			*err = fe
			return
		}
		panic(p)
	}
}

// Init pins the chain and the operator. It is idempotent for the same genesis and operator.
func (r *Runtime) Init(genesis, operator []byte) (*api.InitResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.treeMu.Lock() // writes the trees queries read (see treeMu)
	defer r.treeMu.Unlock()
	in := &initState{Genesis: genesis, Operator: operator}
	if r.init != nil {
		if sha256.Sum256(r.init.Genesis) != sha256.Sum256(genesis) || !bytes.Equal(r.init.Operator, operator) {
			return nil, fmt.Errorf("%w %q: to serve another chain or operator, start with an empty data directory", ErrOtherChain, r.genesis.Doc.ChainID)
		}
		return r.initResponse(), nil
	}
	if err := r.pin(in); err != nil {
		return nil, err
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	if err := r.fileKey.WriteFile(filepath.Join(r.cfg.DataDir, initFile), "init", b); err != nil {
		return nil, err
	}
	if err := r.reset("init"); err != nil {
		return nil, err
	}
	return r.initResponse(), nil
}

func (r *Runtime) initResponse() *api.InitResponse {
	id := r.keys.identity.Public().Key
	return &api.InitResponse{IdentityKey: id[:], GenesisHash: r.replica.GenesisHash()}
}

// Registration builds the worker's registration info naming a recent block, and TEE evidence
// binding it.
func (r *Runtime) Registration(freshHeight int64, freshHash []byte) (*api.RegistrationResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.init == nil {
		return nil, ErrNotInitialized
	}
	if err := r.confirmHandover(); err != nil {
		return nil, err
	}
	id := r.keys.identity.Public().Key
	info := &registry.WorkerInfo{
		IdentityKey: id[:],
		EncryptionKeys: []*registry.EncryptionKey{
			{Kem: uint32(r.keys.x25519.KEM()), PublicKey: r.keys.x25519.Public().Key},
			{Kem: uint32(r.keys.xwing.KEM()), PublicKey: r.keys.xwing.Public().Key},
		},
		ChainId: r.genesis.Doc.ChainID, GenesisHash: r.replica.GenesisHash(), Operator: r.init.Operator,
		RuntimeVersion: Version, Cores: uint32(runtime.NumCPU()), FreshHeight: freshHeight, FreshHash: freshHash,
	}
	raw := registry.EncodeInfo(info)
	ev, err := r.cfg.Guest.Evidence(registry.ReportData(raw))
	if err != nil {
		return nil, fmt.Errorf("TEE evidence: %w", err)
	}
	evb, err := ev.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &api.RegistrationResponse{Info: raw, Evidence: evb, TeeKind: string(ev.Kind)}, nil
}

// SyncBlocks verifies and replays blocks in order and dispatches every height they confirm.
func (r *Runtime) SyncBlocks(req *api.SyncBlocksRequest) (resp *api.SyncBlocksResponse, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.treeMu.Lock() // writes the trees queries read (see treeMu)
	defer r.treeMu.Unlock()
	if r.init == nil {
		return nil, ErrNotInitialized
	}
	if req.GetChainHeight() > 0 {
		r.chainHeight = req.GetChainHeight()
	}
	defer func() {
		if err != nil && errors.Is(err, seal.ErrTampered) {
			r.metrics.integrity.WithLabelValues("state_tampered").Inc()
			r.log.Error("sealed state does not authenticate: re-syncing from genesis", "err", err)
			err = errors.Join(err, r.reset("tampered state"))
		}
		resp = &api.SyncBlocksResponse{VerifiedHeight: r.replica.Height(), NextHeight: r.replica.NextHeight()}
		r.metrics.observe(r.replica.Height(), r.chainHeight)
	}()
	for _, b := range req.GetBlocks() {
		if err := r.apply(b); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (r *Runtime) apply(b *api.Block) (err error) {
	defer recoverStorage(&err)
	committed, err := r.replica.Apply(b.GetSignedHeader(), b.GetValidatorSet(), b.GetTxs())
	if committed > 0 {
		if cerr := r.onCommit(committed); cerr != nil {
			return errors.Join(err, cerr)
		}
	}
	return err
}

var keyHeader = []byte("replica/header")

func decodeHeader(b []byte) (*cmttypes.SignedHeader, error) {
	var p cmtproto.SignedHeader
	if err := p.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("checkpointed header: %w", err)
	}
	return cmttypes.SignedHeaderFromProto(&p)
}

// onCommit runs everything the runtime does for a newly verified height and commits the
// runtime state at the same version as the replica.
func (r *Runtime) onCommit(h int64) error {
	snap, err := r.app.State(h)
	if err != nil {
		return err
	}
	last := r.replica.Last()
	b := module.Block{ChainID: r.genesis.Doc.ChainID, Height: h, Time: last.Time, Hash: last.Hash()}
	w := store.NewCache(r.state.Working())
	if err := r.dispatch(w, snap, b); err != nil {
		return fmt.Errorf("dispatch height %d: %w", h, err)
	}
	r.pruneOutbox(w, snap)
	hb, err := last.ToProto().Marshal()
	if err != nil {
		return err
	}
	w.Set(keyHeader, hb)
	w.Write(r.state.Working())
	if r.state.Version() == 0 {
		r.state.SetInitialVersion(h)
	}
	if _, _, err := r.state.Commit(); err != nil {
		return err
	}
	r.metrics.blocks.Inc()
	if h%r.cfg.CheckpointInterval == 0 {
		return r.writeCheckpoint()
	}
	return nil
}

func (r *Runtime) writeCheckpoint() error {
	h := r.replica.Height()
	if h == 0 {
		return nil
	}
	snap, err := r.app.State(h)
	if err != nil {
		return err
	}
	b, err := json.Marshal(checkpoint{ChainID: r.genesis.Doc.ChainID, Height: h, AppHash: snap.Hash(), StateHash: r.state.Hash()})
	if err != nil {
		return err
	}
	return r.fileKey.WriteFile(filepath.Join(r.cfg.DataDir, checkpointFile), "checkpoint", b)
}

// Egress returns the outbox: signed messages the chain has not accepted yet.
func (r *Runtime) Egress() ([]*mq.SignedMessage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.init == nil {
		return nil, ErrNotInitialized
	}
	return r.outbox(r.state.Working())
}

// Info describes the runtime.
func (r *Runtime) Info() *api.InfoResponse {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.keys.identity.Public().Key
	out := &api.InfoResponse{IdentityKey: id[:], TeeKind: string(r.cfg.Guest.Kind()), Measurement: r.meas, RuntimeVersion: Version}
	if r.init == nil || r.replica == nil { // not initialised, or closed
		return out
	}
	out.Initialized, out.ChainId, out.GenesisHash, out.Operator = true, r.genesis.Doc.ChainID, r.replica.GenesisHash(), r.init.Operator
	out.VerifiedHeight, out.NextHeight, out.HeaderHeight = r.replica.Height(), r.replica.NextHeight(), r.replica.HeadHeight()
	if h := r.replica.Height(); h > 0 {
		if snap, err := r.app.State(h); err == nil {
			last := r.replica.Last()
			_, err := registry.Active(snap, id[:], module.Block{Height: h, Time: last.Time})
			out.Registered = err == nil
			out.Gatekeeper = registry.IsGatekeeper(snap, id[:])
		}
	}
	st := r.state.Working()
	out.MasterGeneration = newestMaster(st)
	held := heldClusters(st)
	for _, c := range slices.Sorted(maps.Keys(held)) {
		out.Clusters = append(out.Clusters, &api.ClusterKeys{Cluster: []byte(c), Generations: held[c]})
	}
	if msgs, err := r.outbox(r.state.Working()); err == nil {
		out.Outbox = uint32(len(msgs))
	}
	return out
}

// Close writes a checkpoint and closes the state.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.treeMu.Lock() // writes the trees queries read (see treeMu)
	defer r.treeMu.Unlock()
	var err error
	if r.replica != nil {
		err = r.writeCheckpoint()
	}
	r.closeDB()
	if r.engine != nil {
		err = errors.Join(err, r.engine.Close(context.Background()))
		r.engine = nil
	}
	return err
}
