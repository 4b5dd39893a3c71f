package replica_test

import (
	"bytes"
	"testing"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/app"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/validators"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/pruntime/chaintest"
	"github.com/phala-go/phala/pruntime/replica"
)

func newChain(t *testing.T, vals int) *chaintest.Chain {
	g, err := node.DevGenesis("chaintest", time.Unix(0, 0))
	require.NoError(t, err)
	return chaintest.New(t, vals, g.State)
}

func newReplica(t *testing.T, c *chaintest.Chain) *replica.Replica {
	a, err := app.New(app.Config{DB: dbm.NewMemDB(), Store: store.TreeOptions{NoFastIndex: true}})
	require.NoError(t, err)
	g, err := replica.ParseGenesis(c.Genesis)
	require.NoError(t, err)
	r, err := replica.New(a, g)
	require.NoError(t, err)
	return r
}

func apply(r *replica.Replica, b *chaintest.Block) (int64, error) {
	e := b.Encode()
	return r.Apply(e.SignedHeader, e.ValidatorSet, e.Txs)
}

// transfers signs a dev transfer per call, with increasing nonces.
type transfers struct {
	t     *testing.T
	chain string
	key   keys.PrivateKey
	nonce uint64
}

func (tr *transfers) next(msgs ...proto.Message) []byte {
	if len(msgs) == 0 {
		bob, _ := keys.FromURI(keys.Sr25519, "//Bob")
		to := bob.Public().AccountID()
		msgs = []proto.Message{&accounts.MsgTransfer{To: to[:], Amount: "1000"}}
	}
	raw, err := tx.Build(tx.Unsigned{ChainID: tr.chain, Nonce: tr.nonce, Fee: amount.OnePHA, Msgs: msgs}, tr.key)
	require.NoError(tr.t, err)
	tr.nonce++
	return raw
}

func alice(t *testing.T, c *chaintest.Chain) *transfers {
	k, err := keys.FromURI(keys.Sr25519, "//Alice")
	require.NoError(t, err)
	return &transfers{t: t, chain: c.ChainID, key: k}
}

func TestReplicaFollowsAnHonestChain(t *testing.T) {
	c := newChain(t, 4)
	r := newReplica(t, c)
	txs := alice(t, c)
	var committed []int64
	for i := 0; i < 6; i++ {
		h, err := apply(r, c.Next(txs.next(), txs.next()))
		require.NoError(t, err)
		if h > 0 {
			committed = append(committed, h)
		}
	}
	require.Equal(t, []int64{1, 2, 3, 4, 5}, committed, "each block confirms the previous one")
	require.Equal(t, int64(5), r.Height())
	require.Equal(t, int64(7), r.NextHeight())
	// The replica's committed state is the chain's.
	mine, err := appState(r, 5)
	require.NoError(t, err)
	theirs, err := c.App.State(5)
	require.NoError(t, err)
	require.Equal(t, theirs.Hash(), mine)
}

func appState(r *replica.Replica, h int64) ([]byte, error) {
	return replica.StateHash(r, h)
}

