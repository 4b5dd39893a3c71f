package ss58

import (
	"math/big"
	"testing"
)

// referenceBase58 is the textbook conversion, to check the limb-based encoder against.
func referenceBase58(in []byte) string {
	n := new(big.Int).SetBytes(in)
	var out []byte
	mod := new(big.Int)
	for n.Sign() > 0 {
		n.DivMod(n, big.NewInt(58), mod)
		out = append([]byte{alphabet[mod.Int64()]}, out...)
	}
	for _, b := range in {
		if b != 0 {
			break
		}
		out = append([]byte{alphabet[0]}, out...)
	}
	return string(out)
}

func FuzzBase58(f *testing.F) {
	for _, s := range [][]byte{{}, {0}, {0, 0, 1}, {255, 255, 255}, make([]byte, 35)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 64 {
			return
		}
		got, want := base58Encode(in), referenceBase58(in)
		if got != want {
			t.Fatalf("base58Encode(%x) = %q, want %q", in, got, want)
		}
		if back, ok := base58Decode(got); ok && string(back) != string(in) {
			t.Fatalf("decode(encode(%x)) = %x", in, back)
		}
	})
}
