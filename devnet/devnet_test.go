package devnet

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
)

// pruntimeBin is the runtime binary the networks run, built by TestMain.
var pruntimeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "devnet-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pruntimeBin = filepath.Join(dir, "pruntime")
	build := exec.Command("go", "build", "-o", pruntimeBin, "github.com/phala-go/phala/cmd/pruntime")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building pruntime:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testOptions are a network on free loopback ports with fast blocks, logging to the file
// returned, which is shown when the test fails.
func testOptions(t *testing.T, home string, gatekeepers, workers int) (Options, string) {
	t.Helper()
	ports, err := node.FreePorts(2)
	require.NoError(t, err)
	cfg := node.DefaultConfig()
	cfg.Moniker = "devnet-test"
	cfg.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[0])
	cfg.P2P.Local = true
	cfg.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])
	cfg.Consensus.TimeoutCommit = 250 * time.Millisecond
	cfg.Consensus.TimeoutPropose = 250 * time.Millisecond
	cfg.Snapshots.Interval = 20 // runtimes added to a resumed home fast-sync
	logPath := filepath.Join(t.TempDir(), "devnet.log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			for _, p := range append([]string{logPath}, globLogs(home)...) {
				t.Logf("--- end of %s ---\n%s", p, tail(p))
			}
		}
	})
	return Options{
		Home: home, ChainID: "devnet-test", Config: cfg, PRuntime: pruntimeBin, RuntimeAddr: "127.0.0.1:0",
		Gatekeepers: gatekeepers, Workers: workers, Examples: true,
		Logger: slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}, logPath
}

