package ss58

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// Published (address, id, prefix) triples.
var vectors = []struct {
	name   string
	id     string
	prefix uint16
	addr   string
}{
	// //Alice sr25519 with the generic prefix: subkey, polkadot.js
	// (polkadot-js/common packages/util-crypto/src/address/decode.spec.ts).
	{"alice generic", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", 42, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"},
	// The same account re-encoded for Polkadot (0) and Kusama (2):
	// polkadot-js/common packages/util-crypto/src/address/encode.spec.ts.
	{"alice polkadot", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", 0, "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"},
	{"alice kusama", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", 2, "HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F"},
	// //Bob with prefix 63 (HydraDX), the largest one-byte prefix:
	// swush-labs/swush-api examples/papi/signer.ts.
	{"bob prefix 63", "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48", 63, "7Lpe5LRa2Ntx9KGDk77xzoBPYTCAvj7QqaBx4Nz2TFqL3sLw"},
	// subkey output (gist joepetrowski/d16b030fcca6df82d75d2a4401222ee8).
	{"subkey generic", "6ce96ae5c300096b09dbd4567b0574f6a1281ae0e5cfe4f6b0233d1821f6206b", 42, "5EXWNJuoProc7apm1JS8m9RTqV3vVwR9dCg6sQVpKnoHtJ68"},
	{"subkey kusama", "6ce96ae5c300096b09dbd4567b0574f6a1281ae0e5cfe4f6b0233d1821f6206b", 2, "F382dFg2DpXsEeCn1FBf6nTz5LAJcEL5aWrG4mmob1ndPqd"},
	// Kusama treasury ("modlpy/trsry" zero-padded): polkadot.js decode.spec.ts.
	{"kusama treasury", hex.EncodeToString([]byte("modlpy/trsry\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")), 2, "F3opxRbN5ZbjJNU511Kj2TLuzFcDq9BGduA9TgiECafpg29"},
	// Two-byte prefixes checked against subkey by polkadot.js encode.spec.ts.
	{"subkey generic 2", "3050f8456519829fe03302da802d22d3233a5f4037b9a3e2bcc403ccfcb2d735", 42, "5DA4D4GL5iakrn22h5uKoevgvo18Pqj5BcdEUv8etEDPdijA"},
	{"prefix 65", "08e8969768fc14399930d4b8d693f68a2ff6c6a597325d6946095e5e9d9d1b0e", 65, "cLtA6nCDyvwKcEHH4QkZDSHMhS9s78BvUJUsKUbUAn1Jc2SCF"},
	{"prefix 66", "04a047d52fe542484c69bc528990cfeaf3a663dded0638ee1b51cf78bacd1072", 66, "cTGShekJ1L1UKFZR9xmv9UTJod7vqjFAPo4sDhXih2c3y1yLS"},
	{"prefix 69", "ae640d53cfa815f4a6a50ae70235cd7d9d134d0f1c3a4ccd118e321dfb6ab51f", 69, "cnVRwXfAnz3RSVQyBUC8f8McrK3YBX2QYd4WoctpeSC6VTJYm"},
	{"prefix 252", "5c64f1151f0ce4358c27238fb20c88e7c899825436f565410724c8c2c5add869", 252, "xw5g1Eec8LT99pZLZMaTWwrwvNtfM6vrSuZeVbtEszCDUwByg"},
	{"prefix 255 a", "66cd6cf085627d6c85af1aaf2bd10cf843033e929b4e3b1c2ba8e4aa46fe111b", 255, "yGF4JP7q5AK46d1FPCEm9sYQ4KooSjHMpyVAjLnsCSWVafPnf"},
	{"prefix 255 b", "242fd5a078ac6b7c3c2531e9bcf1314343782aeb58e7bc6880794589e701db55", 255, "yGDYxQatQwuxqT39Zs4LtcTnpzE12vXb7ZJ6xpdiHv6gTu1hF"},
	{"prefix 4242", "44d5a3ac156335ea99d33a83c57c7146c40c8e2260a8a4adf4e7a86256454651", 4242, "mHm8k9Emsvyfp3piCauSH684iA6NakctF8dySQcX94GDdrJrE"},
	{"prefix 14269", "88f01441682a17b52d6ae12d1a5670cf675fd254897efabaa5069eb3a701ab73", 14269, "r6Gr4gaMP8TsjhFbqvZhv3YvnasugLiRJpzpRHifsqqG18UXa"},
}

func TestPublishedVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			id := mustHex(t, v.id)
			got, err := Encode(id, v.prefix)
			require.NoError(t, err)
			require.Equal(t, v.addr, got)

			pub, prefix, err := Decode(v.addr)
			require.NoError(t, err)
			require.Equal(t, id, pub)
			require.Equal(t, v.prefix, prefix)
		})
	}
}

func TestEncodeRefusals(t *testing.T) {
	id := make([]byte, 32)
	for _, tc := range []struct {
		name   string
		id     []byte
		prefix uint16
		want   error
	}{
		{"short id", id[:31], 42, ErrInvalidLength},
		{"long id", make([]byte, 33), 42, ErrInvalidLength},
		{"nil id", nil, 42, ErrInvalidLength},
		{"reserved 46", id, 46, ErrInvalidPrefix},
		{"reserved 47", id, 47, ErrInvalidPrefix},
		{"above 14 bits", id, 16384, ErrInvalidPrefix},
		{"max uint16", id, 65535, ErrInvalidPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, err := Encode(tc.id, tc.prefix)
			require.ErrorIs(t, err, tc.want)
			require.Empty(t, addr)
		})
	}
}

