package registry

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"path/filepath"
	"testing"
	"time"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/sim"
)

const chainID = "reg-test"

var (
	t0          = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	genesisHash = bytes.Repeat([]byte{0x9e}, 32)
	measurement = bytes.Repeat([]byte{0x4d}, tee.SimMeasurementSize)
	otherMeas   = bytes.Repeat([]byte{0x4e}, tee.SimMeasurementSize)
)

// env is the registry on a state with recent blocks recorded, as the app keeps it.
type env struct {
	t      *testing.T
	kv     *store.Cache
	height int64
	guest  *sim.Guest
	dir    string
	// privs are the identity keys of the workers info made.
	privs map[string]ed25519.PrivateKey
}

func newEnv(t *testing.T, allowSim bool, gen func(*Genesis)) *env {
	tr, err := store.OpenTree(dbm.NewMemDB(), nil)
	require.NoError(t, err)
	e := &env{t: t, kv: store.NewCache(tr.Working()), dir: t.TempDir(), privs: map[string]ed25519.PrivateKey{}}
	e.guest, err = sim.Open(sim.Config{SecretPath: filepath.Join(e.dir, "secret"), Measurement: measurement})
	require.NoError(t, err)
	g := Genesis{
		TEE:      GenesisTEE{AllowSim: allowSim, SimPlatformKeys: []hexString{SimKey(e.guest.PlatformKey())}},
		Params:   DefaultParams(),
		Runtimes: []GenesisRuntime{{Measurement: "sim:" + hexOf(measurement), Version: 3}},
	}
	if gen != nil {
		gen(&g)
	}
	raw, err := jsonOf(g)
	require.NoError(t, err)
	require.NoError(t, New().InitGenesis(module.NewContext(e.kv, module.Block{ChainID: chainID, Height: 1, Time: t0}), raw))
	module.SetGenesisHash(e.kv, genesisHash)
	for range 5 {
		e.advance(time.Second)
	}
	return e
}

// advance records a new block.
func (e *env) advance(d time.Duration) module.Block {
	e.height++
	b := e.block()
	b.Time = e.blockTime().Add(d)
	module.RecordBlock(e.kv, b)
	return b
}

func (e *env) blockTime() time.Time {
	if _, tm, ok := module.RecentBlock(e.kv, e.height-1); ok {
		return tm
	}
	return t0
}

func (e *env) block() module.Block {
	h := bytes.Repeat([]byte{byte(e.height)}, 32)
	_, tm, ok := module.RecentBlock(e.kv, e.height)
	if !ok {
		tm = e.blockTime()
	}
	return module.Block{ChainID: chainID, Height: e.height, Time: tm, Hash: h}
}

func (e *env) ctx() *module.Context { return module.NewContext(e.kv, e.block()) }

func hpkeKey(t *testing.T, kem hpke.KEM) []byte {
	k, err := kem.GenerateKey()
	require.NoError(t, err)
	return k.PublicKey().Bytes()
}

// info is a valid worker info naming the current block.
func (e *env) info() *WorkerInfo {
	id, priv, err := ed25519.GenerateKey(nil)
	require.NoError(e.t, err)
	e.privs[string(id)] = priv
	return &WorkerInfo{
		IdentityKey: id,
		EncryptionKeys: []*EncryptionKey{
			{Kem: 0x0020, PublicKey: hpkeKey(e.t, hpke.DHKEM(ecdh.X25519()))},
			{Kem: 0x647a, PublicKey: hpkeKey(e.t, hpke.MLKEM768X25519())},
		},
		ChainId: chainID, GenesisHash: genesisHash, Operator: bytes.Repeat([]byte{1}, 32),
		RuntimeVersion: 3, Cores: 4, FreshHeight: e.height, FreshHash: e.block().Hash,
	}
}

// registration builds a message whose evidence binds info.
func (e *env) registration(info *WorkerInfo) *MsgRegisterWorker {
	raw := EncodeInfo(info)
	ev, err := e.guest.Evidence(ReportData(raw))
	require.NoError(e.t, err)
	evb, err := ev.MarshalBinary()
	require.NoError(e.t, err)
	return &MsgRegisterWorker{Info: raw, Evidence: evb}
}

// register runs the message the way the router would: stateless checks, then the handler.
func (e *env) register(msg *MsgRegisterWorker) error {
	if err := msg.ValidateBasic(); err != nil {
		return err
	}
	ctx, commit := e.ctx().Branch()
	if err := registerWorker(ctx, module.Caller{}, msg); err != nil {
		return err
	}
	commit()
	return nil
}

