package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/light/provider"
	lighthttp "github.com/cometbft/cometbft/light/provider/http"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	"github.com/cometbft/cometbft/rpc/client"
	cmttypes "github.com/cometbft/cometbft/types"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/phala-go/phala/chain/app"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/store"
)

// ErrUnverified is returned when an answer cannot be tied to a verified header.
var ErrUnverified = errors.New("answer could not be verified")

// Trust is the root a Verifier starts from.
type Trust struct {
	// Height and Hash name a header the user trusts (from a block explorer, a friend, the
	// operator). When zero, the Verifier trusts the chain's genesis validator set as the node
	// reports it, on first use, and verifies header 1 against it.
	Height int64
	Hash   []byte
	// Period is how long a verified header stays a valid root (CometBFT's trusting period).
	Period time.Duration
}

// DefaultTrustPeriod is the trusting period when none is given.
const DefaultTrustPeriod = 14 * 24 * time.Hour

// Verifier checks headers with CometBFT's light client and state against verified headers.
type Verifier struct {
	c     *Client
	light *light.Client
	db    dbm.DB
}

// NewVerifier opens (or creates) a light-client store in dir, rooted at trust.
func (c *Client) NewVerifier(ctx context.Context, dir string, trust Trust) (*Verifier, error) {
	if trust.Period == 0 {
		trust.Period = DefaultTrustPeriod
	}
	primary, err := lighthttp.New(c.chainID, c.url)
	if err != nil {
		return nil, err
	}
	db, err := dbm.NewGoLevelDB("light-"+c.chainID, dir)
	if err != nil {
		return nil, fmt.Errorf("light client store in %s: %w", dir, err)
	}
	st := lightdb.New(db, c.chainID)
	// With one node there is nothing to cross-check against; the node is its own witness.
	witnesses := []provider.Provider{primary}
	var lc *light.Client
	if last, err := st.LastLightBlockHeight(); err == nil && last > 0 && trust.Height == 0 {
		lc, err = light.NewClientFromTrustedStore(c.chainID, trust.Period, primary, witnesses, st)
		if err != nil {
			db.Close()
			return nil, err
		}
	} else {
		if trust.Height == 0 {
			if trust.Height, trust.Hash, err = c.genesisRoot(ctx); err != nil {
				db.Close()
				return nil, err
			}
		}
		lc, err = light.NewClient(ctx, c.chainID, light.TrustOptions{Period: trust.Period, Height: trust.Height, Hash: trust.Hash}, primary, witnesses, st)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("%w: light client: %v", ErrUnverified, err)
		}
	}
	return &Verifier{c: c, light: lc, db: db}, nil
}

// genesisRoot verifies header 1 against the genesis validator set and returns it as the root.
func (c *Client) genesisRoot(ctx context.Context) (int64, []byte, error) {
	gen, err := c.rpc.Genesis(ctx)
	if err != nil {
		return 0, nil, err
	}
	doc := gen.Genesis
	vals := make([]*cmttypes.Validator, len(doc.Validators))
	for i, v := range doc.Validators {
		vals[i] = cmttypes.NewValidator(v.PubKey, v.Power)
	}
	set := cmttypes.NewValidatorSet(vals)
	h := doc.InitialHeight
	commit, err := c.rpc.Commit(ctx, &h)
	if err != nil {
		return 0, nil, fmt.Errorf("commit of height %d: %w", h, err)
	}
	sh := commit.SignedHeader
	if !bytes.Equal(sh.ValidatorsHash, set.Hash()) {
		return 0, nil, fmt.Errorf("%w: header %d was not made by the genesis validators", ErrUnverified, h)
	}
	if err := set.VerifyCommitLight(c.chainID, sh.Commit.BlockID, h, sh.Commit); err != nil {
		return 0, nil, fmt.Errorf("%w: header %d: %v", ErrUnverified, h, err)
	}
	return h, sh.Hash(), nil
}

// Close releases the light-client store.
func (v *Verifier) Close() error { return v.db.Close() }

// Header returns the header at height after verifying it.
func (v *Verifier) Header(ctx context.Context, height int64) (*cmttypes.SignedHeader, error) {
	lb, err := v.light.VerifyLightBlockAtHeight(ctx, height, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%w: header %d: %v", ErrUnverified, height, err)
	}
	return lb.SignedHeader, nil
}

// Proven is a state value with the evidence that the chain committed to it.
type Proven struct {
	Key    []byte
	Value  []byte // nil: proven absent
	Height int64  // the state version
	// AppHash is the root the proof verified against, from the verified header at Height+1.
	AppHash []byte
}

// Get reads a raw state key with a Merkle proof and verifies the proof against the AppHash in
// the verified header of the next height (where a block's resulting state is committed).
func (v *Verifier) Get(ctx context.Context, key []byte) (*Proven, error) {
	resp, err := v.c.rpc.ABCIQueryWithOptions(ctx, "/store", key, client.ABCIQueryOptions{Prove: true})
	if err != nil {
		return nil, err
	}
	r := resp.Response
	if err := errcode.FromABCI(r.Codespace, r.Code, r.Log); err != nil {
		return nil, err
	}
	if r.ProofOps == nil || len(r.ProofOps.Ops) != 1 || r.ProofOps.Ops[0].Type != app.ProofOpType || !bytes.Equal(r.ProofOps.Ops[0].Key, key) {
		return nil, fmt.Errorf("%w: the node returned no usable proof", ErrUnverified)
	}
	var proof ics23.CommitmentProof
	if err := proof.Unmarshal(r.ProofOps.Ops[0].Data); err != nil {
		return nil, fmt.Errorf("%w: proof: %v", ErrUnverified, err)
	}
	header, err := v.waitHeader(ctx, r.Height+1)
	if err != nil {
		return nil, err
	}
	if err := store.VerifyProof(header.AppHash, &proof, key, r.Value); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	return &Proven{Key: key, Value: r.Value, Height: r.Height, AppHash: header.AppHash}, nil
}

// waitHeader verifies the header at height, waiting for it to be produced if needed.
func (v *Verifier) waitHeader(ctx context.Context, height int64) (*cmttypes.SignedHeader, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := v.c.rpc.Status(ctx)
		if err != nil {
			return nil, err
		}
		if st.SyncInfo.LatestBlockHeight >= height {
			return v.Header(ctx, height)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for header %d: %v", ErrUnverified, height, ctx.Err())
		case <-tick.C:
		}
	}
}
