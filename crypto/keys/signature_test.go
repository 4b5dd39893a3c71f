package keys

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
	"github.com/phala-go/phala/crypto/ss58"
	"github.com/stretchr/testify/require"
)

func mustKey(t testing.TB, typ Type, uri string) PrivateKey {
	t.Helper()
	k, err := FromURI(typ, uri)
	require.NoError(t, err)
	return k
}

var types = []Type{Sr25519, Ed25519}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, typ := range types {
		k := mustKey(t, typ, "//Alice")
		for _, msg := range [][]byte{nil, {}, []byte("transfer 10 PHA"), bytes.Repeat([]byte{0xab}, 10000)} {
			for _, ctx := range []Context{"phala/tx/v1", "x", Context(strings.Repeat("c", MaxContextLen))} {
				sig, err := k.Sign(ctx, msg)
				require.NoError(t, err)
				require.Len(t, sig, SignatureLen)
				require.NoError(t, k.Public().Verify(ctx, msg, sig), "%s %q", typ, ctx)
			}
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			alice := mustKey(t, typ, "//Alice")
			bob := mustKey(t, typ, "//Bob")
			ctx, msg := Context("phala/tx/v1"), []byte("transfer 10 PHA to bob")
			sig, err := alice.Sign(ctx, msg)
			require.NoError(t, err)
			orig := bytes.Clone(sig)

			flipped := func(i int) []byte { s := bytes.Clone(sig); s[i] ^= 1; return s }
			other := PublicKey{Type: Sr25519 + Ed25519 - typ, Key: alice.Public().Key}
			for _, tc := range []struct {
				name string
				pub  PublicKey
				ctx  Context
				msg  []byte
				sig  []byte
			}{
				{"wrong key", bob.Public(), ctx, msg, sig},
				{"other type, same bytes", other, ctx, msg, sig},
				{"wrong context", alice.Public(), "phala/tx/v2", msg, sig},
				{"context prefix", alice.Public(), "phala/tx/v", msg, sig},
				{"wrong message", alice.Public(), ctx, []byte("transfer 99 PHA to bob"), sig},
				{"message extended", alice.Public(), ctx, append(bytes.Clone(msg), 0), sig},
				// Moving bytes between context and message changes M's length
				// prefix, so it must not verify.
				{"context/message shift", alice.Public(), "phala/tx/v1t", msg[1:], sig},
				{"flipped first byte", alice.Public(), ctx, msg, flipped(0)},
				{"flipped last byte", alice.Public(), ctx, msg, flipped(63)},
				{"short", alice.Public(), ctx, msg, sig[:63]},
				{"long", alice.Public(), ctx, msg, append(bytes.Clone(sig), 0)},
				{"empty", alice.Public(), ctx, msg, nil},
				{"zeros", alice.Public(), ctx, msg, make([]byte, 64)},
				{"zero key", PublicKey{Type: typ}, ctx, msg, sig},
			} {
				t.Run(tc.name, func(t *testing.T) {
					err := tc.pub.Verify(tc.ctx, tc.msg, tc.sig)
					require.ErrorIs(t, err, ErrBadSignature)
					require.Contains(t, err.Error(), tc.pub.Type.String())
				})
			}
			require.Equal(t, orig, sig, "Verify modified the signature")
			require.NoError(t, alice.Public().Verify(ctx, msg, sig))
		})
	}
}

func TestContextRules(t *testing.T) {
	for _, typ := range types {
		k := mustKey(t, typ, "//Alice")
		for _, ctx := range []Context{"", Context(strings.Repeat("c", MaxContextLen+1))} {
			sig, err := k.Sign(ctx, []byte("m"))
			require.ErrorIs(t, err, ErrBadContext)
			require.Nil(t, sig)
			require.ErrorIs(t, k.Public().Verify(ctx, []byte("m"), make([]byte, 64)), ErrBadContext)
		}
	}
}

