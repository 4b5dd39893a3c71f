package pruntime

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
	"github.com/phala-go/phala/pruntime/seal"
	"github.com/phala-go/phala/tee"
)

// Handover refusals. Every refusal by the old runtime wraps ErrHandoverRefused and exactly one of
// the more specific sentinels; ReceiveHandover restores them on the new runtime's side.
var (
	// ErrNotSynced is returned by Handover before the runtime has verified any block: it has no
	// chain state to check the new runtime against.
	ErrNotSynced = errors.New("runtime has no verified chain state yet: let pherry sync it, then retry")
	// ErrHandoverRefused is wrapped by every refusal below.
	ErrHandoverRefused = errors.New("key handover refused")
	// ErrHandoverMalformed: the public key, evidence or collateral does not decode, or the key is
	// not an X-Wing key.
	ErrHandoverMalformed = fmt.Errorf("%w: malformed request", ErrHandoverRefused)
	// ErrHandoverAttestation: the evidence does not verify under the chain's TEE policy (it also
	// wraps the tee refusal).
	ErrHandoverAttestation = fmt.Errorf("%w: evidence does not verify under the chain's TEE policy", ErrHandoverRefused)
	// ErrHandoverBinding: the evidence does not bind the public key of the request.
	ErrHandoverBinding = fmt.Errorf("%w: evidence does not bind the handover key", ErrHandoverRefused)
	// ErrHandoverSameRuntime: the new runtime has this runtime's measurement.
	ErrHandoverSameRuntime = fmt.Errorf("%w: the new runtime is this very build", ErrHandoverRefused)
	// ErrHandoverNotAllowed: the new runtime's measurement is not in the allowlist.
	ErrHandoverNotAllowed = fmt.Errorf("%w: the new runtime's measurement is not allowed", ErrHandoverRefused)
	// ErrHandoverNotNewer: the new runtime was allowed at or before this runtime's own height.
	ErrHandoverNotNewer = fmt.Errorf("%w: the new runtime was not allowed after this one", ErrHandoverRefused)
	// ErrHandoverOlderVersion: the new runtime's allowlisted version is below this one's.
	ErrHandoverOlderVersion = fmt.Errorf("%w: the new runtime's version is below this one's", ErrHandoverRefused)
	// ErrHandoverOwnRevoked: this runtime's own measurement is no longer allowed.
	ErrHandoverOwnRevoked = fmt.Errorf("%w: this runtime's measurement is no longer allowed", ErrHandoverRefused)

	// ErrKeysExist is returned by ReceiveHandover for a data directory that already holds keys.
	ErrKeysExist = errors.New("data directory already holds worker keys")
	// ErrHandoverEnvelope is returned by ReceiveHandover when the answer does not open to a seed
	// of the identity the old runtime names.
	ErrHandoverEnvelope = errors.New("handover answer does not hold the worker's keys")
	// ErrHandoverUnconfirmed is returned by Registration for keys received in a handover until
	// the verified chain shows their identity registered by another runtime build.
	ErrHandoverUnconfirmed = errors.New("handed-over identity not confirmed by the chain")
)

// handoverFile marks keys that arrived by handover. HPKE does not authenticate the sender, so
// the new runtime cannot tell the old runtime's answer from one its host made up with a seed of
// its choosing; the chain can: an identity it has registered was attested when its seed was
// generated or last handed over. Until the runtime's verified state shows the identity
// registered (by another build), Registration refuses, so a planted seed never registers.
const handoverFile = "handover.sealed"

// remoteRefusals are the errors Handover returns through the API. Each is the prefix of the
// message it travels in and none is a prefix of another.
var remoteRefusals = []error{
	ErrNotInitialized, ErrNotSynced, ErrHandoverMalformed, ErrHandoverAttestation, ErrHandoverBinding,
	ErrHandoverSameRuntime, ErrHandoverNotAllowed, ErrHandoverNotNewer, ErrHandoverOlderVersion, ErrHandoverOwnRevoked,
}

// HandoverReportData is what a new runtime's handover evidence binds: SHA-512 of the
// length-prefixed domain "phala/worker-key-handover/v1" followed by the public key bytes. The
// hashed bytes start with a zero byte, which no registration info (protobuf, hashed by
// registry.ReportData) does, so handover evidence never serves as registration evidence or the
// reverse.
func HandoverReportData(publicKey []byte) tee.ReportData {
	const domain = string(envelope.PurposeKeyHandover)
	h := sha512.New()
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(domain))))
	h.Write([]byte(domain))
	h.Write(publicKey)
	return tee.ReportData(h.Sum(nil))
}

