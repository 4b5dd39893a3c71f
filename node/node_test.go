package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigRoundTripAndStrictness(t *testing.T) {
	home := t.TempDir()
	cfg := DefaultConfig()
	cfg.Consensus.TimeoutCommit = 250 * time.Millisecond
	cfg.P2P.PersistentPeers = "abc@127.0.0.1:1"
	require.NoError(t, cfg.Save(home))
	got, err := LoadConfig(home)
	require.NoError(t, err)
	require.Equal(t, cfg, got)

	path := filepath.Join(home, ConfigFile)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(b, []byte("\n[rpc2]\nlisten_address = \"x\"\n")...), 0o644))
	_, err = LoadConfig(home)
	require.ErrorContains(t, err, "unknown key")

	bad := strings.Replace(string(b), `format = "text"`, `format = "xml"`, 1)
	require.NoError(t, os.WriteFile(path, []byte(bad), 0o644))
	_, err = LoadConfig(home)
	require.ErrorContains(t, err, "log format")

	_, err = LoadConfig(t.TempDir())
	require.ErrorContains(t, err, "phala init")
}

func TestInitRefusesAnExistingHome(t *testing.T) {
	home := t.TempDir()
	g, err := DevGenesis("c", time.Unix(1_700_000_000, 0))
	require.NoError(t, err)
	id, err := Init(home, DefaultConfig(), g)
	require.NoError(t, err)
	require.NotEmpty(t, id.NodeID)
	doc, err := ReadGenesis(home)
	require.NoError(t, err)
	require.Equal(t, "c", doc.ChainID)
	require.Len(t, doc.Validators, 1)
	info, err := os.Stat(filepath.Join(home, "config", "priv_validator_key.json"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	_, err = Init(home, DefaultConfig(), g)
	require.ErrorIs(t, err, ErrInitialized)
}

func TestTestnetLayout(t *testing.T) {
	out := t.TempDir()
	g, err := DevGenesis("net", time.Unix(1_700_000_000, 0))
	require.NoError(t, err)
	ids, err := Testnet(TestnetOptions{Validators: 3, Output: out, StartingPort: 30000, Config: DefaultConfig(), Genesis: g})
	require.NoError(t, err)
	require.Len(t, ids, 3)
	var genesis []byte
	for i, id := range ids {
		doc, err := os.ReadFile(filepath.Join(id.Home, "config", "genesis.json"))
		require.NoError(t, err)
		if i == 0 {
			genesis = doc
		}
		require.Equal(t, genesis, doc, "all nodes share one genesis")
		cfg, err := LoadConfig(id.Home)
		require.NoError(t, err)
		require.True(t, cfg.P2P.Local)
		require.Equal(t, fmt.Sprintf("tcp://127.0.0.1:%d", 30000+10*i+1), cfg.RPC.ListenAddress)
		peers := strings.Split(cfg.P2P.PersistentPeers, ",")
		require.Len(t, peers, 2)
		for _, p := range peers {
			require.NotContains(t, p, id.NodeID, "a node does not peer with itself")
		}
	}
	d, err := ReadGenesis(ids[0].Home)
	require.NoError(t, err)
	require.Len(t, d.Validators, 3)
}
