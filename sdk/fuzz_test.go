package sdk

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"testing"
)

func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{`{"transfer": {"to": "0x00", "amount": 1}}`, `{}`, `{"a":1,"b":2}`, `null`, `[`, `{"a":`, `{"\u0000": []}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		name, body, err := parseEnvelope(input)
		if err != nil {
			return
		}
		var v any
		if decodeStrict(body, &v) != nil {
			t.Fatalf("envelope %q accepted with an undecodable body %q", name, body)
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(append(binary.LittleEndian.AppendUint32(nil, 3), "keyvalue"...))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, v, ok := decodeEntry(b)
		if !ok {
			return
		}
		re := append(binary.LittleEndian.AppendUint32(nil, uint32(len(k))), k...)
		if !bytes.Equal(append(re, v...), b) {
			t.Fatalf("decodeEntry(%x) = %x, %x does not re-encode", b, k, v)
		}
	})
}

// FuzzValidAmount checks the amount rule against math/big: the canonical decimal form of an
// integer in [1, 2^128-1].
func FuzzValidAmount(f *testing.F) {
	for _, s := range []string{"1", "0", "007", "-1", maxAmount, "340282366920938463463374607431768211456", "1e3", ""} {
		f.Add(s)
	}
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := new(big.Int).SetString(s, 10)
		want := ok && n.Sign() > 0 && n.Cmp(limit) < 0 && n.String() == s
		if got := validAmount(s); got != want {
			t.Fatalf("validAmount(%q) = %v, want %v", s, got, want)
		}
	})
}
