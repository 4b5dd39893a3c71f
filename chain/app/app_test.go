package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"
	ics23 "github.com/cosmos/ics23/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/crypto/keys"
)

const chainID = "phala-test"

var genesisTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type account struct {
	key keys.PrivateKey
	id  keys.AccountID
}

func devAccount(t testing.TB, typ keys.Type, uri string) account {
	t.Helper()
	k, err := keys.FromURI(typ, uri)
	require.NoError(t, err)
	return account{key: k, id: k.Public().AccountID()}
}

var pha = amount.OnePHA

func phaN(n uint64) amount.Amount {
	a, err := pha.MulUint64(n)
	if err != nil {
		panic(err)
	}
	return a
}

// harness drives an App block by block, as CometBFT would.
type harness struct {
	t      testing.TB
	app    *App
	db     dbm.DB
	height int64
	hash   []byte
}

type fixture struct {
	alice, bob, charlie, dave account
}

func newFixture(t testing.TB) fixture {
	return fixture{
		alice:   devAccount(t, keys.Sr25519, "//Alice"),
		bob:     devAccount(t, keys.Sr25519, "//Bob"),
		charlie: devAccount(t, keys.Ed25519, "//Charlie"),
		dave:    devAccount(t, keys.Sr25519, "//Dave"),
	}
}

func (f fixture) genesis(t testing.TB, council []keys.AccountID, threshold uint32) []byte {
	params := accounts.DefaultParams()
	params.MaxTxBytes = 256 << 10 // below the decoder's hard limit, so that Ante's check is the one tested
	g, err := GenesisState{
		Accounts: accounts.Genesis{
			Params: params,
			Balances: []accounts.GenesisBalance{
				{Address: f.alice.id, Balance: phaN(1000)},
				{Address: f.bob.id, Balance: phaN(1000)},
				{Address: f.charlie.id, Balance: phaN(1000)},
			},
		},
		Governance: governance.Genesis{Council: governance.GenesisCouncil{Members: council, Threshold: threshold}, VotingPeriod: 10},
		Registry:   registry.Genesis{Params: registry.DefaultParams()},
	}.Marshal()
	require.NoError(t, err)
	return g
}

func newHarness(t testing.TB, db dbm.DB, genesis []byte) *harness {
	t.Helper()
	a, err := New(Config{DB: db})
	require.NoError(t, err)
	resp, err := a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: chainID, InitialHeight: 1, Time: genesisTime, AppStateBytes: genesis})
	require.NoError(t, err)
	h := &harness{t: t, app: a, db: db, hash: resp.AppHash}
	h.block() // a first, empty block, so CheckTx and queries have committed state
	return h
}

// block finalizes and commits a block with txs and returns the results.
func (h *harness) block(txs ...[]byte) []*abci.ExecTxResult {
	h.t.Helper()
	h.height++
	hash := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(h.height)))
	resp, err := h.app.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{
		Txs: txs, Height: h.height, Time: genesisTime.Add(time.Duration(h.height) * time.Second), Hash: hash[:],
	})
	require.NoError(h.t, err)
	_, err = h.app.Commit(context.Background(), &abci.RequestCommit{})
	require.NoError(h.t, err)
	h.hash = resp.AppHash
	return resp.TxResults
}

func (h *harness) check(raw []byte) *abci.ResponseCheckTx {
	h.t.Helper()
	resp, err := h.app.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: raw, Type: abci.CheckTxType_New})
	require.NoError(h.t, err)
	return resp
}

func (h *harness) account(id keys.AccountID) accounts.State {
	snap, err := h.app.tree.Snapshot(h.app.tree.Version())
	require.NoError(h.t, err)
	return accounts.Get(snap, id)
}

// dump is the whole committed state, to compare before and after, except the record every
// block keeps of itself (module.RecordBlock), which changes with or without transactions.
func (h *harness) dump() map[string]string {
	snap, err := h.app.tree.Snapshot(h.app.tree.Version())
	require.NoError(h.t, err)
	out := map[string]string{}
	it := snap.Iterator(nil, nil)
	defer it.Close()
	for ; it.Valid(); it.Next() {
		if !strings.HasPrefix(string(it.Key()), "app/recent/") {
			out[string(it.Key())] = string(it.Value())
		}
	}
	return out
}

