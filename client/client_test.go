package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/node/nodetest"
)

func dev(t *testing.T, name string) keys.PrivateKey {
	k, err := keys.FromURI(keys.Sr25519, "//"+name)
	require.NoError(t, err)
	return k
}

// TestClientAgainstNode submits transactions to a real in-process node, checks that refusals
// keep their identity over RPC, and verifies proven reads, also after a restart.
func TestClientAgainstNode(t *testing.T) {
	n := nodetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(ctx, n.RPC)
	require.NoError(t, err)
	require.Equal(t, "phala-test", c.ChainID())

	alice, carol := dev(t, "Alice"), keys.AccountID{0xca}
	res, err := c.Submit(ctx, alice, client.TxOptions{Memo: "hello"}, &accounts.MsgTransfer{To: carol[:], Amount: "1500000000000"})
	require.NoError(t, err)
	require.NoError(t, res.Err)
	amt, ok := res.Attr("transfer", "amount")
	require.True(t, ok)
	require.Equal(t, "1500000000000", amt)

	st, _, err := c.Account(ctx, carol)
	require.NoError(t, err)
	require.Equal(t, "1.5 PHA", amount.FormatPHA(st.Balance))

	// WaitHeight returns once the block is there, and gives up with its context.
	require.NoError(t, c.WaitHeight(ctx, res.Height+2))
	status, err := c.Status(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, status.SyncInfo.LatestBlockHeight, res.Height+2)
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	require.ErrorIs(t, c.WaitHeight(short, 1<<40), context.DeadlineExceeded)

	// A refusal in the mempool comes back as the chain's sentinel.
	_, err = c.Submit(ctx, dev(t, "Ferdie"), client.TxOptions{}, &accounts.MsgTransfer{To: carol[:], Amount: node.DevBalance.String()})
	require.ErrorIs(t, err, accounts.ErrInsufficientBalance)
	zero := uint64(0)
	_, err = c.Submit(ctx, alice, client.TxOptions{Nonce: &zero}, &accounts.MsgTransfer{To: carol[:], Amount: "1"})
	require.ErrorIs(t, err, tx.ErrNonceReplayed)

	// A proven read, verified against a light-client-verified header.
	v, err := c.NewVerifier(ctx, t.TempDir(), client.Trust{})
	require.NoError(t, err)
	p, err := v.Get(ctx, accounts.AccountKey(carol))
	require.NoError(t, err)
	require.NotNil(t, p.Value)
	hdr, err := v.Header(ctx, p.Height+1)
	require.NoError(t, err)
	require.Equal(t, []byte(hdr.AppHash), p.AppHash)
	absent, err := v.Get(ctx, accounts.AccountKey(keys.AccountID{0xee}))
	require.NoError(t, err)
	require.Nil(t, absent.Value)
	require.NoError(t, v.Close())

	// After a clean restart the committed state is all there and the chain goes on.
	n.Restart(t)
	c, err = client.New(ctx, n.RPC)
	require.NoError(t, err)
	st, _, err = c.Account(ctx, carol)
	require.NoError(t, err)
	require.Equal(t, "1.5 PHA", amount.FormatPHA(st.Balance))
	res, err = c.Submit(ctx, alice, client.TxOptions{}, &accounts.MsgTransfer{To: carol[:], Amount: "1"})
	require.NoError(t, err)
	require.NoError(t, res.Err)
}
