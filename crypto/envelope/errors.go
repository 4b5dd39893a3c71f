package envelope

import "errors"

var (
	// ErrMalformed is returned by every decoder (envelopes, public keys,
	// private key bytes) for input that is not a valid encoding.
	ErrMalformed = errors.New("malformed envelope or key encoding")
	// ErrUnknownKEM is returned for a KEM other than X25519 or XWing, and for
	// an empty PrivateKey.
	ErrUnknownKEM = errors.New("unknown KEM")
	// ErrWrongKEM is returned when an envelope's KEM is not the KEM of the key
	// it is opened with.
	ErrWrongKEM = errors.New("envelope KEM does not match the key")
	// ErrDecrypt is returned for every envelope or reply that does not
	// authenticate: wrong key, purpose, context or aad, or altered bytes. It
	// deliberately never says which.
	ErrDecrypt = errors.New("envelope does not decrypt")
	// ErrBadPurpose is returned for a Purpose that is empty, longer than
	// MaxPurposeLen or not printable ASCII.
	ErrBadPurpose = errors.New("bad envelope purpose")
	// ErrTooLarge is returned for a context longer than MaxContextLen, or an
	// envelope or reply that is (or would be) longer than MaxSize.
	ErrTooLarge = errors.New("envelope too large")
	// ErrShortSecret is returned by DeriveKey for input keying material
	// shorter than MinIKMLen bytes.
	ErrShortSecret = errors.New("key derivation secret too short")
)
