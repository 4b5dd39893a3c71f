package keys

import (
	"fmt"
	"strings"
)

// Type is a signature scheme. The numeric values are part of encoded
// transactions and key files; never renumber them.
type Type uint8

const (
	// Sr25519 is Schnorr over Ristretto25519 (schnorrkel), Substrate's default.
	Sr25519 Type = 1
	// Ed25519 is RFC 8032 Ed25519.
	Ed25519 Type = 2
)

// String returns "sr25519" or "ed25519" ("unknown(n)" otherwise).
func (t Type) String() string {
	switch t {
	case Sr25519:
		return "sr25519"
	case Ed25519:
		return "ed25519"
	default:
		return fmt.Sprintf("unknown(%d)", uint8(t))
	}
}

// Valid reports whether t is a supported type.
func (t Type) Valid() bool { return t == Sr25519 || t == Ed25519 }

// ParseType parses "sr25519" or "ed25519" (case-insensitive).
func ParseType(s string) (Type, error) {
	switch strings.ToLower(s) {
	case "sr25519":
		return Sr25519, nil
	case "ed25519":
		return Ed25519, nil
	default:
		return 0, fmt.Errorf("%w %q: use sr25519 or ed25519", ErrUnknownType, s)
	}
}

// MarshalText encodes the type as its name; unknown types are refused.
func (t Type) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("%w %d", ErrUnknownType, uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText is the inverse of MarshalText.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}
