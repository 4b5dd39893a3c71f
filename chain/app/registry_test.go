package app

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/hex"
	"path/filepath"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/sim"
)

func simGenesis(t *testing.T, f fixture, allowSim bool, guest *sim.Guest, meas []byte) []byte {
	reg := registry.Genesis{
		TEE:      registry.GenesisTEE{AllowSim: allowSim, SimPlatformKeys: nil},
		Params:   registry.DefaultParams(),
		Runtimes: []registry.GenesisRuntime{{Measurement: "sim:" + hex.EncodeToString(meas), Version: 1}},
	}
	if allowSim {
		reg.TEE.SimPlatformKeys = append(reg.TEE.SimPlatformKeys, registry.SimKey(guest.PlatformKey()))
	}
	g, err := GenesisState{
		Accounts:   accounts.Genesis{Params: accounts.DefaultParams(), Balances: []accounts.GenesisBalance{{Address: f.alice.id, Balance: phaN(1000)}}},
		Governance: governance.Genesis{Council: governance.GenesisCouncil{Members: []keys.AccountID{f.alice.id}, Threshold: 1}, VotingPeriod: 10},
		Registry:   reg,
	}.Marshal()
	require.NoError(t, err)
	return g
}

// registration builds what pRuntime and pherry will: info naming this chain and its latest
// block, and sim evidence binding it.
func (h *harness) registration(t *testing.T, guest *sim.Guest, operator keys.AccountID) (*registry.WorkerInfo, *registry.MsgRegisterWorker) {
	snap, err := h.app.tree.Snapshot(h.app.tree.Version())
	require.NoError(t, err)
	hash, _, ok := module.RecentBlock(snap, h.height)
	require.True(t, ok)
	id, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	x, err := hpke.DHKEM(ecdh.X25519()).GenerateKey()
	require.NoError(t, err)
	xw, err := hpke.MLKEM768X25519().GenerateKey()
	require.NoError(t, err)
	info := &registry.WorkerInfo{
		IdentityKey: id,
		EncryptionKeys: []*registry.EncryptionKey{
			{Kem: 0x0020, PublicKey: x.PublicKey().Bytes()}, {Kem: 0x647a, PublicKey: xw.PublicKey().Bytes()},
		},
		ChainId: chainID, GenesisHash: module.GenesisHash(snap), Operator: operator[:],
		RuntimeVersion: 1, Cores: 2, FreshHeight: h.height, FreshHash: hash,
	}
	raw := registry.EncodeInfo(info)
	ev, err := guest.Evidence(registry.ReportData(raw))
	require.NoError(t, err)
	evb, err := ev.MarshalBinary()
	require.NoError(t, err)
	return info, &registry.MsgRegisterWorker{Info: raw, Evidence: evb}
}

func TestWorkerRegistrationThroughTransactions(t *testing.T) {
	f := newFixture(t)
	meas := bytes.Repeat([]byte{7}, tee.SimMeasurementSize)
	guest, err := sim.Open(sim.Config{SecretPath: filepath.Join(t.TempDir(), "secret"), Measurement: meas})
	require.NoError(t, err)
	db := dbm.NewMemDB()
	a, err := New(Config{DB: db})
	require.NoError(t, err)
	resp, err := a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: chainID, InitialHeight: 1, Time: genesisTime, AppStateBytes: simGenesis(t, f, true, guest, meas)})
	require.NoError(t, err)
	h := &harness{t: t, app: a, db: db, hash: resp.AppHash}
	h.block()
	snap, err := a.tree.Snapshot(a.tree.Version())
	require.NoError(t, err)
	require.Equal(t, resp.AppHash, module.GenesisHash(snap), "the genesis hash is InitChain's AppHash, the AppHash of header 1")

	info, msg := h.registration(t, guest, f.alice.id)
	res := h.block(h.sign(f.alice, txOpts{}, msg))
	require.Equal(t, abci.CodeTypeOK, res[0].Code, res[0].Log)
	require.Contains(t, eventTypes(res[0].Events), "worker_registered")
	got := queryOK(t, a, "/registry/worker", info.IdentityKey, 0)
	var w registry.Worker
	require.NoError(t, proto.Unmarshal(got.Value, &w))
	require.True(t, proto.Equal(info, w.Info))

	// The same registration replayed later is stale: the info names a block that has aged out
	// of the freshness window only once enough blocks pass; before that it is an update.
	res = h.block(h.sign(f.alice, txOpts{}, msg))
	require.Equal(t, abci.CodeTypeOK, res[0].Code, res[0].Log)
	require.Contains(t, eventTypes(res[0].Events), "worker_updated")

	// The council promotes it to gatekeeper.
	gk, err := module.Pack(&registry.MsgRegisterGatekeeper{Worker: info.IdentityKey})
	require.NoError(t, err)
	res = h.block(h.sign(f.alice, txOpts{}, &governance.MsgPropose{Messages: []*anypb.Any{gk}}))
	require.Equal(t, abci.CodeTypeOK, res[0].Code, res[0].Log)
	res = h.block(h.sign(f.alice, txOpts{}, &governance.MsgExecute{ProposalId: 1}))
	require.Equal(t, abci.CodeTypeOK, res[0].Code, res[0].Log)
	snap, err = a.tree.Snapshot(a.tree.Version())
	require.NoError(t, err)
	require.True(t, registry.IsGatekeeper(snap, info.IdentityKey))
}

// TestProductionGenesisRefusesSim: the same registration on a chain whose genesis disallows
// sim is refused in CheckTx and in the block, with the tee code, and stores nothing.
func TestProductionGenesisRefusesSim(t *testing.T) {
	f := newFixture(t)
	meas := bytes.Repeat([]byte{7}, tee.SimMeasurementSize)
	guest, err := sim.Open(sim.Config{SecretPath: filepath.Join(t.TempDir(), "secret"), Measurement: meas})
	require.NoError(t, err)
	h := newHarness(t, dbm.NewMemDB(), simGenesis(t, f, false, guest, meas))
	info, msg := h.registration(t, guest, f.alice.id)
	raw := h.sign(f.alice, txOpts{}, msg)
	check := h.check(raw)
	require.ErrorIs(t, errcode.FromABCI(check.Codespace, check.Code, check.Log), registry.TEERefusal(tee.ErrSimNotAllowed))
	require.Equal(t, "tee", check.Codespace)
	res := h.block(raw)
	require.Equal(t, "tee", res[0].Codespace)
	require.Equal(t, tee.Code(tee.ErrSimNotAllowed), res[0].Code)
	bad, err := h.app.Query(context.Background(), &abci.RequestQuery{Path: "/registry/worker", Data: info.IdentityKey})
	require.NoError(t, err)
	require.ErrorIs(t, errcode.FromABCI(bad.Codespace, bad.Code, bad.Log), registry.ErrWorkerNotFound)
}
