// Package chaintest builds real chains in memory for tests of the verifying replica: blocks are
// executed by chain/app exactly as validators do, and headers are signed by validator keys the
// test holds, so a test can also produce what an attacker would (a forged signature, too
// little voting power, a tampered transaction list, a header committing to another state).
package chaintest

import (
	"context"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/crypto/tmhash"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmtversion "github.com/cometbft/cometbft/proto/tendermint/version"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/cometbft/cometbft/version"
	dbm "github.com/cosmos/cosmos-db"

	"github.com/phala-go/phala/chain/app"
	"github.com/phala-go/phala/pruntime/api"
)

// Chain is an in-memory chain with a validator set the test controls.
type Chain struct {
	// AllowFailures lets blocks carry transactions that fail; by default a failing transaction
	// fails the test, so that a broken fixture cannot pass for a working one.
	AllowFailures bool
	// Results are the transaction results of the last produced block.
	Results []*abci.ExecTxResult

	t       testing.TB
	ChainID string
	// Genesis is the CometBFT genesis document as JSON, what pRuntime's Init takes.
	Genesis []byte
	App     *app.App
	params  *cmttypes.ConsensusParams
	start   time.Time
	pvs     map[string]cmttypes.PrivValidator
	sets    map[int64]*cmttypes.ValidatorSet
	height  int64
	last    *cmttypes.SignedHeader
	appHash []byte
	results []byte
}

