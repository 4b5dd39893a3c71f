package sdk

import (
	"encoding/hex"
	"encoding/json"
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
// forgotten check never mistakes nobody for an account. CallerChain is the chain itself,
// delivering a deposit or a bounce (HandleDeposit, HandleBounce); its ID is all zeros.
const (
	CallerNone     CallerKind = 0
	CallerAccount  CallerKind = 1
	CallerContract CallerKind = 2
	CallerChain    CallerKind = 3
)

func (k CallerKind) String() string {
	switch k {
	case CallerNone:
		return "none"
	case CallerAccount:
		return "account"
	case CallerContract:
		return "contract"
	case CallerChain:
		return "chain"
	}
	return fmt.Sprintf("caller-kind(%d)", uint8(k))
}

// Caller is the account or contract that made the call. For commands it is the signer of the
// transaction, the calling contract (a synchronous call or an asynchronous message), or the
// chain (a deposit or a bounce); for queries it is the authenticated querier.
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

// Deposit is the body of a deposit the chain delivers (HandleDeposit): account From moved
// Amount of the chain's currency into this contract's on-chain account.
type Deposit struct {
	From Address `json:"from"`
	// Amount is a positive decimal integer in the smallest unit, below 2^128 (use
	// strconv.ParseUint when the contract keeps 64-bit amounts: larger ones then fail the
	// handler, and the deposit is refunded).
	Amount string `json:"amount"`
}

// BounceKind says what bounced.
type BounceKind string

// The kinds of bounces.
const (
	BounceMessage  BounceKind = "message"
	BounceTransfer BounceKind = "transfer"
)

// Bounce is the body of a bounce the chain delivers (HandleBounce): a message or a transfer
// this contract sent could not be completed.
type Bounce struct {
	Kind BounceKind `json:"kind"`
	// To is the message's receiver or the transfer's recipient.
	To Address `json:"to"`
	// Number is the message's number, as Context.Send returned it (messages only).
	Number uint64 `json:"number"`
	// Amount is the transfer's amount (transfers only).
	Amount string `json:"amount"`
	// Reason says why, for people: not a stable interface.
	Reason string `json:"reason"`
}

// MarshalJSON writes the form the chain delivers: "number" for a message, "amount" for a
// transfer.
func (b Bounce) MarshalJSON() ([]byte, error) {
	type message struct {
		Kind   BounceKind `json:"kind"`
		To     Address    `json:"to"`
		Number uint64     `json:"number"`
		Reason string     `json:"reason"`
	}
	type transfer struct {
		Kind   BounceKind `json:"kind"`
		To     Address    `json:"to"`
		Amount string     `json:"amount"`
		Reason string     `json:"reason"`
	}
	if b.Kind == BounceMessage {
		return json.Marshal(message{b.Kind, b.To, b.Number, b.Reason})
	}
	return json.Marshal(transfer{b.Kind, b.To, b.Amount, b.Reason})
}
