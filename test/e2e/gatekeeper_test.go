package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/pruntime/api"
)

// TestGatekeepersAndClusters runs key management with separate processes (a validator, five
// pRuntimes each with its pherry) driven through the CLI: three gatekeepers share the master key,
// a cluster gets its key, the key rotates, a gatekeeper is killed and restarts, a member leaves
// the cluster, and a gatekeeper that lost its seal recovers the key under a new identity.
func TestGatekeepersAndClusters(t *testing.T) {
	n := startNetwork(t, 1)
	rpc := n.nodes[0].rpc
	cli := t.TempDir()
	run(t, "keys", "import", "alice", "//Alice", "--home", cli, "--keyring-backend", "test")
	gov := func(args ...string) string {
		t.Helper()
		return run(t, append(args, "--from", "alice", "--home", cli, "--keyring-backend", "test", "--node", rpc)...)
	}
	meas := strings.TrimSpace(runBin(t, pruntimeBin, "measure", "--sim-secret", filepath.Join(n.dir, node.SimSecretFile)))
	gov("runtime", "allow", "--measurement", meas)

	names := []string{"g1", "g2", "g3", "w1", "w2"}
	relayers := []string{"Bob", "Charlie", "Dave", "Eve", "Ferdie"}
	ws := map[string]*worker{}
	ids := map[string]string{}
	for i, name := range names {
		ws[name] = n.newWorkerRelayedBy(t, name, relayers[i], false)
	}
	for _, name := range names {
		ids[name] = hex.EncodeToString(ws[name].waitRegistered())
	}
	info := func(name string) *api.InfoResponse {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		i, err := ws[name].info(ctx)
		if err != nil {
			return &api.InfoResponse{}
		}
		return i
	}
	waitMaster := func(gen uint32, names ...string) {
		t.Helper()
		for _, name := range names {
			poll(t, 2*time.Minute, name+" to hold master generation "+string(rune('0'+gen)), func() bool { return info(name).GetMasterGeneration() >= gen })
		}
	}
	holds := func(name string, gen uint32) bool {
		for _, c := range info(name).GetClusters() {
			if slices.Contains(c.GetGenerations(), gen) {
				return true
			}
		}
		return false
	}

	// The first gatekeeper creates the master key, the others receive it.
	gov("gatekeeper", "register", ids["g1"])
	waitMaster(1, "g1")
	gov("gatekeeper", "register", ids["g2"])
	gov("gatekeeper", "register", ids["g3"])
	waitMaster(1, "g2", "g3")

	// A cluster of w1 and w2: both receive the key and report it.
	gov("cluster", "create", ids["w1"], ids["w2"])
	var c struct {
		Generation uint32 `json:"generation"`
		Workers    []struct {
			Worker   string `json:"worker"`
			Deployed uint32 `json:"deployed_generation"`
		} `json:"workers"`
	}
	showCluster := func() {
		t.Helper()
		require.NoError(t, json.Unmarshal([]byte(run(t, "cluster", "show", "1", "-o", "json", "--node", rpc)), &c))
	}
	poll(t, 2*time.Minute, "both members to deploy the cluster key", func() bool {
		showCluster()
		return len(c.Workers) == 2 && c.Workers[0].Deployed == 1 && c.Workers[1].Deployed == 1
	})
	require.True(t, holds("w1", 1) && holds("w2", 1))

	// Rotation reaches every gatekeeper; one of them is killed (kill -9) and comes back with it.
	gov("gatekeeper", "rotate")
	waitMaster(2, "g1", "g2", "g3")
	ws["g2"].runtime.kill()
	ws["g2"].startRuntime()
	waitMaster(2, "g2")

	// w1 leaves: w2 moves to generation 2, which w1 never receives.
	gov("cluster", "remove-worker", "1", ids["w1"])
	poll(t, 2*time.Minute, "w2 to hold cluster generation 2", func() bool { return holds("w2", 2) })
	ws["w1"].waitVerified(height(rpc))
	require.False(t, holds("w1", 2), "a removed worker cannot read what comes after")
	require.True(t, holds("w1", 1))

	// g3 loses its seal: a fresh runtime in its place has a new identity, registers, and is
	// made a gatekeeper in place of the old identity; it receives the whole history.
	ws["g3"].runtime.kill()
	require.NoError(t, os.RemoveAll(filepath.Join(ws["g3"].dir, "data")))
	ws["g3"].startRuntime()
	newG3 := hex.EncodeToString(ws["g3"].waitRegistered())
	require.NotEqual(t, ids["g3"], newG3)
	gov("gatekeeper", "register", newG3)
	gov("gatekeeper", "unregister", ids["g3"])
	waitMaster(2, "g3")

	var gk struct {
		Gatekeepers []string `json:"gatekeepers"`
		MasterKey   []struct {
			Generation uint32 `json:"generation"`
		} `json:"master_key"`
		Tasks []any `json:"pending_tasks"`
	}
	poll(t, time.Minute, "no pending gatekeeper task", func() bool {
		require.NoError(t, json.Unmarshal([]byte(run(t, "gatekeeper", "list", "-o", "json", "--node", rpc)), &gk))
		return len(gk.Tasks) == 0
	})
	require.ElementsMatch(t, []string{ids["g1"], ids["g2"], newG3}, gk.Gatekeepers)
	require.Len(t, gk.MasterKey, 2)
}