func globLogs(home string) []string {
	logs, _ := filepath.Glob(filepath.Join(home, "pruntime-*.log"))
	return logs
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// chainView is what the chain says about key management.
type chainView struct {
	gatekeepers [][]byte
	master      []uint32
	senders     [][]byte // of each master key generation
	tasks       *registry.GatekeeperTasks
	clusters    []*registry.Cluster
}

func viewChain(t *testing.T, ctx context.Context, rpc string) chainView {
	t.Helper()
	c, err := client.New(ctx, rpc)
	require.NoError(t, err)
	var gks registry.Gatekeepers
	var master registry.MasterKeys
	var tasks registry.GatekeeperTasks
	var clusters registry.Clusters
	_, err = c.QueryProto(ctx, "/registry/"+registry.QueryGatekeepers, nil, &gks)
	require.NoError(t, err)
	_, err = c.QueryProto(ctx, "/registry/"+registry.QueryMasterKeys, nil, &master)
	require.NoError(t, err)
	_, err = c.QueryProto(ctx, "/registry/"+registry.QueryTasks, nil, &tasks)
	require.NoError(t, err)
	_, err = c.QueryProto(ctx, "/registry/"+registry.QueryClusters, nil, &clusters)
	require.NoError(t, err)
	v := chainView{gatekeepers: gks.GetWorkers(), tasks: &tasks, clusters: clusters.GetClusters()}
	for _, m := range master.GetGenerations() {
		v.master = append(v.master, m.GetGeneration())
		v.senders = append(v.senders, m.GetSender())
	}
	return v
}

func identities(rts []*Runtime, gatekeepers bool) [][]byte {
	var ids [][]byte
	for _, rt := range rts {
		if rt.Gatekeeper == gatekeepers {
			ids = append(ids, rt.Identity)
		}
	}
	return ids
}

// checkKeys checks that every gatekeeper runtime holds master key generation 1 and every worker
// runtime holds cluster 1's key, as the runtimes themselves report.
func checkKeys(t *testing.T, ctx context.Context, n *Network) {
	t.Helper()
	for _, rt := range n.Runtimes {
		info, err := rt.info(ctx)
		require.NoError(t, err)
		require.True(t, info.GetRegistered(), rt.Name)
		require.Equal(t, rt.Gatekeeper, info.GetGatekeeper(), rt.Name)
		if rt.Gatekeeper {
			require.EqualValues(t, 1, info.GetMasterGeneration(), rt.Name)
			continue
		}
		require.Len(t, info.GetClusters(), 1, rt.Name)
		require.Equal(t, registry.ClusterID(1), info.GetClusters()[0].GetCluster(), rt.Name)
		require.Equal(t, []uint32{1}, info.GetClusters()[0].GetGenerations(), rt.Name)
	}
}

// checkEndpoints checks that every worker serves queries on a URL of its own, which the chain
// records, and that gatekeepers serve none.
func checkEndpoints(t *testing.T, ctx context.Context, n *Network) {
	t.Helper()
	for _, rt := range n.Runtimes {
		if rt.Gatekeeper {
			require.Empty(t, rt.QueryURL, rt.Name)
			continue
		}
		require.True(t, strings.HasPrefix(rt.QueryURL, "http://127.0.0.1:"), rt.QueryURL)
		require.NotEqual(t, rt.URL, rt.QueryURL)
		var w registry.Worker
		_, err := n.chain.QueryProto(ctx, "/registry/"+registry.QueryWorker, rt.Identity, &w)
		require.NoError(t, err)
		require.Equal(t, rt.QueryURL, w.GetEndpoint(), rt.Name)
	}
}

// queryBalance asks a worker of the token's cluster for the holder's balance with a signed,
// encrypted query, finding the worker in light-client-verified state.
func queryBalance(t *testing.T, ctx context.Context, n *Network, holder string) string {
	t.Helper()
	c, err := client.New(ctx, n.RPC)
	require.NoError(t, err)
	v, err := c.NewVerifier(ctx, t.TempDir(), client.Trust{})
	require.NoError(t, err)
	defer v.Close()
	key, err := keys.FromURI(keys.Sr25519, "//"+holder)
	require.NoError(t, err)
	out, height, err := client.NewQueryClient(v, client.AccountSigner(key), nil).Query(ctx, [32]byte(n.Token), []byte(`{"balance":{}}`), client.QueryOptions{})
	require.NoError(t, err)
	require.Positive(t, height)
	return string(out)
}

// contractsOnChain lists the chain's contracts and uploaded codes.
func contractsOnChain(t *testing.T, ctx context.Context, n *Network) ([]*contracts.Contract, []*contracts.Code) {
	t.Helper()
	var cs contracts.Contracts
	_, err := n.chain.QueryProto(ctx, "/"+contracts.Name+"/"+contracts.QueryContracts, nil, &cs)
	require.NoError(t, err)
	var codes contracts.Codes
	_, err = n.chain.QueryProto(ctx, "/"+contracts.Name+"/"+contracts.QueryCodes, nil, &codes)
	require.NoError(t, err)
	return cs.GetContracts(), codes.GetCodes()
}

// TestStartBootstrapsKeysOnce starts two gatekeepers and two workers: the first gatekeeper
// creates the master key, the second receives it, the workers form a cluster and deploy its
// key, publish their query URLs, and Bob deploys the token example, whose balance Bob queries.
// A restart on the same home (asking for fewer runtimes) runs all four again on new ports and
// redoes nothing (queries find the workers at their new URLs); a later one asking for more adds
// them without undoing what the council changed.
func TestStartBootstrapsKeysOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	home := t.TempDir()

	start := time.Now()
	o, firstLog := testOptions(t, home, 2, 2)
	n, err := Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Stop() })
	t.Logf("first start: %s", time.Since(start))

	names := make([]string, len(n.Runtimes))
	relayers := map[string]bool{}
	urls := map[string]bool{}
	for i, rt := range n.Runtimes {
		names[i] = rt.Name
		relayers[rt.Relayer], urls[rt.URL] = true, true
		require.Len(t, rt.Identity, 32)
		require.Equal(t, filepath.Join(home, "pruntime-"+rt.Name+".log"), rt.Log)
		require.Equal(t, filepath.Join(home, "pruntime", rt.Name), rt.DataDir)
		require.NotEqual(t, councilAccount, rt.Relayer)
	}
	require.Equal(t, []string{"gk1", "gk2", "worker1", "worker2"}, names)
	require.Len(t, relayers, 4, "one relayer account per runtime")
	require.Len(t, urls, 4)

	v := viewChain(t, ctx, n.RPC)
	gks, workers := identities(n.Runtimes, true), identities(n.Runtimes, false)
	require.Equal(t, gks, v.gatekeepers, "both gatekeepers, in order")
	require.Equal(t, []uint32{1}, v.master)
	require.Equal(t, gks[:1], v.senders, "gk1 created the master key")
	require.Empty(t, v.tasks.GetPending())
	require.Len(t, v.clusters, 1)
	c := v.clusters[0]
	require.Equal(t, registry.ClusterID(1), c.GetId())
	require.Equal(t, workers, c.GetWorkers())
	require.EqualValues(t, 1, c.GetGeneration())
	require.Len(t, c.GetKeys(), 1)
	require.Len(t, c.GetDeployed(), 2)
	for _, d := range c.GetDeployed() {
		require.EqualValues(t, 1, d.GetGeneration())
		require.True(t, containsKey(workers, d.GetWorker()))
	}
	require.Equal(t, gks, n.Gatekeepers)
	require.EqualValues(t, 1, n.MasterGeneration)
	require.Len(t, n.Clusters, 1)
	require.Equal(t, workers, n.Clusters[0].GetWorkers())
	require.Equal(t, "worker2", n.Name(workers[1]))
	require.Empty(t, n.Name(make([]byte, 32)))
	checkKeys(t, ctx, n)

	checkEndpoints(t, ctx, n)

	require.Len(t, n.Token, 32)
	cs, codes := contractsOnChain(t, ctx, n)
	require.Len(t, cs, 1)
	require.Len(t, codes, 1)
	token := cs[0]
	bob, err := keys.FromURI(keys.Sr25519, "//"+TokenDeployer)
	require.NoError(t, err)
	deployer := bob.Public().AccountID()
	require.Equal(t, n.Token, token.GetId())
	require.Equal(t, contracts.Contract_STATUS_ACTIVE, token.GetStatus())
	require.Equal(t, registry.ClusterID(1), token.GetCluster())
	require.Equal(t, deployer[:], token.GetDeployer())
	require.Equal(t, fmt.Sprintf(`{"balance":%d}`, TokenGrant), queryBalance(t, ctx, n, "Bob"))
	logs, err := os.ReadFile(firstLog)
	require.NoError(t, err)
	require.Contains(t, string(logs), "token example built")

	rec, err := loadRecord(recordPath(home))
	require.NoError(t, err)
	require.Equal(t, []string{hex.EncodeToString(gks[0]), hex.EncodeToString(gks[1])}, rec.Gatekeepers)
	require.Equal(t, []string{hex.EncodeToString(workers[0]), hex.EncodeToString(workers[1])}, rec.ClusterWorkers)
	require.Equal(t, hex.EncodeToString(n.Token), rec.Token)
	queryURLs := map[string]string{}
	for _, rt := range n.Runtimes {
		queryURLs[rt.Name] = rt.QueryURL
	}

	require.NoError(t, n.Stop())

	// Resumed with fewer runtimes asked than the home has: all four come back, nothing is redone.
	start = time.Now()
	o, logPath := testOptions(t, home, 1, 1)
	again, err := Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = again.Stop() })
	t.Logf("restart: %s", time.Since(start))
	for i, rt := range again.Runtimes {
		require.Equal(t, names[i], rt.Name)
		require.Equal(t, n.Runtimes[i].Identity, rt.Identity, rt.Name)
	}
	w := viewChain(t, ctx, again.RPC)
	require.Equal(t, v.gatekeepers, w.gatekeepers)
	require.Equal(t, v.master, w.master)
	require.Equal(t, v.tasks.GetNext(), w.tasks.GetNext(), "no gatekeeper task was set again")
	require.Len(t, w.clusters, 1)
	require.Equal(t, c.GetWorkers(), w.clusters[0].GetWorkers())
	require.Equal(t, c.GetGeneration(), w.clusters[0].GetGeneration())
	checkKeys(t, ctx, again)
	require.Equal(t, n.Token, again.Token)
	cs, codes = contractsOnChain(t, ctx, again)
	require.Len(t, cs, 1, "the token is not deployed again")
	require.Len(t, codes, 1)
	logs, err = os.ReadFile(logPath)
	require.NoError(t, err)
	require.NotContains(t, string(logs), "token example built", "nor built again")
	for _, rt := range again.Runtimes[2:] {
		require.NotEqual(t, queryURLs[rt.Name], rt.QueryURL, "ports are picked anew at each start")
	}
	checkEndpoints(t, ctx, again)
	require.Equal(t, fmt.Sprintf(`{"balance":%d}`, TokenGrant), queryBalance(t, ctx, again, "Bob"), "queries find the workers at their new URLs")

	// The council removes worker2 from the cluster: the key moves to generation 2.
	require.NoError(t, again.govern(ctx, "test: remove worker2", &registry.MsgRemoveClusterWorker{Cluster: registry.ClusterID(1), Worker: workers[1]}))
	require.NoError(t, again.waitClusterKeys(ctx, again.Runtimes[2:3]))
	require.NoError(t, again.Stop())

	// Resumed with more runtimes: gk3 joins the gatekeepers and worker3 the cluster; worker2
	// stays out, as governance left it. Six runtimes share five relayer accounts.
	start = time.Now()
	o, logPath = testOptions(t, home, 3, 3)
	more, err := Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = more.Stop() })
	t.Logf("restart with two more runtimes: %s", time.Since(start))
	names = nil
	for _, rt := range more.Runtimes {
		names = append(names, rt.Name)
	}
	require.Equal(t, []string{"gk1", "gk2", "gk3", "worker1", "worker2", "worker3"}, names)
	require.Equal(t, more.Runtimes[0].Relayer, more.Runtimes[5].Relayer)
	gk3, w1, w2, w3 := more.Runtimes[2], more.Runtimes[3], more.Runtimes[4], more.Runtimes[5]
	x := viewChain(t, ctx, more.RPC)
	require.Equal(t, append(slices.Clone(gks), gk3.Identity), x.gatekeepers)
	require.Equal(t, []uint32{1}, x.master)
	require.Len(t, x.clusters, 1)
	require.Equal(t, [][]byte{w1.Identity, w3.Identity}, x.clusters[0].GetWorkers())
	require.EqualValues(t, 2, x.clusters[0].GetGeneration())
	require.Equal(t, x.clusters[0].GetWorkers(), more.Clusters[0].GetWorkers())
	for _, rt := range more.Runtimes {
		info, err := rt.info(ctx)
		require.NoError(t, err)
		switch rt {
		case gk3:
			require.EqualValues(t, 1, info.GetMasterGeneration())
		case w1, w3:
			require.Contains(t, info.GetClusters()[0].GetGenerations(), uint32(2), rt.Name)
		case w2:
			require.Equal(t, []uint32{1}, info.GetClusters()[0].GetGenerations(), "a removed worker gets no later key")
		}
	}
	checkEndpoints(t, ctx, more)
	require.Equal(t, n.Token, more.Token)
	logs, err = os.ReadFile(logPath)
	require.NoError(t, err)
	for _, name := range []string{"gk3", "worker3"} {
		require.Regexp(t, `msg="fast sync" module=pherry runtime=`+name+` snapshot_height=\d+`, string(logs), "a new runtime starts from a snapshot")
	}
	rec, err = loadRecord(recordPath(home))
	require.NoError(t, err)
	require.Len(t, rec.Gatekeepers, 3)
	require.Equal(t, []string{hex.EncodeToString(workers[0]), hex.EncodeToString(workers[1]), hex.EncodeToString(w3.Identity)}, rec.ClusterWorkers)
	require.NoError(t, more.Stop())

	// Resumed with a fourth worker and two clusters: the workers take slots 1, 2, 1, 2; worker1
	// and worker3 hold slot 1's cluster, worker2 was removed, so worker4 founds cluster 2.
	o, _ = testOptions(t, home, 3, 4)
	o.Clusters = 2
	two, err := Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = two.Stop() })
	w4 := two.Runtimes[6]
	require.Equal(t, "worker4", w4.Name)
	y := viewChain(t, ctx, two.RPC)
	require.Len(t, y.clusters, 2)
	require.Equal(t, x.clusters[0].GetWorkers(), y.clusters[0].GetWorkers(), "cluster 1 is unchanged")
	require.Equal(t, registry.ClusterID(2), y.clusters[1].GetId())
	require.Equal(t, [][]byte{w4.Identity}, y.clusters[1].GetWorkers())
	require.Len(t, two.Clusters, 2)
	require.Equal(t, registry.ClusterID(2), two.Clusters[1].GetId())
	info, err := w4.info(ctx)
	require.NoError(t, err)
	require.Equal(t, registry.ClusterID(2), info.GetClusters()[0].GetCluster())
	checkEndpoints(t, ctx, two)
	require.NoError(t, two.Stop())
}

func TestStartRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		gatekeepers, workers int
	}{
		{"no gatekeeper", 0, 1},
		{"negative workers", 1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			_, err := Start(context.Background(), Options{Home: home, PRuntime: pruntimeBin, RuntimeAddr: "127.0.0.1:0", Gatekeepers: tc.gatekeepers, Workers: tc.workers})
			require.ErrorIs(t, err, ErrOptions)
			_, err = os.Stat(home)
			require.ErrorIs(t, err, os.ErrNotExist, "a refused start creates nothing")
		})
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		dirs, files          []string
		gatekeepers, workers int
		want                 []string
	}{
		{"new home", nil, nil, 1, 1, []string{"gk1", "worker1"}},
		{"no workers", nil, nil, 2, 0, []string{"gk1", "gk2"}},
		{"more asked than the home has", []string{"gk1", "worker1"}, nil, 2, 3, []string{"gk1", "gk2", "worker1", "worker2", "worker3"}},
		{"fewer asked than the home has", []string{"gk1", "gk2", "worker1", "worker2"}, nil, 1, 0, []string{"gk1", "gk2", "worker1", "worker2"}},
		{"a gap is filled", []string{"gk3"}, nil, 1, 0, []string{"gk1", "gk2", "gk3"}},
		{"other entries are ignored", []string{"gk01", "gkx", "workers", "worker0"}, []string{"gk7", "devnet.json"}, 1, 1, []string{"gk1", "worker1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			for _, d := range tc.dirs {
				require.NoError(t, os.MkdirAll(filepath.Join(home, runtimesDir, d), 0o700))
			}
			for _, f := range tc.files {
				require.NoError(t, os.MkdirAll(filepath.Join(home, runtimesDir), 0o700))
				require.NoError(t, os.WriteFile(filepath.Join(home, runtimesDir, f), nil, 0o600))
			}
			rts, err := plan(home, tc.gatekeepers, tc.workers)
			require.NoError(t, err)
			var got []string
			for i, rt := range rts {
				got = append(got, rt.Name)
				require.Equal(t, strings.HasPrefix(rt.Name, gatekeeperPrefix), rt.Gatekeeper)
				require.Equal(t, relayerAccounts[i%len(relayerAccounts)], rt.Relayer)
				require.Equal(t, filepath.Join(home, runtimesDir, rt.Name), rt.DataDir)
				require.Equal(t, filepath.Join(home, "pruntime-"+rt.Name+".log"), rt.Log)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestPlanRefusesAnOldHome(t *testing.T) {
	home := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(home, legacyLog), nil, 0o600))
	_, err := plan(home, 1, 1)
	require.ErrorIs(t, err, ErrOldHome)
	require.NoDirExists(t, filepath.Join(home, runtimesDir), "nothing moved or created")
}

func TestRelayersAreDistinctUpToFive(t *testing.T) {
	rts, err := plan(t.TempDir(), 2, 4)
	require.NoError(t, err)
	var first5 []string
	for _, rt := range rts[:5] {
		require.NotEqual(t, councilAccount, rt.Relayer)
		require.False(t, slices.Contains(first5, rt.Relayer))
		first5 = append(first5, rt.Relayer)
	}
	require.Equal(t, OperatorAccount, rts[0].Relayer, "the first runtime relays as before")
	require.Equal(t, rts[0].Relayer, rts[5].Relayer, "the sixth shares the first one's account")
}

func TestListenAddrs(t *testing.T) {
	t.Run("free ports when the port is 0", func(t *testing.T) {
		addrs, err := listenAddrs("127.0.0.1:0", 4)
		require.NoError(t, err)
		require.Len(t, addrs, 4)
		for i, a := range addrs {
			require.True(t, strings.HasPrefix(a, "127.0.0.1:"), a)
			require.NotContains(t, addrs[:i], a)
		}
	})
	t.Run("the following ports, skipping a taken one", func(t *testing.T) {
		ports, err := node.FreePorts(1)
		require.NoError(t, err)
		base := ports[0]
		taken, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+1))
		if err == nil {
			defer taken.Close()
		}
		addrs, err := listenAddrs(fmt.Sprintf("127.0.0.1:%d", base), 3)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("127.0.0.1:%d", base), addrs[0])
		require.NotEqual(t, fmt.Sprintf("127.0.0.1:%d", base+1), addrs[1], "taken")
		require.NotEqual(t, addrs[1], addrs[2])
	})
	t.Run("the first address taken", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		_, err = listenAddrs(l.Addr().String(), 2)
		require.Error(t, err)
	})
	t.Run("a bad address", func(t *testing.T) {
		_, err := listenAddrs("localhost", 1)
		require.Error(t, err)
	})
}

