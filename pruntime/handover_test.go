package pruntime

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
	"github.com/phala-go/phala/pruntime/chaintest"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/sim"
)

// Measurements of the handover tests' runtime builds (the world's genesis allows `measurement`).
var (
	measOld       = bytes.Repeat([]byte{0x01}, tee.SimMeasurementSize) // allowed at height allowedOld
	measSameTime  = bytes.Repeat([]byte{0x02}, tee.SimMeasurementSize) // allowed with measOld
	measOldV2     = bytes.Repeat([]byte{0x03}, tee.SimMeasurementSize) // allowed with measOld, version 2
	measRevoked   = bytes.Repeat([]byte{0x04}, tee.SimMeasurementSize) // allowed with measOld, revoked later
	measNew       = bytes.Repeat([]byte{0x05}, tee.SimMeasurementSize) // allowed later
	measUnallowed = bytes.Repeat([]byte{0x06}, tee.SimMeasurementSize) // never allowed
)

// handoverFixture is a chain that allowed the builds above, with runtimes of the old builds
// that verified all of it; old is registered.
type handoverFixture struct {
	w                      *world
	blocks                 []*chaintest.Block
	old, oldV2, revoked    *Runtime
	oldDir                 string
	proposals              uint64
	allowedOld, allowedNew int64
}

func (w *world) guestWith(m []byte) tee.Guest {
	g, err := sim.Open(sim.Config{SecretPath: w.secret, Measurement: m})
	require.NoError(w.t, err)
	return g
}

func (f *handoverFixture) next(txs ...[]byte) {
	f.blocks = append(f.blocks, f.w.chain.Next(txs...))
}

// govern has the council (Alice alone) run msgs; it returns the height they ran at.
func (f *handoverFixture) govern(msgs ...proto.Message) int64 {
	var packed []*anypb.Any
	for _, m := range msgs {
		a, err := module.Pack(m)
		require.NoError(f.w.t, err)
		packed = append(packed, a)
	}
	f.proposals++
	f.next(f.w.sign("Alice", &governance.MsgPropose{Messages: packed}))
	f.next(f.w.sign("Alice", &governance.MsgExecute{ProposalId: f.proposals}))
	return f.w.chain.Height()
}

func allow(m []byte, version uint32) *registry.MsgAllowRuntime {
	return &registry.MsgAllowRuntime{TeeKind: string(tee.KindSim), Measurement: m, Version: version}
}

func newHandoverFixture(t testing.TB) *handoverFixture {
	w := newWorld(t)
	f := &handoverFixture{w: w, oldDir: t.TempDir()}
	open := func(dir string, m []byte) *Runtime {
		r, err := Open(Config{DataDir: dir, Guest: w.guestWith(m), CheckpointInterval: 5})
		require.NoError(t, err)
		t.Cleanup(func() { r.Close() })
		_, err = r.Init(w.chain.Genesis, operator(t))
		require.NoError(t, err)
		return r
	}
	f.old, f.oldV2, f.revoked = open(f.oldDir, measOld), open(t.TempDir(), measOldV2), open(t.TempDir(), measRevoked)
	f.next()
	f.allowedOld = f.govern(allow(measOld, Version), allow(measSameTime, Version), allow(measOldV2, 2), allow(measRevoked, Version))
	f.next()
	reg, err := f.old.Registration(w.chain.Height(), w.chain.LastHash())
	require.NoError(t, err)
	f.next(w.sign("Alice", &registry.MsgRegisterWorker{Info: reg.Info, Evidence: reg.Evidence}))
	f.allowedNew = f.govern(allow(measNew, Version))
	f.govern(&registry.MsgRevokeRuntime{TeeKind: string(tee.KindSim), Measurement: measRevoked})
	f.next()
	w.feed(f.olds(), f.blocks...)
	require.True(t, f.old.Info().Registered)
	return f
}

func (f *handoverFixture) olds() []*Runtime { return []*Runtime{f.old, f.oldV2, f.revoked} }

// serve exposes r's API as the host does; the client may tamper with what passes through.
func serve(t testing.TB, r *Runtime) apiconnect.RuntimeServiceClient {
	mux := http.NewServeMux()
	mux.Handle(Handler(r))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return apiconnect.NewRuntimeServiceClient(srv.Client(), srv.URL)
}