func TestSignedBytes(t *testing.T) {
	m, err := signedBytes("phala/tx/v1", []byte{1, 2})
	require.NoError(t, err)
	require.Equal(t, append([]byte{11}, append([]byte("phala/tx/v1"), 1, 2)...), m)
}

func TestUnknownTypes(t *testing.T) {
	err := PublicKey{Type: 9}.Verify("c", nil, make([]byte, 64))
	require.ErrorIs(t, err, ErrUnknownType)
	var zero PrivateKey
	sig, err := zero.Sign("c", nil)
	require.ErrorIs(t, err, ErrUnknownType)
	require.Nil(t, sig)
}

// sr25519 signatures are plain Substrate signatures over M: schnorrkel with
// the "substrate" signing context verifies them, so any Substrate tool can.
func TestSr25519InteropWithSchnorrkel(t *testing.T) {
	k := mustKey(t, Sr25519, "//Alice")
	ctx, msg := Context("phala/tx/v1"), []byte("hello")
	sig, err := k.Sign(ctx, msg)
	require.NoError(t, err)

	pub, err := schnorrkel.NewPublicKey(k.Public().Key)
	require.NoError(t, err)
	var s schnorrkel.Signature
	require.NoError(t, s.Decode([64]byte(sig)))
	m := append([]byte{byte(len(ctx))}, append([]byte(ctx), msg...)...)
	ok, err := pub.Verify(&s, schnorrkel.NewSigningContext([]byte("substrate"), m))
	require.NoError(t, err)
	require.True(t, ok)
	// ... and not over the bare message, which is the point of the domain.
	ok, _ = pub.Verify(&s, schnorrkel.NewSigningContext([]byte("substrate"), msg))
	require.False(t, ok)
}

// Signatures made by polkadot.js over raw messages (polkadot-js/common
// packages/util-crypto/src/signature/verify.spec.ts, Kusama addresses). Our
// verifiers, applied to the raw bytes instead of M, accept them: the sr25519
// transcript and the ed25519 rules are Substrate's.
func TestVerifiesPolkadotJSSignatures(t *testing.T) {
	for _, tc := range []struct {
		name, addr, msg, sig string
		typ                  Type
	}{
		{"sr25519", "EK1bFgKm2FsghcttHT7TB7rNyXApFgs9fCbijMGQNyFGBQm", "hello world",
			"ca01419b5a17219f7b78335658cab3b126db523a5df7be4bfc2bef76c2eb3b1dcf4ca86eb877d0a6cf6df12db5995c51d13b00e005d053b892bd09c594434288", Sr25519},
		{"sr25519 wrapped", "J9nD3s7zssCX7bion1xctAF6xcVexcpy2uwy4jTm9JL8yuK", "<Bytes>hello world</Bytes>",
			"84b6afb1c8e54bbcb3f4872baf172580e21310e9387a53742627d6652d121447fa406b82805ed3184fb7bd519175cc9f99f283f97954d95cf966ee164df85489", Sr25519},
		{"ed25519", "DxN4uvzwPzJLtn17yew6jEffPhXQfdKHTp2brufb98vGbPN", "hello world",
			"299d3bf4c8bb51af732f8067b3a3015c0862a5ff34721749d8ed6577ea2708365d1c5f76bd519009971e41156f12c70abc2533837ceb3bad9a05a99ab923de06", Ed25519},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, prefix, err := ss58.Decode(tc.addr)
			require.NoError(t, err)
			require.Equal(t, uint16(2), prefix)
			sig, err := hex.DecodeString(tc.sig)
			require.NoError(t, err)
			verify := func(msg string) bool {
				if tc.typ == Ed25519 {
					return ed25519.Verify(pub, []byte(msg), sig)
				}
				return verifySr25519([32]byte(pub), []byte(msg), sig) == nil
			}
			require.True(t, verify(tc.msg))
			require.False(t, verify(tc.msg+" "))
			// Through the public API the same signature is refused: it was not
			// made over M for any context.
			require.ErrorIs(t, PublicKey{Type: tc.typ, Key: [32]byte(pub)}.Verify("hello", []byte(" world"), sig), ErrBadSignature)
		})
	}
}

