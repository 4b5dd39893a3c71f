package registry

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha512"
	"fmt"
	"strconv"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/tee"
)

// Name is the module's name in genesis, queries and keys.
const Name = "registry"

// Error codes of the registry; stable across releases. Attestation refusals carry the tee
// package's own code in the "tee" codespace (see AttestationError).
var (
	ErrMalformedInfo      = errcode.New(Name, 1, "malformed worker info")
	ErrWrongChain         = errcode.New(Name, 2, "worker info is for another chain")
	ErrStaleEvidence      = errcode.New(Name, 3, "evidence is not fresh")
	ErrMalformedEvidence  = errcode.New(Name, 4, "malformed evidence or collateral")
	ErrReportData         = errcode.New(Name, 5, "evidence is bound to other keys")
	ErrRuntimeNotAllowed  = errcode.New(Name, 6, "runtime measurement not allowed")
	ErrRuntimeTooOld      = errcode.New(Name, 7, "runtime version below the minimum")
	ErrWorkerNotFound     = errcode.New(Name, 8, "worker not registered")
	ErrWorkerInactive     = errcode.New(Name, 9, "worker registration expired or its runtime revoked")
	ErrConfidenceTooLow   = errcode.New(Name, 10, "confidence level too low")
	ErrAlreadyGatekeeper  = errcode.New(Name, 11, "already a gatekeeper")
	ErrNotGatekeeper      = errcode.New(Name, 12, "not a gatekeeper")
	ErrInvalidParams      = errcode.New(Name, 13, "invalid params")
	ErrInvalidRuntime     = errcode.New(Name, 14, "invalid runtime")
	ErrRuntimeNotFound    = errcode.New(Name, 15, "runtime not in the allowlist")
	ErrInvalidGenesis     = errcode.New(Name, 16, "invalid genesis")
	ErrNotFound           = errcode.New(Name, 17, "not found")
	ErrVersionMismatch    = errcode.New(Name, 18, "runtime version does not match the allowlist")
	ErrLastGatekeeper     = errcode.New(Name, 19, "cannot remove the last gatekeeper")
	ErrTooManyGatekeepers = errcode.New(Name, 20, "too many gatekeepers")
	ErrTaskPending        = errcode.New(Name, 21, "a gatekeeper task is pending")
	ErrNoMasterKey        = errcode.New(Name, 22, "no master key")
	ErrRotationPending    = errcode.New(Name, 23, "a master key rotation is pending")
	ErrBadOutput          = errcode.New(Name, 24, "invalid gatekeeper output")
	ErrClusterNotFound    = errcode.New(Name, 25, "cluster not found")
	ErrInvalidCluster     = errcode.New(Name, 26, "invalid cluster membership")
	ErrNotMember          = errcode.New(Name, 27, "worker not in the cluster")
)

// Required HPKE KEMs of a worker's encryption keys.
var requiredKEMs = []uint16{0x0020, 0x647a}

// Module is the registry module.
type Module struct{}

// New returns the registry module.
func New() *Module { return &Module{} }

func (*Module) Name() string { return Name }

func (*Module) Register(r *module.Router) {
	module.Handle(r, false, registerWorker)
	module.Handle(r, true, allowRuntime)
	module.Handle(r, true, revokeRuntime)
	module.Handle(r, true, setParams)
	module.Handle(r, true, registerGatekeeper)
	module.Handle(r, true, unregisterGatekeeper)
	module.Handle(r, true, rotateMasterKey)
	module.Handle(r, true, createCluster)
	module.Handle(r, true, addClusterWorker)
	module.Handle(r, true, removeClusterWorker)
}

// ReportData is what a worker's evidence must carry: SHA-512 of the exact info bytes.
func ReportData(infoBytes []byte) tee.ReportData { return sha512.Sum512(infoBytes) }

// EncodeInfo is the canonical encoding of a worker's info, whose hash the evidence binds.
func EncodeInfo(info *WorkerInfo) []byte { return module.Marshal(info) }