// New starts a chain with n validators of power 10 and the given app state.
func New(t testing.TB, n int, state app.GenesisState) *Chain {
	t.Helper()
	set, pvs := cmttypes.RandValidatorSet(n, 10)
	c := &Chain{t: t, ChainID: "chaintest", pvs: map[string]cmttypes.PrivValidator{}, sets: map[int64]*cmttypes.ValidatorSet{},
		params: cmttypes.DefaultConsensusParams(), start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, pv := range pvs {
		pk, err := pv.GetPubKey()
		must(t, err)
		c.pvs[string(pk.Address())] = pv
	}
	raw, err := state.Marshal()
	must(t, err)
	doc := &cmttypes.GenesisDoc{GenesisTime: c.start, ChainID: c.ChainID, InitialHeight: 1, ConsensusParams: c.params, AppState: raw}
	for _, v := range set.Validators {
		doc.Validators = append(doc.Validators, cmttypes.GenesisValidator{Address: v.Address, PubKey: v.PubKey, Power: v.VotingPower})
	}
	must(t, doc.ValidateAndComplete())
	c.Genesis, err = cmtjson.Marshal(doc)
	must(t, err)
	c.App, err = app.New(app.Config{DB: dbm.NewMemDB()})
	must(t, err)
	vals := make([]abci.ValidatorUpdate, len(doc.Validators))
	for i, v := range doc.Validators {
		vals[i] = abci.UpdateValidator(v.PubKey.Bytes(), v.Power, "ed25519")
	}
	cp := c.params.ToProto()
	resp, err := c.App.InitChain(context.Background(), &abci.RequestInitChain{Time: c.start, ChainId: c.ChainID, ConsensusParams: &cp,
		Validators: vals, AppStateBytes: raw, InitialHeight: 1})
	must(t, err)
	c.appHash = resp.AppHash
	c.sets[1], c.sets[2] = set, set.Copy()
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// NewValidator creates a validator key the chain will sign with once the set includes it, and
// returns its consensus public key (for a governance MsgSetValidatorPower).
func (c *Chain) NewValidator() []byte {
	pv := cmttypes.NewMockPV()
	pk, err := pv.GetPubKey()
	must(c.t, err)
	c.pvs[string(pk.Address())] = pv
	return pk.Bytes()
}

// Block is one produced block.
type Block struct {
	Header *cmttypes.SignedHeader
	Vals   *cmttypes.ValidatorSet
	Txs    [][]byte
}

// Encode gives the block as pRuntime's API carries it.
func (b *Block) Encode() *api.Block {
	sh, err := b.Header.ToProto().Marshal()
	if err != nil {
		panic(err)
	}
	vp, err := b.Vals.ToProto()
	if err != nil {
		panic(err)
	}
	vb, err := vp.Marshal()
	if err != nil {
		panic(err)
	}
	return &api.Block{SignedHeader: sh, ValidatorSet: vb, Txs: b.Txs}
}

// Height is the last produced height.
func (c *Chain) Height() int64 { return c.height }

// Next produces the next block honestly: executed, with a header signed by all validators.
func (c *Chain) Next(txs ...[]byte) *Block { return c.NextWith(nil, nil, txs...) }

// NextWith produces the next block; mutate may alter the header before it is signed (an
// attacker's header with valid signatures), and signers, when not nil, chooses which validators
// sign. The chain itself moves on as if the block were honest.
func (c *Chain) NextWith(mutate func(*cmttypes.Header), signers func(i int) bool, txs ...[]byte) *Block {
	c.t.Helper()
	c.height++
	h := c.height
	vals := c.sets[h]
	header := cmttypes.Header{
		Version:            cmtversion.Consensus{Block: version.BlockProtocol, App: app.AppVersion},
		ChainID:            c.ChainID,
		Height:             h,
		Time:               c.start.Add(time.Duration(h) * time.Second),
		DataHash:           cmttypes.ToTxs(txs).Hash(),
		ValidatorsHash:     vals.Hash(),
		NextValidatorsHash: c.sets[h+1].Hash(),
		ConsensusHash:      c.params.Hash(),
		AppHash:            c.appHash,
		LastResultsHash:    c.results,
		EvidenceHash:       cmttypes.EvidenceList{}.Hash(),
		ProposerAddress:    vals.Validators[0].Address,
	}
	if c.last != nil {
		header.LastBlockID = cmttypes.BlockID{Hash: c.last.Hash(), PartSetHeader: cmttypes.PartSetHeader{Total: 1, Hash: tmhash.Sum([]byte("parts"))}}
		header.LastCommitHash = c.last.Commit.Hash()
	}
	honest := &cmttypes.SignedHeader{Header: &header, Commit: c.sign(&header, vals, nil)}
	out := honest
	if mutate != nil || signers != nil {
		attack := header
		if mutate != nil {
			mutate(&attack)
		}
		out = &cmttypes.SignedHeader{Header: &attack, Commit: c.sign(&attack, vals, signers)}
	}
	// Execute the honest block to move the chain on.
	resp, err := c.App.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{Txs: txs, Height: h, Time: header.Time, Hash: header.Hash()})
	must(c.t, err)
	_, err = c.App.Commit(context.Background(), &abci.RequestCommit{})
	must(c.t, err)
	c.appHash, c.results, c.Results = resp.AppHash, cmttypes.NewResults(resp.TxResults).Hash(), resp.TxResults
	for i, r := range resp.TxResults {
		if r.Code != abci.CodeTypeOK && !c.AllowFailures {
			c.t.Fatalf("chaintest: transaction %d of block %d failed: %s (set AllowFailures to produce failing transactions)", i, h, r.Log)
		}
	}
	next := c.sets[h+1].Copy()
	if len(resp.ValidatorUpdates) > 0 {
		updates, err := cmttypes.PB2TM.ValidatorUpdates(resp.ValidatorUpdates)
		must(c.t, err)
		must(c.t, next.UpdateWithChangeSet(updates))
	}
	c.sets[h+2] = next
	c.last = honest
	return &Block{Header: out, Vals: vals, Txs: txs}
}

// sign makes a commit for header by the chosen validators of vals.
func (c *Chain) sign(header *cmttypes.Header, vals *cmttypes.ValidatorSet, signers func(int) bool) *cmttypes.Commit {
	c.t.Helper()
	blockID := cmttypes.BlockID{Hash: header.Hash(), PartSetHeader: cmttypes.PartSetHeader{Total: 1, Hash: tmhash.Sum([]byte("parts"))}}
	sigs := make([]cmttypes.CommitSig, len(vals.Validators))
	for i, v := range vals.Validators {
		if signers != nil && !signers(i) {
			sigs[i] = cmttypes.NewCommitSigAbsent()
			continue
		}
		vote, err := cmttypes.MakeVote(c.pvs[string(v.Address)], c.ChainID, int32(i), header.Height, 0, cmtproto.PrecommitType, blockID, header.Time)
		must(c.t, err)
		sigs[i] = vote.CommitSig()
	}
	return &cmttypes.Commit{Height: header.Height, Round: 0, BlockID: blockID, Signatures: sigs}
}

// LastHash is the hash of the last produced (honest) block, as the chain records it.
func (c *Chain) LastHash() []byte { return c.last.Hash() }
