package amount

import (
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAndString(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
	}{
		{"0", nil},
		{"1", nil},
		{"18446744073709551616", nil}, // 2^64
		{"340282366920938463463374607431768211455", nil}, // 2^128-1
		{"340282366920938463463374607431768211456", ErrOverflow},
		{"", ErrInvalid},
		{"01", ErrInvalid},
		{"-1", ErrInvalid},
		{"+1", ErrInvalid},
		{"1.5", ErrInvalid},
		{"1e3", ErrInvalid},
		{" 1", ErrInvalid},
	}
	for _, tt := range tests {
		a, err := Parse(tt.in)
		if tt.wantErr != nil {
			require.ErrorIs(t, err, tt.wantErr, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.in, a.String())
	}
}

func TestArithmeticMatchesBigInt(t *testing.T) {
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	values := []string{"0", "1", "999999999999", "18446744073709551615", "18446744073709551616",
		"170141183460469231731687303715884105728", "340282366920938463463374607431768211455"}
	for _, x := range values {
		for _, y := range values {
			a, b := mustParse(t, x), mustParse(t, y)
			bx, _ := new(big.Int).SetString(x, 10)
			by, _ := new(big.Int).SetString(y, 10)

			sum, err := a.Add(b)
			if want := new(big.Int).Add(bx, by); want.Cmp(max) > 0 {
				require.ErrorIs(t, err, ErrOverflow)
			} else {
				require.NoError(t, err)
				require.Equal(t, want.String(), sum.String())
			}

			diff, err := a.Sub(b)
			if want := new(big.Int).Sub(bx, by); want.Sign() < 0 {
				require.ErrorIs(t, err, ErrNegative)
			} else {
				require.NoError(t, err)
				require.Equal(t, want.String(), diff.String())
			}
			require.Equal(t, bx.Cmp(by), a.Cmp(b))
		}
		for _, n := range []uint64{0, 1, 10, 1 << 32, ^uint64(0)} {
			a := mustParse(t, x)
			bx, _ := new(big.Int).SetString(x, 10)
			prod, err := a.MulUint64(n)
			if want := new(big.Int).Mul(bx, new(big.Int).SetUint64(n)); want.Cmp(max) > 0 {
				require.ErrorIs(t, err, ErrOverflow)
			} else {
				require.NoError(t, err)
				require.Equal(t, want.String(), prod.String())
			}
		}
	}
}

func TestPHA(t *testing.T) {
	tests := []struct {
		in, units, formatted string
	}{
		{"1PHA", "1000000000000", "1 PHA"},
		{"1.5 PHA", "1500000000000", "1.5 PHA"},
		{"0.000000000001PHA", "1", "0.000000000001 PHA"},
		{"1000000 PHA", "1000000000000000000", "1000000 PHA"},
		{"0PHA", "0", "0 PHA"},
		{"42", "42", "0.000000000042 PHA"},
	}
	for _, tt := range tests {
		a, err := ParsePHA(tt.in)
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.units, a.String(), tt.in)
		require.Equal(t, tt.formatted, FormatPHA(a), tt.in)
	}
	for _, bad := range []string{"1.0000000000001PHA", ".5PHA", "PHA", "-1PHA", "1.-5PHA", "1,5PHA"} {
		_, err := ParsePHA(bad)
		require.Error(t, err, bad)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "1", "340282366920938463463374607431768211455", "01", "1.5PHA", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err == nil && a.String() != s {
			t.Fatalf("non-canonical parse: %q -> %s", s, a)
		}
		if p, err := ParsePHA(s); err == nil {
			if _, err := Parse(p.String()); err != nil {
				t.Fatalf("ParsePHA(%q) produced an unparsable amount", s)
			}
		}
	})
}

func mustParse(t *testing.T, s string) Amount {
	t.Helper()
	a, err := Parse(s)
	require.NoError(t, err)
	return a
}