// DecodeInfo parses info bytes and refuses any encoding but the canonical one, so the hash the
// evidence binds has exactly one preimage per info.
func DecodeInfo(b []byte) (*WorkerInfo, error) {
	var info WorkerInfo
	if err := module.StrictUnmarshal(b, &info); err != nil {
		return nil, errcode.Wrapf(ErrMalformedInfo, "%v", err)
	}
	if !bytes.Equal(EncodeInfo(&info), b) {
		return nil, errcode.Wrapf(ErrMalformedInfo, "not the canonical encoding: encode it with registry.EncodeInfo")
	}
	return &info, nil
}

// ValidateBasic checks a worker's info without state.
func (info *WorkerInfo) ValidateBasic() error {
	if len(info.GetIdentityKey()) != ed25519.PublicKeySize {
		return errcode.Wrapf(ErrMalformedInfo, "identity key has %d bytes, want %d", len(info.GetIdentityKey()), ed25519.PublicKeySize)
	}
	if len(info.GetOperator()) != len(keys.AccountID{}) {
		return errcode.Wrapf(ErrMalformedInfo, "operator account has %d bytes, want 32", len(info.GetOperator()))
	}
	if len(info.GetGenesisHash()) != 32 || len(info.GetFreshHash()) != 32 {
		return errcode.Wrapf(ErrMalformedInfo, "genesis and fresh block hashes must be 32 bytes")
	}
	return ValidateEncryptionKeys(info.GetEncryptionKeys())
}

// ValidateEncryptionKeys checks a worker's or cluster's HPKE keys: exactly one X25519 and one
// ML-KEM-768+X25519, each a valid public key.
func ValidateEncryptionKeys(ks []*EncryptionKey) error {
	if len(ks) != len(requiredKEMs) {
		return errcode.Wrapf(ErrMalformedInfo, "%d encryption keys, want one X25519 and one ML-KEM-768+X25519", len(ks))
	}
	for i, want := range requiredKEMs {
		k := ks[i]
		if k.GetKem() != uint32(want) {
			return errcode.Wrapf(ErrMalformedInfo, "encryption key %d has KEM %#04x, want %#04x", i, k.GetKem(), want)
		}
		kem, err := hpke.NewKEM(want)
		if err != nil {
			return errcode.Wrapf(ErrMalformedInfo, "KEM %#04x: %v", want, err)
		}
		if _, err := kem.NewPublicKey(k.GetPublicKey()); err != nil {
			return errcode.Wrapf(ErrMalformedInfo, "encryption key %d is not a valid %#04x public key", i, want)
		}
	}
	return nil
}

// ValidateBasic checks a registration without state.
func (m *MsgRegisterWorker) ValidateBasic() error {
	info, err := DecodeInfo(m.GetInfo())
	if err != nil {
		return err
	}
	if err := info.ValidateBasic(); err != nil {
		return err
	}
	var ev tee.Evidence
	if err := ev.UnmarshalBinary(m.GetEvidence()); err != nil {
		return errcode.Wrapf(ErrMalformedEvidence, "evidence: %v", err)
	}
	var col tee.Collateral
	if len(m.GetCollateral()) > 0 {
		if err := col.UnmarshalBinary(m.GetCollateral()); err != nil {
			return errcode.Wrapf(ErrMalformedEvidence, "collateral: %v", err)
		}
	}
	return nil
}

// teeCodespace carries the tee package's refusal codes through ABCI.
const teeCodespace = "tee"

// TEERefusal is the chain error for a tee sentinel: codespace "tee" and tee.Code. A client
// matches a remote attestation refusal with errors.Is(err, registry.TEERefusal(tee.ErrX)).
func TEERefusal(sentinel error) *errcode.Error {
	return errcode.New(teeCodespace, tee.Code(sentinel), "attestation refused")
}