func TestRegisterWorker(t *testing.T) {
	e := newEnv(t, true, nil)
	info := e.info()
	require.NoError(t, e.register(e.registration(info)))
	w, err := Active(e.kv, info.IdentityKey, e.block())
	require.NoError(t, err)
	require.Equal(t, string(tee.KindSim), w.TeeKind)
	require.Equal(t, measurement, w.Measurement)
	require.Equal(t, uint32(1), w.Confidence)
	require.True(t, proto.Equal(info, w.Info))
	require.Equal(t, e.block().Time.Unix()+int64(DefaultParams().AttestationValidity), w.ExpiresAt)

	// Re-registration with fresh evidence updates the worker and keeps its first height.
	first := w.RegisteredHeight
	e.advance(time.Hour)
	info.FreshHeight, info.FreshHash, info.Cores = e.height, e.block().Hash, 8
	require.NoError(t, e.register(e.registration(info)))
	w, err = GetWorker(e.kv, info.IdentityKey)
	require.NoError(t, err)
	require.Equal(t, first, w.RegisteredHeight)
	require.Equal(t, uint32(8), w.Info.Cores)
	require.Equal(t, e.height, w.UpdatedHeight)
}

// TestRegistrationRefusals: each bad registration gets its own code and stores nothing.
func TestRegistrationRefusals(t *testing.T) {
	e := newEnv(t, true, func(g *Genesis) { g.Params.FreshnessBlocks = 3 })
	valid := func() (*WorkerInfo, *MsgRegisterWorker) {
		info := e.info()
		return info, e.registration(info)
	}
	tests := []struct {
		name  string
		build func() (*WorkerInfo, *MsgRegisterWorker)
		want  error
	}{
		{"forged signature", func() (*WorkerInfo, *MsgRegisterWorker) {
			info, m := valid()
			m.Evidence[len(m.Evidence)-1] ^= 1
			return info, m
		}, tee.ErrSignature},
		{"truncated evidence", func() (*WorkerInfo, *MsgRegisterWorker) {
			info, m := valid()
			m.Evidence = m.Evidence[:len(m.Evidence)/2]
			return info, m
		}, ErrMalformedEvidence},
		{"replayed: evidence bound to other keys", func() (*WorkerInfo, *MsgRegisterWorker) {
			_, other := valid()
			info := e.info()
			return info, &MsgRegisterWorker{Info: EncodeInfo(info), Evidence: other.Evidence}
		}, ErrReportData},
		{"wrong chain id", func() (*WorkerInfo, *MsgRegisterWorker) {
			info := e.info()
			info.ChainId = "other"
			return info, e.registration(info)
		}, ErrWrongChain},
		{"wrong genesis", func() (*WorkerInfo, *MsgRegisterWorker) {
			info := e.info()
			info.GenesisHash = bytes.Repeat([]byte{1}, 32)
			return info, e.registration(info)
		}, ErrWrongChain},
		{"stale: names an old block", func() (*WorkerInfo, *MsgRegisterWorker) {
			info := e.info()
			info.FreshHeight, info.FreshHash = 1, bytes.Repeat([]byte{1}, 32)
			return info, e.registration(info)
		}, ErrStaleEvidence},
		{"stale: names an unknown block hash", func() (*WorkerInfo, *MsgRegisterWorker) {
			info := e.info()
			info.FreshHash = bytes.Repeat([]byte{0xff}, 32)
			return info, e.registration(info)
		}, ErrStaleEvidence},
		{"unlisted measurement", func() (*WorkerInfo, *MsgRegisterWorker) {
			g, err := sim.Open(sim.Config{SecretPath: filepath.Join(e.dir, "secret"), Measurement: otherMeas})
			require.NoError(t, err)
			info := e.info()
			raw := EncodeInfo(info)
			ev, err := g.Evidence(ReportData(raw))
			require.NoError(t, err)
			evb, _ := ev.MarshalBinary()
			return info, &MsgRegisterWorker{Info: raw, Evidence: evb}
		}, ErrRuntimeNotAllowed},
		{"debug guest", func() (*WorkerInfo, *MsgRegisterWorker) {
			g, err := sim.Open(sim.Config{SecretPath: filepath.Join(e.dir, "secret"), Measurement: measurement, Debug: true})
			require.NoError(t, err)
			info := e.info()
			raw := EncodeInfo(info)
			ev, err := g.Evidence(ReportData(raw))
			require.NoError(t, err)
			evb, _ := ev.MarshalBinary()
			return info, &MsgRegisterWorker{Info: raw, Evidence: evb}
		}, tee.ErrDebugNotAllowed},
		{"unknown sim platform", func() (*WorkerInfo, *MsgRegisterWorker) {
			g, err := sim.Open(sim.Config{SecretPath: filepath.Join(t.TempDir(), "other"), Measurement: measurement})
			require.NoError(t, err)
			info := e.info()
			raw := EncodeInfo(info)
			ev, err := g.Evidence(ReportData(raw))
			require.NoError(t, err)
			evb, _ := ev.MarshalBinary()
			return info, &MsgRegisterWorker{Info: raw, Evidence: evb}
		}, tee.ErrUnknownPlatformKey},
		{"claimed version differs from the allowlist", func() (*WorkerInfo, *MsgRegisterWorker) {
			info := e.info()
			info.RuntimeVersion = 4
			return info, e.registration(info)
		}, ErrVersionMismatch},
		{"non-canonical info", func() (*WorkerInfo, *MsgRegisterWorker) {
			info, m := valid()
			m.Info = append(m.Info, 0x38, 0x04) // cores repeated: decodes, but not canonical
			return info, m
		}, ErrMalformedInfo},
		{"missing hybrid key", func() (*WorkerInfo, *MsgRegisterWorker) {
			info := e.info()
			info.EncryptionKeys = info.EncryptionKeys[:1]
			return info, e.registration(info)
		}, ErrMalformedInfo},
		{"invalid X25519 key", func() (*WorkerInfo, *MsgRegisterWorker) {
			info := e.info()
			info.EncryptionKeys[0].PublicKey = []byte{1, 2, 3}
			return info, e.registration(info)
		}, ErrMalformedInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.kv.Len()
			info, msg := tt.build()
			err := e.register(msg)
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, before, e.kv.Len(), "a refused registration must store nothing")
			_, err = GetWorker(e.kv, info.IdentityKey)
			require.ErrorIs(t, err, ErrWorkerNotFound)
		})
	}
}

