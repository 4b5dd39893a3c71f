package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/light"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/chain/app"
)

// Sequential verification checks every header against the previous one, so the light client's
// trusting period (which bounds skipping verification) does not apply; it is set beyond any
// chain's life, and "now" is the header's own time because a TEE has no trusted clock.
const (
	trustingPeriod = 100 * 365 * 24 * time.Hour
	maxClockDrift  = time.Minute
)

// ErrVerification is wrapped by every refusal of a block or header.
var ErrVerification = errors.New("block refused")

// Error says which check failed at which height.
type Error struct {
	Height int64
	Check  string
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v at height %d: %s: %v", ErrVerification, e.Height, e.Check, e.Err)
}
func (e *Error) Unwrap() []error { return []error{ErrVerification, e.Err} }

func refuse(h int64, check string, format string, args ...any) error {
	return &Error{Height: h, Check: check, Err: fmt.Errorf(format, args...)}
}

// Genesis is what Init pins.
type Genesis struct {
	Doc *cmttypes.GenesisDoc
	// Validators is the genesis validator set, which must sign the initial block.
	Validators *cmttypes.ValidatorSet
}

// ParseGenesis reads a CometBFT genesis document.
func ParseGenesis(jsonDoc []byte) (Genesis, error) {
	doc, err := cmttypes.GenesisDocFromJSON(jsonDoc)
	if err != nil {
		return Genesis{}, fmt.Errorf("genesis document: %w", err)
	}
	vals := make([]*cmttypes.Validator, len(doc.Validators))
	for i, v := range doc.Validators {
		vals[i] = cmttypes.NewValidator(v.PubKey, v.Power)
	}
	set := cmttypes.NewValidatorSet(vals)
	if err := set.ValidateBasic(); err != nil {
		return Genesis{}, fmt.Errorf("genesis validators: %w", err)
	}
	return Genesis{Doc: doc, Validators: set}, nil
}

// InitChain is the request CometBFT sends for this genesis; the replica sends the same.
func (g Genesis) InitChain() *abci.RequestInitChain {
	vals := make([]abci.ValidatorUpdate, len(g.Doc.Validators))
	for i, v := range g.Doc.Validators {
		vals[i] = abci.UpdateValidator(v.PubKey.Bytes(), v.Power, "ed25519")
	}
	cp := g.Doc.ConsensusParams.ToProto()
	return &abci.RequestInitChain{
		Time: g.Doc.GenesisTime, ChainId: g.Doc.ChainID, ConsensusParams: &cp,
		Validators: vals, AppStateBytes: g.Doc.AppState, InitialHeight: g.Doc.InitialHeight,
	}
}

// pending is a replayed block whose result awaits the next header's confirmation.
type pending struct {
	header      *cmttypes.SignedHeader
	appHash     []byte
	resultsHash []byte
}

// Replica verifies and replays blocks into an App.
type Replica struct {
	app     *app.App
	genesis Genesis
	// genesisHash is InitChain's AppHash, which the initial block's header must carry.
	genesisHash []byte
	// last is the newest committed block's header; nil before the first commit.
	last *cmttypes.SignedHeader
	// head is the newest verified header (ahead of last during header-only fast sync).
	head *cmttypes.SignedHeader
	// beforeHead is the verified header just below head (a snapshot at its height is checked
	// against head's AppHash).
	beforeHead *cmttypes.SignedHeader
	pending    *pending
}

// New starts a replica over a fresh app: it replays InitChain.
func New(a *app.App, g Genesis) (*Replica, error) {
	resp, err := a.InitChain(context.Background(), g.InitChain())
	if err != nil {
		return nil, fmt.Errorf("replay genesis: %w", err)
	}
	return &Replica{app: a, genesis: g, genesisHash: resp.AppHash}, nil
}

// Resume continues a replica whose app holds committed state up to last's height.
func Resume(a *app.App, g Genesis, genesisHash []byte, last *cmttypes.SignedHeader) (*Replica, error) {
	if a.Height() != last.Height {
		return nil, fmt.Errorf("state is at height %d, the checkpointed header at %d", a.Height(), last.Height)
	}
	return &Replica{app: a, genesis: g, genesisHash: genesisHash, last: last, head: last}, nil
}

// GenesisHash is the AppHash after InitChain.
func (r *Replica) GenesisHash() []byte { return r.genesisHash }

// ChainID is the pinned chain's id.
func (r *Replica) ChainID() string { return r.genesis.Doc.ChainID }

