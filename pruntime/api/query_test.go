package api

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/crypto/keys"
)

const testChain = "phala-test"

func testKey(t testing.TB, typ keys.Type, uri string) keys.PrivateKey {
	k, err := keys.FromURI(typ, uri)
	require.NoError(t, err)
	return k
}

func testQuery() *Query {
	return &Query{Contract: bytes.Repeat([]byte{1}, 32), Kind: &Query_Input{Input: []byte(`{"balance":{}}`)}, GasLimit: 5,
		MinHeight: 7, Nonce: bytes.Repeat([]byte{2}, 16), ExpiresAt: 1000, Worker: bytes.Repeat([]byte{3}, 32)}
}

// signedQueries are valid encodings: signed by an sr25519 account, an ed25519 account, and a
// session certified by an sr25519 account, for a receipt.
func signedQueries(t testing.TB) map[string][]byte {
	alice, edAlice := testKey(t, keys.Sr25519, "//Alice"), testKey(t, keys.Ed25519, "//Alice")
	session := keys.Ed25519FromSeed([32]byte{9})
	cert, err := NewCertificate(alice, session.Public(), 2000, testChain)
	require.NoError(t, err)
	receipt := testQuery()
	receipt.Kind = &Query_Receipt{Receipt: ^uint64(0)}
	out := map[string][]byte{}
	for name, c := range map[string]struct {
		q    *Query
		key  keys.PrivateKey
		cert *Certificate
	}{"sr25519": {testQuery(), alice, nil}, "ed25519": {testQuery(), edAlice, nil}, "session": {receipt, session, cert}} {
		sq, err := SignQuery(c.q, c.key, c.cert)
		require.NoError(t, err)
		out[name] = module.Marshal(sq)
	}
	return out
}

func TestSignedQuery(t *testing.T) {
	alice := testKey(t, keys.Sr25519, "//Alice")
	for name, b := range signedQueries(t) {
		sq, q, err := DecodeSignedQuery(b)
		require.NoError(t, err, name)
		s, err := sq.Verify(testChain)
		require.NoError(t, err, name)
		require.Equal(t, name == "session", s.Session, name)
		if name == "session" {
			require.Equal(t, alice.Public(), s.Account)
			require.Equal(t, keys.Ed25519FromSeed([32]byte{9}).Public(), s.Key)
			require.EqualValues(t, 2000, s.SessionExpiresAt)
			require.EqualValues(t, ^uint64(0), q.GetReceipt())
		} else {
			require.Equal(t, s.Account, s.Key)
			require.Equal(t, testQuery().GetInput(), q.GetInput())
		}
		_, err = sq.Verify("other-chain")
		if name == "session" {
			require.ErrorIs(t, err, ErrBadCertificate, "a certificate names its chain")
		} else {
			require.NoError(t, err)
		}
	}
}