// tampering is a host between the two runtimes: it may alter the request and the answer, and
// records the error the old runtime's API returned.
type tampering struct {
	apiconnect.RuntimeServiceClient
	req  func(*api.HandoverRequest)
	resp func(*api.HandoverResponse)
	err  error
}

func (c *tampering) Handover(ctx context.Context, req *connect.Request[api.HandoverRequest]) (*connect.Response[api.HandoverResponse], error) {
	if c.req != nil {
		c.req(req.Msg)
	}
	resp, err := c.RuntimeServiceClient.Handover(ctx, req)
	c.err = err
	if err == nil && c.resp != nil {
		c.resp(resp.Msg)
	}
	return resp, err
}

func TestHandover(t *testing.T) {
	f := newHandoverFixture(t)
	w := f.w
	require.Greater(t, f.allowedNew, f.allowedOld)
	newDir := t.TempDir()
	guest := w.guestWith(measNew)
	cfg := Config{DataDir: newDir, Guest: guest, CheckpointInterval: 5}
	id, err := ReceiveHandover(context.Background(), cfg, serve(t, f.old), nil)
	require.NoError(t, err)
	require.Equal(t, f.old.Info().IdentityKey, id)

	// The new build opens the handed-over keys, syncs from genesis itself and re-registers.
	r, err := Open(cfg)
	require.NoError(t, err)
	defer r.Close()
	info := r.Info()
	require.Equal(t, id, info.IdentityKey)
	require.Equal(t, measNew, info.Measurement)
	_, err = r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	syncTo(t, w, r, f.blocks)
	oldReg, err := f.old.Registration(w.chain.Height(), w.chain.LastHash())
	require.NoError(t, err)
	newReg, err := r.Registration(w.chain.Height(), w.chain.LastHash())
	require.NoError(t, err)
	oldInfo, err := registry.DecodeInfo(oldReg.Info)
	require.NoError(t, err)
	newInfo, err := registry.DecodeInfo(newReg.Info)
	require.NoError(t, err)
	require.True(t, proto.Equal(oldInfo, newInfo), "same identity, encryption keys and everything else")

	before := chainWorker(t, w, id)
	w.register(r, r, f.old)
	require.True(t, r.Info().Registered)
	after := chainWorker(t, w, id)
	require.Equal(t, measNew, after.Measurement, "the registration now names the new build")
	require.Equal(t, before.RegisteredHeight, after.RegisteredHeight, "an update of the same worker")
}

// TestPlantedHandover: the new runtime cannot tell who sealed the answer, so a host may plant a
// seed of its choosing; the identity it derives is not registered, so the runtime never
// registers it.
func TestPlantedHandover(t *testing.T) {
	f := newHandoverFixture(t)
	w := f.w
	newDir := t.TempDir()
	cfg := Config{DataDir: newDir, Guest: w.guestWith(measNew), CheckpointInterval: 5}
	planted := [32]byte{7}
	known, err := deriveWorkerKeys(planted)
	require.NoError(t, err)
	meas, err := cfg.Guest.Measurement()
	require.NoError(t, err)
	host := &plantingHost{seed: planted, identity: known.identity.Public().Key, measurement: meas}
	id, err := ReceiveHandover(context.Background(), cfg, host, nil)
	require.NoError(t, err, "indistinguishable from a real answer")
	require.Equal(t, host.identity[:], id)

	r, err := Open(cfg)
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	syncTo(t, w, r, f.blocks)
	_, err = r.Registration(w.chain.Height(), w.chain.LastHash())
	require.ErrorIs(t, err, ErrHandoverUnconfirmed)
	_, err = os.Stat(filepath.Join(newDir, handoverFile))
	require.NoError(t, err, "the mark stays")
}

// plantingHost answers a handover request itself, with a seed it knows.
type plantingHost struct {
	apiconnect.RuntimeServiceClient
	seed        [32]byte
	identity    [32]byte
	measurement []byte
}

func (h *plantingHost) Handover(_ context.Context, req *connect.Request[api.HandoverRequest]) (*connect.Response[api.HandoverResponse], error) {
	var pub envelope.PublicKey
	if err := pub.UnmarshalBinary(req.Msg.GetPublicKey()); err != nil {
		return nil, err
	}
	env, err := envelope.Seal(pub, envelope.PurposeKeyHandover, handoverContext(h.identity[:], h.measurement), nil, h.seed[:])
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&api.HandoverResponse{Envelope: env, IdentityKey: h.identity[:]}), nil
}

