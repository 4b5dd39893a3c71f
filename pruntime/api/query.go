package api

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/crypto/keys"
)

// Signed queries (query.proto, docs/queries.md): what a querier signs and how a worker checks
// it. Shared by the worker (pruntime) and the client library, so both agree byte for byte.

// Signature contexts of queries and of session certificates.
const (
	QueryContext   keys.Context = "phala/query/v1"
	SessionContext keys.Context = "phala/query-session/v1"
)

// Query limits.
const (
	ContractIDLen = 32
	MinNonceLen   = 16
	MaxNonceLen   = 64
	// MaxSignedQuery bounds a SignedQuery's encoding (the input dominates: the VM takes up to
	// 256 KiB).
	MaxSignedQuery = 300 << 10
)

var (
	// ErrMalformedQuery: the bytes are not a SignedQuery (or Query, or certificate) in its one
	// canonical encoding with well-formed fields.
	ErrMalformedQuery = errors.New("malformed signed query")
	// ErrBadCertificate: the session certificate is not signed by the account it names, or is for
	// another chain.
	ErrBadCertificate = errors.New("session certificate does not verify")
	// ErrBadQuerySignature: the query is not signed by the key it names.
	ErrBadQuerySignature = errors.New("query signature does not verify")
)

// Signer is who a verified query speaks for: the account (the caller a contract sees), the key
// that signed (the account's or a session's) and, for a session, the certificate's expiry (unix
// seconds of block time).
type Signer struct {
	Account          keys.PublicKey
	Key              keys.PublicKey
	Session          bool
	SessionExpiresAt int64
}

// NewCertificate lets session (an ed25519 key) sign queries for account until expiresAt (unix
// seconds of block time) on the chain chainID.
func NewCertificate(account keys.PrivateKey, session keys.PublicKey, expiresAt int64, chainID string) (*Certificate, error) {
	if session.Type != keys.Ed25519 {
		return nil, fmt.Errorf("%w: session keys are ed25519, not %s", ErrMalformedQuery, session.Type)
	}
	body := module.Marshal(&CertificateBody{Account: publicKeyProto(account.Public()), SessionKey: session.Key[:], ExpiresAt: expiresAt, ChainId: chainID})
	sig, err := account.Sign(SessionContext, body)
	if err != nil {
		return nil, err
	}
	return &Certificate{Body: body, Signature: sig}, nil
}

// SignQuery signs q with key: the account itself when cert is nil, else the session key cert
// certifies.
func SignQuery(q *Query, key keys.PrivateKey, cert *Certificate) (*SignedQuery, error) {
	b := module.Marshal(q)
	sig, err := key.Sign(QueryContext, b)
	if err != nil {
		return nil, err
	}
	sq := &SignedQuery{Query: b, Signature: sig}
	if cert == nil {
		sq.Signer = &SignedQuery_Account{Account: publicKeyProto(key.Public())}
	} else {
		sq.Signer = &SignedQuery_Certificate{Certificate: cert}
	}
	return sq, nil
}

// DecodeSignedQuery parses an envelope's plaintext: a SignedQuery and the Query it carries, each
// in its canonical encoding, with a 32-byte contract and worker, a query kind, a nonce of 16 to
// 64 bytes and a signer. It checks no signature (Verify does).
func DecodeSignedQuery(b []byte) (*SignedQuery, *Query, error) {
	if len(b) > MaxSignedQuery {
		return nil, nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformedQuery, len(b), MaxSignedQuery)
	}
	var sq SignedQuery
	if err := decodeCanonical(b, &sq); err != nil {
		return nil, nil, err
	}
	var q Query
	if err := decodeCanonical(sq.GetQuery(), &q); err != nil {
		return nil, nil, err
	}
	switch {
	case len(q.GetContract()) != ContractIDLen:
		return nil, nil, fmt.Errorf("%w: contract id of %d bytes, want %d", ErrMalformedQuery, len(q.GetContract()), ContractIDLen)
	case len(q.GetWorker()) != 32:
		return nil, nil, fmt.Errorf("%w: worker key of %d bytes, want 32", ErrMalformedQuery, len(q.GetWorker()))
	case q.GetKind() == nil:
		return nil, nil, fmt.Errorf("%w: neither an input nor a receipt", ErrMalformedQuery)
	case len(q.GetNonce()) < MinNonceLen || len(q.GetNonce()) > MaxNonceLen:
		return nil, nil, fmt.Errorf("%w: nonce of %d bytes, want %d to %d", ErrMalformedQuery, len(q.GetNonce()), MinNonceLen, MaxNonceLen)
	case len(sq.GetSignature()) != keys.SignatureLen:
		return nil, nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformedQuery, len(sq.GetSignature()))
	case sq.GetSigner() == nil:
		return nil, nil, fmt.Errorf("%w: no signer", ErrMalformedQuery)
	}
	return &sq, &q, nil
}

