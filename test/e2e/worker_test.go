package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/modules/validators"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/api/apiconnect"
)

// worker is a pruntime process and its pherry process.
type worker struct {
	t        *testing.T
	name     string
	dir      string
	net      *network
	client   string // the relayer's client home (keyring)
	addr     string
	runtime  *proc
	relayer  *proc
	fastSync bool
	// queryAddr, when set, is where the runtime serves queries (published on chain).
	queryAddr string
}

func (n *network) newWorker(t *testing.T, name string, fastSync bool) *worker {
	return n.newWorkerRelayedBy(t, name, "Eve", fastSync)
}

// newWorkerRelayedBy starts a worker whose relayer signs as the dev account relayer.
func (n *network) newWorkerRelayedBy(t *testing.T, name, relayer string, fastSync bool) *worker {
	return n.startWorker(t, name, relayer, fastSync, false)
}

// startWorker starts a worker relayed by the account at URI "//"+relayer, serving queries if
// queries is set.
func (n *network) startWorker(t *testing.T, name, relayer string, fastSync, queries bool) *worker {
	ports := freeBase(t, 1)
	w := &worker{t: t, name: name, dir: t.TempDir(), net: n, client: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", ports), fastSync: fastSync}
	if queries {
		w.queryAddr = fmt.Sprintf("127.0.0.1:%d", ports+1)
	}
	run(t, "keys", "import", "relayer", "//"+relayer, "--home", w.client, "--keyring-backend", "test")
	w.startRuntime()
	w.startRelayer()
	return w
}

func (w *worker) startRuntime() {
	args := []string{"run", "--data-dir", filepath.Join(w.dir, "data"), "--listen", w.addr,
		"--sim-secret", filepath.Join(w.net.dir, node.SimSecretFile), "--checkpoint-interval", "10", "--log-format", "json"}
	if w.queryAddr != "" {
		args = append(args, "--query-listen", w.queryAddr)
	}
	w.runtime = startProc(w.t, w.name+"-pruntime", w.dir, "", pruntimeBin, args...)
}

func (w *worker) startRelayer() {
	args := []string{"pherry", "--node", w.net.nodes[0].rpc, "--pruntime", "http://" + w.addr, "--from", "relayer",
		"--home", w.client, "--keyring-backend", "test", "--batch", "7", "--log-format", "json"}
	if w.fastSync {
		args = append(args, "--fast-sync")
	}
	if w.queryAddr != "" {
		args = append(args, "--endpoint", "http://"+w.queryAddr)
	}
	w.relayer = startProc(w.t, w.name+"-pherry", w.dir, "", phalaBin, args...)
}

func (w *worker) info(ctx context.Context) (*api.InfoResponse, error) {
	c := apiconnect.NewRuntimeServiceClient(http.DefaultClient, "http://"+w.addr)
	resp, err := c.Info(ctx, connect.NewRequest(&api.InfoRequest{}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func (w *worker) verifiedHeight() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := w.info(ctx)
	if err != nil {
		return -1
	}
	return info.GetVerifiedHeight()
}

func (w *worker) waitVerified(h int64) {
	w.t.Helper()
	poll(w.t, 2*time.Minute, fmt.Sprintf("%s to verify height %d", w.name, h), func() bool { return w.verifiedHeight() >= h })
}

func (w *worker) waitRegistered() []byte {
	w.t.Helper()
	var id []byte
	poll(w.t, 2*time.Minute, w.name+" to register", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		info, err := w.info(ctx)
		if err == nil && info.GetRegistered() {
			id = info.GetIdentityKey()
			return true
		}
		return false
	})
	return id
}

// TestWorkersOnANetwork: workers follow a 4-validator chain as verifying replicas through
// kill -9 of their runtime and relayer and a validator-set change; every ping gets exactly one
// answer on chain; a new worker fast-syncs from a snapshot.
func TestWorkersOnANetwork(t *testing.T) {
	dir := t.TempDir()
	base := freeBase(t, 4)
	run(t, "testnet", "--validators", "4", "--output", dir, "--starting-port", strconv.Itoa(base),
		"--timeout-commit", "200ms", "--chain-id", "e2e-workers", "--snapshot-interval", "20")
	n := &network{t: t, dir: dir, base: base}
	for i := range 4 {
		n.nodes = append(n.nodes, nil)
		n.start(i)
	}
	waitHeight(t, n.nodes[0], 3)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c, err := client.New(ctx, n.nodes[0].rpc)
	require.NoError(t, err)
	alice := devKey(t, "Alice")

	// Allow the pruntime build, as an operator would.
	meas := strings.TrimSpace(runBin(t, pruntimeBin, "measure", "--sim-secret", filepath.Join(dir, node.SimSecretFile)))
	clientHome := t.TempDir()
	run(t, "keys", "import", "alice", "//Alice", "--home", clientHome, "--keyring-backend", "test")
	run(t, "runtime", "allow", "--measurement", meas, "--from", "alice", "--home", clientHome, "--keyring-backend", "test", "--node", n.nodes[0].rpc)

	a := n.newWorker(t, "a", false)
	idA := a.waitRegistered()

	pings := 0
	ping := func() {
		t.Helper()
		res, err := c.Submit(ctx, alice, client.TxOptions{}, &mq.MsgPush{Topic: mq.TopicPing, Payload: module.Marshal(&mq.Ping{Nonce: []byte{byte(pings)}})})
		require.NoError(t, err)
		require.NoError(t, res.Err)
		pings++
	}
	for range 3 {
		ping()
	}

	// kill -9 the runtime during sync, then the relayer; both come back and carry on.
	a.runtime.kill()
	for range 3 {
		ping()
	}
	a.startRuntime()
	a.relayer.kill()
	ping()
	a.startRelayer()
	for range 3 {
		ping()
	}

	// The council changes the validator set: node3's power goes from 10 to 25.
	doc, err := node.ReadGenesis(filepath.Join(dir, "node3"))
	require.NoError(t, err)
	pk := doc.Validators[3].PubKey.Bytes()
	set, err := module.Pack(&validators.MsgSetValidatorPower{PubKey: pk, Power: 25})
	require.NoError(t, err)
	res, err := c.Submit(ctx, alice, client.TxOptions{}, &governance.MsgPropose{Messages: []*anypb.Any{set}})
	require.NoError(t, err)
	require.NoError(t, res.Err)
	id, _ := res.Attr("proposal_submitted", "proposal_id")
	pid, _ := strconv.ParseUint(id, 10, 64)
	res, err = c.Submit(ctx, alice, client.TxOptions{}, &governance.MsgExecute{ProposalId: pid})
	require.NoError(t, err)
	require.NoError(t, res.Err)
	changed := res.Height
	ping()

	// The worker follows past the change and has answered every ping exactly once.
	tip := height(n.nodes[0].rpc)
	a.waitVerified(max(tip, changed+5))
	var vs validators.Validators
	_, err = c.QueryProto(ctx, "/validators/set", nil, &vs)
	require.NoError(t, err)
	require.Len(t, vs.Validators, 4)
	origin := module.Marshal(mq.WorkerOrigin(idA))
	poll(t, 2*time.Minute, "every pong delivered", func() bool {
		b, _, err := c.Query(ctx, "/mq/"+mq.QueryNextSequence, origin, 0)
		return err == nil && binary.BigEndian.Uint64(b) == uint64(pings)
	})
	// Nothing more arrives: the chain's counter equals the number of pings, and the outbox is empty.
	a.waitVerified(height(n.nodes[0].rpc))
	infoA, err := a.info(ctx)
	require.NoError(t, err)
	require.Zero(t, infoA.GetOutbox())
	b, _, err := c.Query(ctx, "/mq/"+mq.QueryNextSequence, origin, 0)
	require.NoError(t, err)
	require.Equal(t, uint64(pings), binary.BigEndian.Uint64(b), "one answer per ping: nothing lost, nothing duplicated")

	// A new worker fast-syncs from the nodes' state snapshot and joins.
	poll(t, 2*time.Minute, "a state snapshot", func() bool {
		v, _, err := c.Query(ctx, "/snapshot/list", nil, 0)
		return err == nil && len(v) > 2
	})
	fresh := n.newWorker(t, "b", true)
	idB := fresh.waitRegistered()
	ping()
	var wk registry.Worker
	poll(t, 2*time.Minute, "the fast-synced worker to answer", func() bool {
		_, err := c.QueryProto(ctx, "/registry/"+registry.QueryWorker, idB, &wk)
		return err == nil && wk.GetLastPongHeight() > 0
	})
	logs := fresh.relayer.logTail()
	require.Contains(t, logs, "fast sync", "the second worker started from a snapshot")
}