func (h *harness) issuanceHolds() {
	h.t.Helper()
	snap, err := h.app.tree.Snapshot(h.app.tree.Version())
	require.NoError(h.t, err)
	sum, err := accounts.Sum(snap)
	require.NoError(h.t, err)
	require.Equal(h.t, accounts.Issuance(snap).String(), sum.String(), "sum of balances must equal issuance")
}

type txOpts struct {
	chainID string
	nonce   *uint64
	fee     *amount.Amount
	memo    string
}

// sign builds a transaction from a with the right nonce and enough fee, unless opts say otherwise.
func (h *harness) sign(a account, opts txOpts, msgs ...proto.Message) []byte {
	h.t.Helper()
	u := tx.Unsigned{ChainID: chainID, Nonce: h.account(a.id).Nonce, Fee: phaN(1), Msgs: msgs, Memo: opts.memo}
	if opts.chainID != "" {
		u.ChainID = opts.chainID
	}
	if opts.nonce != nil {
		u.Nonce = *opts.nonce
	}
	if opts.fee != nil {
		u.Fee = *opts.fee
	}
	raw, err := tx.Build(u, a.key)
	require.NoError(h.t, err)
	return raw
}

func transfer(to keys.AccountID, amt string) *accounts.MsgTransfer {
	return &accounts.MsgTransfer{To: to[:], Amount: amt}
}

func TestTransfer(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, dbm.NewMemDB(), f.genesis(t, []keys.AccountID{f.alice.id}, 1))
	before := h.account(f.alice.id)

	raw := h.sign(f.alice, txOpts{}, transfer(f.dave.id, phaN(5).String()))
	require.Equal(t, abci.CodeTypeOK, h.check(raw).Code)
	res := h.block(raw)
	require.Equal(t, abci.CodeTypeOK, res[0].Code, res[0].Log)

	after := h.account(f.alice.id)
	want, _ := before.Balance.Sub(phaN(6)) // 5 PHA sent, 1 PHA fee
	require.Equal(t, want, after.Balance)
	require.Equal(t, before.Nonce+1, after.Nonce)
	require.Equal(t, phaN(5), h.account(f.dave.id).Balance)
	require.Equal(t, phaN(1), h.account(accounts.FeeCollector).Balance)
	require.Contains(t, eventTypes(res[0].Events), "transfer")
	h.issuanceHolds()

	// An ed25519 account transfers too.
	raw = h.sign(f.charlie, txOpts{}, transfer(f.dave.id, "1"))
	res = h.block(raw)
	require.Equal(t, abci.CodeTypeOK, res[0].Code, res[0].Log)
	require.Equal(t, "5000000000001", h.account(f.dave.id).Balance.String())
	h.issuanceHolds()
}

