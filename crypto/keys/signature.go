package keys

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
)

// SignatureLen is the length of signatures of both types.
const SignatureLen = 64

// MaxContextLen is the longest allowed Context, in bytes.
const MaxContextLen = 64

// Context names the purpose of a signature ("phala/tx/v1", ...). A signature
// verifies only under the context it was made for.
type Context string

// substrateSigningContext is the schnorrkel signing-context label sp_core
// uses for sr25519, so Substrate tooling can verify our signatures over M.
var substrateSigningContext = []byte("substrate")

// signedBytes returns M = byte(len(ctx)) || ctx || msg, the bytes actually
// signed. The length prefix makes (ctx, msg) -> M injective.
func signedBytes(ctx Context, msg []byte) ([]byte, error) {
	if len(ctx) == 0 || len(ctx) > MaxContextLen {
		return nil, fmt.Errorf("%w: length %d, want 1..%d bytes", ErrBadContext, len(ctx), MaxContextLen)
	}
	m := make([]byte, 0, 1+len(ctx)+len(msg))
	m = append(m, byte(len(ctx)))
	m = append(m, ctx...)
	return append(m, msg...), nil
}

// PublicKey is a typed 32-byte public key.
type PublicKey struct {
	Type Type
	Key  [32]byte
}

// AccountID returns the account the key controls (the key bytes themselves).
func (p PublicKey) AccountID() AccountID { return AccountID(p.Key) }

// String returns "<type>:<Phala SS58 address>".
func (p PublicKey) String() string { return p.Type.String() + ":" + p.AccountID().String() }

// Hex returns the key as "0x" + 64 hex digits.
func (p PublicKey) Hex() string { return "0x" + hex.EncodeToString(p.Key[:]) }

// Verify checks sig over msg under ctx. Every failure of the signature itself
// wraps ErrBadSignature; a bad ctx gives ErrBadContext and an unsupported key
// type ErrUnknownType. Verify is deterministic.
func (p PublicKey) Verify(ctx Context, msg, sig []byte) error {
	m, err := signedBytes(ctx, msg)
	if err != nil {
		return err
	}
	switch p.Type {
	case Ed25519:
		if len(sig) != SignatureLen || !ed25519.Verify(p.Key[:], m, sig) {
			return fmt.Errorf("%w: ed25519 signature does not verify for this key, message and context", ErrBadSignature)
		}
		return nil
	case Sr25519:
		return verifySr25519(p.Key, m, sig)
	default:
		return fmt.Errorf("%w %d", ErrUnknownType, uint8(p.Type))
	}
}

func verifySr25519(key [32]byte, m, sig []byte) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: sr25519 signature %s", ErrBadSignature, why)
	}
	if len(sig) != SignatureLen {
		return bad(fmt.Sprintf("has %d bytes, want %d", len(sig), SignatureLen))
	}
	pub, err := schnorrkel.NewPublicKey(key)
	if err != nil {
		return bad("cannot be checked: the public key is not a valid Ristretto point")
	}
	var s schnorrkel.Signature
	if err := s.Decode([SignatureLen]byte(sig)); err != nil {
		return bad("is malformed")
	}
	ok, err := pub.Verify(&s, schnorrkel.NewSigningContext(substrateSigningContext, m))
	if err != nil || !ok {
		return bad("does not verify for this key, message and context")
	}
	return nil
}