// Last is the newest committed block's header (nil before the first commit).
func (r *Replica) Last() *cmttypes.SignedHeader { return r.last }

// Height is the last committed height (0 before the first commit).
func (r *Replica) Height() int64 {
	if r.last == nil {
		return 0
	}
	return r.last.Height
}

// NextHeight is the height Apply expects.
func (r *Replica) NextHeight() int64 {
	switch {
	case r.pending != nil:
		return r.pending.header.Height + 1
	case r.last != nil:
		return r.last.Height + 1
	}
	return r.genesis.Doc.InitialHeight
}

// HeadHeight is the newest verified header's height.
func (r *Replica) HeadHeight() int64 {
	if r.head == nil {
		return r.genesis.Doc.InitialHeight - 1
	}
	return r.head.Height
}

// DecodeHeader parses a signed header and validator set in CometBFT's protobuf encodings.
func DecodeHeader(h int64, shBytes, valsBytes []byte) (*cmttypes.SignedHeader, *cmttypes.ValidatorSet, error) {
	var shp cmtproto.SignedHeader
	if err := shp.Unmarshal(shBytes); err != nil {
		return nil, nil, refuse(h, "decode signed header", "%v", err)
	}
	sh, err := cmttypes.SignedHeaderFromProto(&shp)
	if err != nil {
		return nil, nil, refuse(h, "decode signed header", "%v", err)
	}
	var vp cmtproto.ValidatorSet
	if err := vp.Unmarshal(valsBytes); err != nil {
		return nil, nil, refuse(sh.Height, "decode validator set", "%v", err)
	}
	vals, err := cmttypes.ValidatorSetFromProto(&vp)
	if err != nil {
		return nil, nil, refuse(sh.Height, "decode validator set", "%v", err)
	}
	return sh, vals, nil
}

// verifyHeader runs the light-client checks of a header against the previous verified one
// (or, at the initial height, against the genesis validators).
func (r *Replica) verifyHeader(prev, sh *cmttypes.SignedHeader, vals *cmttypes.ValidatorSet) error {
	h := sh.Height
	if err := sh.ValidateBasic(r.genesis.Doc.ChainID); err != nil {
		return refuse(h, "header", "%v", err)
	}
	if !bytes.Equal(vals.Hash(), sh.ValidatorsHash) {
		return refuse(h, "validator set", "the given set's hash %X is not the header's %X", vals.Hash(), sh.ValidatorsHash)
	}
	if prev == nil {
		if h != r.genesis.Doc.InitialHeight {
			return refuse(h, "height", "expected the initial height %d", r.genesis.Doc.InitialHeight)
		}
		if !bytes.Equal(sh.ValidatorsHash, r.genesis.Validators.Hash()) {
			return refuse(h, "genesis validators", "the initial block was not made by the genesis validators")
		}
		if err := vals.VerifyCommitLight(r.genesis.Doc.ChainID, sh.Commit.BlockID, h, sh.Commit); err != nil {
			return refuse(h, "commit signatures", "%v", err)
		}
		return nil
	}
	if err := light.VerifyAdjacent(prev, sh, vals, trustingPeriod, sh.Time, maxClockDrift); err != nil {
		return refuse(h, "light client", "%v", err)
	}
	if !bytes.Equal(sh.LastBlockID.Hash, prev.Hash()) {
		return refuse(h, "chain linkage", "the header's previous block %X is not the verified %X", sh.LastBlockID.Hash, prev.Hash())
	}
	return nil
}