func eventTypes(events []abci.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

func u64(n uint64) *uint64 { return &n }

func amt(a amount.Amount) *amount.Amount { return &a }

// TestBadInput: every kind of bad transaction is refused by CheckTx and by FinalizeBlock with a
// specific code, and changes nothing but (for message failures only) the fee and nonce.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	gen := f.genesis(t, []keys.AccountID{f.alice.id}, 1)
	h := newHarness(t, dbm.NewMemDB(), gen)
	h.block(h.sign(f.alice, txOpts{}, transfer(f.bob.id, "1"))) // Alice's nonce is now 1

	validBody := func(a account) []byte { return h.sign(a, txOpts{}, transfer(f.bob.id, "1")) }
	flipLast := func(b []byte) []byte { c := bytes.Clone(b); c[len(c)-1] ^= 1; return c }
	unknownMsg := func() []byte {
		d, err := tx.Decode(validBody(f.alice), h.app.router)
		require.NoError(t, err)
		body := proto.Clone(d.Body).(*tx.TxBody)
		body.Messages = []*anypb.Any{{TypeUrl: "/phala.nothing.v1.MsgNothing", Value: nil}}
		return resign(t, body, f.alice.key)
	}
	badKeyType := func() []byte {
		d, err := tx.Decode(validBody(f.alice), h.app.router)
		require.NoError(t, err)
		body := proto.Clone(d.Body).(*tx.TxBody)
		body.Signer.KeyType = 7
		return resign(t, body, f.alice.key)
	}
	otherKeySig := func() []byte {
		// Bob's signature on a body that names Alice as signer.
		d, err := tx.Decode(validBody(f.alice), h.app.router)
		require.NoError(t, err)
		return resign(t, d.Body, f.bob.key)
	}
	typeConfusion := func() []byte {
		// Alice's sr25519 public key presented as an ed25519 key.
		d, err := tx.Decode(validBody(f.alice), h.app.router)
		require.NoError(t, err)
		body := proto.Clone(d.Body).(*tx.TxBody)
		body.Signer.KeyType = tx.KeyType_KEY_TYPE_ED25519
		return resign(t, body, f.alice.key)
	}
	manyMsgs := make([]proto.Message, tx.MaxMessages+1)
	for i := range manyMsgs {
		manyMsgs[i] = transfer(f.bob.id, "1")
	}
	bigMemo := string(bytes.Repeat([]byte("m"), tx.MaxMemo+1))
	// A proposal's inner messages are decoded only when it runs, so a large one passes the
	// stateless checks and must be stopped by the governed size limit.
	oversized := &governance.MsgPropose{Messages: []*anypb.Any{{
		TypeUrl: module.TypeURL(&governance.MsgSetCouncil{}), Value: bytes.Repeat([]byte{0}, 300<<10),
	}}}
	bigFee := phaN(1_000_000)

	tests := []struct {
		name string
		raw  func() []byte
		want error
		// msgFailure: the fee and nonce are charged in a block (the messages failed); otherwise
		// the state must not change at all.
		msgFailure bool
	}{
		{"malformed bytes", func() []byte { return []byte{0xff, 0x01, 0x02} }, tx.ErrMalformed, false},
		{"empty", func() []byte { return nil }, tx.ErrBadSignature, false},
		{"unknown message type", unknownMsg, module.ErrUnknownMessage, false},
		{"unknown key type", badKeyType, tx.ErrUnknownKeyType, false},
		{"wrong chain id", func() []byte { return h.sign(f.alice, txOpts{chainID: "other-chain"}, transfer(f.bob.id, "1")) }, tx.ErrWrongChain, false},
		{"flipped signature bit", func() []byte { return flipLast(validBody(f.alice)) }, tx.ErrBadSignature, false},
		{"signature by another key", otherKeySig, tx.ErrBadSignature, false},
		{"sr25519 key claimed as ed25519", typeConfusion, tx.ErrBadSignature, false},
		{"nonce replay", func() []byte { return h.sign(f.alice, txOpts{nonce: u64(0)}, transfer(f.bob.id, "1")) }, tx.ErrNonceReplayed, false},
		{"nonce gap", func() []byte { return h.sign(f.alice, txOpts{nonce: u64(5)}, transfer(f.bob.id, "1")) }, tx.ErrNonceGap, false},
		{"fee below the rate", func() []byte { return h.sign(f.alice, txOpts{fee: amt(amount.FromUint64(1))}, transfer(f.bob.id, "1")) }, tx.ErrFeeTooLow, false},
		{"fee above the balance", func() []byte { return h.sign(f.alice, txOpts{fee: &bigFee}, transfer(f.bob.id, "1")) }, tx.ErrCannotPayFee, false},
		{"unfunded signer", func() []byte { return h.sign(f.dave, txOpts{}, transfer(f.bob.id, "1")) }, tx.ErrCannotPayFee, false},
		{"amount plus fee above the balance", func() []byte { return h.sign(f.bob, txOpts{}, transfer(f.alice.id, phaN(1000).String())) }, accounts.ErrInsufficientBalance, true},
		{"amount overflows 128 bits", func() []byte {
			return h.sign(f.alice, txOpts{}, transfer(f.bob.id, "340282366920938463463374607431768211456"))
		}, accounts.ErrInvalidAmount, false},
		{"zero amount", func() []byte { return h.sign(f.alice, txOpts{}, transfer(f.bob.id, "0")) }, accounts.ErrZeroAmount, false},
		{"non-canonical amount", func() []byte { return h.sign(f.alice, txOpts{}, transfer(f.bob.id, "007")) }, accounts.ErrInvalidAmount, false},
		{"short recipient", func() []byte { return h.sign(f.alice, txOpts{}, &accounts.MsgTransfer{To: []byte{1, 2}, Amount: "1"}) }, accounts.ErrInvalidAddress, false},
		{"too many messages", func() []byte { return h.sign(f.alice, txOpts{}, manyMsgs...) }, tx.ErrTooManyMsgs, false},
		{"memo too long", func() []byte { return h.sign(f.alice, txOpts{memo: bigMemo}, transfer(f.bob.id, "1")) }, tx.ErrMemoTooLong, false},
		{"no messages", func() []byte { return h.sign(f.alice, txOpts{}) }, tx.ErrNoMessages, false},
		{"oversized transaction", func() []byte { return h.sign(f.alice, txOpts{fee: amt(phaN(10))}, oversized) }, tx.ErrTooLarge, false},
		{"governed message sent directly", func() []byte {
			return h.sign(f.alice, txOpts{}, &accounts.MsgSetParams{Params: &accounts.Params{FeePerByte: "0", FeePerMessage: "0", MaxTxBytes: 4096}})
		}, module.ErrUnauthorized, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw()
			resp := h.check(raw)
			require.NotEqual(t, abci.CodeTypeOK, resp.Code)
			require.ErrorIs(t, errcode.FromABCI(resp.Codespace, resp.Code, resp.Log), tt.want, resp.Log)

			before := h.dump()
			res := h.block(raw)
			require.ErrorIs(t, errcode.FromABCI(res[0].Codespace, res[0].Code, res[0].Log), tt.want, res[0].Log)
			changed := diffKeys(before, h.dump())
			if tt.msgFailure {
				d, err := tx.Decode(raw, h.app.router)
				require.NoError(t, err)
				require.ElementsMatch(t, []string{string(accounts.AccountKey(d.Signer.AccountID())), string(accounts.AccountKey(accounts.FeeCollector))}, changed,
					"only the fee and nonce may be charged")
			} else {
				require.Empty(t, changed, "a refused transaction must change nothing")
			}
			h.issuanceHolds()
		})
	}
}

func diffKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

func resign(t *testing.T, body *tx.TxBody, key keys.PrivateKey) []byte {
	t.Helper()
	b, err := proto.Marshal(body)
	require.NoError(t, err)
	sig, err := key.Sign(tx.SignContext, b)
	require.NoError(t, err)
	raw, err := proto.Marshal(&tx.Tx{Body: b, Signature: sig})
	require.NoError(t, err)
	return raw
}

// TestAtomicity: when a later message fails, earlier messages of the transaction are undone,
// but the fee is charged and the nonce consumed, so the transaction cannot be replayed.
func TestAtomicity(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, dbm.NewMemDB(), f.genesis(t, []keys.AccountID{f.alice.id}, 1))
	bob, dave := h.account(f.bob.id), h.account(f.dave.id)
	raw := h.sign(f.bob, txOpts{}, transfer(f.dave.id, phaN(10).String()), transfer(f.alice.id, phaN(5000).String()))

	res := h.block(raw)
	require.ErrorIs(t, errcode.FromABCI(res[0].Codespace, res[0].Code, res[0].Log), accounts.ErrInsufficientBalance)
	require.Equal(t, dave, h.account(f.dave.id), "the first transfer must be undone")
	after := h.account(f.bob.id)
	want, _ := bob.Balance.Sub(phaN(1))
	require.Equal(t, want, after.Balance, "only the fee is charged")
	require.Equal(t, bob.Nonce+1, after.Nonce)
	require.Equal(t, []string{"fee"}, eventTypes(res[0].Events))

	res = h.block(raw)
	require.ErrorIs(t, errcode.FromABCI(res[0].Codespace, res[0].Code, res[0].Log), tx.ErrNonceReplayed)
	require.Equal(t, after, h.account(f.bob.id))
	h.issuanceHolds()
}