// chainWorker reads a worker's record from the chain's state.
func chainWorker(t *testing.T, w *world, id []byte) *registry.Worker {
	st, err := w.chain.App.State(w.chain.Height())
	require.NoError(t, err)
	wk, err := registry.GetWorker(st, id)
	require.NoError(t, err)
	return wk
}

func TestHandoverRefusals(t *testing.T) {
	f := newHandoverFixture(t)
	w := f.w
	otherSecret := filepath.Join(t.TempDir(), "other-sim-secret")
	foreign, err := sim.Open(sim.Config{SecretPath: otherSecret, Measurement: measNew})
	require.NoError(t, err)
	fresh, err := Open(Config{DataDir: t.TempDir(), Guest: w.guestWith(measOld)})
	require.NoError(t, err)
	defer fresh.Close()
	unsynced, err := Open(Config{DataDir: t.TempDir(), Guest: w.guestWith(measOld)})
	require.NoError(t, err)
	defer unsynced.Close()
	_, err = unsynced.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	x25519, err := envelope.GenerateKey(envelope.X25519)
	require.NoError(t, err)
	x25519Pub, err := x25519.Public().MarshalBinary()
	require.NoError(t, err)
	otherKey, err := envelope.GenerateKey(envelope.XWing)
	require.NoError(t, err)
	otherPub, err := otherKey.Public().MarshalBinary()
	require.NoError(t, err)
	otherEvidence, err := w.guestWith(measNew).Evidence(HandoverReportData(otherPub))
	require.NoError(t, err)
	otherEvidenceBytes, err := otherEvidence.MarshalBinary()
	require.NoError(t, err)

	tests := []struct {
		name  string
		old   *Runtime
		guest tee.Guest
		req   func(*api.HandoverRequest)
		resp  func(*api.HandoverResponse)
		// hasKeys puts a worker in the new data directory first.
		hasKeys bool
		want    error
		code    connect.Code // of the old runtime's answer; 0: no refusal by it
	}{
		{name: "new measurement not allowed", guest: w.guestWith(measUnallowed), want: ErrHandoverNotAllowed, code: connect.CodePermissionDenied},
		{name: "new build allowed earlier", guest: w.guest(), want: ErrHandoverNotNewer, code: connect.CodePermissionDenied},
		{name: "new build allowed at the same height", guest: w.guestWith(measSameTime), want: ErrHandoverNotNewer, code: connect.CodePermissionDenied},
		{name: "same measurement", guest: w.guestWith(measOld), want: ErrHandoverSameRuntime, code: connect.CodePermissionDenied},
		{name: "lower version", old: f.oldV2, guest: w.guestWith(measNew), want: ErrHandoverOlderVersion, code: connect.CodePermissionDenied},
		{name: "own build revoked", old: f.revoked, guest: w.guestWith(measNew), want: ErrHandoverOwnRevoked, code: connect.CodePermissionDenied},
		{name: "evidence binds another key", guest: w.guestWith(measNew), req: func(r *api.HandoverRequest) { r.Evidence = otherEvidenceBytes },
			want: ErrHandoverBinding, code: connect.CodePermissionDenied},
		{name: "unknown sim platform", guest: foreign, want: ErrHandoverAttestation, code: connect.CodePermissionDenied},
		{name: "malformed public key", guest: w.guestWith(measNew), req: func(r *api.HandoverRequest) { r.PublicKey = r.PublicKey[:100] },
			want: ErrHandoverMalformed, code: connect.CodeInvalidArgument},
		{name: "X25519 public key", guest: w.guestWith(measNew), req: func(r *api.HandoverRequest) { r.PublicKey = x25519Pub },
			want: ErrHandoverMalformed, code: connect.CodeInvalidArgument},
		{name: "malformed evidence", guest: w.guestWith(measNew), req: func(r *api.HandoverRequest) { r.Evidence = r.Evidence[:20] },
			want: ErrHandoverMalformed, code: connect.CodeInvalidArgument},
		{name: "malformed collateral", guest: w.guestWith(measNew), req: func(r *api.HandoverRequest) { r.Collateral = []byte{1, 9} },
			want: ErrHandoverMalformed, code: connect.CodeInvalidArgument},
		{name: "old runtime not initialised", old: fresh, guest: w.guestWith(measNew), want: ErrNotInitialized, code: connect.CodeFailedPrecondition},
		{name: "old runtime not synced", old: unsynced, guest: w.guestWith(measNew), want: ErrNotSynced, code: connect.CodeFailedPrecondition},
		{name: "answer names another identity", guest: w.guestWith(measNew), resp: func(r *api.HandoverResponse) { r.IdentityKey = bytes.Repeat([]byte{7}, 32) },
			want: ErrHandoverEnvelope},
		{name: "answer altered", guest: w.guestWith(measNew), resp: func(r *api.HandoverResponse) { r.Envelope[len(r.Envelope)-1] ^= 1 },
			want: ErrHandoverEnvelope},
		{name: "data directory already has keys", guest: w.guestWith(measNew), hasKeys: true, want: ErrKeysExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := tt.old
			if old == nil {
				old = f.old
			}
			infoBefore := old.Info()
			oldKeys, err := os.ReadFile(filepath.Join(old.cfg.DataDir, keysFile))
			require.NoError(t, err)
			newDir := t.TempDir()
			keysPath := filepath.Join(newDir, keysFile)
			var existing []byte
			if tt.hasKeys {
				r, err := Open(Config{DataDir: newDir, Guest: tt.guest})
				require.NoError(t, err)
				require.NoError(t, r.Close())
				existing, err = os.ReadFile(keysPath)
				require.NoError(t, err)
			}

			host := &tampering{RuntimeServiceClient: serve(t, old), req: tt.req, resp: tt.resp}
			id, err := ReceiveHandover(context.Background(), Config{DataDir: newDir, Guest: tt.guest}, host, nil)
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, id)
			if tt.code != 0 {
				require.Equal(t, tt.code, connect.CodeOf(host.err), host.err)
			} else if !tt.hasKeys {
				require.NoError(t, host.err, "the old runtime answered; the receiver refused")
			}

			got, err := os.ReadFile(keysPath)
			if tt.hasKeys {
				require.NoError(t, err)
				require.Equal(t, existing, got, "the existing keys are untouched")
			} else {
				require.ErrorIs(t, err, os.ErrNotExist, "no keys for the new runtime")
			}
			require.True(t, proto.Equal(infoBefore, old.Info()), "the old runtime is unchanged")
			after, err := os.ReadFile(filepath.Join(old.cfg.DataDir, keysFile))
			require.NoError(t, err)
			require.Equal(t, oldKeys, after)
		})
	}
}