// freeRange returns a port p such that p .. p+n-1 were free a moment ago.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 20 {
		ports, err := node.FreePorts(1)
		require.NoError(t, err)
		free := true
		for p := ports[0]; p < ports[0]+n && free; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if free = err == nil; free {
				l.Close()
			}
		}
		if free {
			return ports[0]
		}
	}
	t.Fatalf("no %d consecutive free ports found", n)
	return 0
}

func TestRuntimeAddrs(t *testing.T) {
	rts, err := plan(t.TempDir(), 2, 2)
	require.NoError(t, err)
	t.Run("a worker's query port follows its API port", func(t *testing.T) {
		base := freeRange(t, 6)
		api, query, err := runtimeAddrs(fmt.Sprintf("127.0.0.1:%d", base), rts)
		require.NoError(t, err)
		at := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", base+i) }
		require.Equal(t, []string{at(0), at(1), at(2), at(4)}, api)
		require.Equal(t, []string{"", "", at(3), at(5)}, query, "gatekeepers serve no queries")
	})
	t.Run("free ports", func(t *testing.T) {
		api, query, err := runtimeAddrs("127.0.0.1:0", rts)
		require.NoError(t, err)
		all := slices.Concat(api, query[2:])
		for i, a := range all {
			require.True(t, strings.HasPrefix(a, "127.0.0.1:"), a)
			require.NotContains(t, all[:i], a)
		}
		require.Empty(t, query[0])
		require.Empty(t, query[1])
	})
}

func TestRecordRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), recordFile)
	r, err := loadRecord(path)
	require.NoError(t, err)
	require.Empty(t, r.Gatekeepers)
	id := bytes.Repeat([]byte{7}, 32)
	note(&r.Gatekeepers, id)
	note(&r.Gatekeepers, id)
	note(&r.ClusterWorkers, id)
	r.Token = hex.EncodeToString(id)
	require.NoError(t, r.save(path))
	back, err := loadRecord(path)
	require.NoError(t, err)
	require.Equal(t, r, back)
	require.True(t, noted(back.Gatekeepers, id))
	require.False(t, noted(back.Gatekeepers, make([]byte, 32)))

	require.NoError(t, os.WriteFile(path, []byte("{"), 0o600))
	_, err = loadRecord(path)
	require.Error(t, err)
}

func TestFindExamples(t *testing.T) {
	repo := t.TempDir()
	ex := filepath.Join(repo, "examples", "contracts")
	require.NoError(t, os.MkdirAll(filepath.Join(ex, "token"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(ex, "go.mod"), nil, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(ex, "token", "main.go"), nil, 0o600))
	deep := filepath.Join(repo, "a", "b")
	require.NoError(t, os.MkdirAll(deep, 0o700))
	noToken := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(noToken, "examples", "contracts"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(noToken, "examples", "contracts", "go.mod"), nil, 0o600))
	elsewhere := t.TempDir()

	for _, tc := range []struct {
		name string
		from []string
		want string
	}{
		{"the checkout's root", []string{repo}, ex},
		{"a directory inside the checkout", []string{deep}, ex},
		{"the second place", []string{elsewhere, deep}, ex},
		{"this repository, from the package's directory", []string{"."}, filepath.Join(filepath.Dir(mustAbs(t, ".")), "examples", "contracts")},
		{"no token example", []string{noToken}, ""},
		{"nowhere", []string{elsewhere}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindExamples(tc.from...)
			if tc.want == "" {
				require.ErrorIs(t, err, ErrExamples)
				require.Contains(t, err.Error(), tc.from[0])
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	require.NoError(t, err)
	return abs
}

func TestTokenInit(t *testing.T) {
	b, err := tokenInit()
	require.NoError(t, err)
	var msg struct {
		Name, Symbol string
		Mint         []struct {
			To     string
			Amount uint64
		}
	}
	require.NoError(t, json.Unmarshal(b, &msg))
	require.Equal(t, "PHT", msg.Symbol)
	require.Len(t, msg.Mint, len(TokenHolders()))
	for i, h := range TokenHolders() {
		k, err := keys.FromURI(keys.Sr25519, "//"+h)
		require.NoError(t, err)
		id := k.Public().AccountID()
		require.Equal(t, "0x"+hex.EncodeToString(id[:]), msg.Mint[i].To, h)
		require.Equal(t, TokenGrant, msg.Mint[i].Amount)
	}
	require.Equal(t, []string{"Bob", "Charlie"}, TokenHolders())
}

// TestDeployExamplesWithoutChain covers what is decided before the chain is asked: a recorded
// token is only reported, a bad record is refused, no cluster 1 means no deployment.
func TestDeployExamplesWithoutChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), recordFile)
	n := &Network{log: slog.New(slog.DiscardHandler)}
	id := bytes.Repeat([]byte{9}, 32)

	rec := &record{Token: hex.EncodeToString(id)}
	require.NoError(t, n.deployExamples(context.Background(), "/nonexistent", rec, path))
	require.Equal(t, id, n.Token)
	require.NoFileExists(t, path, "nothing to record")

	n.Token = nil
	require.Error(t, n.deployExamples(context.Background(), "", &record{Token: "0xzz"}, path))
	require.Nil(t, n.Token)

	rec = &record{}
	require.NoError(t, n.deployExamples(context.Background(), "/nonexistent", rec, path), "no cluster 1: nothing to deploy into")
	require.Nil(t, n.Token)
	require.Empty(t, rec.Token)
	require.NoFileExists(t, path)

	n.Clusters = []*registry.Cluster{{Id: registry.ClusterID(1)}}
	require.ErrorIs(t, n.deployExamples(context.Background(), "", rec, path), ErrExamples, "no examples directory")
	require.Nil(t, n.Token)
	require.NoFileExists(t, path)
}

