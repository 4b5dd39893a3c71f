package keys

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	voisr "github.com/oasisprotocol/curve25519-voi/primitives/sr25519"
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
//
// Verification uses curve25519-voi (as CometBFT does): sr25519 with schnorrkel's
// rules, ed25519 with ZIP-215's, under which batch and single verification
// always agree.
func (p PublicKey) Verify(ctx Context, msg, sig []byte) error {
	return p.VerifyCached(nil, ctx, msg, sig)
}

// VerifyCached is Verify with decoded keys kept in c (nil: no cache).
func (p PublicKey) VerifyCached(c *KeyCache, ctx Context, msg, sig []byte) error {
	m, err := signedBytes(ctx, msg)
	if err != nil {
		return err
	}
	switch p.Type {
	case Ed25519:
		if len(sig) != SignatureLen {
			return fmt.Errorf("%w: ed25519 signature has %d bytes, want %d", ErrBadSignature, len(sig), SignatureLen)
		}
		pk, err := c.edKey(p.Key)
		if err != nil || !voied.VerifyExpandedWithOptions(pk, m, sig, ed25519Options) {
			return fmt.Errorf("%w: ed25519 signature does not verify for this key, message and context", ErrBadSignature)
		}
		return nil
	case Sr25519:
		pub, s, err := decodeSr25519(c, p.Key, sig)
		if err != nil {
			return err
		}
		if !pub.Verify(srContext.NewTranscriptBytes(m), s) {
			return fmt.Errorf("%w: sr25519 signature does not verify for this key, message and context", ErrBadSignature)
		}
		return nil
	default:
		return fmt.Errorf("%w %d", ErrUnknownType, uint8(p.Type))
	}
}

var (
	ed25519Options = &voied.Options{Verify: voied.VerifyOptionsZIP_215}
	srContext      = voisr.NewSigningContext(substrateSigningContext)
)

func decodeSr25519(c *KeyCache, key [32]byte, sig []byte) (*voisr.PublicKey, *voisr.Signature, error) {
	if len(sig) != SignatureLen {
		return nil, nil, fmt.Errorf("%w: sr25519 signature has %d bytes, want %d", ErrBadSignature, len(sig), SignatureLen)
	}
	pub, err := c.srKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: sr25519 signature cannot be checked: the public key is not a valid Ristretto point", ErrBadSignature)
	}
	s, err := voisr.NewSignatureFromBytes(sig)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: sr25519 signature is malformed", ErrBadSignature)
	}
	return pub, s, nil
}

// BatchVerifier checks many signatures at once, several times faster than one by one, with
// exactly the outcome Verify gives for each.
type BatchVerifier struct {
	// Cache, when set, keeps decoded keys between batches.
	Cache *KeyCache
	items []batchItem
}

type batchItem struct {
	pub  PublicKey
	ctx  Context
	msg  []byte
	sig  []byte
	err  error // known before batching (malformed input)
	sr   *voisr.PublicKey
	srs  *voisr.Signature
	m    []byte
	slot int // index in its type's batch
}

// Add queues a signature.
func (b *BatchVerifier) Add(pub PublicKey, ctx Context, msg, sig []byte) {
	b.items = append(b.items, batchItem{pub: pub, ctx: ctx, msg: msg, sig: sig})
}

// Verify checks every queued signature and returns, per signature in the order added, nil or
// the error Verify would return.
func (b *BatchVerifier) Verify() []error {
	errs := make([]error, len(b.items))
	ed := voied.NewBatchVerifierWithCapacity(len(b.items))
	sr := voisr.NewBatchVerifierWithCapacity(len(b.items))
	var nEd, nSr int
	for i := range b.items {
		it := &b.items[i]
		m, err := signedBytes(it.ctx, it.msg)
		if err != nil {
			it.err = err
			continue
		}
		it.m = m
		switch it.pub.Type {
		case Ed25519:
			pk, err := b.Cache.edKey(it.pub.Key)
			if len(it.sig) != SignatureLen || err != nil {
				it.err = it.pub.Verify(it.ctx, it.msg, it.sig)
				continue
			}
			ed.AddExpandedWithOptions(pk, m, it.sig, ed25519Options)
			it.slot, nEd = nEd, nEd+1
		case Sr25519:
			pub, s, err := decodeSr25519(b.Cache, it.pub.Key, it.sig)
			if err != nil {
				it.err = err
				continue
			}
			sr.Add(pub, srContext.NewTranscriptBytes(m), s)
			it.slot, nSr = nSr, nSr+1
		default:
			it.err = fmt.Errorf("%w %d", ErrUnknownType, uint8(it.pub.Type))
		}
	}
	var edOK, srOK []bool
	if nEd > 0 {
		_, edOK = ed.Verify(rand.Reader)
	}
	if nSr > 0 {
		_, srOK = sr.Verify(rand.Reader)
	}
	for i := range b.items {
		it := &b.items[i]
		switch {
		case it.err != nil:
			errs[i] = it.err
		case it.pub.Type == Ed25519 && !edOK[it.slot], it.pub.Type == Sr25519 && !srOK[it.slot]:
			// The batch only says "invalid"; Verify gives the same verdict with its message.
			errs[i] = it.pub.VerifyCached(b.Cache, it.ctx, it.msg, it.sig)
		}
	}
	return errs
}