// AttestationError wraps a refusal by the TEE verifier so that it keeps both the tee sentinel
// (locally) and its stable code (across RPC).
func AttestationError(err error) error {
	return fmt.Errorf("%w: %w", TEERefusal(err), err)
}

func registerWorker(ctx *module.Context, _ module.Caller, msg *MsgRegisterWorker) error {
	info, _ := DecodeInfo(msg.GetInfo()) // ValidateBasic decoded it
	if info.GetChainId() != ctx.ChainID || !bytes.Equal(info.GetGenesisHash(), module.GenesisHash(ctx)) {
		return errcode.Wrapf(ErrWrongChain, "info names chain %q with genesis %X, this is %q with %X: initialise the runtime with this chain's genesis",
			info.GetChainId(), info.GetGenesisHash(), ctx.ChainID, module.GenesisHash(ctx))
	}
	p := GetParams(ctx)
	hash, _, ok := module.RecentBlock(ctx, info.GetFreshHeight())
	if !ok || info.GetFreshHeight() < ctx.Height-int64(p.GetFreshnessBlocks()) || !bytes.Equal(hash, info.GetFreshHash()) {
		return errcode.Wrapf(ErrStaleEvidence, "info names block %d (%X), which is not one of the last %d blocks at height %d: request new evidence naming a recent block",
			info.GetFreshHeight(), info.GetFreshHash(), p.GetFreshnessBlocks(), ctx.Height)
	}
	if info.GetRuntimeVersion() < p.GetMinRuntimeVersion() {
		return errcode.Wrapf(ErrRuntimeTooOld, "version %d, the minimum is %d: upgrade pRuntime", info.GetRuntimeVersion(), p.GetMinRuntimeVersion())
	}
	var ev tee.Evidence
	var col tee.Collateral
	_ = ev.UnmarshalBinary(msg.GetEvidence())
	if len(msg.GetCollateral()) > 0 {
		_ = col.UnmarshalBinary(msg.GetCollateral())
	}
	rep, err := tee.Verify(ev, col, Policy(ctx), ctx.Time)
	if err != nil {
		return AttestationError(err)
	}
	if err := rep.CheckReportData(ReportData(msg.GetInfo())); err != nil {
		return errcode.Wrapf(ErrReportData, "%v: evidence must be produced for exactly this worker info", err)
	}
	rt, err := getRuntime(ctx, rep.Kind, rep.Measurement)
	if err != nil {
		m, _ := tee.FormatMeasurement(rep.Kind, rep.Measurement)
		return errcode.Wrapf(ErrRuntimeNotAllowed, "%s: ask the council to allow it (phala runtime allow --measurement %s)", m, m)
	}
	if rt.GetVersion() != info.GetRuntimeVersion() {
		return errcode.Wrapf(ErrVersionMismatch, "the measured build is version %d, the info claims %d", rt.GetVersion(), info.GetRuntimeVersion())
	}
	w := &Worker{
		Info:             info,
		TeeKind:          string(rep.Kind),
		Measurement:      rep.Measurement,
		TcbStatus:        string(rep.TCBStatus),
		Confidence:       uint32(rep.Confidence),
		Debug:            rep.Debug,
		AttestedAt:       ctx.Time.Unix(),
		ExpiresAt:        ctx.Time.Unix() + int64(p.GetAttestationValidity()),
		RegisteredHeight: ctx.Height,
		UpdatedHeight:    ctx.Height,
	}
	event := "worker_registered"
	if old, err := GetWorker(ctx, info.GetIdentityKey()); err == nil {
		// A re-registration refreshes the attestation; what the worker published stays.
		w.RegisteredHeight, w.LastPongHeight, w.Endpoint, event = old.GetRegisteredHeight(), old.GetLastPongHeight(), old.GetEndpoint(), "worker_updated"
	}
	ctx.Set(workerKey(info.GetIdentityKey()), module.Marshal(w))
	ctx.Emit(event,
		module.Attr("worker", fmt.Sprintf("%X", info.GetIdentityKey())),
		module.Attr("operator", keys.AccountID(info.GetOperator()).String()),
		module.Attr("tee", string(rep.Kind)),
		module.Attr("confidence", strconv.Itoa(int(rep.Confidence))),
		module.Attr("expires_at", strconv.FormatInt(w.ExpiresAt, 10)))
	return nil
}