// Apply verifies and replays the next block. It returns the height whose state this block
// confirmed and committed (0 when none did: the first block only confirms genesis). On error
// nothing advances.
func (r *Replica) Apply(shBytes, valsBytes []byte, txs [][]byte) (committed int64, err error) {
	want := r.NextHeight()
	sh, vals, err := DecodeHeader(want, shBytes, valsBytes)
	if err != nil {
		return 0, err
	}
	if sh.Height != want {
		return 0, refuse(sh.Height, "height", "expected block %d next", want)
	}
	prev := r.last
	if r.pending != nil {
		prev = r.pending.header
	}
	if err := r.verifyHeader(prev, sh, vals); err != nil {
		return 0, err
	}
	if got := cmttypes.ToTxs(txs).Hash(); !bytes.Equal(got, sh.DataHash) {
		return 0, refuse(sh.Height, "transactions", "their hash %X is not the header's data hash %X", got, sh.DataHash)
	}
	// The header commits to the previous block's result: confirm it before going further.
	if r.pending == nil {
		if prev == nil && !bytes.Equal(sh.AppHash, r.genesisHash) {
			return 0, refuse(sh.Height, "genesis", "the header's app hash %X is not the replayed genesis %X", sh.AppHash, r.genesisHash)
		}
	} else {
		p := r.pending
		if !bytes.Equal(sh.AppHash, p.appHash) {
			return 0, refuse(p.header.Height, "app hash", "replay gave %X, the chain committed %X", p.appHash, sh.AppHash)
		}
		if !bytes.Equal(sh.LastResultsHash, p.resultsHash) {
			return 0, refuse(p.header.Height, "results", "replay gave results %X, the chain committed %X", p.resultsHash, sh.LastResultsHash)
		}
		if _, err := r.app.Commit(context.Background(), &abci.RequestCommit{}); err != nil {
			return 0, fmt.Errorf("commit height %d: %w", p.header.Height, err)
		}
		r.last, r.pending, committed = p.header, nil, p.header.Height
	}
	resp, err := r.app.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{
		Txs: txs, Height: sh.Height, Time: sh.Time, Hash: sh.Hash(),
		NextValidatorsHash: sh.NextValidatorsHash, ProposerAddress: sh.ProposerAddress,
	})
	if err != nil {
		return committed, fmt.Errorf("replay height %d: %w", sh.Height, err)
	}
	r.pending = &pending{header: sh, appHash: resp.AppHash, resultsHash: cmttypes.NewResults(resp.TxResults).Hash()}
	if r.head == nil || r.head.Height < sh.Height {
		r.beforeHead, r.head = prev, sh
	}
	return committed, nil
}

// ErrNotFresh is returned for fast-sync operations on a replica that already replayed blocks.
var ErrNotFresh = errors.New("fast sync needs a fresh runtime: it has already replayed blocks")

// SyncHeader verifies the next header without replaying its block: the first half of fast sync.
func (r *Replica) SyncHeader(shBytes, valsBytes []byte) error {
	if r.last != nil || r.pending != nil {
		return ErrNotFresh
	}
	want := r.HeadHeight() + 1
	sh, vals, err := DecodeHeader(want, shBytes, valsBytes)
	if err != nil {
		return err
	}
	if sh.Height != want {
		return refuse(sh.Height, "height", "expected header %d next", want)
	}
	if err := r.verifyHeader(r.head, sh, vals); err != nil {
		return err
	}
	if r.head == nil && !bytes.Equal(sh.AppHash, r.genesisHash) {
		return refuse(sh.Height, "genesis", "the header's app hash %X is not the replayed genesis %X", sh.AppHash, r.genesisHash)
	}
	r.beforeHead, r.head = r.head, sh
	return nil
}

// SnapshotTarget is the state version a snapshot must have for the verified headers, and the
// AppHash it must reach: the header after it commits to it.
func (r *Replica) SnapshotTarget() (height int64, appHash []byte, err error) {
	if r.last != nil || r.pending != nil {
		return 0, nil, ErrNotFresh
	}
	if r.beforeHead == nil {
		return 0, nil, errors.New("sync headers up to the snapshot's height + 1 first")
	}
	return r.beforeHead.Height, r.head.AppHash, nil
}

// Installed returns a replica continuing from an installed snapshot at the target height.
func (r *Replica) Installed(a *app.App) (*Replica, error) {
	h, _, err := r.SnapshotTarget()
	if err != nil {
		return nil, err
	}
	snap, err := a.State(h)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(snap.Hash(), r.head.AppHash) {
		return nil, refuse(h, "snapshot", "the imported state's root %X is not the verified %X", snap.Hash(), r.head.AppHash)
	}
	return Resume(a, r.genesis, r.genesisHash, r.beforeHead)
}

// Discard drops the uncommitted block (after a failure elsewhere, so that Apply can be retried).
func (r *Replica) Discard() error {
	if r.pending == nil {
		return nil
	}
	r.pending = nil
	r.app.Rollback()
	if r.last == nil {
		// Nothing was committed: the genesis state went with the rollback.
		if _, err := r.app.InitChain(context.Background(), r.genesis.InitChain()); err != nil {
			return fmt.Errorf("replay genesis: %w", err)
		}
	}
	return nil
}

// StateHash is the root of the committed state at height h.
func StateHash(r *Replica, h int64) ([]byte, error) {
	s, err := r.app.State(h)
	if err != nil {
		return nil, err
	}
	return s.Hash(), nil
}