// handoverContext binds the envelope to the worker and to the runtime build it is meant for.
func handoverContext(identity, measurement []byte) []byte {
	return append(slices.Clone(identity), measurement...)
}

// Handover gives this worker's key seed to a newer runtime build. The request's evidence must
// verify under the chain's TEE policy read from this runtime's own verified state (at the time of
// its last verified block), bind the request's one-off X-Wing key, and show a measurement other
// than this runtime's that the allowlist added strictly after this runtime's own, with a version
// at least this one's. The seed is then sealed to that key (PurposeKeyHandover, context: identity
// key || new measurement). Nothing in the runtime changes.
func (r *Runtime) Handover(req *api.HandoverRequest) (resp *api.HandoverResponse, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	newMeas := ""
	defer func() {
		if err != nil {
			r.log.Warn("key handover refused", "new_measurement", newMeas, "err", err)
		}
	}()
	if r.init == nil {
		return nil, ErrNotInitialized
	}
	h := r.replica.Height()
	if h == 0 || r.importing != nil {
		return nil, ErrNotSynced
	}
	defer recoverStorage(&err)

	var pub envelope.PublicKey
	if err := pub.UnmarshalBinary(req.GetPublicKey()); err != nil {
		return nil, fmt.Errorf("%w: public key: %w: send the new runtime's one-off key (envelope.PublicKey.MarshalBinary)", ErrHandoverMalformed, err)
	}
	if pub.KEM != envelope.XWing {
		return nil, fmt.Errorf("%w: public key is %s: the worker's keys travel only under X-Wing (post-quantum), generate an X-Wing key", ErrHandoverMalformed, pub.KEM)
	}
	var ev tee.Evidence
	if err := ev.UnmarshalBinary(req.GetEvidence()); err != nil {
		return nil, fmt.Errorf("%w: evidence: %w", ErrHandoverMalformed, err)
	}
	var col tee.Collateral
	if len(req.GetCollateral()) > 0 {
		if err := col.UnmarshalBinary(req.GetCollateral()); err != nil {
			return nil, fmt.Errorf("%w: collateral: %w", ErrHandoverMalformed, err)
		}
	}

	snap, err := r.app.State(h)
	if err != nil {
		return nil, err
	}
	rep, err := tee.Verify(ev, col, registry.Policy(snap), r.replica.Last().Time)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandoverAttestation, err)
	}
	if err := rep.CheckReportData(HandoverReportData(req.GetPublicKey())); err != nil {
		return nil, fmt.Errorf("%w: %w (produce the evidence for the request's key with pruntime.HandoverReportData)", ErrHandoverBinding, err)
	}
	newMeas, _ = tee.FormatMeasurement(rep.Kind, rep.Measurement)
	ownKind := r.cfg.Guest.Kind()
	ownMeas, _ := tee.FormatMeasurement(ownKind, r.meas)
	if rep.Kind == ownKind && bytes.Equal(rep.Measurement, r.meas) {
		return nil, fmt.Errorf("%w: %s: the same build unseals the existing keys: run it on the old data directory instead", ErrHandoverSameRuntime, newMeas)
	}
	next, err := registry.AllowedRuntime(snap, rep.Kind, rep.Measurement)
	if err != nil {
		return nil, fmt.Errorf("%w: %s at height %d: ask the council to allow it (phala runtime allow --measurement %s) and retry once this runtime has synced past it",
			ErrHandoverNotAllowed, newMeas, h, newMeas)
	}
	own, err := registry.AllowedRuntime(snap, ownKind, r.meas)
	if err != nil {
		return nil, fmt.Errorf("%w: %s at height %d: a revoked build cannot vouch for a successor; the worker must start over with new keys",
			ErrHandoverOwnRevoked, ownMeas, h)
	}
	if next.GetAddedHeight() <= own.GetAddedHeight() {
		return nil, fmt.Errorf("%w: %s was allowed at height %d, this runtime (%s) at %d: keys move only to builds allowed later",
			ErrHandoverNotNewer, newMeas, next.GetAddedHeight(), ownMeas, own.GetAddedHeight())
	}
	if next.GetVersion() < own.GetVersion() {
		return nil, fmt.Errorf("%w: %s is version %d, this runtime is version %d: keys move only to builds of the same or a later version",
			ErrHandoverOlderVersion, newMeas, next.GetVersion(), own.GetVersion())
	}

	id := r.keys.identity.Public().Key
	env, err := envelope.Seal(pub, envelope.PurposeKeyHandover, handoverContext(id[:], rep.Measurement), nil, r.keys.seed[:])
	if err != nil {
		return nil, err
	}
	r.log.Info("worker keys handed over", "identity", fmt.Sprintf("%x", id), "new_measurement", newMeas, "height", h)
	return &api.HandoverResponse{Envelope: env, IdentityKey: id[:]}, nil
}