// TestMempoolNonces: CheckTx tracks nonces across the transactions it accepted since the last
// commit, so a client can send several in a row.
func TestMempoolNonces(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, dbm.NewMemDB(), f.genesis(t, []keys.AccountID{f.alice.id}, 1))
	var raws [][]byte
	for n := uint64(0); n < 3; n++ {
		raw := h.sign(f.alice, txOpts{nonce: &n}, transfer(f.bob.id, "1"))
		require.Equal(t, abci.CodeTypeOK, h.check(raw).Code)
		raws = append(raws, raw)
	}
	again := h.check(raws[1])
	require.ErrorIs(t, errcode.FromABCI(again.Codespace, again.Code, again.Log), tx.ErrNonceReplayed)

	pending := queryOK(t, h.app, "/pending/accounts/account", f.alice.id[:], 0)
	var acct accounts.Account
	require.NoError(t, proto.Unmarshal(pending.Value, &acct))
	require.Equal(t, uint64(3), acct.Nonce)

	// A transaction whose message would fail is refused and leaves no trace in the mempool's
	// view: the next one may use the same nonce.
	n := uint64(3)
	failing := h.sign(f.alice, txOpts{nonce: &n}, transfer(f.bob.id, phaN(1_000_000).String()))
	require.NotEqual(t, abci.CodeTypeOK, h.check(failing).Code)
	pending = queryOK(t, h.app, "/pending/accounts/account", f.alice.id[:], 0)
	require.NoError(t, proto.Unmarshal(pending.Value, &acct))
	require.Equal(t, uint64(3), acct.Nonce, "a refused transaction takes no nonce")
	next := h.sign(f.alice, txOpts{nonce: &n}, transfer(f.bob.id, "1"))
	require.Equal(t, abci.CodeTypeOK, h.check(next).Code)
	raws = append(raws, next)

	for _, r := range h.block(raws...) {
		require.Equal(t, abci.CodeTypeOK, r.Code, r.Log)
	}
	require.Equal(t, uint64(4), h.account(f.alice.id).Nonce)
}

func queryOK(t *testing.T, a *App, path string, data []byte, height int64) *abci.ResponseQuery {
	t.Helper()
	resp, err := a.Query(context.Background(), &abci.RequestQuery{Path: path, Data: data, Height: height})
	require.NoError(t, err)
	require.Equal(t, abci.CodeTypeOK, resp.Code, resp.Log)
	return resp
}

func TestQueryWithProof(t *testing.T) {
	f := newFixture(t)
	h := newHarness(t, dbm.NewMemDB(), f.genesis(t, []keys.AccountID{f.alice.id}, 1))
	h.block(h.sign(f.alice, txOpts{}, transfer(f.dave.id, "42")))
	key := accounts.AccountKey(f.dave.id)
	resp, err := h.app.Query(context.Background(), &abci.RequestQuery{Path: "/store", Data: key, Prove: true})
	require.NoError(t, err)
	require.Equal(t, abci.CodeTypeOK, resp.Code, resp.Log)
	require.Equal(t, h.height, resp.Height)
	require.Len(t, resp.ProofOps.Ops, 1)
	require.Equal(t, ProofOpType, resp.ProofOps.Ops[0].Type)
	var proof ics23.CommitmentProof
	require.NoError(t, proof.Unmarshal(resp.ProofOps.Ops[0].Data))
	require.NoError(t, store.VerifyProof(h.hash, &proof, key, resp.Value))
	var a accounts.Account
	require.NoError(t, proto.Unmarshal(resp.Value, &a))
	require.Equal(t, "42", a.Balance)

	// Absence is proven too.
	nobody := accounts.AccountKey(keys.AccountID{9})
	resp, err = h.app.Query(context.Background(), &abci.RequestQuery{Path: "/store", Data: nobody, Prove: true})
	require.NoError(t, err)
	require.Nil(t, resp.Value)
	require.NoError(t, proof.Unmarshal(resp.ProofOps.Ops[0].Data))
	require.NoError(t, store.VerifyProof(h.hash, &proof, nobody, nil))

	bad, err := h.app.Query(context.Background(), &abci.RequestQuery{Path: "/nomodule/x"})
	require.NoError(t, err)
	require.ErrorIs(t, errcode.FromABCI(bad.Codespace, bad.Code, bad.Log), ErrUnknownQuery)
}