// TestHandoverLocalErrors: called in process, refusals keep the tee package's sentinel too.
func TestHandoverLocalErrors(t *testing.T) {
	f := newHandoverFixture(t)
	other, err := sim.Open(sim.Config{SecretPath: filepath.Join(t.TempDir(), "other"), Measurement: measNew})
	require.NoError(t, err)
	_, err = f.old.Handover(handoverRequest(t, other))
	require.ErrorIs(t, err, ErrHandoverAttestation)
	require.ErrorIs(t, err, ErrHandoverRefused)
	require.ErrorIs(t, err, tee.ErrUnknownPlatformKey)
	_, err = f.old.Handover(handoverRequest(t, f.w.guestWith(measNew)))
	require.NoError(t, err)
}

func TestHandoverReportData(t *testing.T) {
	a, b := HandoverReportData([]byte("key a")), HandoverReportData([]byte("key b"))
	require.NotEqual(t, a, b)
	require.Equal(t, a, HandoverReportData([]byte("key a")))
	require.NotEqual(t, registry.ReportData([]byte("key a")), a, "domain-separated from registration")
}

// handoverRequest is what ReceiveHandover sends for guest.
func handoverRequest(t testing.TB, guest tee.Guest) *api.HandoverRequest {
	priv, err := envelope.GenerateKey(envelope.XWing)
	require.NoError(t, err)
	pub, err := priv.Public().MarshalBinary()
	require.NoError(t, err)
	ev, err := guest.Evidence(HandoverReportData(pub))
	require.NoError(t, err)
	evb, err := ev.MarshalBinary()
	require.NoError(t, err)
	return &api.HandoverRequest{PublicKey: pub, Evidence: evb}
}

// BenchmarkHandover measures the old runtime's side: verify sim evidence under the chain's
// policy, read the allowlist and seal the seed with X-Wing.
func BenchmarkHandover(b *testing.B) {
	f := newHandoverFixture(b)
	req := handoverRequest(b, f.w.guestWith(measNew))
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.old.Handover(req); err != nil {
			b.Fatal(err)
		}
	}
}