// TestSimRefusedWithoutGenesisConsent: a chain whose genesis disallows sim refuses sim evidence,
// with the tee code for that check surviving the trip through ABCI.
func TestSimRefusedWithoutGenesisConsent(t *testing.T) {
	e := newEnv(t, false, nil)
	info := e.info()
	err := e.register(e.registration(info))
	require.ErrorIs(t, err, tee.ErrSimNotAllowed)
	space, code, log := errcode.ABCI(err)
	require.Equal(t, "tee", space)
	require.Equal(t, tee.Code(tee.ErrSimNotAllowed), code)
	require.Contains(t, log, "genesis does not allow simulated TEEs")
	_, err = GetWorker(e.kv, info.IdentityKey)
	require.ErrorIs(t, err, ErrWorkerNotFound)
}

func TestExpiryAndRevocation(t *testing.T) {
	e := newEnv(t, true, func(g *Genesis) { g.Params.AttestationValidity = 600 })
	info := e.info()
	require.NoError(t, e.register(e.registration(info)))
	_, err := Active(e.kv, info.IdentityKey, e.block())
	require.NoError(t, err)

	e.advance(10 * time.Minute)
	_, err = Active(e.kv, info.IdentityKey, e.block())
	require.ErrorIs(t, err, ErrWorkerInactive)

	info.FreshHeight, info.FreshHash = e.height, e.block().Hash
	require.NoError(t, e.register(e.registration(info)))
	_, err = Active(e.kv, info.IdentityKey, e.block())
	require.NoError(t, err)

	require.NoError(t, revokeRuntime(e.ctx(), module.CouncilCaller(), &MsgRevokeRuntime{TeeKind: "sim", Measurement: measurement}))
	_, err = Active(e.kv, info.IdentityKey, e.block())
	require.ErrorIs(t, err, ErrWorkerInactive)
	require.ErrorIs(t, revokeRuntime(e.ctx(), module.CouncilCaller(), &MsgRevokeRuntime{TeeKind: "sim", Measurement: measurement}), ErrRuntimeNotFound)
	e.advance(time.Second)
	info.FreshHeight, info.FreshHash = e.height, e.block().Hash
	require.ErrorIs(t, e.register(e.registration(info)), ErrRuntimeNotAllowed)
}

