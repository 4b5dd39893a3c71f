package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
)

func devKey(t *testing.T, name string) keys.PrivateKey {
	k, err := keys.FromURI(keys.Sr25519, "//"+name)
	require.NoError(t, err)
	return k
}

// network is a local testnet of validator processes.
type network struct {
	t     *testing.T
	dir   string
	base  int
	nodes []*proc
}

func startNetwork(t *testing.T, n int) *network {
	dir := t.TempDir()
	base := freeBase(t, n)
	run(t, "testnet", "--validators", strconv.Itoa(n), "--output", dir, "--starting-port", strconv.Itoa(base),
		"--timeout-commit", "200ms", "--chain-id", "e2e")
	net := &network{t: t, dir: dir, base: base}
	for i := range n {
		net.nodes = append(net.nodes, nil)
		net.start(i)
	}
	for _, p := range net.nodes {
		waitHeight(t, p, 3)
	}
	return net
}

func (n *network) start(i int) *proc {
	p := startNode(n.t, fmt.Sprintf("node%d", i), filepath.Join(n.dir, fmt.Sprintf("node%d", i)),
		fmt.Sprintf("http://127.0.0.1:%d", n.base+10*i+1))
	n.nodes[i] = p
	return p
}

// appHash is the AppHash in the header at height h as node p reports it.
func appHash(t *testing.T, p *proc, h int64) []byte {
	t.Helper()
	c, err := rpchttp.New(p.rpc, "/websocket")
	require.NoError(t, err)
	b, err := c.Block(context.Background(), &h)
	require.NoError(t, err, "%s block %d", p.name, h)
	return b.Block.AppHash
}

// sameState requires every running node to report the same app hash at a height they all have.
func (n *network) sameState() int64 {
	t := n.t
	t.Helper()
	var live []*proc
	for _, p := range n.nodes {
		if p.running() {
			live = append(live, p)
		}
	}
	target := height(live[0].rpc)
	for _, p := range live {
		waitHeight(t, p, target)
	}
	want := appHash(t, live[0], target)
	for _, p := range live[1:] {
		require.True(t, bytes.Equal(want, appHash(t, p, target)), "%s and %s disagree at height %d", live[0].name, p.name, target)
	}
	return target
}

func TestNetwork(t *testing.T) {
	n := startNetwork(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alice := devKey(t, "Alice")
	dave := devKey(t, "Dave").Public().AccountID()

	transfer := func(via *proc, from keys.PrivateKey, to keys.AccountID, amt string) *client.TxResult {
		t.Helper()
		c, err := client.New(ctx, via.rpc)
		require.NoError(t, err)
		res, err := c.Submit(ctx, from, client.TxOptions{}, &accounts.MsgTransfer{To: to[:], Amount: amt})
		require.NoError(t, err)
		require.NoError(t, res.Err)
		return res
	}

	t.Run("transfers commit on every validator", func(t *testing.T) {
		res := transfer(n.nodes[0], alice, dave, "1000000000000")
		for _, p := range n.nodes {
			waitHeight(t, p, res.Height)
			c, err := client.New(ctx, p.rpc)
			require.NoError(t, err)
			// The transaction index is written just after the block, so wait for it.
			got, err := c.WaitTx(ctx, res.Hash)
			require.NoError(t, err, p.name)
			require.Equal(t, res.Height, got.Height)
		}
		n.sameState()
	})

	t.Run("three of four validators keep committing", func(t *testing.T) {
		n.nodes[3].stop()
		h := height(n.nodes[0].rpc)
		waitHeight(t, n.nodes[0], h+3)
		transfer(n.nodes[1], alice, dave, "1")
	})

	t.Run("a restarted validator catches up to the same state", func(t *testing.T) {
		n.start(3)
		waitHeight(t, n.nodes[3], height(n.nodes[0].rpc))
		n.sameState()
	})

	t.Run("kill -9 under load loses no committed transaction", func(t *testing.T) {
		load := startLoad(t, ctx, []*proc{n.nodes[0], n.nodes[1], n.nodes[2]},
			[]keys.PrivateKey{devKey(t, "Bob"), devKey(t, "Charlie"), devKey(t, "Eve")}, devKey(t, "Ferdie").Public().AccountID())
		load.waitCommitted(10)
		victim := n.nodes[1]
		victim.kill()
		load.waitCommitted(load.count() + 10)
		n.start(1)
		load.waitCommitted(load.count() + 10)
		committed := load.stop()

		waitHeight(t, n.nodes[1], height(n.nodes[0].rpc))
		c, err := client.New(ctx, n.nodes[1].rpc)
		require.NoError(t, err)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for _, r := range committed {
			got, err := c.WaitTx(wctx, r.Hash)
			require.NoError(t, err, "committed transaction %s missing on the restarted node", r.Hash)
			require.Equal(t, r.Height, got.Height)
			require.NoError(t, got.Err)
		}
		n.sameState()
		t.Logf("%d transactions committed under load, all present after kill -9 and restart", len(committed))
	})
}

// load sends transfers from several accounts through several nodes, one transaction per
// account at a time, and records those that committed.
type load struct {
	t         *testing.T
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	mu        sync.Mutex
	committed []*client.TxResult
}

func startLoad(t *testing.T, ctx context.Context, via []*proc, senders []keys.PrivateKey, to keys.AccountID) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{t: t, cancel: cancel}
	for i, key := range senders {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for attempt := i; ctx.Err() == nil; attempt++ {
				p := via[attempt%len(via)]
				c, err := client.New(ctx, p.rpc)
				if err != nil {
					continue // that node is down: try the next
				}
				sub, cancelSub := context.WithTimeout(ctx, 15*time.Second)
				res, err := c.Submit(sub, key, client.TxOptions{}, &accounts.MsgTransfer{To: to[:], Amount: "1"})
				cancelSub()
				if err == nil && res.Err == nil {
					l.mu.Lock()
					l.committed = append(l.committed, res)
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.committed)
}

func (l *load) waitCommitted(n int) {
	l.t.Helper()
	poll(l.t, 2*time.Minute, fmt.Sprintf("%d committed transactions under load", n), func() bool { return l.count() >= n })
}

func (l *load) stop() []*client.TxResult {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.committed
}