func TestGovernance(t *testing.T) {
	f := newFixture(t)
	council := []keys.AccountID{f.alice.id, f.bob.id, f.charlie.id}
	h := newHarness(t, dbm.NewMemDB(), f.genesis(t, council, 2))
	newParams := &accounts.Params{FeePerByte: "0", FeePerMessage: "7", MaxTxBytes: 8192}
	setParams, err := module.Pack(&accounts.MsgSetParams{Params: newParams})
	require.NoError(t, err)

	expectCode := func(res *abci.ExecTxResult, want error) {
		t.Helper()
		if want == nil {
			require.Equal(t, abci.CodeTypeOK, res.Code, res.Log)
			return
		}
		require.ErrorIs(t, errcode.FromABCI(res.Codespace, res.Code, res.Log), want, res.Log)
	}
	run := func(a account, want error, msgs ...proto.Message) {
		t.Helper()
		expectCode(h.block(h.sign(a, txOpts{}, msgs...))[0], want)
	}

	h.blockAsDaveFunded(f)
	run(f.dave, governance.ErrNotMember, &governance.MsgPropose{Messages: []*anypb.Any{setParams}})
	plain, _ := module.Pack(transfer(f.dave.id, "1"))
	run(f.alice, governance.ErrNotGoverned, &governance.MsgPropose{Messages: []*anypb.Any{plain}})

	run(f.alice, nil, &governance.MsgPropose{Messages: []*anypb.Any{setParams}, Memo: "cheaper fees"})
	run(f.alice, governance.ErrNotApproved, &governance.MsgExecute{ProposalId: 1})
	run(f.alice, governance.ErrAlreadyApproved, &governance.MsgApprove{ProposalId: 1})
	run(f.dave, governance.ErrNotMember, &governance.MsgApprove{ProposalId: 1})
	run(f.bob, governance.ErrProposalNotFound, &governance.MsgApprove{ProposalId: 2})
	run(f.bob, nil, &governance.MsgApprove{ProposalId: 1})
	run(f.dave, nil, &governance.MsgExecute{ProposalId: 1}) // anyone may execute an approved proposal

	snap, err := h.app.tree.Snapshot(h.app.tree.Version())
	require.NoError(t, err)
	require.True(t, proto.Equal(newParams, accounts.GetParams(snap)))
	run(f.bob, governance.ErrNotOpen, &governance.MsgExecute{ProposalId: 1})

	resp := queryOK(t, h.app, "/governance/proposal", binary.BigEndian.AppendUint64(nil, 1), 0)
	var p governance.Proposal
	require.NoError(t, proto.Unmarshal(resp.Value, &p))
	require.Equal(t, governance.ProposalStatus_PROPOSAL_STATUS_EXECUTED, p.Status)

	// A proposal whose message fails leaves everything as it was and stays open.
	badCouncil, _ := module.Pack(&governance.MsgSetCouncil{Council: &governance.Council{Members: [][]byte{f.dave.id[:]}, Threshold: 2}})
	run(f.alice, governance.ErrInvalidProposal, &governance.MsgPropose{Messages: []*anypb.Any{badCouncil}})

	// Replace the council with Dave alone; old approvals stop counting.
	newCouncil, _ := module.Pack(&governance.MsgSetCouncil{Council: &governance.Council{Members: [][]byte{f.dave.id[:]}, Threshold: 1}})
	run(f.alice, nil, &governance.MsgPropose{Messages: []*anypb.Any{newCouncil}})
	run(f.charlie, nil, &governance.MsgApprove{ProposalId: 2})
	run(f.bob, nil, &governance.MsgExecute{ProposalId: 2})
	snap, _ = h.app.tree.Snapshot(h.app.tree.Version())
	require.Equal(t, [][]byte{f.dave.id[:]}, governance.GetCouncil(snap).Members)
	run(f.alice, governance.ErrNotMember, &governance.MsgPropose{Messages: []*anypb.Any{setParams}})

	// Expiry: the voting period is 10 blocks.
	run(f.dave, nil, &governance.MsgPropose{Messages: []*anypb.Any{setParams}})
	for i := 0; i < 11; i++ {
		h.block()
	}
	run(f.dave, governance.ErrExpired, &governance.MsgExecute{ProposalId: 3})
	h.issuanceHolds()
}

func (h *harness) blockAsDaveFunded(f fixture) {
	res := h.block(h.sign(f.alice, txOpts{fee: amt(phaN(1))}, transfer(f.dave.id, phaN(10).String())))
	require.Equal(h.t, abci.CodeTypeOK, res[0].Code, res[0].Log)
}

// TestReplayDeterminism: two applications given the same blocks reach the same hashes, whether
// or not CheckTx saw the transactions first (the signature cache must not matter).
func TestReplayDeterminism(t *testing.T) {
	f := newFixture(t)
	gen := f.genesis(t, []keys.AccountID{f.alice.id}, 1)
	a := newHarness(t, dbm.NewMemDB(), gen)
	b := newHarness(t, dbm.NewMemDB(), gen)
	require.Equal(t, a.hash, b.hash)
	for i := 0; i < 5; i++ {
		var txs [][]byte
		for _, acc := range []account{f.alice, f.bob, f.charlie} {
			raw := a.sign(acc, txOpts{}, transfer(f.dave.id, fmt.Sprint(i+1)))
			a.check(raw)
			txs = append(txs, raw)
		}
		txs = append(txs, []byte("garbage"))
		ra, rb := a.block(txs...), b.block(txs...)
		require.Equal(t, a.hash, b.hash, "block %d", i)
		for j := range ra {
			require.Equal(t, ra[j].Code, rb[j].Code)
		}
	}
}