func TestExamplesDir(t *testing.T) {
	dir, err := examplesDir("")
	require.NoError(t, err, "found from this package's directory")
	require.Equal(t, filepath.Join(filepath.Dir(mustAbs(t, ".")), "examples", "contracts"), dir)
	got, err := examplesDir(dir)
	require.NoError(t, err)
	require.Equal(t, dir, got)
	_, err = examplesDir(t.TempDir())
	require.ErrorIs(t, err, ErrExamples, "not the examples directory")

	t.Setenv("PATH", t.TempDir())
	_, err = examplesDir(dir)
	require.ErrorIs(t, err, ErrExamples, "no Go toolchain")
	require.Contains(t, err.Error(), "Go toolchain")
}

// TestStartRefusesUnbuildableExamples: a start that would have to build the token example and
// cannot stops before it starts anything.
func TestStartRefusesUnbuildableExamples(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	o := Options{Home: home, PRuntime: pruntimeBin, RuntimeAddr: "127.0.0.1:0", Gatekeepers: 1, Workers: 1,
		Examples: true, ExamplesDir: t.TempDir()}
	_, err := Start(context.Background(), o)
	require.ErrorIs(t, err, ErrExamples)
	require.NoDirExists(t, home, "nothing was created")
}

func TestRetryRaced(t *testing.T) {
	other := errors.New("refused")
	for _, tc := range []struct {
		name  string
		errs  []error // what each attempt returns; the last one repeats
		calls int
		want  error
	}{
		{"accepted at once", []error{nil}, 1, nil},
		{"accepted after two races", []error{tx.ErrNonceReplayed, tx.ErrNonceGap, nil}, 3, nil},
		{"another refusal is not retried", []error{other}, 1, other},
		{"a race every time gives up after five attempts", []error{tx.ErrNonceGap}, 5, tx.ErrNonceGap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := retryRaced(func() error {
				err := tc.errs[min(calls, len(tc.errs)-1)]
				calls++
				return err
			})
			require.Equal(t, tc.calls, calls)
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}