// ReceiveHandover obtains a worker's keys from its old runtime (old, through the host) and
// seals them into cfg.DataDir for this runtime, which must then be opened as usual: it has the
// old runtime's identity and encryption keys, syncs the chain itself and re-registers with its
// own evidence. The data directory must not hold keys yet. collateral fetches the collateral of
// this runtime's evidence (nil sends none, which is right for sim). It returns the identity key.
func ReceiveHandover(ctx context.Context, cfg Config, old apiconnect.RuntimeServiceClient, collateral func(ctx context.Context, ev tee.Evidence) ([]byte, error)) (identity []byte, err error) {
	path := filepath.Join(cfg.DataDir, keysFile)
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%w: %s: a handover goes into an empty data directory; this one already has a worker (start without --handover-from to keep it)", ErrKeysExist, path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	meas, err := cfg.Guest.Measurement()
	if err != nil {
		return nil, fmt.Errorf("TEE measurement: %w", err)
	}
	sk, err := cfg.Guest.SealingKey()
	if err != nil {
		return nil, fmt.Errorf("TEE sealing key: %w", err)
	}
	fileKey, err := seal.Derive(sk, "files") // the key Open seals files with
	if err != nil {
		return nil, err
	}
	priv, err := envelope.GenerateKey(envelope.XWing)
	if err != nil {
		return nil, err
	}
	pub, err := priv.Public().MarshalBinary()
	if err != nil {
		return nil, err
	}
	ev, err := cfg.Guest.Evidence(HandoverReportData(pub))
	if err != nil {
		return nil, fmt.Errorf("TEE evidence: %w", err)
	}
	evb, err := ev.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var col []byte
	if collateral != nil {
		if col, err = collateral(ctx, ev); err != nil {
			return nil, fmt.Errorf("collateral: %w", err)
		}
	}
	resp, err := old.Handover(ctx, connect.NewRequest(&api.HandoverRequest{PublicKey: pub, Evidence: evb, Collateral: col}))
	if err != nil {
		return nil, remoteError(err)
	}
	id := resp.Msg.GetIdentityKey()
	seed, err := envelope.Open(priv, envelope.PurposeKeyHandover, handoverContext(id, meas), nil, resp.Msg.GetEnvelope())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandoverEnvelope, err)
	}
	defer clear(seed)
	if len(seed) != 32 {
		return nil, fmt.Errorf("%w: a %d-byte seed, want 32", ErrHandoverEnvelope, len(seed))
	}
	keys, err := deriveWorkerKeys([32]byte(seed))
	if err != nil {
		return nil, err
	}
	if got := keys.identity.Public().Key; !bytes.Equal(got[:], id) {
		return nil, fmt.Errorf("%w: the seed derives identity %x, the old runtime names %x", ErrHandoverEnvelope, got, id)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	// The mark first: keys without it would be trusted as generated here.
	if err := fileKey.WriteFile(filepath.Join(cfg.DataDir, handoverFile), "handover", id); err != nil {
		return nil, err
	}
	if err := saveKeys(cfg.DataDir, fileKey, keys.seed); err != nil {
		return nil, err
	}
	return id, nil
}

// remoteError restores the sentinel of a refusal that came through the API, so that callers can
// test it with errors.Is as if the old runtime were local.
func remoteError(err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		for _, s := range remoteRefusals {
			if rest, ok := strings.CutPrefix(ce.Message(), s.Error()); ok {
				return fmt.Errorf("old runtime: %w%s", s, rest)
			}
		}
	}
	return fmt.Errorf("old runtime: handover: %w", err)
}

// confirmHandover clears the handover mark once the verified state shows this identity
// registered by another runtime build; before that it refuses.
func (r *Runtime) confirmHandover() error {
	path := filepath.Join(r.cfg.DataDir, handoverFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	id := r.keys.identity.Public().Key
	if h := r.replica.Height(); h > 0 {
		snap, err := r.app.State(h)
		if err != nil {
			return err
		}
		if w, err := registry.GetWorker(snap, id[:]); err == nil && !bytes.Equal(w.GetMeasurement(), r.meas) {
			r.log.Info("handed-over identity confirmed by the chain", "identity", fmt.Sprintf("%X", id), "height", h)
			return os.Remove(path)
		}
	}
	return fmt.Errorf("%w: identity %X came by handover; it registers once this runtime's verified state shows it registered by the old runtime (let pherry sync past its registration)", ErrHandoverUnconfirmed, id)
}
