package keys

import "errors"

var (
	// ErrUnknownType is returned for a key type other than Sr25519 or Ed25519.
	ErrUnknownType = errors.New("unknown key type")
	// ErrBadSignature is returned by Verify for any signature that does not
	// verify: wrong length, malformed, wrong key, wrong message or context.
	ErrBadSignature = errors.New("bad signature")
	// ErrBadContext is returned for a signature context that is empty or
	// longer than MaxContextLen bytes.
	ErrBadContext = errors.New("bad signature context")
	// ErrInvalidAccountID is returned by ParseAccountID.
	ErrInvalidAccountID = errors.New("invalid account id")
	// ErrInvalidURI is returned by FromURI for a malformed secret URI.
	ErrInvalidURI = errors.New("invalid secret URI")
	// ErrInvalidMnemonic is returned for a phrase that is not a valid BIP-39
	// English mnemonic, or an unsupported word count.
	ErrInvalidMnemonic = errors.New("invalid mnemonic")
	// ErrSoftDerivation is returned when an ed25519 derivation path has a soft
	// junction ("/x"): ed25519 only supports hard junctions ("//x").
	ErrSoftDerivation = errors.New("ed25519 keys support only hard derivation (//), not soft (/)")
)