func decodeCanonical(b []byte, m proto.Message) error {
	if err := module.StrictUnmarshal(b, m); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedQuery, err)
	}
	if !bytes.Equal(module.Marshal(m), b) {
		return fmt.Errorf("%w: not the canonical encoding", ErrMalformedQuery)
	}
	return nil
}

// Verify checks the signature chain of a decoded query: the account's signature over the
// query, or the account's certificate for chainID and the session key's signature over the
// query. Expiry is the caller's to check (it depends on the verified time).
func (sq *SignedQuery) Verify(chainID string) (Signer, error) {
	if acc := sq.GetAccount(); acc != nil {
		pub, err := publicKeyOf(acc)
		if err != nil {
			return Signer{}, err
		}
		if err := pub.Verify(QueryContext, sq.GetQuery(), sq.GetSignature()); err != nil {
			return Signer{}, fmt.Errorf("%w: %w", ErrBadQuerySignature, err)
		}
		return Signer{Account: pub, Key: pub}, nil
	}
	cert := sq.GetCertificate()
	var body CertificateBody
	if err := decodeCanonical(cert.GetBody(), &body); err != nil {
		return Signer{}, fmt.Errorf("certificate: %w", err)
	}
	account, err := publicKeyOf(body.GetAccount())
	if err != nil {
		return Signer{}, err
	}
	if len(body.GetSessionKey()) != 32 {
		return Signer{}, fmt.Errorf("%w: session key of %d bytes, want 32", ErrMalformedQuery, len(body.GetSessionKey()))
	}
	if err := account.Verify(SessionContext, cert.GetBody(), cert.GetSignature()); err != nil {
		return Signer{}, fmt.Errorf("%w: %w", ErrBadCertificate, err)
	}
	if body.GetChainId() != chainID {
		return Signer{}, fmt.Errorf("%w: it is for chain %q, this is %q", ErrBadCertificate, body.GetChainId(), chainID)
	}
	session := keys.PublicKey{Type: keys.Ed25519, Key: [32]byte(body.GetSessionKey())}
	if err := session.Verify(QueryContext, sq.GetQuery(), sq.GetSignature()); err != nil {
		return Signer{}, fmt.Errorf("%w: %w", ErrBadQuerySignature, err)
	}
	return Signer{Account: account, Key: session, Session: true, SessionExpiresAt: body.GetExpiresAt()}, nil
}

func publicKeyProto(p keys.PublicKey) *PublicKey {
	return &PublicKey{Type: uint32(p.Type), Key: bytes.Clone(p.Key[:])}
}

func publicKeyOf(p *PublicKey) (keys.PublicKey, error) {
	t := keys.Type(p.GetType())
	if p.GetType() > 255 || !t.Valid() {
		return keys.PublicKey{}, fmt.Errorf("%w: key type %d (want 1 sr25519 or 2 ed25519)", ErrMalformedQuery, p.GetType())
	}
	if len(p.GetKey()) != 32 {
		return keys.PublicKey{}, fmt.Errorf("%w: public key of %d bytes, want 32", ErrMalformedQuery, len(p.GetKey()))
	}
	return keys.PublicKey{Type: t, Key: [32]byte(p.GetKey())}, nil
}
