package envelope

import (
	"crypto/hpke"
	"encoding/binary"
	"fmt"
)

// Version is the envelope format version, the first byte of every envelope.
// It fixes the KDF (HKDF-SHA256), the AEAD (AES-256-GCM), the info encoding
// and the reply derivation.
const Version byte = 1

const (
	// MaxSize is the largest envelope (and reply) accepted or produced, in
	// bytes. Open refuses anything larger before doing any work; callers with
	// tighter limits check len(envelope) themselves first.
	MaxSize = 4 << 20
	// MaxPurposeLen is the longest Purpose, in bytes.
	MaxPurposeLen = 64
	// MaxContextLen is the longest context, in bytes.
	MaxContextLen = 4096

	headerSize = 1 + kemIDSize // version, KEM id
	lengthSize = 4             // big-endian ciphertext length
	tagSize    = 16            // AES-256-GCM tag
)

// infoDomain names the format version in the HPKE info.
const infoDomain = "phala-go/envelope/v1"

// The suite's KDF and AEAD, fixed by Version.
var (
	suiteKDF  = hpke.HKDFSHA256()
	suiteAEAD = hpke.AES256GCM()
)

// Purpose says what an envelope is for. An envelope opens only under the
// purpose it was sealed with. A purpose is 1 to MaxPurposeLen bytes of
// printable ASCII without spaces; by convention "phala/<what>/v<n>".
type Purpose string

const (
	// PurposeCommand: a command to a contract, sealed to the contract's key;
	// the context is the contract id.
	PurposeCommand Purpose = "phala/command/v1"
	// PurposeQuery: a query to a worker, sealed to the worker's key with
	// SealWithReply; the context is the contract id. The answer travels
	// under the reply key.
	PurposeQuery Purpose = "phala/query/v1"
	// PurposeMasterKeyShare: the master key (history) from a gatekeeper to a
	// new gatekeeper; the context is the recipient's identity key.
	PurposeMasterKeyShare Purpose = "phala/master-key-share/v1"
	// PurposeClusterKeyShare: a cluster key from a gatekeeper to a worker;
	// the context is the cluster id followed by the recipient's identity key.
	PurposeClusterKeyShare Purpose = "phala/cluster-key-share/v1"
	// PurposeKeyHandover: a worker's key seed from its runtime to a newer
	// allowed runtime build, sealed to the new runtime's one-off attested
	// key; the context is the worker's identity key followed by the new
	// runtime's measurement.
	PurposeKeyHandover Purpose = "phala/worker-key-handover/v1"
)

func (p Purpose) check() error {
	if len(p) == 0 || len(p) > MaxPurposeLen {
		return fmt.Errorf("%w: length %d, want 1..%d bytes", ErrBadPurpose, len(p), MaxPurposeLen)
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] > '~' {
			return fmt.Errorf("%w: byte %d is 0x%02x, want printable ASCII without spaces", ErrBadPurpose, i, p[i])
		}
	}
	return nil
}

// info returns the HPKE info for (purpose, context): the length-prefixed
// (4-byte big-endian length) concatenation of infoDomain, purpose and
// context, so that no two different triples give the same bytes.
func info(purpose Purpose, context []byte) ([]byte, error) {
	if err := purpose.check(); err != nil {
		return nil, err
	}
	if len(context) > MaxContextLen {
		return nil, fmt.Errorf("%w: context has %d bytes, want at most %d", ErrTooLarge, len(context), MaxContextLen)
	}
	b := make([]byte, 0, 3*lengthSize+len(infoDomain)+len(purpose)+len(context))
	for _, field := range [][]byte{[]byte(infoDomain), []byte(purpose), context} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(field)))
		b = append(b, field...)
	}
	return b, nil
}

// Seal encrypts plaintext to pub for purpose and context, authenticating aad
// (which is not part of the envelope: the opener must supply the same
// bytes). context is typically the contract id or the recipient's identity;
// nil and empty are the same. The envelope is at most MaxSize bytes:
// len(plaintext) + pub.KEM.Overhead().
func Seal(pub PublicKey, purpose Purpose, context, aad, plaintext []byte) ([]byte, error) {
	env, _, err := seal(pub, purpose, context, aad, plaintext)
	return env, err
}

// SealWithReply is Seal that also returns a ReplyOpener for the answer the
// recipient seals with the ReplySealer from OpenWithReply. The reply key is
// known only to this sender and the holder of the private key.
func SealWithReply(pub PublicKey, purpose Purpose, context, aad, plaintext []byte) ([]byte, *ReplyOpener, error) {
	env, s, err := seal(pub, purpose, context, aad, plaintext)
	if err != nil {
		return nil, nil, err
	}
	ch, err := newReplyChannel(s.Export)
	if err != nil {
		return nil, nil, err
	}
	return env, &ReplyOpener{ch: ch}, nil
}

