package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/contract/build"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
)

// interop is the state of TestInteroperability: a network, its workers, and clients.
type interop struct {
	t       *testing.T
	ctx     context.Context
	c       *client.Client
	v       *client.Verifier
	workers map[string]*worker
	keys    map[string]keys.PrivateKey
}

func (x *interop) key(name string) keys.PrivateKey {
	if k, ok := x.keys[name]; ok {
		return k
	}
	k := devKey(x.t, name)
	x.keys[name] = k
	return k
}

func (x *interop) addr(name string) string {
	id := x.key(name).Public().AccountID()
	return "0x" + hex.EncodeToString(id[:])
}

// exec runs a plain-JSON command, sealed to the contract's key, and waits for its outcome.
func (x *interop) exec(from string, contract [32]byte, input string) *client.Execution {
	x.t.Helper()
	n, _, err := x.c.Execute(x.ctx, x.key(from), contract[:], []byte(input), client.ExecuteOptions{GasLimit: 3_000_000_000})
	require.NoError(x.t, err, "%s %s", from, input)
	ex, err := x.c.WaitExecuted(x.ctx, contract[:], n)
	require.NoError(x.t, err)
	return ex
}

// query asks a worker of the contract's cluster, as caller.
func (x *interop) query(caller string, contract [32]byte, input string, out any) {
	x.t.Helper()
	b, _, err := client.NewQueryClient(x.v, client.AccountSigner(x.key(caller)), nil).Query(x.ctx, contract, []byte(input), client.QueryOptions{})
	require.NoError(x.t, err, "%s %s", caller, input)
	require.NoError(x.t, json.Unmarshal(b, out))
}

func (x *interop) balance(token [32]byte, who string) uint64 {
	var b struct {
		Balance uint64 `json:"balance"`
	}
	x.query(who, token, `{"balance":{}}`, &b)
	return b.Balance
}

// eventually polls a condition on query answers (asynchronous effects land blocks later).
func (x *interop) eventually(what string, cond func() bool) {
	x.t.Helper()
	poll(x.t, 3*time.Minute, what, cond)
}

func (x *interop) deploy(from string, wasm []byte, cluster uint64, salt, init string) [32]byte {
	x.t.Helper()
	hash, _, err := x.c.UploadCode(x.ctx, x.key(from), wasm, client.TxOptions{})
	require.NoError(x.t, err)
	ct, _, err := x.c.Instantiate(x.ctx, x.key(from), hash[:], registry.ClusterID(cluster), []byte(salt), []byte(init),
		client.InstantiateOptions{GasLimit: 3_000_000_000})
	require.NoError(x.t, err)
	return [32]byte(ct.GetId())
}

// digests waits until every member of a cluster executed all of its requests and they hold
// the same state.
func (x *interop) sameState(cluster uint64, members ...string) {
	x.t.Helper()
	x.eventually(fmt.Sprintf("cluster %d's members to agree", cluster), func() bool {
		var q contracts.RequestQueue
		if _, err := x.c.QueryProto(x.ctx, "/contracts/"+contracts.QueryQueue, registry.ClusterID(cluster), &q); err != nil || q.GetDone() != q.GetNext() {
			return false
		}
		var first []byte
		for _, m := range members {
			rt := apiconnect.NewRuntimeServiceClient(http.DefaultClient, "http://"+x.workers[m].addr)
			d, err := rt.ClusterDigest(x.ctx, connect.NewRequest(&api.ClusterDigestRequest{}))
			if err != nil || d.Msg.GetExecuted() != q.GetNext() {
				return false
			}
			if first == nil {
				first = d.Msg.GetDigest()
			} else if !bytes.Equal(first, d.Msg.GetDigest()) {
				return false
			}
		}
		return true
	})
}