// TestRestart: a reopened application reports the last committed height and hash and goes on
// from there; writes of a block finalized but not committed are gone, as after kill -9.
func TestRestart(t *testing.T) {
	f := newFixture(t)
	db := dbm.NewMemDB()
	h := newHarness(t, db, f.genesis(t, []keys.AccountID{f.alice.id}, 1))
	h.block(h.sign(f.alice, txOpts{}, transfer(f.dave.id, "5")))
	height, hash := h.height, h.hash

	// Finalize a block without committing it, then "crash".
	_, err := h.app.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{
		Txs: [][]byte{h.sign(f.alice, txOpts{}, transfer(f.dave.id, "5"))}, Height: height + 1, Time: genesisTime,
	})
	require.NoError(t, err)

	reopened, err := New(Config{DB: db})
	require.NoError(t, err)
	info, err := reopened.Info(context.Background(), &abci.RequestInfo{})
	require.NoError(t, err)
	require.Equal(t, height, info.LastBlockHeight)
	require.Equal(t, hash, info.LastBlockAppHash)
	h2 := &harness{t: t, app: reopened, db: db, height: height, hash: hash}
	require.Equal(t, "5", h2.account(f.dave.id).Balance.String())
	res := h2.block(h2.sign(f.alice, txOpts{}, transfer(f.dave.id, "5")))
	require.Equal(t, abci.CodeTypeOK, res[0].Code, res[0].Log)
	require.Equal(t, "10", h2.account(f.dave.id).Balance.String())
}

func TestGenesisRefusals(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, state string
		want        error
	}{
		{"not json", `[`, ErrInvalidGenesis},
		{"unknown section", `{"accounts":{},"nope":{}}`, ErrInvalidGenesis},
		{"missing section", `{}`, accounts.ErrInvalidGenesis},
		{"unknown field", `{"accounts":{"params":{},"balances":[],"extra":1},"governance":{},"registry":{}}`, accounts.ErrInvalidGenesis},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{DB: dbm.NewMemDB()})
			require.NoError(t, err)
			_, err = a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: chainID, InitialHeight: 1, AppStateBytes: []byte(tt.state)})
			require.ErrorIs(t, err, tt.want)
		})
	}
	// Funding the same account twice is refused.
	g, err := GenesisState{
		Accounts: accounts.Genesis{Params: accounts.DefaultParams(), Balances: []accounts.GenesisBalance{
			{Address: f.alice.id, Balance: pha}, {Address: f.alice.id, Balance: pha},
		}},
		Governance: governance.Genesis{Council: governance.GenesisCouncil{Members: []keys.AccountID{f.alice.id}, Threshold: 1}, VotingPeriod: 1},
		Registry:   registry.Genesis{Params: registry.DefaultParams()},
	}.Marshal()
	require.NoError(t, err)
	a, err := New(Config{DB: dbm.NewMemDB()})
	require.NoError(t, err)
	_, err = a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: chainID, InitialHeight: 1, AppStateBytes: g})
	require.ErrorIs(t, err, accounts.ErrInvalidGenesis)
}

// FuzzCheckTx: arbitrary bytes never crash CheckTx, and whatever it refuses leaves the mempool's
// view of state untouched.
func FuzzCheckTx(f *testing.F) {
	fx := newFixture(f)
	h := newHarness(f, dbm.NewMemDB(), fx.genesis(f, []keys.AccountID{fx.alice.id}, 1))
	valid := h.sign(fx.alice, txOpts{}, transfer(fx.bob.id, "1"))
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00, 0x12, 0x40})
	f.Fuzz(func(t *testing.T, raw []byte) {
		before := h.app.check.Len()
		resp, err := h.app.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: raw})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code != abci.CodeTypeOK && h.app.check.Len() != before {
			t.Fatalf("refused transaction changed the mempool state: %s", resp.Log)
		}
	})
}