// raw builds base58(body || checksum(body)) for hand-made malformed addresses.
func raw(body []byte) string {
	return base58Encode(append(bytes.Clone(body), checksum(body)...))
}

func TestDecodeRefusals(t *testing.T) {
	id := bytes.Repeat([]byte{7}, 32)
	alice := "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
	flipped := []byte(alice)
	flipped[10] = 'b' // a different valid base58 digit
	for _, tc := range []struct {
		name string
		addr string
	}{
		{"empty", ""},
		{"bad char 0", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKut0Y"},
		{"bad char I", "F3opIRbN5ZbjJNU511Kj2TLuzFcDq9BGduA9TgiECafpg29"},
		{"bad char l", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutlY"},
		{"non ascii", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQé"},
		{"space", " 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"},
		{"one byte", base58Encode([]byte{42})},
		{"checksum", alice[:len(alice)-1] + "Z"},
		{"flipped digit", string(flipped)},
		// polkadot.js decode.spec.ts: wrong checksums.
		{"pjs checksum a", "5GoKvZWG5ZPYL1WUovuHW3zJBWBP5eT8CbqjdRY4Q6iMa9cj"},
		{"pjs checksum b", "5GoKvZWG5ZPYL1WUovuHW3zJBWBP5eT8CbqjdRY4Q6iMaDwU"},
		// polkadot.js decode.spec.ts: invalid length.
		{"pjs length", "y9EMHt34JJo4rWLSaxoLGdYXvjgSXEd4zHUnQgfNzwES8b"},
		// Valid SS58 of other id sizes: only 32-byte account ids are accepted.
		{"33-byte id", "KWCv1L3QX9LDPwY4VzvLmarEmXjVJidUzZcinvVnmxAJJCBou"},
		{"1-byte id", "F7NZ"},
		{"8-byte id", "848Gh2GcGaZia"},
		{"31-byte id", raw(append([]byte{42}, id[:31]...))},
		{"33-byte id raw", raw(append([]byte{42}, append(id, 1)...))},
		{"reserved 46", raw(append([]byte{46}, id...))},
		{"reserved 47", raw(append([]byte{47}, id...))},
		{"prefix byte 128", raw(append([]byte{128}, id...))},
		{"prefix byte 255", raw(append([]byte{255}, id...))},
		// Prefix 42 written in the two-byte form: 01aaaaaa bbcccccc with
		// low byte 42 = 0b00101010 -> aaaaaa=001010, bb=10, cccccc=0.
		{"non-canonical two-byte prefix", raw(append([]byte{0b01001010, 0b10000000}, id...))},
		{"too long", string(bytes.Repeat([]byte{'z'}, maxEncodedLen+1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, prefix, err := Decode(tc.addr)
			require.ErrorIs(t, err, ErrInvalidAddress)
			require.Nil(t, pub)
			require.Zero(t, prefix)
		})
	}
}

func TestDecodeReservedWrapsPrefixError(t *testing.T) {
	_, _, err := Decode(raw(append([]byte{46}, make([]byte, 32)...)))
	require.ErrorIs(t, err, ErrInvalidAddress)
	require.ErrorIs(t, err, ErrInvalidPrefix)
}

// Every prefix the format allows round-trips, including the boundaries of the
// one- and two-byte forms.
func TestRoundTripAllPrefixes(t *testing.T) {
	id := mustHex(t, "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	for p := 0; p <= MaxPrefix; p++ {
		addr, err := Encode(id, uint16(p))
		if p == 46 || p == 47 {
			require.ErrorIs(t, err, ErrInvalidPrefix)
			continue
		}
		require.NoError(t, err, "prefix %d", p)
		pub, prefix, err := Decode(addr)
		require.NoError(t, err, "prefix %d", p)
		require.Equal(t, uint16(p), prefix)
		require.Equal(t, id, pub)
	}
}

func TestRoundTripLeadingZeros(t *testing.T) {
	// Prefix 0 and zero id bytes exercise base58's leading-'1' rule.
	for _, id := range [][]byte{make([]byte, 32), append(make([]byte, 31), 1), bytes.Repeat([]byte{0xff}, 32)} {
		for _, p := range []uint16{0, 1, 30, 42, 64, 16383} {
			addr, err := Encode(id, p)
			require.NoError(t, err)
			pub, prefix, err := Decode(addr)
			require.NoError(t, err)
			require.Equal(t, p, prefix)
			require.Equal(t, id, pub)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range vectors {
		f.Add(v.addr)
	}
	f.Add("")
	f.Add("1")
	f.Add("11111111111111111111111111111111111111111111111")
	f.Add("F7NZ")
	f.Add("KWCv1L3QX9LDPwY4VzvLmarEmXjVJidUzZcinvVnmxAJJCBou")
	f.Fuzz(func(t *testing.T, addr string) {
		pub, prefix, err := Decode(addr)
		if err != nil {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("error %v does not wrap ErrInvalidAddress", err)
			}
			if pub != nil || prefix != 0 {
				t.Fatalf("refusal returned data")
			}
			return
		}
		// Accepted addresses are canonical: re-encoding gives the input back.
		again, err := Encode(pub, prefix)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if again != addr {
			t.Fatalf("Decode(%q) re-encodes to %q", addr, again)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	id := mustHex(b, "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	for b.Loop() {
		if _, err := Encode(id, PhalaPrefix); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for b.Loop() {
		if _, _, err := Decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"); err != nil {
			b.Fatal(err)
		}
	}
}