func TestGatekeepers(t *testing.T) {
	e := newEnv(t, true, nil)
	a, b := e.info(), e.info()
	require.NoError(t, e.register(e.registration(a)))
	require.NoError(t, e.register(e.registration(b)))
	ctx := e.ctx()
	require.ErrorIs(t, registerGatekeeper(ctx, module.CouncilCaller(), &MsgRegisterGatekeeper{Worker: bytes.Repeat([]byte{7}, 32)}), ErrWorkerNotFound)
	require.NoError(t, registerGatekeeper(ctx, module.CouncilCaller(), &MsgRegisterGatekeeper{Worker: a.IdentityKey}))
	require.ErrorIs(t, registerGatekeeper(ctx, module.CouncilCaller(), &MsgRegisterGatekeeper{Worker: a.IdentityKey}), ErrAlreadyGatekeeper)
	require.ErrorIs(t, unregisterGatekeeper(ctx, module.CouncilCaller(), &MsgUnregisterGatekeeper{Worker: a.IdentityKey}), ErrLastGatekeeper)
	require.NoError(t, registerGatekeeper(ctx, module.CouncilCaller(), &MsgRegisterGatekeeper{Worker: b.IdentityKey}))
	// a must create the master key, b must receive it: neither may leave before.
	require.ErrorIs(t, unregisterGatekeeper(ctx, module.CouncilCaller(), &MsgUnregisterGatekeeper{Worker: a.IdentityKey}), ErrTaskPending)
	require.ErrorIs(t, unregisterGatekeeper(ctx, module.CouncilCaller(), &MsgUnregisterGatekeeper{Worker: b.IdentityKey}), ErrTaskPending)
	require.True(t, IsGatekeeper(e.kv, a.IdentityKey))
	require.True(t, IsGatekeeper(e.kv, b.IdentityKey))
}

// TestGatekeeperConfidence: outside sim chains, a worker of worse confidence than the governed
// limit cannot become a gatekeeper.
func TestGatekeeperConfidence(t *testing.T) {
	e := newEnv(t, true, nil)
	info := e.info()
	require.NoError(t, e.register(e.registration(info)))
	// Pretend the worker attested on real hardware with confidence 4.
	w, err := GetWorker(e.kv, info.IdentityKey)
	require.NoError(t, err)
	w.TeeKind, w.Confidence = string(tee.KindTDX), 4
	e.kv.Set(workerKey(info.IdentityKey), module.Marshal(w))
	e.kv.Set(runtimeKey(tee.KindTDX, w.Measurement), module.Marshal(&Runtime{TeeKind: "tdx", Measurement: w.Measurement, Version: 3}))
	err = registerGatekeeper(e.ctx(), module.CouncilCaller(), &MsgRegisterGatekeeper{Worker: info.IdentityKey})
	require.ErrorIs(t, err, ErrConfidenceTooLow)
}

func TestParamsValidation(t *testing.T) {
	good := func() *Params {
		d := DefaultParams()
		return &Params{MinRuntimeVersion: 1, AttestationValidity: d.AttestationValidity, FreshnessBlocks: d.FreshnessBlocks,
			MaxConfidence: 5, GatekeeperMaxConfidence: 2}
	}
	require.NoError(t, validateParams(good()))
	for name, mutate := range map[string]func(*Params){
		"short validity":       func(p *Params) { p.AttestationValidity = 10 },
		"no freshness":         func(p *Params) { p.FreshnessBlocks = 0 },
		"freshness past cache": func(p *Params) { p.FreshnessBlocks = module.RecentBlocks + 1 },
		"confidence 0":         func(p *Params) { p.MaxConfidence = 0 },
		"gatekeeper laxer":     func(p *Params) { p.GatekeeperMaxConfidence = 5; p.MaxConfidence = 3 },
	} {
		p := good()
		mutate(p)
		require.ErrorIs(t, validateParams(p), ErrInvalidParams, name)
	}
}

// FuzzDecodeInfo: worker info bytes come from transactions.
func FuzzDecodeInfo(f *testing.F) {
	f.Add(EncodeInfo(&WorkerInfo{IdentityKey: make([]byte, 32), ChainId: "c", RuntimeVersion: 1}))
	f.Add([]byte{0x0a, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := DecodeInfo(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeInfo(info), b) {
			t.Fatal("accepted a non-canonical encoding")
		}
		_ = info.ValidateBasic()
	})
}