// RFC 8032 test 1, also sp-core ed25519.rs test_vector_should_work: our
// ed25519 key signs exactly like the standard over the bytes it is given.
func TestEd25519RFC8032(t *testing.T) {
	k := mustKey(t, Ed25519, "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	require.Equal(t, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
		hex.EncodeToString(ed25519.Sign(k.ed, nil)))
	// Our signatures are deterministic too, and over M.
	a, err := k.Sign("c", []byte("m"))
	require.NoError(t, err)
	b, err := k.Sign("c", []byte("m"))
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.Equal(t, ed25519.Sign(k.ed, []byte{1, 'c', 'm'}), a)
}

func TestPrivateKeyNeverPrintsSecret(t *testing.T) {
	for _, typ := range types {
		k := mustKey(t, typ, "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
		var secrets []string
		if typ == Ed25519 {
			secrets = append(secrets, hex.EncodeToString(k.ed.Seed()), fmt.Sprint([]byte(k.ed.Seed())[:4]))
		} else {
			key := k.sr.Encode()
			secrets = append(secrets, hex.EncodeToString(key[:]), fmt.Sprint(key[:4]))
		}
		secrets = append(secrets, "9d61b1")
		outs := []string{k.String(), k.GoString()}
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%T %v"} {
			outs = append(outs, fmt.Sprintf(f, k))
			outs = append(outs, fmt.Sprintf(f, &k))
			outs = append(outs, fmt.Sprintf(f, struct{ K PrivateKey }{k}))
			outs = append(outs, fmt.Sprintf(f, []PrivateKey{k}))
		}
		j, err := json.Marshal(k)
		require.NoError(t, err)
		outs = append(outs, string(j))
		for _, out := range outs {
			for _, s := range secrets {
				require.NotContains(t, out, s)
			}
		}
		require.Contains(t, fmt.Sprintf("%v", k), k.Public().AccountID().String())
		require.Contains(t, fmt.Sprintf("%#v", k), typ.String())
	}
}

func TestPublicKeyString(t *testing.T) {
	k := mustKey(t, Sr25519, "//Alice")
	require.Equal(t, "sr25519:45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2", k.Public().String())
	require.Equal(t, "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", k.Public().Hex())
	require.Equal(t, AccountID(k.Public().Key), k.Public().AccountID())
}

func FuzzVerify(f *testing.F) {
	k := mustKey(f, Sr25519, "//Alice")
	sig, err := k.Sign("c", []byte("m"))
	require.NoError(f, err)
	pub := k.Public().Key
	f.Add(uint8(Sr25519), pub[:], "c", []byte("m"), sig)
	f.Add(uint8(Ed25519), pub[:], "c", []byte("m"), sig)
	f.Add(uint8(Sr25519), make([]byte, 32), "c", []byte("m"), make([]byte, 64))
	f.Fuzz(func(t *testing.T, typ uint8, key []byte, ctx string, msg, sig []byte) {
		var p PublicKey
		p.Type = Type(typ)
		copy(p.Key[:], key)
		_ = p.Verify(Context(ctx), msg, sig)
	})
}

func benchKeys(b *testing.B) map[Type]PrivateKey {
	return map[Type]PrivateKey{Sr25519: mustKey(b, Sr25519, "//Alice"), Ed25519: mustKey(b, Ed25519, "//Alice")}
}