func TestSignedQueryRefusals(t *testing.T) {
	alice, bob := testKey(t, keys.Sr25519, "//Alice"), testKey(t, keys.Sr25519, "//Bob")
	session := keys.Ed25519FromSeed([32]byte{9})
	sign := func(q *Query, key keys.PrivateKey, cert *Certificate) *SignedQuery {
		sq, err := SignQuery(q, key, cert)
		require.NoError(t, err)
		return sq
	}
	cert, err := NewCertificate(alice, session.Public(), 2000, testChain)
	require.NoError(t, err)
	_, err = NewCertificate(alice, alice.Public(), 2000, testChain)
	require.ErrorIs(t, err, ErrMalformedQuery, "session keys are ed25519")

	withQuery := func(mod func(*Query)) func() []byte {
		return func() []byte {
			q := testQuery()
			mod(q)
			return module.Marshal(sign(q, alice, nil))
		}
	}
	decodeErrs := map[string]func() []byte{
		"empty":         func() []byte { return nil },
		"garbage":       func() []byte { return []byte{0xff, 0xff} },
		"unknown field": func() []byte { return append(module.Marshal(sign(testQuery(), alice, nil)), 0x68, 0x01) },
		"non-canonical query": func() []byte {
			sq := sign(testQuery(), alice, nil)
			sq.Query = protowire.AppendVarint(protowire.AppendTag(sq.Query, 4, protowire.VarintType), 5) // gas_limit twice
			return module.Marshal(sq)
		},
		"short contract": withQuery(func(q *Query) { q.Contract = q.Contract[:31] }),
		"short worker":   withQuery(func(q *Query) { q.Worker = nil }),
		"no kind":        withQuery(func(q *Query) { q.Kind = nil }),
		"short nonce":    withQuery(func(q *Query) { q.Nonce = q.Nonce[:15] }),
		"long nonce":     withQuery(func(q *Query) { q.Nonce = make([]byte, 65) }),
		"no signer": func() []byte {
			sq := sign(testQuery(), alice, nil)
			sq.Signer = nil
			return module.Marshal(sq)
		},
		"short signature": func() []byte {
			sq := sign(testQuery(), alice, nil)
			sq.Signature = sq.Signature[:63]
			return module.Marshal(sq)
		},
		"too large": func() []byte {
			q := testQuery()
			q.Kind = &Query_Input{Input: make([]byte, MaxSignedQuery)}
			return module.Marshal(sign(q, alice, nil))
		},
	}
	for name, b := range decodeErrs {
		_, _, err := DecodeSignedQuery(b())
		require.ErrorIs(t, err, ErrMalformedQuery, name)
	}

	verifyErrs := map[string]struct {
		sq  func() *SignedQuery
		err error
	}{
		"signed by another account": {func() *SignedQuery {
			sq := sign(testQuery(), bob, nil)
			sq.Signer = &SignedQuery_Account{Account: publicKeyProto(alice.Public())}
			return sq
		}, ErrBadQuerySignature},
		"altered after signing": {func() *SignedQuery {
			sq := sign(testQuery(), alice, nil)
			q := testQuery()
			q.GasLimit++
			sq.Query = module.Marshal(q)
			return sq
		}, ErrBadQuerySignature},
		"signed under the certificate context": {func() *SignedQuery {
			sig, err := alice.Sign(SessionContext, module.Marshal(testQuery()))
			require.NoError(t, err)
			return &SignedQuery{Query: module.Marshal(testQuery()), Signature: sig, Signer: &SignedQuery_Account{Account: publicKeyProto(alice.Public())}}
		}, ErrBadQuerySignature},
		"unknown key type": {func() *SignedQuery {
			sq := sign(testQuery(), alice, nil)
			sq.Signer = &SignedQuery_Account{Account: &PublicKey{Type: 3, Key: make([]byte, 32)}}
			return sq
		}, ErrMalformedQuery},
		"key type past a byte": {func() *SignedQuery {
			sq := sign(testQuery(), alice, nil)
			sq.Signer = &SignedQuery_Account{Account: &PublicKey{Type: 256 + 1, Key: make([]byte, 32)}}
			return sq
		}, ErrMalformedQuery},
		"forged certificate": {func() *SignedQuery {
			c, err := NewCertificate(bob, session.Public(), 2000, testChain)
			require.NoError(t, err)
			var body CertificateBody
			require.NoError(t, module.StrictUnmarshal(c.Body, &body))
			body.Account = publicKeyProto(alice.Public())
			c.Body = module.Marshal(&body)
			return sign(testQuery(), session, c)
		}, ErrBadCertificate},
		"certificate extended after signing": {func() *SignedQuery {
			c, err := NewCertificate(alice, session.Public(), 2000, testChain)
			require.NoError(t, err)
			var body CertificateBody
			require.NoError(t, module.StrictUnmarshal(c.Body, &body))
			body.ExpiresAt = 1 << 40
			c.Body = module.Marshal(&body)
			return sign(testQuery(), session, c)
		}, ErrBadCertificate},
		"query by another session key": {func() *SignedQuery {
			return sign(testQuery(), keys.Ed25519FromSeed([32]byte{10}), cert)
		}, ErrBadQuerySignature},
		"certificate with an unknown field": {func() *SignedQuery {
			c := &Certificate{Body: append(bytes.Clone(cert.Body), 0x68, 0x01), Signature: cert.Signature}
			return sign(testQuery(), session, c)
		}, ErrMalformedQuery},
	}
	for name, tc := range verifyErrs {
		b := module.Marshal(tc.sq())
		sq, _, err := DecodeSignedQuery(b)
		require.NoError(t, err, name)
		_, err = sq.Verify(testChain)
		require.ErrorIs(t, err, tc.err, name)
	}
}

// FuzzSignedQuery: decoding and verifying arbitrary bytes never panics, and what decodes is the
// one canonical encoding.
func FuzzSignedQuery(f *testing.F) {
	for _, b := range signedQueries(f) {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		sq, q, err := DecodeSignedQuery(b)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformedQuery)
			return
		}
		require.Equal(t, b, module.Marshal(sq))
		require.Equal(t, sq.GetQuery(), module.Marshal(q))
		_, _ = sq.Verify(testChain)
	})
}