func seal(pub PublicKey, purpose Purpose, context, aad, plaintext []byte) ([]byte, *hpke.Sender, error) {
	inf, err := info(purpose, context)
	if err != nil {
		return nil, nil, err
	}
	pk, err := parsePublic(pub.KEM, pub.Key)
	if err != nil {
		return nil, nil, err
	}
	if len(plaintext) > MaxSize-pub.KEM.Overhead() {
		return nil, nil, fmt.Errorf("%w: a %d-byte plaintext makes a %s envelope over %d bytes", ErrTooLarge, len(plaintext), pub.KEM, MaxSize)
	}
	enc, s, err := hpke.NewSender(pk, suiteKDF, suiteAEAD, inf)
	if err != nil {
		// The only failure of a parsed key is an X25519 point of low order.
		return nil, nil, fmt.Errorf("%w: cannot encrypt to %s public key %s: %v", ErrMalformed, pub.KEM, pub, err)
	}
	ct, err := s.Seal(aad, plaintext)
	if err != nil {
		return nil, nil, fmt.Errorf("seal %s envelope: %w", pub.KEM, err)
	}
	env := make([]byte, 0, headerSize+len(enc)+lengthSize+len(ct))
	env = append(env, Version)
	env = binary.BigEndian.AppendUint16(env, uint16(pub.KEM))
	env = append(env, enc...)
	env = binary.BigEndian.AppendUint32(env, uint32(len(ct)))
	return append(env, ct...), s, nil
}

// Open decrypts an envelope sealed to priv's public key under the same
// purpose, context and aad. Errors: ErrBadPurpose or ErrTooLarge for bad
// arguments; ErrMalformed for an envelope that does not decode; ErrWrongKEM
// for an envelope made for another KEM; ErrDecrypt for everything that fails
// authentication (wrong key, purpose, context, aad, altered bytes).
func Open(priv PrivateKey, purpose Purpose, context, aad, envelope []byte) ([]byte, error) {
	pt, _, err := open(priv, purpose, context, aad, envelope)
	return pt, err
}

// OpenWithReply is Open that also returns a ReplySealer to answer the sender
// (see SealWithReply).
func OpenWithReply(priv PrivateKey, purpose Purpose, context, aad, envelope []byte) ([]byte, *ReplySealer, error) {
	pt, r, err := open(priv, purpose, context, aad, envelope)
	if err != nil {
		return nil, nil, err
	}
	ch, err := newReplyChannel(r.Export)
	if err != nil {
		return nil, nil, err
	}
	return pt, &ReplySealer{ch: ch}, nil
}

func open(priv PrivateKey, purpose Purpose, context, aad, envelope []byte) ([]byte, *hpke.Recipient, error) {
	sk, err := priv.key()
	if err != nil {
		return nil, nil, err
	}
	inf, err := info(purpose, context)
	if err != nil {
		return nil, nil, err
	}
	kem, enc, ct, err := parse(envelope)
	if err != nil {
		return nil, nil, err
	}
	if kem != priv.KEM() {
		return nil, nil, fmt.Errorf("%w: the envelope is for %s, the key is %s", ErrWrongKEM, kem, priv.KEM())
	}
	r, err := hpke.NewRecipient(enc, sk, suiteKDF, suiteAEAD, inf)
	if err != nil {
		return nil, nil, ErrDecrypt
	}
	pt, err := r.Open(aad, ct)
	if err != nil {
		return nil, nil, ErrDecrypt
	}
	return pt, r, nil
}

// KEMOf returns the KEM of an envelope (so a holder of keys for both KEMs
// knows which to open it with), after checking its structure like Open.
func KEMOf(envelope []byte) (KEM, error) {
	kem, _, _, err := parse(envelope)
	return kem, err
}

// parse splits an envelope strictly: size limit, version, known KEM, exact
// ciphertext length (no truncation, no trailing bytes). It allocates nothing.
func parse(env []byte) (kem KEM, enc, ct []byte, err error) {
	if len(env) > MaxSize {
		return 0, nil, nil, fmt.Errorf("%w: %w: %d bytes, limit %d", ErrMalformed, ErrTooLarge, len(env), MaxSize)
	}
	if len(env) < headerSize {
		return 0, nil, nil, fmt.Errorf("%w: %d bytes is shorter than the envelope header", ErrMalformed, len(env))
	}
	if env[0] != Version {
		return 0, nil, nil, fmt.Errorf("%w: envelope format version %d, want %d", ErrMalformed, env[0], Version)
	}
	kem = KEM(binary.BigEndian.Uint16(env[1:headerSize]))
	if !kem.Valid() {
		return 0, nil, nil, fmt.Errorf("%w: %w %s", ErrMalformed, ErrUnknownKEM, kem)
	}
	rest := env[headerSize:]
	if len(rest) < kem.encSize()+lengthSize {
		return 0, nil, nil, fmt.Errorf("%w: %s envelope truncated in the encapsulated key", ErrMalformed, kem)
	}
	enc, rest = rest[:kem.encSize()], rest[kem.encSize():]
	n := binary.BigEndian.Uint32(rest)
	ct = rest[lengthSize:]
	if n < tagSize {
		return 0, nil, nil, fmt.Errorf("%w: ciphertext length %d is shorter than the %d-byte tag", ErrMalformed, n, tagSize)
	}
	if uint64(n) != uint64(len(ct)) {
		return 0, nil, nil, fmt.Errorf("%w: ciphertext length field says %d bytes, %d follow", ErrMalformed, n, len(ct))
	}
	return kem, enc, ct, nil
}
