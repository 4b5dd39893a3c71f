package amount

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// Decimals is the number of decimal places of one PHA.
const Decimals = 12

// Unit is the symbol ParsePHA accepts and FormatPHA prints.
const Unit = "PHA"

var (
	ErrInvalid  = errors.New("invalid amount")
	ErrOverflow = errors.New("amount overflows 128 bits")
	ErrNegative = errors.New("amount would become negative")
)

// Amount is an unsigned 128-bit integer. The zero value is 0.
type Amount struct{ hi, lo uint64 }

// Zero is the amount 0.
var Zero Amount

// Max is the largest amount.
var Max = Amount{hi: ^uint64(0), lo: ^uint64(0)}

// FromUint64 converts n.
func FromUint64(n uint64) Amount { return Amount{lo: n} }

// OnePHA is 10^12 smallest units.
var OnePHA = FromUint64(1_000_000_000_000)

func (a Amount) IsZero() bool { return a.hi == 0 && a.lo == 0 }

// Cmp returns -1, 0 or +1.
func (a Amount) Cmp(b Amount) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

// Add returns a+b, or ErrOverflow.
func (a Amount) Add(b Amount) (Amount, error) {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	hi, carry := bits.Add64(a.hi, b.hi, carry)
	if carry != 0 {
		return Zero, ErrOverflow
	}
	return Amount{hi: hi, lo: lo}, nil
}

// Sub returns a-b, or ErrNegative.
func (a Amount) Sub(b Amount) (Amount, error) {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	hi, borrow := bits.Sub64(a.hi, b.hi, borrow)
	if borrow != 0 {
		return Zero, ErrNegative
	}
	return Amount{hi: hi, lo: lo}, nil
}

// MulUint64 returns a*n, or ErrOverflow.
func (a Amount) MulUint64(n uint64) (Amount, error) {
	loHi, lo := bits.Mul64(a.lo, n)
	hiHi, hiLo := bits.Mul64(a.hi, n)
	hi, carry := bits.Add64(hiLo, loHi, 0)
	if hiHi != 0 || carry != 0 {
		return Zero, ErrOverflow
	}
	return Amount{hi: hi, lo: lo}, nil
}

// divmod10 divides by 10 and returns the quotient and remainder.
func (a Amount) divmod10() (Amount, uint64) {
	qhi, r := bits.Div64(0, a.hi, 10)
	qlo, r := bits.Div64(r, a.lo, 10)
	return Amount{hi: qhi, lo: qlo}, r
}

// String is the canonical decimal form in the smallest unit.
func (a Amount) String() string {
	if a.IsZero() {
		return "0"
	}
	var buf [40]byte
	i := len(buf)
	for !a.IsZero() {
		var d uint64
		a, d = a.divmod10()
		i--
		buf[i] = byte('0' + d)
	}
	return string(buf[i:])
}

// Parse reads the canonical decimal form: digits only, no sign, no leading zero (but "0").
func Parse(s string) (Amount, error) {
	if s == "" {
		return Zero, fmt.Errorf("%w: empty string", ErrInvalid)
	}
	if len(s) > 1 && s[0] == '0' {
		return Zero, fmt.Errorf("%w: %q has a leading zero", ErrInvalid, s)
	}
	var a Amount
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return Zero, fmt.Errorf("%w: %q is not a decimal integer in the smallest unit", ErrInvalid, s)
		}
		var err error
		if a, err = a.MulUint64(10); err != nil {
			return Zero, fmt.Errorf("%w: %q", ErrOverflow, s)
		}
		if a, err = a.Add(FromUint64(uint64(c - '0'))); err != nil {
			return Zero, fmt.Errorf("%w: %q", ErrOverflow, s)
		}
	}
	return a, nil
}

// ParsePHA reads what a person types: "1.5PHA" or "1.5 PHA" (whole tokens, up to 12 decimals)
// or a bare integer in the smallest unit ("1500000000000").
func ParsePHA(s string) (Amount, error) {
	s = strings.TrimSpace(s)
	num, ok := strings.CutSuffix(s, Unit)
	if !ok {
		return Parse(s)
	}
	num = strings.TrimSpace(num)
	whole, frac, _ := strings.Cut(num, ".")
	if whole == "" || len(frac) > Decimals || strings.ContainsAny(frac, "+-") {
		return Zero, fmt.Errorf("%w: %q: write whole PHA with at most %d decimals, e.g. 1.5PHA", ErrInvalid, s, Decimals)
	}
	digits := strings.TrimLeft(whole+frac+strings.Repeat("0", Decimals-len(frac)), "0")
	if digits == "" {
		digits = "0"
	}
	a, err := Parse(digits)
	if err != nil {
		return Zero, fmt.Errorf("%w: %q", err, s)
	}
	return a, nil
}

// FormatPHA prints whole tokens with the unit, trimming trailing zeros: "1.5 PHA".
func FormatPHA(a Amount) string {
	s := a.String()
	if len(s) <= Decimals {
		s = strings.Repeat("0", Decimals-len(s)+1) + s
	}
	whole, frac := s[:len(s)-Decimals], strings.TrimRight(s[len(s)-Decimals:], "0")
	if frac == "" {
		return whole + " " + Unit
	}
	return whole + "." + frac + " " + Unit
}

// MarshalText writes the canonical decimal form.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads the canonical decimal form.
func (a *Amount) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
