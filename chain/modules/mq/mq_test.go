package mq

import (
	"crypto/ed25519"
	"errors"
	"testing"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
)

type fixture struct {
	q      *Module
	kv     *store.Cache
	worker keys.PrivateKey
	height int64
}

func newFixture(t *testing.T) *fixture {
	tr, err := store.OpenTree(dbm.NewMemDB(), nil)
	require.NoError(t, err)
	w, err := keys.FromURI(keys.Ed25519, "0x0100000000000000000000000000000000000000000000000000000000000000")
	require.NoError(t, err)
	f := &fixture{q: New(), kv: store.NewCache(tr.Working()), worker: w, height: 10}
	registered := w.Public().Key
	f.q.SetKeyResolver(KindWorker, func(_ store.Reader, m *Message) (keys.PublicKey, error) {
		o := m.GetOrigin()
		if [32]byte(o.ID()) != registered {
			return keys.PublicKey{}, errors.New("not registered")
		}
		return keys.PublicKey{Type: keys.Ed25519, Key: registered}, nil
	})
	return f
}

func (f *fixture) ctx() *module.Context {
	return module.NewContext(f.kv, module.Block{ChainID: "c", Height: f.height})
}

func (f *fixture) egress(t *testing.T, topic string, seq uint64) *MsgSyncOffchain {
	pub := f.worker.Public().Key
	sm, err := Sign(&Message{Origin: WorkerOrigin(pub[:]), Topic: topic, Payload: []byte("p")}, seq, f.worker)
	require.NoError(t, err)
	return &MsgSyncOffchain{Message: sm}
}

// deliver runs a MsgSyncOffchain as the router would, atomically.
func (f *fixture) deliver(msg *MsgSyncOffchain) error {
	if err := msg.ValidateBasic(); err != nil {
		return err
	}
	ctx, commit := f.ctx().Branch()
	if err := f.q.syncOffchain(ctx, module.Caller{}, msg); err != nil {
		return err
	}
	commit()
	return nil
}

func TestEgressSequencing(t *testing.T) {
	f := newFixture(t)
	pub := f.worker.Public().Key
	origin := WorkerOrigin(pub[:])

	require.NoError(t, f.deliver(f.egress(t, "a/b", 0)))
	require.Equal(t, uint64(1), NextSequence(f.kv, origin))

	tests := []struct {
		name string
		msg  func() *MsgSyncOffchain
		want error
	}{
		{"replayed (old sequence)", func() *MsgSyncOffchain { return f.egress(t, "a/b", 0) }, ErrStale},
		{"gapped (future sequence)", func() *MsgSyncOffchain { return f.egress(t, "a/b", 5) }, ErrSequenceGap},
		{"forged (another key)", func() *MsgSyncOffchain {
			m := f.egress(t, "a/b", 1)
			other, _ := keys.FromURI(keys.Ed25519, "0x0200000000000000000000000000000000000000000000000000000000000000")
			m.Message.Signature, _ = other.Sign(SignContext, SignBytes(m.Message.Message, 1))
			return m
		}, ErrBadSignature},
		{"signature for another sequence", func() *MsgSyncOffchain {
			m := f.egress(t, "a/b", 2)
			m.Message.Sequence = 1
			return m
		}, ErrBadSignature},
		{"unregistered worker", func() *MsgSyncOffchain {
			k, _ := keys.FromURI(keys.Ed25519, "0x0300000000000000000000000000000000000000000000000000000000000000")
			pk := k.Public().Key
			sm, _ := Sign(&Message{Origin: WorkerOrigin(pk[:]), Topic: "a/b"}, 0, k)
			return &MsgSyncOffchain{Message: sm}
		}, ErrUnknownSigner},
		{"origin kind without a resolver", func() *MsgSyncOffchain {
			sm, _ := Sign(&Message{Origin: ClusterOrigin(make([]byte, 32)), Topic: "a/b"}, 0, f.worker)
			return &MsgSyncOffchain{Message: sm}
		}, ErrUnknownSigner},
		{"on-chain origin as egress", func() *MsgSyncOffchain {
			sm, _ := Sign(&Message{Origin: ModuleOrigin("accounts"), Topic: "a/b"}, 0, f.worker)
			return &MsgSyncOffchain{Message: sm}
		}, ErrNotOffchain},
		{"bad topic", func() *MsgSyncOffchain { return f.egress(t, "a b", 1) }, ErrInvalidTopic},
		{"non-canonical message bytes", func() *MsgSyncOffchain {
			m := f.egress(t, "a/b", 1)
			m.Message.Message = append(m.Message.Message, 0x1a, 0x00) // payload repeated empty
			return m
		}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.kv.Len()
			require.ErrorIs(t, f.deliver(tt.msg()), tt.want)
			require.Equal(t, before, f.kv.Len(), "a refused message changes nothing")
			require.Equal(t, uint64(1), NextSequence(f.kv, origin))
		})
	}
	require.NoError(t, f.deliver(f.egress(t, "a/b", 1)))
	require.Equal(t, uint64(2), NextSequence(f.kv, origin))
}

