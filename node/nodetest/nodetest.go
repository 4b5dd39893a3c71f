// Package nodetest starts an in-process development validator for tests: a fresh home in the
// test's temporary directory, free loopback ports, fast blocks, stopped at cleanup.
package nodetest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/phala-go/phala/node"
)

// Running is a started test node.
type Running struct {
	Home string
	// RPC is the node's HTTP RPC address.
	RPC    string
	Node   *node.Node
	Config node.Config
}

// Start runs a dev-genesis validator until the test ends and waits for its second block.
func Start(t testing.TB) *Running {
	t.Helper()
	home := t.TempDir()
	g, err := node.DevGenesisFor("phala-test", time.Now(), home)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := node.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[0])
	cfg.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])
	cfg.Consensus.TimeoutCommit = 100 * time.Millisecond
	cfg.Consensus.TimeoutPropose = time.Second
	cfg.Log.ConsensusLevel = "error"
	cfg.P2P.Local = true // one node: no peer exchange, no address book
	if _, err := node.Init(home, cfg, g); err != nil {
		t.Fatal(err)
	}
	r := &Running{Home: home, Config: cfg, RPC: node.RPCURL(cfg.RPC.ListenAddress)}
	r.start(t)
	return r
}

func (r *Running) start(t testing.TB) {
	t.Helper()
	n, err := node.New(r.Home, r.Config, slog.New(slog.DiscardHandler), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	r.Node = n
	t.Cleanup(func() {
		if r.Node == n {
			_ = n.Stop()
		}
	})
	WaitHeight(t, r.RPC, 2)
}

// Restart stops the node cleanly and starts it again from its home.
func (r *Running) Restart(t testing.TB) {
	t.Helper()
	if err := r.Node.Stop(); err != nil {
		t.Fatal(err)
	}
	r.start(t)
}

// WaitHeight polls the RPC at rpc until the chain reaches height h, failing after a minute.
func WaitHeight(t testing.TB, rpc string, h int64) int64 {
	t.Helper()
	c, err := rpchttp.New(rpc, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.Status(ctx)
		if err == nil && st.SyncInfo.LatestBlockHeight >= h {
			return st.SyncInfo.LatestBlockHeight
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node at %s did not reach height %d in a minute (last error: %v)", rpc, h, err)
		case <-tick.C:
		}
	}
}