// Active reports whether a worker counts as registered now: registered, attestation unexpired,
// runtime still allowed.
func Active(r store.Reader, worker []byte, b module.Block) (*Worker, error) {
	w, err := GetWorker(r, worker)
	if err != nil {
		return nil, err
	}
	if b.Time.Unix() >= w.GetExpiresAt() {
		return w, errcode.Wrapf(ErrWorkerInactive, "attestation expired at %d: the worker must re-register", w.GetExpiresAt())
	}
	if _, err := getRuntime(r, tee.Kind(w.GetTeeKind()), w.GetMeasurement()); err != nil {
		return w, errcode.Wrapf(ErrWorkerInactive, "its runtime was revoked: upgrade to an allowed runtime")
	}
	return w, nil
}

func (m *MsgAllowRuntime) ValidateBasic() error {
	k, err := tee.ParseKind(m.GetTeeKind())
	if err != nil {
		return errcode.Wrapf(ErrInvalidRuntime, "%v", err)
	}
	if _, err := tee.FormatMeasurement(k, m.GetMeasurement()); err != nil {
		return errcode.Wrapf(ErrInvalidRuntime, "%v", err)
	}
	if m.GetVersion() == 0 {
		return errcode.Wrapf(ErrInvalidRuntime, "version must be positive")
	}
	return nil
}

func (m *MsgRevokeRuntime) ValidateBasic() error {
	return (&MsgAllowRuntime{TeeKind: m.GetTeeKind(), Measurement: m.GetMeasurement(), Version: 1}).ValidateBasic()
}

func allowRuntime(ctx *module.Context, _ module.Caller, msg *MsgAllowRuntime) error {
	rt := &Runtime{TeeKind: msg.GetTeeKind(), Measurement: msg.GetMeasurement(), Version: msg.GetVersion(), AddedHeight: ctx.Height}
	ctx.Set(runtimeKey(tee.Kind(msg.GetTeeKind()), msg.GetMeasurement()), module.Marshal(rt))
	m, _ := tee.FormatMeasurement(tee.Kind(msg.GetTeeKind()), msg.GetMeasurement())
	ctx.Emit("runtime_allowed", module.Attr("measurement", m), module.Attr("version", strconv.FormatUint(uint64(msg.GetVersion()), 10)))
	return nil
}

func revokeRuntime(ctx *module.Context, _ module.Caller, msg *MsgRevokeRuntime) error {
	k := tee.Kind(msg.GetTeeKind())
	if _, err := getRuntime(ctx, k, msg.GetMeasurement()); err != nil {
		return err
	}
	ctx.Delete(runtimeKey(k, msg.GetMeasurement()))
	m, _ := tee.FormatMeasurement(k, msg.GetMeasurement())
	ctx.Emit("runtime_revoked", module.Attr("measurement", m))
	return nil
}

func (m *MsgSetParams) ValidateBasic() error { return validateParams(m.GetParams()) }

func validateParams(p *Params) error {
	switch {
	case p == nil:
		return errcode.Wrapf(ErrInvalidParams, "missing")
	case p.GetAttestationValidity() < 60:
		return errcode.Wrapf(ErrInvalidParams, "attestation_validity %ds, want at least 60", p.GetAttestationValidity())
	case p.GetFreshnessBlocks() == 0 || p.GetFreshnessBlocks() > module.RecentBlocks:
		return errcode.Wrapf(ErrInvalidParams, "freshness_blocks %d, want 1..%d", p.GetFreshnessBlocks(), module.RecentBlocks)
	case p.GetMaxConfidence() == 0 || p.GetMaxConfidence() > uint32(tee.ConfidenceWorst):
		return errcode.Wrapf(ErrInvalidParams, "max_confidence %d, want 1..%d", p.GetMaxConfidence(), tee.ConfidenceWorst)
	case p.GetGatekeeperMaxConfidence() == 0 || p.GetGatekeeperMaxConfidence() > p.GetMaxConfidence():
		return errcode.Wrapf(ErrInvalidParams, "gatekeeper_max_confidence %d, want 1..max_confidence", p.GetGatekeeperMaxConfidence())
	}
	return nil
}

