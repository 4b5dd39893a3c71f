package keys

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/phala-go/phala/crypto/ss58"
)

// AccountID identifies an account: the 32-byte public key, for both key types
// (like Substrate's AccountId32).
type AccountID [32]byte

// String returns the SS58 address with the Phala prefix (30).
func (a AccountID) String() string {
	s, err := ss58.Encode(a[:], ss58.PhalaPrefix)
	if err != nil {
		panic("keys: ss58 refused a 32-byte id with the Phala prefix: " + err.Error())
	}
	return s
}

// ParseAccountID accepts an SS58 address with the Phala prefix (30) or the
// generic Substrate prefix (42), or "0x" followed by 64 hex digits.
func ParseAccountID(s string) (AccountID, error) {
	var a AccountID
	if rest, ok := strings.CutPrefix(s, "0x"); ok {
		if len(rest) != 2*len(a) {
			return AccountID{}, fmt.Errorf("%w: hex account id must have 64 digits after 0x, got %d", ErrInvalidAccountID, len(rest))
		}
		if _, err := hex.Decode(a[:], []byte(rest)); err != nil {
			return AccountID{}, fmt.Errorf("%w: not hex: %w", ErrInvalidAccountID, err)
		}
		return a, nil
	}
	pub, prefix, err := ss58.Decode(s)
	if err != nil {
		return AccountID{}, fmt.Errorf("%w: %w", ErrInvalidAccountID, err)
	}
	if prefix != ss58.PhalaPrefix && prefix != ss58.GenericPrefix {
		return AccountID{}, fmt.Errorf("%w: SS58 prefix %d is another network's; Phala accepts %d (Phala) or %d (generic Substrate)",
			ErrInvalidAccountID, prefix, ss58.PhalaPrefix, ss58.GenericPrefix)
	}
	copy(a[:], pub)
	return a, nil
}

// MarshalText encodes the account id as its Phala SS58 address.
func (a AccountID) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText accepts what ParseAccountID accepts.
func (a *AccountID) UnmarshalText(b []byte) error {
	v, err := ParseAccountID(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