func TestTopicsAndOutbound(t *testing.T) {
	f := newFixture(t)
	var seen []string
	f.q.Subscribe("^chain/only", func(_ *module.Context, m *Message) error { seen = append(seen, m.GetTopic()); return nil })
	f.q.Subscribe("refuse", func(*module.Context, *Message) error { return errors.New("no") })

	ctx := f.ctx()
	alice := keys.AccountID{0xa1}
	require.NoError(t, f.q.push(ctx, module.AccountCaller(alice), &MsgPush{Topic: "to/workers", Payload: []byte("1")}))
	require.NoError(t, f.q.push(ctx, module.AccountCaller(alice), &MsgPush{Topic: "^chain/only"}))
	require.ErrorIs(t, f.q.push(ctx, module.AccountCaller(alice), &MsgPush{Topic: "refuse"}), ErrHandler)
	require.Equal(t, []string{"^chain/only"}, seen)

	out, err := Outbound(f.kv, f.height)
	require.NoError(t, err)
	require.Len(t, out, 1, "on-chain-only topics never reach workers")
	require.Equal(t, "to/workers", out[0].GetTopic())
	require.Equal(t, alice[:], out[0].GetOrigin().ID())

	// The next block forgets this block's outbound messages.
	f.height++
	require.NoError(t, f.q.EndBlock(f.ctx()))
	out, err = Outbound(f.kv, f.height-1)
	require.NoError(t, err)
	require.Empty(t, out)
}

func TestTopicValidation(t *testing.T) {
	for _, ok := range []string{"a", "phala/system/ping", "^x", "A-b_c.d/e"} {
		require.NoError(t, ValidTopic(ok), ok)
	}
	for _, bad := range []string{"", "^", "a b", "é", string(make([]byte, MaxTopic+1)), "a^b"} {
		require.ErrorIs(t, ValidTopic(bad), ErrInvalidTopic, bad)
	}
}

func TestOriginValidation(t *testing.T) {
	require.NoError(t, WorkerOrigin(make([]byte, ed25519.PublicKeySize)).Validate())
	require.NoError(t, GatekeeperOrigin().Validate())
	require.ErrorIs(t, WorkerOrigin(make([]byte, 31)).Validate(), ErrInvalidOrigin)
	require.ErrorIs(t, ModuleOrigin("").Validate(), ErrInvalidOrigin)
	require.ErrorIs(t, (&Origin{}).Validate(), ErrInvalidOrigin)
	require.ErrorIs(t, (&Origin{Kind: &Origin_Gatekeeper{}}).Validate(), ErrInvalidOrigin)
}

// FuzzDecodeMessage: egress message bytes come from relayers.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(module.Marshal(&Message{Origin: WorkerOrigin(make([]byte, 32)), Topic: "a", Payload: []byte{1}}))
	f.Add([]byte{0x0a, 0x02, 0x1a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err == nil && string(module.Marshal(m)) != string(b) {
			t.Fatal("accepted non-canonical bytes")
		}
	})
}
