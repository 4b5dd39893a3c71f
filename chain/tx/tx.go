package tx

import (
	"crypto/sha256"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/crypto/keys"
)

// SignContext is the signature domain of transaction bodies: a transaction signature can never
// be mistaken for any other signature an account key makes.
const SignContext keys.Context = "phala/tx/v1"

// Limits of the stateless checks. The governed size limit (accounts params) is checked against
// state; MaxBytes only bounds what decoding will look at.
const (
	MaxBytes    = 4 << 20
	MaxMessages = 64
	MaxMemo     = 256
)

const codespace = "tx"

// Error codes of transaction checks; stable across releases.
var (
	ErrMalformed      = errcode.New(codespace, 2, "malformed transaction")
	ErrWrongChain     = errcode.New(codespace, 3, "wrong chain id")
	ErrBadSignature   = errcode.New(codespace, 4, "bad signature")
	ErrNonceReplayed  = errcode.New(codespace, 5, "nonce already used")
	ErrNonceGap       = errcode.New(codespace, 6, "nonce too high")
	ErrTooLarge       = errcode.New(codespace, 7, "transaction too large")
	ErrFeeTooLow      = errcode.New(codespace, 8, "fee too low")
	ErrCannotPayFee   = errcode.New(codespace, 9, "balance cannot pay the fee")
	ErrNoMessages     = errcode.New(codespace, 10, "transaction has no messages")
	ErrTooManyMsgs    = errcode.New(codespace, 11, "too many messages")
	ErrMemoTooLong    = errcode.New(codespace, 12, "memo too long")
	ErrUnknownKeyType = errcode.New(codespace, 13, "unknown key type")
)

// Decoded is a transaction that passed the stateless checks (but not the signature check).
type Decoded struct {
	Raw       []byte
	Hash      [32]byte
	Body      *TxBody
	Signer    keys.PublicKey
	Fee       amount.Amount
	Msgs      []proto.Message
	bodyRaw   []byte
	signature []byte
}

// Hash is the transaction id: SHA-256 of its bytes, as CometBFT indexes it.
func Hash(raw []byte) [32]byte { return sha256.Sum256(raw) }

// Decode parses raw and runs every check that needs no state: encoding, signer key, fee,
// messages (known types, strict encoding, their own ValidateBasic), memo.
func Decode(raw []byte, r *module.Router) (*Decoded, error) {
	if len(raw) > MaxBytes {
		return nil, errcode.Wrapf(ErrTooLarge, "%d bytes, at most %d", len(raw), MaxBytes)
	}
	var t Tx
	if err := module.StrictUnmarshal(raw, &t); err != nil {
		return nil, errcode.Wrapf(ErrMalformed, "%v", err)
	}
	var body TxBody
	if err := module.StrictUnmarshal(t.GetBody(), &body); err != nil {
		return nil, errcode.Wrapf(ErrMalformed, "body: %v", err)
	}
	if len(t.GetSignature()) != keys.SignatureLen {
		return nil, errcode.Wrapf(ErrBadSignature, "%d bytes, want %d", len(t.GetSignature()), keys.SignatureLen)
	}
	signer, err := signerKey(body.GetSigner())
	if err != nil {
		return nil, err
	}
	if body.GetChainId() == "" {
		return nil, errcode.Wrapf(ErrWrongChain, "empty chain id")
	}
	fee, err := amount.Parse(body.GetFee())
	if err != nil {
		return nil, errcode.Wrapf(ErrMalformed, "fee: %v", err)
	}
	if len(body.GetMemo()) > MaxMemo || !utf8.ValidString(body.GetMemo()) {
		return nil, errcode.Wrapf(ErrMemoTooLong, "memo must be valid UTF-8 of at most %d bytes", MaxMemo)
	}
	n := len(body.GetMessages())
	switch {
	case n == 0:
		return nil, ErrNoMessages
	case n > MaxMessages:
		return nil, errcode.Wrapf(ErrTooManyMsgs, "%d messages, at most %d", n, MaxMessages)
	}
	msgs := make([]proto.Message, n)
	for i, a := range body.GetMessages() {
		if msgs[i], err = r.Decode(a); err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
	}
	return &Decoded{
		Raw: raw, Hash: Hash(raw), Body: &body, Signer: signer, Fee: fee, Msgs: msgs,
		bodyRaw: t.GetBody(), signature: t.GetSignature(),
	}, nil
}

func signerKey(s *Signer) (keys.PublicKey, error) {
	var pk keys.PublicKey
	switch s.GetKeyType() {
	case KeyType_KEY_TYPE_SR25519:
		pk.Type = keys.Sr25519
	case KeyType_KEY_TYPE_ED25519:
		pk.Type = keys.Ed25519
	default:
		return pk, errcode.Wrapf(ErrUnknownKeyType, "%v: sign with an sr25519 or ed25519 key", s.GetKeyType())
	}
	if len(s.GetPublicKey()) != len(pk.Key) {
		return pk, errcode.Wrapf(ErrMalformed, "signer public key has %d bytes, want %d", len(s.GetPublicKey()), len(pk.Key))
	}
	copy(pk.Key[:], s.GetPublicKey())
	return pk, nil
}

// VerifySignature checks the signature over the body bytes with the signer's key; c (which may
// be nil) keeps decoded keys between calls.
func (d *Decoded) VerifySignature(c *keys.KeyCache) error {
	if err := d.Signer.VerifyCached(c, SignContext, d.bodyRaw, d.signature); err != nil {
		return errcode.Wrapf(ErrBadSignature, "%v", err)
	}
	return nil
}

// VerifySignatures checks the signatures of many transactions as one batch; errs[i] is what
// ds[i].VerifySignature would return.
func VerifySignatures(ds []*Decoded, c *keys.KeyCache) []error {
	b := keys.BatchVerifier{Cache: c}
	for _, d := range ds {
		b.Add(d.Signer, SignContext, d.bodyRaw, d.signature)
	}
	errs := b.Verify()
	for i, err := range errs {
		if err != nil {
			errs[i] = errcode.Wrapf(ErrBadSignature, "%v", err)
		}
	}
	return errs
}

// KeyTypeOf maps a key type to its protobuf enum.
func KeyTypeOf(t keys.Type) KeyType {
	switch t {
	case keys.Sr25519:
		return KeyType_KEY_TYPE_SR25519
	case keys.Ed25519:
		return KeyType_KEY_TYPE_ED25519
	}
	return KeyType_KEY_TYPE_UNSPECIFIED
}

// Unsigned is what a client fills in to build a transaction.
type Unsigned struct {
	ChainID string
	Nonce   uint64
	Fee     amount.Amount
	Msgs    []proto.Message
	Memo    string
}

// Build encodes and signs a transaction.
func Build(u Unsigned, key keys.PrivateKey) ([]byte, error) {
	anys := make([]*anypb.Any, len(u.Msgs))
	for i, m := range u.Msgs {
		a, err := module.Pack(m)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		anys[i] = a
	}
	pub := key.Public()
	body := &TxBody{
		ChainId:  u.ChainID,
		Signer:   &Signer{KeyType: KeyTypeOf(pub.Type), PublicKey: pub.Key[:]},
		Nonce:    u.Nonce,
		Fee:      u.Fee.String(),
		Messages: anys,
		Memo:     u.Memo,
	}
	bodyRaw, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(SignContext, bodyRaw)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(&Tx{Body: bodyRaw, Signature: sig})
}
