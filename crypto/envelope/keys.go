package envelope

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

const (
	// PrivateKeySize is the length of PrivateKey.Bytes for both KEMs: the
	// clamped X25519 scalar, or the X-Wing seed.
	PrivateKeySize = 32
	// MinIKMLen is the shortest input keying material DeriveKey accepts.
	MinIKMLen = 32
	// kemIDSize is the length of the big-endian KEM id in encodings.
	kemIDSize = 2
)

// PublicKey is a KEM public key (an HPKE encapsulation key). Its canonical
// binary encoding is the 2-byte big-endian KEM id followed by Key.
type PublicKey struct {
	KEM KEM
	Key []byte
}

// lowOrderProbe is a fixed X25519 scalar. Clamping makes every scalar a
// multiple of the cofactor, so an X25519 with it yields the all-zero value
// (an error in crypto/ecdh) exactly for the low-order points nobody can
// encrypt to.
var lowOrderProbe = func() *ecdh.PrivateKey {
	k, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		panic("envelope: the X25519 probe scalar is invalid: " + err.Error())
	}
	return k
}()

// parsePublic checks the key's KEM, length and canonical X25519 encoding and
// parses it with crypto/hpke (which checks the ML-KEM part). It does not
// detect low-order X25519 points; sealing to one fails in the KEM instead.
func parsePublic(kem KEM, key []byte) (hpke.PublicKey, error) {
	hk, err := kem.hpke()
	if err != nil {
		return nil, err
	}
	if len(key) != kem.PublicKeySize() {
		return nil, fmt.Errorf("%w: %s public key has %d bytes, want %d", ErrMalformed, kem, len(key), kem.PublicKeySize())
	}
	if !canonicalX25519(key[len(key)-x25519PointSize:]) {
		return nil, fmt.Errorf("%w: %s public key has a non-canonical X25519 point", ErrMalformed, kem)
	}
	pk, err := hk.NewPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s public key: %v", ErrMalformed, kem, err)
	}
	return pk, nil
}

// canonicalX25519 reports whether u is the canonical encoding of a field
// element: the top bit clear and the value below p = 2^255 - 19. X25519
// itself ignores the top bit and reduces mod p, so each point has several
// encodings; a published key must use exactly one.
func canonicalX25519(u []byte) bool {
	if u[31]&0x80 != 0 {
		return false
	}
	if u[31] != 0x7f || u[0] < 0xed {
		return true
	}
	for _, b := range u[1:31] {
		if b != 0xff {
			return true
		}
	}
	return false
}

// Validate checks that the key is one anybody can seal to: a supported KEM,
// the exact length, a canonical X25519 point that is not of low order and,
// for XWing, a valid ML-KEM-768 encapsulation key.
func (p PublicKey) Validate() error {
	if _, err := parsePublic(p.KEM, p.Key); err != nil {
		return err
	}
	pub, err := ecdh.X25519().NewPublicKey(p.Key[len(p.Key)-x25519PointSize:])
	if err == nil {
		_, err = lowOrderProbe.ECDH(pub)
	}
	if err != nil {
		return fmt.Errorf("%w: %s public key has a low-order X25519 point", ErrMalformed, p.KEM)
	}
	return nil
}

// MarshalBinary returns KEM id (2 bytes, big-endian) || Key, after Validate.
func (p PublicKey) MarshalBinary() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, kemIDSize+len(p.Key))
	b = binary.BigEndian.AppendUint16(b, uint16(p.KEM))
	return append(b, p.Key...), nil
}

// UnmarshalBinary decodes the MarshalBinary encoding strictly (exact length,
// supported KEM, Validate). Errors wrap ErrMalformed; *p is unchanged on
// error.
func (p *PublicKey) UnmarshalBinary(b []byte) error {
	if len(b) < kemIDSize {
		return fmt.Errorf("%w: public key encoding has %d bytes, want at least %d", ErrMalformed, len(b), kemIDSize)
	}
	kem := KEM(binary.BigEndian.Uint16(b))
	if !kem.Valid() {
		return fmt.Errorf("%w: %w %s", ErrMalformed, ErrUnknownKEM, kem)
	}
	k := PublicKey{KEM: kem, Key: bytes.Clone(b[kemIDSize:])}
	if err := k.Validate(); err != nil {
		return err
	}
	*p = k
	return nil
}

// Equal reports whether p and q are the same key.
func (p PublicKey) Equal(q PublicKey) bool { return p.KEM == q.KEM && bytes.Equal(p.Key, q.Key) }

