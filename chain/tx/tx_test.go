package tx_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/crypto/keys"
)

func router() *module.Router {
	r := module.NewRouter()
	accounts.New().Register(r)
	return r
}

func aliceTx(t testing.TB) []byte {
	k, err := keys.FromURI(keys.Sr25519, "//Alice")
	require.NoError(t, err)
	bob, err := keys.FromURI(keys.Sr25519, "//Bob")
	require.NoError(t, err)
	to := bob.Public().AccountID()
	raw, err := tx.Build(tx.Unsigned{ChainID: "c", Nonce: 3, Fee: amount.FromUint64(9), Memo: "hi",
		Msgs: []proto.Message{&accounts.MsgTransfer{To: to[:], Amount: "5"}}}, k)
	require.NoError(t, err)
	return raw
}

func TestBuildDecodeVerify(t *testing.T) {
	raw := aliceTx(t)
	d, err := tx.Decode(raw, router())
	require.NoError(t, err)
	require.NoError(t, d.VerifySignature(nil))
	require.Equal(t, tx.Hash(raw), d.Hash)
	require.Equal(t, "c", d.Body.GetChainId())
	require.Equal(t, uint64(3), d.Body.GetNonce())
	require.Equal(t, "9", d.Fee.String())
	require.Equal(t, keys.Sr25519, d.Signer.Type)
	require.Len(t, d.Msgs, 1)
	require.Equal(t, "5", d.Msgs[0].(*accounts.MsgTransfer).GetAmount())
}

// Unknown fields would give one transaction several encodings (and hashes); they are refused
// in the envelope, the body and the messages alike.
func TestUnknownFieldsRefused(t *testing.T) {
	raw := aliceTx(t)
	extra := protowire.AppendTag(nil, 99, protowire.VarintType)
	extra = protowire.AppendVarint(extra, 1)

	_, err := tx.Decode(append(append([]byte{}, raw...), extra...), router())
	require.ErrorIs(t, err, tx.ErrMalformed)

	var envelope tx.Tx
	require.NoError(t, proto.Unmarshal(raw, &envelope))
	envelope.Body = append(envelope.Body, extra...)
	b, err := proto.Marshal(&envelope)
	require.NoError(t, err)
	_, err = tx.Decode(b, router())
	require.ErrorIs(t, err, tx.ErrMalformed)
}

func TestSignatureDomain(t *testing.T) {
	// A signature made for another domain over the same body bytes is refused.
	k, err := keys.FromURI(keys.Ed25519, "//Alice")
	require.NoError(t, err)
	raw := aliceTx(t)
	var envelope tx.Tx
	require.NoError(t, proto.Unmarshal(raw, &envelope))
	var body tx.TxBody
	require.NoError(t, proto.Unmarshal(envelope.Body, &body))
	pub := k.Public()
	body.Signer = &tx.Signer{KeyType: tx.KeyType_KEY_TYPE_ED25519, PublicKey: pub.Key[:]}
	envelope.Body, err = proto.Marshal(&body)
	require.NoError(t, err)
	envelope.Signature, err = k.Sign("phala/other/v1", envelope.Body)
	require.NoError(t, err)
	b, err := proto.Marshal(&envelope)
	require.NoError(t, err)
	d, err := tx.Decode(b, router())
	require.NoError(t, err)
	require.ErrorIs(t, d.VerifySignature(nil), tx.ErrBadSignature)

	envelope.Signature, err = k.Sign(tx.SignContext, envelope.Body)
	require.NoError(t, err)
	b, err = proto.Marshal(&envelope)
	require.NoError(t, err)
	d, err = tx.Decode(b, router())
	require.NoError(t, err)
	require.NoError(t, d.VerifySignature(nil))
}

// FuzzDecode: arbitrary bytes never panic the decoder, and whatever decodes re-verifies
// deterministically (the same answer twice).
func FuzzDecode(f *testing.F) {
	f.Add(aliceTx(f))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00, 0x12, 0x40})
	r := router()
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := tx.Decode(raw, r)
		if err != nil {
			return
		}
		if d.Hash != tx.Hash(raw) {
			t.Fatal("hash mismatch")
		}
		if (d.VerifySignature(nil) == nil) != (d.VerifySignature(nil) == nil) {
			t.Fatal("signature check is not deterministic")
		}
	})
}