func BenchmarkSign(b *testing.B) {
	msg := bytes.Repeat([]byte{1}, 256)
	for typ, k := range benchKeys(b) {
		b.Run(typ.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := k.Sign("phala/tx/v1", msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	msg := bytes.Repeat([]byte{1}, 256)
	for typ, k := range benchKeys(b) {
		sig, err := k.Sign("phala/tx/v1", msg)
		require.NoError(b, err)
		pub := k.Public()
		b.Run(typ.String(), func(b *testing.B) {
			for b.Loop() {
				if err := pub.Verify("phala/tx/v1", msg, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFromURI(b *testing.B) {
	for _, typ := range types {
		b.Run(typ.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := FromURI(typ, "//Alice"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// verifySr25519 checks an sr25519 signature over raw bytes (not M), for signatures made by
// other implementations.
func verifySr25519(key [32]byte, m, sig []byte) error {
	pub, s, err := decodeSr25519(nil, key, sig)
	if err != nil {
		return err
	}
	if !pub.Verify(srContext.NewTranscriptBytes(m), s) {
		return ErrBadSignature
	}
	return nil
}

// TestBatchVerifierAgreesWithVerify: valid, forged, malformed and mixed-type signatures get the
// same verdict in a batch as one by one.
func TestBatchVerifierAgreesWithVerify(t *testing.T) {
	type item = struct {
		pub PublicKey
		ctx Context
		msg []byte
		sig []byte
	}
	var items []item
	for i, typ := range []Type{Sr25519, Ed25519, Sr25519, Ed25519, Sr25519} {
		k := mustKey(t, typ, fmt.Sprintf("//batch%d", i))
		msg := []byte(fmt.Sprintf("message %d", i))
		sig, err := k.Sign("phala/test", msg)
		require.NoError(t, err)
		items = append(items, item{k.Public(), "phala/test", msg, sig})
	}
	forged := items[0]
	forged.msg = []byte("another message")
	flipped := items[1]
	flipped.sig = append([]byte{}, flipped.sig...)
	flipped.sig[10] ^= 1
	short := items[2]
	short.sig = short.sig[:10]
	wrongCtx := items[3]
	wrongCtx.ctx = "phala/other"
	badCtx := items[4]
	badCtx.ctx = ""
	unknown := items[0]
	unknown.pub.Type = 9
	items = append(items, forged, flipped, short, wrongCtx, badCtx, unknown)

	for _, cache := range []*KeyCache{nil, NewKeyCache(4)} {
		b := BatchVerifier{Cache: cache}
		for _, it := range items {
			b.Add(it.pub, it.ctx, it.msg, it.sig)
		}
		got := b.Verify()
		checkBatch(t, items, got)
	}
	require.Empty(t, (&BatchVerifier{}).Verify())
}

func checkBatch(t *testing.T, items []struct {
	pub PublicKey
	ctx Context
	msg []byte
	sig []byte
}, got []error) {
	require.Len(t, got, len(items))
	for i, it := range items {
		want := it.pub.Verify(it.ctx, it.msg, it.sig)
		if want == nil {
			require.NoError(t, got[i], "item %d", i)
		} else {
			require.Error(t, got[i], "item %d", i)
			require.Equal(t, want.Error(), got[i].Error(), "item %d", i)
		}
	}
	require.NoError(t, got[0])
	require.ErrorIs(t, got[5], ErrBadSignature)
	require.ErrorIs(t, got[9], ErrBadContext)
	require.ErrorIs(t, got[10], ErrUnknownType)
}

func BenchmarkBatchVerify64(b *testing.B) {
	for _, typ := range []Type{Sr25519, Ed25519} {
		b.Run(typ.String(), func(b *testing.B) {
			k, err := FromURI(typ, "//bench")
			if err != nil {
				b.Fatal(err)
			}
			sig, _ := k.Sign("phala/tx/v1", []byte("body"))
			for i := 0; i < b.N; i += 64 {
				var bv BatchVerifier
				for j := 0; j < 64; j++ {
					bv.Add(k.Public(), "phala/tx/v1", []byte("body"), sig)
				}
				for _, err := range bv.Verify() {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
