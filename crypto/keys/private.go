package keys

import (
	"crypto/ed25519"
	"fmt"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
)

// PrivateKey is a signing key. Its secret never leaves the value: every fmt
// verb, String and GoString print only the type and the public key, and it has
// no exported fields for encoding/json to see. Obtain one with FromURI.
type PrivateKey struct {
	pub PublicKey
	ed  ed25519.PrivateKey    // when pub.Type == Ed25519
	sr  *schnorrkel.SecretKey // when pub.Type == Sr25519
}

func newEd25519(seed [32]byte) PrivateKey {
	priv := ed25519.NewKeyFromSeed(seed[:])
	k := PrivateKey{pub: PublicKey{Type: Ed25519}, ed: priv}
	copy(k.pub.Key[:], priv.Public().(ed25519.PublicKey))
	return k
}

func newSr25519(sk *schnorrkel.SecretKey) (PrivateKey, error) {
	pub, err := sk.Public()
	if err != nil {
		// Only a non-canonical scalar gets here, which derivation never yields.
		return PrivateKey{}, fmt.Errorf("sr25519 secret scalar is not canonical: %w", err)
	}
	return PrivateKey{pub: PublicKey{Type: Sr25519, Key: pub.Encode()}, sr: sk}, nil
}

// Public returns the public key.
func (k PrivateKey) Public() PublicKey { return k.pub }

// Sign signs msg under ctx (see Context). sr25519 signatures are randomized;
// ed25519 ones are deterministic.
func (k PrivateKey) Sign(ctx Context, msg []byte) ([]byte, error) {
	m, err := signedBytes(ctx, msg)
	if err != nil {
		return nil, err
	}
	switch {
	case k.pub.Type == Ed25519 && k.ed != nil:
		return ed25519.Sign(k.ed, m), nil
	case k.pub.Type == Sr25519 && k.sr != nil:
		sig, err := k.sr.Sign(schnorrkel.NewSigningContext(substrateSigningContext, m))
		if err != nil {
			return nil, fmt.Errorf("sr25519 sign: %w", err)
		}
		b := sig.Encode()
		return b[:], nil
	default:
		return nil, fmt.Errorf("%w: the private key is empty (use keys.FromURI)", ErrUnknownType)
	}
}

// String prints the type and public key only.
func (k PrivateKey) String() string { return "PrivateKey(" + k.pub.String() + ")" }

// GoString prints the type and public key only.
func (k PrivateKey) GoString() string { return "keys.PrivateKey(" + k.pub.String() + ")" }

// Format makes every fmt verb (%v, %+v, %#v, %s, %x, ...) print what String
// or GoString print, never the secret.
func (k PrivateKey) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, k.GoString())
		return
	}
	fmt.Fprint(f, k.String())
}