// TestInteroperability runs contracts calling each other within a cluster and messaging across
// clusters on a network of separate processes: 4 validators, 2 gatekeepers, 2 clusters of 2
// workers, each worker with its relayer. A sealed-bid auction settles in a token of its cluster
// by synchronous calls; an order book in the other cluster trades two tokens by asynchronous
// messages. Meanwhile a validator, a worker, a relayer and a gatekeeper are killed (kill -9) and
// restarted. At the end every member of a cluster holds the same state, every request was
// reported, and the balances show every message delivered exactly once.
func TestInteroperability(t *testing.T) {
	start := time.Now()
	var wasm sync.Map
	var builds sync.WaitGroup
	for _, name := range []string{"token", "auction", "orderbook"} {
		builds.Add(1)
		go func() {
			defer builds.Done()
			out, err := build.BuildWith(context.Background(), "../../examples/contracts/"+name, build.Options{WasmOpt: "-"})
			if err != nil {
				t.Errorf("building %s: %v", name, err)
				return
			}
			wasm.Store(name, out.Wasm)
		}()
	}
	n := startNetwork(t, 4)
	rpc := n.nodes[0].rpc
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := client.New(ctx, rpc)
	require.NoError(t, err)
	x := &interop{t: t, ctx: ctx, c: c, workers: map[string]*worker{}, keys: map[string]keys.PrivateKey{}}
	cli := t.TempDir()
	run(t, "keys", "import", "alice", "//Alice", "--home", cli, "--keyring-backend", "test")
	gov := func(args ...string) {
		t.Helper()
		run(t, append(args, "--from", "alice", "--home", cli, "--keyring-backend", "test", "--node", rpc)...)
	}
	meas := strings.TrimSpace(runBin(t, pruntimeBin, "measure", "--sim-secret", filepath.Join(n.dir, node.SimSecretFile)))
	gov("runtime", "allow", "--measurement", meas)

	// Six workers, each relayed by an account of its own, funded by Alice, so that the dev
	// accounts that transact here never race a relayer for a nonce.
	names := []string{"g1", "g2", "a1", "a2", "b1", "b2"}
	fund, _ := amount.OnePHA.MulUint64(1000)
	for _, name := range names {
		relayer := devKey(t, "Relayer//"+name).Public().AccountID()
		res, err := c.Submit(ctx, x.key("Alice"), client.TxOptions{}, &accounts.MsgTransfer{To: relayer[:], Amount: fund.String()})
		require.NoError(t, err)
		require.NoError(t, res.Err)
	}
	ids := map[string]string{}
	for _, name := range names {
		x.workers[name] = n.startWorker(t, name, "Relayer//"+name, false, name[0] != 'g')
	}
	for _, name := range names {
		ids[name] = hex.EncodeToString(x.workers[name].waitRegistered())
	}
	gov("gatekeeper", "register", ids["g1"])
	gov("gatekeeper", "register", ids["g2"])
	gov("cluster", "create", ids["a1"], ids["a2"])
	gov("cluster", "create", ids["b1"], ids["b2"])
	for _, cl := range []uint64{1, 2} {
		poll(t, 3*time.Minute, fmt.Sprintf("cluster %d deployed", cl), func() bool {
			var cs registry.Cluster
			if _, err := c.QueryProto(ctx, "/registry/"+registry.QueryCluster, registry.ClusterID(cl), &cs); err != nil {
				return false
			}
			return len(cs.GetDeployed()) == 2
		})
	}
	t.Logf("%s after %s", time.Since(start).Round(time.Second), "clusters ready")
	x.v, err = c.NewVerifier(ctx, t.TempDir(), client.Trust{})
	require.NoError(t, err)
	defer x.v.Close()

	builds.Wait()
	code := func(name string) []byte { b, _ := wasm.Load(name); return b.([]byte) }
	// Cluster 1: two tokens and an auction paid in QUOTE. Cluster 2: an order book trading BASE
	// against QUOTE.
	base := x.deploy("Bob", code("token"), 1, "base", fmt.Sprintf(`{"name":"Base","symbol":"BASE","mint":[{"to":%q,"amount":1000}]}`, x.addr("Bob")))
	quote := x.deploy("Bob", code("token"), 1, "quote", fmt.Sprintf(`{"name":"Quote","symbol":"QUOTE","mint":[{"to":%q,"amount":10000},{"to":%q,"amount":10000}]}`,
		x.addr("Charlie"), x.addr("Dave")))
	book := x.deploy("Bob", code("orderbook"), 2, "book", fmt.Sprintf(`{"base":"0x%x","quote":"0x%x"}`, base[:], quote[:]))
	// The tokens and the book pay their messages' gas from their accounts: deposit into them.
	for _, ct := range [][32]byte{base, quote, book} {
		res, err := c.Submit(ctx, x.key("Alice"), client.TxOptions{}, &contracts.MsgDeposit{Contract: ct[:], Amount: fund.String(), GasLimit: 100_000_000})
		require.NoError(t, err)
		require.NoError(t, res.Err)
	}

	t.Logf("%s after %s", time.Since(start).Round(time.Second), "deployed")
	// Faults while the flows run: a validator goes down (3 of 4 keep consensus).
	n.nodes[3].kill()

	// Order book (cluster 2) funded across clusters: the tokens notify it by message.
	require.Equal(t, "ok", x.exec("Bob", base, fmt.Sprintf(`{"transfer_notify":{"to":"0x%x","amount":100}}`, book[:])).Outcome)
	require.Equal(t, "ok", x.exec("Charlie", quote, fmt.Sprintf(`{"transfer_notify":{"to":"0x%x","amount":1000}}`, book[:])).Outcome)
	type funds struct {
		Base  uint64 `json:"base"`
		Quote uint64 `json:"quote"`
	}
	x.eventually("the book to credit Bob and Charlie", func() bool {
		var b, ch funds
		x.query("Bob", book, `{"my_funds":{}}`, &b)
		x.query("Charlie", book, `{"my_funds":{}}`, &ch)
		return b.Base == 100 && ch.Quote == 1000
	})

	t.Logf("%s after %s", time.Since(start).Round(time.Second), "book funded")
	// A worker of cluster 1 dies (kill -9) while the trade settles; its peer carries on.
	x.workers["a2"].runtime.kill()
	require.Equal(t, "ok", x.exec("Bob", book, `{"order":{"side":"sell","price":3,"amount":50}}`).Outcome)
	require.Equal(t, "ok", x.exec("Charlie", book, `{"order":{"side":"buy","price":3,"amount":50}}`).Outcome)
	x.eventually("the trade to settle in cluster 1's tokens", func() bool {
		return x.balance(base, "Charlie") == 50 && x.balance(quote, "Bob") == 150
	})
	x.workers["a2"].startRuntime()

	t.Logf("%s after %s", time.Since(start).Round(time.Second), "trade settled")
	// A relayer of cluster 2 and a gatekeeper die and come back.
	x.workers["b1"].relayer.kill()
	x.workers["g2"].runtime.kill()

	// The auction (cluster 1) settles in QUOTE by synchronous calls: bids are escrowed at once.
	closeAt := height(rpc) + 120 // room for four commands before the close
	auction := x.deploy("Bob", code("auction"), 1, "auction", fmt.Sprintf(`{"item":"Painting","token":"0x%x","close_height":%d,"reserve_price":10}`, quote[:], closeAt))
	for _, bid := range []struct {
		who    string
		amount int
	}{{"Charlie", 40}, {"Dave", 60}} {
		require.Equal(t, "ok", x.exec(bid.who, quote, fmt.Sprintf(`{"approve":{"spender":"0x%x","amount":%d}}`, auction[:], bid.amount)).Outcome)
		require.Equal(t, "ok", x.exec(bid.who, auction, fmt.Sprintf(`{"bid":{"amount":%d}}`, bid.amount)).Outcome)
	}
	require.Equal(t, uint64(10000-1000-40), x.balance(quote, "Charlie"), "the bid left Charlie's balance at once")
	t.Logf("%s after %s", time.Since(start).Round(time.Second), "bids placed")
	x.workers["b1"].startRelayer()
	x.workers["g2"].startRuntime()
	n.start(3)
	waitHeight(t, n.nodes[0], closeAt)
	t.Logf("%s after %s", time.Since(start).Round(time.Second), "close height reached")
	require.Equal(t, "ok", x.exec("Dave", auction, `{"close":{}}`).Outcome)
	// Second price: Dave wins at 40; Bob gets 40, Dave keeps 10000-40, Charlie gets his bid back.
	require.Equal(t, uint64(150+40), x.balance(quote, "Bob"))
	require.Equal(t, uint64(10000-40), x.balance(quote, "Dave"))
	require.Equal(t, uint64(10000-1000), x.balance(quote, "Charlie"))

	// Withdrawals go back across clusters.
	require.Equal(t, "ok", x.exec("Bob", book, fmt.Sprintf(`{"withdraw":{"token":"0x%x","amount":50}}`, base[:])).Outcome)
	x.eventually("Bob's base withdrawal", func() bool { return x.balance(base, "Bob") == 1000-100+50 })

	t.Logf("%s after %s", time.Since(start).Round(time.Second), "withdrawn")
	// Every request was reported, every member of each cluster holds the same state, the
	// killed worker included; totals show each message delivered once.
	x.sameState(1, "a1", "a2")
	x.sameState(2, "b1", "b2")
	require.Equal(t, uint64(950), x.balance(base, "Bob"), "BASE: Bob's 1000 less the 50 he sold")
	require.Equal(t, uint64(50), x.balance(base, "Charlie"))
	var bf funds
	x.query("Bob", book, `{"my_funds":{}}`, &bf)
	require.Equal(t, uint64(0), bf.Base, "Bob's rest in the book was withdrawn")
}