func setParams(ctx *module.Context, _ module.Caller, msg *MsgSetParams) error {
	ctx.Set(keyParams, module.Marshal(msg.GetParams()))
	ctx.Emit("registry_params_set")
	return nil
}

func (m *MsgRegisterGatekeeper) ValidateBasic() error   { return checkWorkerKey(m.GetWorker()) }
func (m *MsgUnregisterGatekeeper) ValidateBasic() error { return checkWorkerKey(m.GetWorker()) }

func checkWorkerKey(k []byte) error {
	if len(k) != ed25519.PublicKeySize {
		return errcode.Wrapf(ErrMalformedInfo, "worker key has %d bytes, want %d", len(k), ed25519.PublicKeySize)
	}
	return nil
}

// Policy is the TEE policy registrations are verified against: genesis settings plus governed
// params.
func Policy(r store.Reader) tee.Policy {
	s, p := GetTEESettings(r), GetParams(r)
	pol := tee.Policy{
		AllowSim:                      s.GetAllowSim(),
		AllowDebug:                    s.GetAllowDebug(),
		MaxConfidence:                 uint8(p.GetMaxConfidence()),
		TDXMinTCBEvaluationDataNumber: p.GetTdxMinTcbEvaluationDataNumber(),
		SNPMinTCB:                     p.GetSnpMinTcb(),
	}
	for _, k := range s.GetSimPlatformKeys() {
		pol.SimPlatformKeys = append(pol.SimPlatformKeys, ed25519.PublicKey(k))
	}
	return pol
}

// WorkerSigningKey is the message queue's key resolver for worker origins: a worker's egress
// must be signed by the identity key it registered.
func WorkerSigningKey(r store.Reader, m *mq.Message) (keys.PublicKey, error) {
	o := m.GetOrigin()
	if _, err := GetWorker(r, o.ID()); err != nil {
		return keys.PublicKey{}, err
	}
	return keys.PublicKey{Type: keys.Ed25519, Key: [32]byte(o.ID())}, nil
}

// HandlePong records that a worker answered a ping: operators see it in `phala worker show`.
func HandlePong(ctx *module.Context, m *mq.Message) error {
	if m.GetOrigin().Type() != mq.KindWorker {
		return errcode.Wrapf(ErrWorkerNotFound, "pongs come from workers, not %s", m.GetOrigin().Label())
	}
	w, err := GetWorker(ctx, m.GetOrigin().ID())
	if err != nil {
		return err
	}
	var p mq.Pong
	if err := module.StrictUnmarshal(m.GetPayload(), &p); err != nil {
		return errcode.Wrapf(ErrMalformedInfo, "pong: %v", err)
	}
	w.LastPongHeight = ctx.Height
	ctx.Set(workerKey(m.GetOrigin().ID()), module.Marshal(w))
	ctx.Emit("worker_pong", module.Attr("worker", fmt.Sprintf("%X", m.GetOrigin().ID())), module.Attr("ping_height", strconv.FormatInt(p.GetPingHeight(), 10)))
	return nil
}

// AllowedRuntime returns the allowlist entry of a runtime build (ErrRuntimeNotFound if it is not
// allowed): a worker's runtime compares AddedHeight before handing its keys to a newer build.
func AllowedRuntime(r store.Reader, k tee.Kind, measurement []byte) (*Runtime, error) {
	return getRuntime(r, k, measurement)
}