// TestReplicaRefusals: every forged or inconsistent input is refused with the failed check
// named, and nothing advances.
func TestReplicaRefusals(t *testing.T) {
	tests := []struct {
		name  string
		block func(c *chaintest.Chain, txs *transfers) *chaintest.Block
		check string
	}{
		{"bad signature", func(c *chaintest.Chain, txs *transfers) *chaintest.Block {
			b := c.Next(txs.next())
			sig := bytes.Clone(b.Header.Commit.Signatures[0].Signature)
			sig[0] ^= 1
			b.Header.Commit.Signatures[0].Signature = sig
			return b
		}, "light client"},
		{"too little voting power", func(c *chaintest.Chain, txs *transfers) *chaintest.Block {
			return c.NextWith(nil, func(i int) bool { return i < 2 }, txs.next()) // 2 of 4: not more than 2/3
		}, "light client"},
		{"tampered transaction list", func(c *chaintest.Chain, txs *transfers) *chaintest.Block {
			b := c.Next(txs.next(), txs.next())
			b.Txs = b.Txs[:1]
			return b
		}, "transactions"},
		{"transaction replaced", func(c *chaintest.Chain, txs *transfers) *chaintest.Block {
			b := c.Next(txs.next())
			b.Txs = [][]byte{txs.next()}
			return b
		}, "transactions"},
		{"wrong app hash", func(c *chaintest.Chain, txs *transfers) *chaintest.Block {
			return c.NextWith(func(h *cmttypes.Header) { h.AppHash = bytes.Repeat([]byte{7}, 32) }, nil, txs.next())
		}, "app hash"},
		{"wrong results", func(c *chaintest.Chain, txs *transfers) *chaintest.Block {
			return c.NextWith(func(h *cmttypes.Header) { h.LastResultsHash = bytes.Repeat([]byte{7}, 32) }, nil, txs.next())
		}, "results"},
		{"validator set not the header's", func(c *chaintest.Chain, txs *transfers) *chaintest.Block {
			b := c.Next(txs.next())
			other, _ := cmttypes.RandValidatorSet(4, 10)
			b.Vals = other
			return b
		}, "validator set"},
		{"skipped height", func(c *chaintest.Chain, txs *transfers) *chaintest.Block {
			c.Next(txs.next())
			return c.Next(txs.next())
		}, "height"},
		{"another chain", func(c *chaintest.Chain, txs *transfers) *chaintest.Block {
			return c.NextWith(func(h *cmttypes.Header) { h.ChainID = "other" }, nil, txs.next())
		}, "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChain(t, 4)
			r := newReplica(t, c)
			txs := alice(t, c)
			for i := 0; i < 3; i++ {
				_, err := apply(r, c.Next(txs.next()))
				require.NoError(t, err)
			}
			height, next := r.Height(), r.NextHeight()
			_, err := apply(r, tt.block(c, txs))
			var verr *replica.Error
			require.ErrorAs(t, err, &verr)
			require.ErrorIs(t, err, replica.ErrVerification)
			require.Equal(t, tt.check, verr.Check, err.Error())
			require.Equal(t, height, r.Height(), "nothing advances")
			require.Equal(t, next, r.NextHeight())
		})
	}
}

// TestReplicaFollowsValidatorChanges: the council adds a validator and removes one; the replica
// verifies the headers signed by the new set.
func TestReplicaFollowsValidatorChanges(t *testing.T) {
	c := newChain(t, 4)
	r := newReplica(t, c)
	txs := alice(t, c)
	newVal := c.NewValidator()
	add, err := module.Pack(&validators.MsgSetValidatorPower{PubKey: newVal, Power: 50})
	require.NoError(t, err)
	blocks := []*chaintest.Block{
		c.Next(txs.next(&governance.MsgPropose{Messages: []*anypb.Any{add}})),
		c.Next(txs.next(&governance.MsgExecute{ProposalId: 1})),
	}
	for i := 0; i < 4; i++ {
		blocks = append(blocks, c.Next())
	}
	for _, b := range blocks {
		_, err := apply(r, b)
		require.NoError(t, err)
	}
	last := blocks[len(blocks)-1]
	require.Equal(t, 5, last.Vals.Size(), "the set grew")
	require.Equal(t, int64(50), last.Vals.Validators[0].VotingPower)
	// With the new validator holding more than a third, blocks it does not sign are refused.
	b := c.NextWith(nil, func(i int) bool { return i != 0 })
	_, err = apply(r, b)
	require.ErrorIs(t, err, replica.ErrVerification)
}

func TestReplicasAgree(t *testing.T) {
	c := newChain(t, 1)
	a, b := newReplica(t, c), newReplica(t, c)
	txs := alice(t, c)
	for i := 0; i < 5; i++ {
		blk := c.Next(txs.next())
		_, err := apply(a, blk)
		require.NoError(t, err)
		_, err = apply(b, blk)
		require.NoError(t, err)
	}
	ha, err := appState(a, a.Height())
	require.NoError(t, err)
	hb, err := appState(b, b.Height())
	require.NoError(t, err)
	require.Equal(t, ha, hb)
}

// FuzzApply: block bytes come from the untrusted host.
func FuzzApply(f *testing.F) {
	c := newChain(&testing.T{}, 1)
	b := c.Next().Encode()
	f.Add(b.SignedHeader, b.ValidatorSet, []byte("tx"))
	f.Fuzz(func(t *testing.T, sh, vals, tx []byte) {
		r := newReplica(t, c)
		_, err := r.Apply(sh, vals, [][]byte{tx})
		if err == nil && r.NextHeight() != 2 {
			t.Fatal("accepted a block but did not advance")
		}
	})
}