// String returns "<kem>:" and a fingerprint, the first 8 bytes of
// SHA-256(KEM id || Key) in hex (an XWing key is too long to print).
func (p PublicKey) String() string {
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(p.KEM)))
	h.Write(p.Key)
	return p.KEM.String() + ":" + hex.EncodeToString(h.Sum(nil)[:8])
}

// PrivateKey is a KEM private key (an HPKE decapsulation key). Its secret
// never leaves the value except through Bytes: every fmt verb, String and
// GoString print only the KEM and the public key's fingerprint, and it has
// no exported fields for encoding/json to see.
type PrivateKey struct {
	pub PublicKey
	sk  hpke.PrivateKey
	raw []byte // sk's serialization, what Bytes returns
}

func newPrivateKey(kem KEM, sk hpke.PrivateKey) (PrivateKey, error) {
	raw, err := sk.Bytes()
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%s private key cannot be serialized: %w", kem, err)
	}
	return PrivateKey{pub: PublicKey{KEM: kem, Key: sk.PublicKey().Bytes()}, sk: sk, raw: raw}, nil
}

// NewPrivateKey decodes a private key from the PrivateKeySize bytes that
// Bytes returned. An X25519 scalar is clamped (RFC 9180 section 7.1.2), so
// any 32 bytes are accepted and Bytes may return the clamped form.
func NewPrivateKey(kem KEM, b []byte) (PrivateKey, error) {
	hk, err := kem.hpke()
	if err != nil {
		return PrivateKey{}, err
	}
	if len(b) != PrivateKeySize {
		return PrivateKey{}, fmt.Errorf("%w: %s private key has %d bytes, want %d", ErrMalformed, kem, len(b), PrivateKeySize)
	}
	sk, err := hk.NewPrivateKey(b)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%w: %s private key is invalid", ErrMalformed, kem)
	}
	return newPrivateKey(kem, sk)
}

// GenerateKey returns a new random key pair (crypto/rand).
func GenerateKey(kem KEM) (PrivateKey, error) {
	hk, err := kem.hpke()
	if err != nil {
		return PrivateKey{}, err
	}
	sk, err := hk.GenerateKey()
	if err != nil {
		return PrivateKey{}, fmt.Errorf("generate %s key: %w", kem, err)
	}
	return newPrivateKey(kem, sk)
}

// DeriveKey derives a key pair deterministically from ikm with RFC 9180
// DeriveKeyPair (the KEM id is part of the derivation, so one ikm gives
// unrelated keys for the two KEMs). ikm must be a uniformly random secret of
// at least MinIKMLen bytes, e.g. from crypto/kdf.
func DeriveKey(kem KEM, ikm []byte) (PrivateKey, error) {
	hk, err := kem.hpke()
	if err != nil {
		return PrivateKey{}, err
	}
	if len(ikm) < MinIKMLen {
		return PrivateKey{}, fmt.Errorf("%w: %d bytes, want at least %d", ErrShortSecret, len(ikm), MinIKMLen)
	}
	sk, err := hk.DeriveKeyPair(ikm)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("derive %s key: %w", kem, err)
	}
	return newPrivateKey(kem, sk)
}

// KEM returns the key's KEM (0 for the zero PrivateKey).
func (k PrivateKey) KEM() KEM { return k.pub.KEM }

// Public returns the public key (a copy the caller may modify).
func (k PrivateKey) Public() PublicKey { return PublicKey{KEM: k.pub.KEM, Key: bytes.Clone(k.pub.Key)} }

// Bytes returns the secret key (PrivateKeySize bytes) for the caller to seal
// or encrypt before storing; NewPrivateKey is its inverse.
func (k PrivateKey) Bytes() []byte { return bytes.Clone(k.raw) }

// String prints the KEM and public key fingerprint only.
func (k PrivateKey) String() string { return "PrivateKey(" + k.pub.String() + ")" }

// GoString prints the KEM and public key fingerprint only.
func (k PrivateKey) GoString() string { return "envelope.PrivateKey(" + k.pub.String() + ")" }

// Format makes every fmt verb (%v, %+v, %#v, %s, %x, ...) print what String
// or GoString print, never the secret.
func (k PrivateKey) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, k.GoString())
		return
	}
	fmt.Fprint(f, k.String())
}

// key returns the HPKE key, or ErrUnknownKEM for the zero PrivateKey.
func (k PrivateKey) key() (hpke.PrivateKey, error) {
	if k.sk == nil {
		return nil, fmt.Errorf("%w: the private key is empty (use GenerateKey, DeriveKey or NewPrivateKey)", ErrUnknownKEM)
	}
	return k.sk, nil
}
