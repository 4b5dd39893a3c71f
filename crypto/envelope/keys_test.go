package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var kems = []KEM{X25519, XWing}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// seq32 is the bytes 0x00..0x1f, the input keying material of our vectors.
func seq32() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func mustDerive(t testing.TB, kem KEM, ikm []byte) PrivateKey {
	t.Helper()
	k, err := DeriveKey(kem, ikm)
	require.NoError(t, err)
	return k
}

func TestKEM(t *testing.T) {
	for _, tc := range []struct {
		kem                KEM
		name               string
		pub, enc, overhead int
		valid              bool
	}{
		{X25519, "x25519", 32, 32, 55, true},
		{XWing, "xwing", 1216, 1120, 1143, true},
		{0x0010, "unknown(0x0010)", 0, 0, 0, false},
		{0, "unknown(0x0000)", 0, 0, 0, false},
	} {
		require.Equal(t, tc.name, tc.kem.String())
		require.Equal(t, tc.valid, tc.kem.Valid())
		require.Equal(t, tc.pub, tc.kem.PublicKeySize())
		require.Equal(t, tc.enc, tc.kem.encSize())
		require.Equal(t, tc.overhead, tc.kem.Overhead())
	}
}

func TestDeriveKeyVectors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		kem       KEM
		ikm       string
		secret    string // Bytes(): the clamped X25519 scalar or the X-Wing seed
		pubSHA256 string // SHA-256 of PublicKey.Key
	}{
		// RFC 9180 appendix A.1 (DHKEM(X25519), HKDF-SHA256, AES-128-GCM),
		// ikmR -> pkRm; skRm = 4612c550...8ac8 clamped.
		{"rfc9180 A.1", X25519, "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
			"4012c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8a48",
			hexSHA256("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d")},
		// draft-ietf-hpke-pq test vector for MLKEM768-X25519 (X-Wing), as in
		// Go's crypto/hpke/testdata/hpke-pq.json: ikmR -> skRm, SHA-256(pkRm).
		{"hpke-pq x-wing", XWing, "0379761fa4f6869592b0d1f9a71eb92b122dc030a7a8858132109f6b1a4bbde4",
			"b3f98b03126a431ccecc62ae0f68e102c2d8e1cc7b21ba85d821d8e31761e0f8",
			"120b60e0ae3c00c1c9def1c61aeb12de710bfa49646ae6f99a7e564b25ace493"},
		// Our own vectors (docs/crypto-envelopes.md), ikm = 00 01 .. 1f.
		{"phala x25519", X25519, hex.EncodeToString(seq32()),
			"90f7a467df4ef97053ec2a47b6e619f632df9547bb009fd0bcc747909f1b7b54",
			hexSHA256("b1f1b840de7a3241b02748cf9b05b74dc8c5e8451298738817bd76aa8ebe8c2b")},
		{"phala xwing", XWing, hex.EncodeToString(seq32()),
			"4cb54611511238fb40fe817cac456dc71ea7c408622df6c37b76f4272199dfbe",
			"9c413b9cf8331b07ba25501a46abfaf0669a1c127f759c1480990156783e9d4c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := mustDerive(t, tc.kem, unhex(t, tc.ikm))
			require.Equal(t, tc.kem, k.KEM())
			require.Equal(t, tc.secret, hex.EncodeToString(k.Bytes()))
			sum := sha256.Sum256(k.Public().Key)
			require.Equal(t, tc.pubSHA256, hex.EncodeToString(sum[:]))
			again := mustDerive(t, tc.kem, unhex(t, tc.ikm))
			require.True(t, k.Public().Equal(again.Public()), "DeriveKey must be deterministic")
			fromBytes, err := NewPrivateKey(tc.kem, k.Bytes())
			require.NoError(t, err)
			require.True(t, k.Public().Equal(fromBytes.Public()))
			require.Equal(t, k.Bytes(), fromBytes.Bytes())
		})
	}
}

func hexSHA256(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestDeriveKeySeparation(t *testing.T) {
	a := mustDerive(t, X25519, seq32())
	b := mustDerive(t, XWing, seq32())
	other := seq32()
	other[31] ^= 1
	c := mustDerive(t, X25519, other)
	require.False(t, a.Public().Equal(c.Public()))
	require.NotEqual(t, a.Bytes(), b.Bytes(), "one ikm must give unrelated keys for the two KEMs")
	require.NotEqual(t, a.Bytes(), c.Bytes())
	long := mustDerive(t, XWing, bytes.Repeat([]byte{7}, 100))
	require.NoError(t, long.Public().Validate())
}

func TestKeyConstructorsReject(t *testing.T) {
	for _, kem := range kems {
		_, err := DeriveKey(kem, make([]byte, MinIKMLen-1))
		require.ErrorIs(t, err, ErrShortSecret)
		_, err = DeriveKey(kem, nil)
		require.ErrorIs(t, err, ErrShortSecret)
		for _, n := range []int{0, 31, 33, 64} {
			_, err = NewPrivateKey(kem, make([]byte, n))
			require.ErrorIs(t, err, ErrMalformed, "%s %d bytes", kem, n)
		}
	}
	for _, kem := range []KEM{0, 0x0010, 0x0041, 0x0050} {
		_, err := DeriveKey(kem, seq32())
		require.ErrorIs(t, err, ErrUnknownKEM)
		_, err = GenerateKey(kem)
		require.ErrorIs(t, err, ErrUnknownKEM)
		_, err = NewPrivateKey(kem, seq32())
		require.ErrorIs(t, err, ErrUnknownKEM)
	}
}

func TestGenerateKey(t *testing.T) {
	for _, kem := range kems {
		a, err := GenerateKey(kem)
		require.NoError(t, err)
		b, err := GenerateKey(kem)
		require.NoError(t, err)
		require.False(t, a.Public().Equal(b.Public()))
		require.Len(t, a.Bytes(), PrivateKeySize)
		require.NoError(t, a.Public().Validate())
		c, err := NewPrivateKey(kem, a.Bytes())
		require.NoError(t, err)
		require.True(t, a.Public().Equal(c.Public()))
	}
}

func TestPrivateKeyNeverPrintsSecret(t *testing.T) {
	for _, kem := range kems {
		k := mustDerive(t, kem, seq32())
		secret := k.Bytes()
		fp := k.Public().String()
		require.True(t, strings.HasPrefix(fp, kem.String()+":"), fp)
		js, err := json.Marshal(k)
		require.NoError(t, err)
		require.Equal(t, "{}", string(js))
		for _, format := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out := fmt.Sprintf(format, k)
			require.Contains(t, out, fp, format)
			for _, enc := range []string{hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)), fmt.Sprint(secret), string(secret)} {
				require.NotContains(t, out, enc, format)
			}
		}
		require.Equal(t, "envelope.PrivateKey("+fp+")", fmt.Sprintf("%#v", k))
	}
}

