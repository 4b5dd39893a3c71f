package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/node"
)

// runStatus executes the phala binary and returns its standard output and exit status.
func runStatus(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(phalaBin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out) + stderr.String(), exit.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}

// TestContracts deploys the token example through the CLI on a network of separate processes
// (a validator, and a worker that is the gatekeeper and the cluster's only member): build,
// upload, an encrypted instantiation, encrypted transfers read back through their
// contract_executed events (a success, an overdraft refused by the contract, the exact rest),
// a plain command refused, and every prepaid gas unit settled.
func TestContracts(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "token.wasm")
	var built struct {
		CodeHash string `json:"code_hash"`
		Size     int    `json:"size"`
	}
	require.NoError(t, json.Unmarshal([]byte(run(t, "contract", "build", "../../examples/contracts/token", "--out", wasm, "--wasm-opt", "-", "-o", "json")), &built))

	n := startNetwork(t, 1)
	rpc := n.nodes[0].rpc
	cli := t.TempDir()
	for _, k := range []string{"Alice", "Bob"} {
		run(t, "keys", "import", strings.ToLower(k), "//"+k, "--home", cli, "--keyring-backend", "test")
	}
	as := func(from string, args ...string) string {
		t.Helper()
		return run(t, append(args, "--from", from, "--home", cli, "--keyring-backend", "test", "--node", rpc)...)
	}
	asStatus := func(from string, args ...string) (string, int) {
		t.Helper()
		return runStatus(t, append(args, "--from", from, "--home", cli, "--keyring-backend", "test", "--node", rpc)...)
	}
	addr := func(name string) string {
		var a struct{ Hex string }
		require.NoError(t, json.Unmarshal([]byte(run(t, "contract", "address", name, "--home", cli, "--keyring-backend", "test", "-o", "json")), &a))
		return a.Hex
	}
	alice, bob := addr("alice"), addr("bob")

	// A worker becomes the gatekeeper and the only member of cluster 1.
	meas := strings.TrimSpace(runBin(t, pruntimeBin, "measure", "--sim-secret", filepath.Join(n.dir, node.SimSecretFile)))
	as("alice", "runtime", "allow", "--measurement", meas)
	w := n.newWorkerRelayedBy(t, "w1", "Charlie", false)
	id := hex.EncodeToString(w.waitRegistered())
	as("alice", "gatekeeper", "register", id)
	poll(t, 2*time.Minute, "the master key", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		info, err := w.info(ctx)
		return err == nil && info.GetMasterGeneration() >= 1
	})
	as("alice", "cluster", "create", id)
	poll(t, 2*time.Minute, "the cluster key, published and deployed", func() bool {
		var c struct {
			Keys    []any `json:"keys"`
			Workers []struct {
				Deployed uint32 `json:"deployed_generation"`
			} `json:"workers"`
		}
		require.NoError(t, json.Unmarshal([]byte(run(t, "cluster", "show", "1", "-o", "json", "--node", rpc)), &c))
		return len(c.Keys) == 1 && len(c.Workers) == 1 && c.Workers[0].Deployed == 1
	})

	// Upload: the code hash is the built module's.
	var up struct {
		CodeHash    string `json:"code_hash"`
		Size        int    `json:"size"`
		StoredSize  int    `json:"stored_size"`
		Compression string `json:"compression"`
	}
	require.NoError(t, json.Unmarshal([]byte(as("alice", "contract", "upload", wasm, "-o", "json")), &up))
	require.Equal(t, built.CodeHash, up.CodeHash)
	require.Equal(t, built.Size, up.Size)
	require.Equal(t, contracts.CompressionZstd, up.Compression)
	require.Less(t, up.StoredSize, up.Size/3)

	// An encrypted instantiation: the command returns once the cluster started the contract.
	var ct struct {
		ID         string `json:"contract"`
		Status     string `json:"status"`
		Cluster    string `json:"cluster"`
		AllowPlain bool   `json:"allow_plain"`
		Commands   uint64 `json:"commands"`
		Keys       []struct {
			Generation     uint32            `json:"cluster_generation"`
			EncryptionKeys map[string]string `json:"encryption_keys"`
		} `json:"keys"`
	}
	init := fmt.Sprintf(`{"name":"Secret","symbol":"SEC","mint":[{"to":%q,"amount":1000}]}`, alice)
	require.NoError(t, json.Unmarshal([]byte(as("alice", "contract", "instantiate", up.CodeHash, "--cluster", "1", "--init", init, "--salt", "e2e", "-o", "json")), &ct))
	require.Equal(t, "ACTIVE", ct.Status)
	require.Equal(t, "1", ct.Cluster)
	require.Len(t, ct.Keys, 1)
	require.Equal(t, uint32(1), ct.Keys[0].Generation)
	require.Len(t, ct.Keys[0].EncryptionKeys, 2)

	// Encrypted transfers, each waited for through its contract_executed event. Alice holds 1000:
	// after 10 to Bob, 991 is an overdraft the contract refuses, and exactly 990 goes through.
	type report struct {
		Command uint64 `json:"command"`
		TxHash  string `json:"tx_hash"`
		Report  struct {
			Outcome string `json:"outcome"`
			GasUsed uint64 `json:"gas_used"`
		} `json:"report"`
	}
	transfer := func(amount int, wantStatus int) report {
		t.Helper()
		out, status := asStatus("alice", "contract", "exec", ct.ID, fmt.Sprintf(`{"transfer":{"to":%q,"amount":%d}}`, bob, amount), "--wait", "-o", "json")
		require.Equal(t, wantStatus, status, out)
		var r report
		require.NoError(t, json.NewDecoder(strings.NewReader(out)).Decode(&r), out)
		return r
	}
	for i, c := range []struct {
		amount  int
		status  int
		outcome string
	}{{10, 0, "ok"}, {991, 2, "contract_error"}, {990, 0, "ok"}} {
		r := transfer(c.amount, c.status)
		require.Equal(t, uint64(i), r.Command)
		require.Equal(t, c.outcome, r.Report.Outcome, "transfer of %d", c.amount)
		require.Positive(t, r.Report.GasUsed)
		require.Less(t, r.Report.GasUsed, client.DefaultGasLimit)
	}

	// The chain never saw the command in the clear.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, rpc)
	require.NoError(t, err)
	first := transferTx(t, ctx, c, ct.ID, 0)
	require.NotContains(t, string(first), "transfer")
	require.NotContains(t, string(first), strings.TrimPrefix(bob, "0x"))

	// A plain command is refused before it costs anything; the contract counted three commands.
	out, status := asStatus("bob", "contract", "exec", ct.ID, `{"transfer":{"to":"0x01","amount":1}}`, "--plain")
	require.NotZero(t, status)
	require.Contains(t, out, "encrypted commands only")
	require.NoError(t, json.Unmarshal([]byte(run(t, "contract", "show", ct.ID, "-o", "json", "--node", rpc)), &ct))
	require.Equal(t, uint64(3), ct.Commands)
	require.Contains(t, run(t, "contract", "list", "--cluster", "1", "--node", rpc), ct.ID)

	// Every report settled its escrow: nothing prepaid is left.
	st, _, err := c.Account(ctx, contracts.EscrowAccount())
	require.NoError(t, err)
	require.True(t, st.Balance.IsZero(), "escrow holds %s", st.Balance)
}

// transferTx returns the raw transaction that sent command n to a contract.
func transferTx(t *testing.T, ctx context.Context, c *client.Client, contract string, n uint64) []byte {
	t.Helper()
	page, perPage := 1, 10
	res, err := c.RPC().TxSearch(ctx, fmt.Sprintf("contract_command.contract='%s' AND contract_command.command='%d'", contract, n), false, &page, &perPage, "asc")
	require.NoError(t, err)
	require.Len(t, res.Txs, 1)
	return res.Txs[0].Tx
}
