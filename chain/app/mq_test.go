package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/modules/validators"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/sim"
)

// workerHarness is a chain with one registered sim worker whose identity key the test holds.
func workerHarness(t *testing.T) (*harness, fixture, keys.PrivateKey) {
	f := newFixture(t)
	meas := bytes.Repeat([]byte{7}, tee.SimMeasurementSize)
	guest, err := sim.Open(sim.Config{SecretPath: filepath.Join(t.TempDir(), "secret"), Measurement: meas})
	require.NoError(t, err)
	h := newHarness(t, dbm.NewMemDB(), simGenesis(t, f, true, guest, meas))
	info, msg := h.registration(t, guest, f.alice.id)
	// The test needs the identity private key: replace the generated one with a known key.
	id, err := keys.FromURI(keys.Ed25519, "0x1111111111111111111111111111111111111111111111111111111111111111")
	require.NoError(t, err)
	pk := id.Public().Key
	info.IdentityKey = pk[:]
	raw := registry.EncodeInfo(info)
	ev, err := guest.Evidence(registry.ReportData(raw))
	require.NoError(t, err)
	msg.Info, msg.Evidence = raw, mustBinary(t, ev)
	res := h.block(h.sign(f.alice, txOpts{}, msg))
	require.Equal(t, abci.CodeTypeOK, res[0].Code, res[0].Log)
	return h, f, id
}

func mustBinary(t *testing.T, ev tee.Evidence) []byte {
	b, err := ev.MarshalBinary()
	require.NoError(t, err)
	return b
}

func TestWorkerEgressThroughTheChain(t *testing.T) {
	h, f, worker := workerHarness(t)
	pub := worker.Public().Key
	origin := mq.WorkerOrigin(pub[:])
	pong := func(seq uint64, key keys.PrivateKey) *mq.MsgSyncOffchain {
		sm, err := mq.Sign(&mq.Message{Origin: origin, Topic: mq.TopicPong, Payload: module.Marshal(&mq.Pong{PingHeight: 1})}, seq, key)
		require.NoError(t, err)
		return &mq.MsgSyncOffchain{Message: sm}
	}
	zero := amount.Zero

	// Dave has no funds: valid egress costs nothing, so any relayer account can carry it.
	before := h.account(f.dave.id)
	raw := h.sign(f.dave, txOpts{fee: &zero}, pong(0, worker))
	require.Equal(t, abci.CodeTypeOK, h.check(raw).Code)
	res := h.block(raw)
	require.Equal(t, abci.CodeTypeOK, res[0].Code, res[0].Log)
	require.Contains(t, eventTypes(res[0].Events), "worker_pong")
	require.Equal(t, before.Balance, h.account(f.dave.id).Balance)
	snap, err := h.app.tree.Snapshot(h.app.tree.Version())
	require.NoError(t, err)
	require.Equal(t, uint64(1), mq.NextSequence(snap, origin))
	w, err := registry.GetWorker(snap, pub[:])
	require.NoError(t, err)
	require.Equal(t, h.height, w.LastPongHeight)

	other, err := keys.FromURI(keys.Ed25519, "0x2222222222222222222222222222222222222222222222222222222222222222")
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		msg  *mq.MsgSyncOffchain
		want error
	}{
		"replayed copy":      {pong(0, worker), mq.ErrStale},
		"gapped":             {pong(3, worker), mq.ErrSequenceGap},
		"forged (wrong key)": {pong(1, other), mq.ErrBadSignature},
	} {
		t.Run(name, func(t *testing.T) {
			raw := h.sign(f.dave, txOpts{fee: &zero}, tc.msg)
			check := h.check(raw)
			require.ErrorIs(t, errcode.FromABCI(check.Codespace, check.Code, check.Log), tc.want, "refused in CheckTx")
			beforeDump := h.dump()
			res := h.block(raw)
			require.ErrorIs(t, errcode.FromABCI(res[0].Codespace, res[0].Code, res[0].Log), tc.want, "refused in the block")
			// Fee-free: only Dave's nonce moved.
			require.ElementsMatch(t, []string{string(accounts.AccountKey(f.dave.id))}, diffKeys(beforeDump, h.dump()))
		})
	}

	// A non-exempt message in the same transaction brings the fee back.
	raw = h.sign(f.dave, txOpts{fee: &zero}, pong(1, worker), &mq.MsgPush{Topic: "x"})
	check := h.check(raw)
	require.ErrorIs(t, errcode.FromABCI(check.Codespace, check.Code, check.Log), tx.ErrFeeTooLow)
}

// TestPingReachesWorkers: an account's ping is kept for workers for one block.
func TestPingReachesWorkers(t *testing.T) {
	h, f, _ := workerHarness(t)
	res := h.block(h.sign(f.alice, txOpts{}, &mq.MsgPush{Topic: mq.TopicPing, Payload: module.Marshal(&mq.Ping{Nonce: []byte{1}})}))
	require.Equal(t, abci.CodeTypeOK, res[0].Code, res[0].Log)
	got := queryOK(t, h.app, "/mq/outbound", u64be(uint64(h.height)), 0)
	var msgs mq.Messages
	require.NoError(t, proto.Unmarshal(got.Value, &msgs))
	require.Len(t, msgs.Messages, 1)
	require.Equal(t, mq.TopicPing, msgs.Messages[0].Topic)
	h.block()
	got = queryOK(t, h.app, "/mq/outbound", u64be(uint64(h.height-1)), 0)
	require.NoError(t, proto.Unmarshal(got.Value, &msgs))
	require.Empty(t, msgs.Messages)
}

func TestValidatorUpdatesThroughGovernance(t *testing.T) {
	f := newFixture(t)
	a, err := New(Config{DB: dbm.NewMemDB()})
	require.NoError(t, err)
	genesisVal := bytes.Repeat([]byte{5}, ed25519.PublicKeySize)
	resp, err := a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: chainID, InitialHeight: 1, Time: genesisTime,
		AppStateBytes: f.genesis(t, []keys.AccountID{f.alice.id}, 1), Validators: []abci.ValidatorUpdate{abci.UpdateValidator(genesisVal, 10, "ed25519")}})
	require.NoError(t, err)
	h := &harness{t: t, app: a, hash: resp.AppHash}
	h.block()

	newVal := bytes.Repeat([]byte{6}, ed25519.PublicKeySize)
	add, err := module.Pack(&validators.MsgSetValidatorPower{PubKey: newVal, Power: 20})
	require.NoError(t, err)
	h.block(h.sign(f.alice, txOpts{}, &governance.MsgPropose{Messages: []*anypb.Any{add}}))
	h.height++
	fin, err := a.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{Height: h.height, Time: genesisTime,
		Txs: [][]byte{h.sign(f.alice, txOpts{}, &governance.MsgExecute{ProposalId: 1})}, Hash: bytes.Repeat([]byte{1}, 32)})
	require.NoError(t, err)
	require.Equal(t, abci.CodeTypeOK, fin.TxResults[0].Code, fin.TxResults[0].Log)
	require.Len(t, fin.ValidatorUpdates, 1)
	require.Equal(t, newVal, fin.ValidatorUpdates[0].PubKey.GetEd25519())
	require.Equal(t, int64(20), fin.ValidatorUpdates[0].Power)
	_, err = a.Commit(context.Background(), &abci.RequestCommit{})
	require.NoError(t, err)

	var set validators.Validators
	require.NoError(t, proto.Unmarshal(queryOK(t, a, "/validators/set", nil, 0).Value, &set))
	require.Len(t, set.Validators, 2)
}
