package sdk

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Address is a 32-byte account or contract id. Its JSON and text form is "0x" followed by 64
// lowercase hex digits.
type Address [32]byte

// String returns "0x" + 64 hex digits.
func (a Address) String() string { return "0x" + hex.EncodeToString(a[:]) }

// IsZero reports whether a is all zeros.
func (a Address) IsZero() bool { return a == Address{} }

// MarshalText implements encoding.TextMarshaler.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what ParseAddress accepts.
func (a *Address) UnmarshalText(b []byte) error {
	v, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseAddress parses 64 hex digits, with or without a "0x" prefix.
func ParseAddress(s string) (Address, error) {
	var a Address
	h := strings.TrimPrefix(s, "0x")
	if len(h) != 64 {
		return a, fmt.Errorf("%w: want 64 hex digits, got %d characters", ErrBadAddress, len(h))
	}
	if _, err := hex.Decode(a[:], []byte(h)); err != nil {
		return Address{}, fmt.Errorf("%w: %v", ErrBadAddress, err)
	}
	return a, nil
}

// CallerKind says who made a call.
type CallerKind uint8

// The kinds of callers. The zero value is an anonymous caller (an unsigned query), so a
// forgotten check never mistakes nobody for an account.
const (
	CallerNone     CallerKind = 0
	CallerAccount  CallerKind = 1
	CallerContract CallerKind = 2
)

func (k CallerKind) String() string {
	switch k {
	case CallerNone:
		return "none"
	case CallerAccount:
		return "account"
	case CallerContract:
		return "contract"
	}
	return fmt.Sprintf("caller-kind(%d)", uint8(k))
}

// Caller is the account or contract that made the call. For commands it is the signer of the
// transaction (or the calling contract); for queries it is the authenticated querier.
type Caller struct {
	Kind CallerKind
	ID   Address
}

// Anonymous reports whether nobody is authenticated (Kind is CallerNone).
func (c Caller) Anonymous() bool { return c.Kind == CallerNone }

// Block is the block a command runs in, or the block whose state a query reads.
type Block struct {
	Height uint64
	Time   time.Time
}