func TestPrivateKeyAccessorsCopy(t *testing.T) {
	k := mustDerive(t, X25519, seq32())
	pub, secret := k.Public(), k.Bytes()
	pub.Key[0] ^= 1
	secret[0] ^= 1
	require.NotEqual(t, pub.Key, k.Public().Key)
	require.NotEqual(t, secret, k.Bytes())
}

func TestPublicKeyRoundTrip(t *testing.T) {
	for _, kem := range kems {
		pub := mustDerive(t, kem, seq32()).Public()
		b, err := pub.MarshalBinary()
		require.NoError(t, err)
		require.Len(t, b, 2+kem.PublicKeySize())
		require.Equal(t, []byte{byte(kem >> 8), byte(kem)}, b[:2])
		var got PublicKey
		require.NoError(t, got.UnmarshalBinary(b))
		require.True(t, pub.Equal(got))
		b[len(b)-1] ^= 1 // the decoded key must not alias the input
		require.True(t, pub.Equal(got))
	}
}

// lowOrder lists the canonical encodings of the X25519 points of small order.
var lowOrder = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

// nonCanonical lists X25519 encodings of values >= p or with the top bit set.
func nonCanonical(valid []byte) []string {
	top := bytes.Clone(valid)
	top[31] |= 0x80
	return []string{
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // 2^255-1
		hex.EncodeToString(top),
	}
}

func TestPublicKeyDecodeRejects(t *testing.T) {
	x := mustDerive(t, X25519, seq32()).Public()
	w := mustDerive(t, XWing, seq32()).Public()
	enc := func(kem KEM, key []byte) []byte { return append([]byte{byte(kem >> 8), byte(kem)}, key...) }
	withX25519 := func(pub PublicKey, point []byte) []byte {
		k := bytes.Clone(pub.Key)
		copy(k[len(k)-32:], point)
		return enc(pub.KEM, k)
	}
	type input struct {
		name string
		b    []byte
	}
	cases := []input{
		{"empty", nil},
		{"one byte", []byte{0x00}},
		{"unknown KEM", enc(0x0010, x.Key)},
		{"KEM id only", enc(X25519, nil)},
		{"x25519 short", enc(X25519, x.Key[:31])},
		{"x25519 long", enc(X25519, append(bytes.Clone(x.Key), 0))},
		{"x25519 key under xwing id", enc(XWing, x.Key)},
		{"xwing key under x25519 id", enc(X25519, w.Key)},
		{"xwing short", enc(XWing, w.Key[:len(w.Key)-1])},
		{"xwing long", enc(XWing, append(bytes.Clone(w.Key), 0))},
	}
	badMLKEM := bytes.Clone(w.Key)
	badMLKEM[0], badMLKEM[1] = 0xff, 0x0f // first coefficient 4095 >= q
	cases = append(cases, input{"xwing ML-KEM coefficient out of range", enc(XWing, badMLKEM)})
	for _, pub := range []PublicKey{x, w} {
		for _, p := range lowOrder {
			cases = append(cases, input{pub.KEM.String() + " low order " + p[:8], withX25519(pub, unhex(t, p))})
		}
		for _, p := range nonCanonical(pub.Key[len(pub.Key)-32:]) {
			cases = append(cases, input{pub.KEM.String() + " non-canonical " + p[:8], withX25519(pub, unhex(t, p))})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := PublicKey{KEM: X25519, Key: bytes.Clone(x.Key)}
			err := got.UnmarshalBinary(tc.b)
			require.ErrorIs(t, err, ErrMalformed)
			require.True(t, got.Equal(x), "a refused decode must not change the key")
			if len(tc.b) >= 2 {
				// The same key given as a struct is refused by Validate,
				// MarshalBinary and Seal.
				p := PublicKey{KEM: KEM(uint16(tc.b[0])<<8 | uint16(tc.b[1])), Key: tc.b[2:]}
				require.Error(t, p.Validate())
				_, err = p.MarshalBinary()
				require.Error(t, err)
				_, err = Seal(p, PurposeCommand, nil, nil, []byte("x"))
				require.Error(t, err)
				if p.KEM.Valid() {
					require.ErrorIs(t, err, ErrMalformed)
				} else {
					require.ErrorIs(t, err, ErrUnknownKEM)
				}
			}
		})
	}
	err := new(PublicKey).UnmarshalBinary(enc(0x0010, x.Key))
	require.ErrorIs(t, err, ErrUnknownKEM)
}
