package node

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
	cmtcfg "github.com/cometbft/cometbft/config"
)

// ConfigFile is the node config's path relative to the home.
const ConfigFile = "config/phala.toml"

// Config is the node's typed config file. Only what an operator needs is here; everything else
// keeps CometBFT's defaults.
type Config struct {
	Moniker   string          `toml:"moniker"`
	P2P       P2PConfig       `toml:"p2p"`
	RPC       RPCConfig       `toml:"rpc"`
	Consensus ConsensusConfig `toml:"consensus"`
	Mempool   MempoolConfig   `toml:"mempool"`
	Metrics   MetricsConfig   `toml:"metrics"`
	Log       LogConfig       `toml:"log"`
	Snapshots SnapshotsConfig `toml:"snapshots"`
}

// SnapshotsConfig controls the state snapshots a node serves to fast-syncing workers.
type SnapshotsConfig struct {
	// Interval is how many blocks apart snapshots are taken; 0 disables them.
	Interval int64 `toml:"interval"`
	// Keep is how many snapshots stay on disk.
	Keep int `toml:"keep"`
}

type P2PConfig struct {
	ListenAddress   string `toml:"listen_address"`
	ExternalAddress string `toml:"external_address"`
	// PersistentPeers is a comma-separated list of id@host:port.
	PersistentPeers string `toml:"persistent_peers"`
	// Local allows several peers on one IP and private addresses: for testnets on one machine.
	Local bool `toml:"local"`
}

type RPCConfig struct {
	ListenAddress string `toml:"listen_address"`
}

type ConsensusConfig struct {
	TimeoutPropose time.Duration `toml:"timeout_propose"`
	// TimeoutCommit is how long a node waits after a commit before the next height: it sets the
	// block interval of an idle chain.
	TimeoutCommit     time.Duration `toml:"timeout_commit"`
	CreateEmptyBlocks bool          `toml:"create_empty_blocks"`
}

type MempoolConfig struct {
	Size int `toml:"size"`
}

type MetricsConfig struct {
	// ListenAddress serves Prometheus metrics (CometBFT's and the application's); empty: off.
	ListenAddress string `toml:"listen_address"`
}

type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
	// ConsensusLevel is the level of CometBFT's internal logs, which are chatty at info.
	ConsensusLevel string `toml:"consensus_level"`
}

// DefaultConfig is a validator that listens on the standard CometBFT ports.
func DefaultConfig() Config {
	return Config{
		Moniker: "phala-node",
		P2P:     P2PConfig{ListenAddress: "tcp://0.0.0.0:26656"},
		RPC:     RPCConfig{ListenAddress: "tcp://127.0.0.1:26657"},
		Consensus: ConsensusConfig{
			TimeoutPropose:    3 * time.Second,
			TimeoutCommit:     time.Second,
			CreateEmptyBlocks: true,
		},
		Mempool:   MempoolConfig{Size: 50_000},
		Metrics:   MetricsConfig{ListenAddress: ""},
		Log:       LogConfig{Level: "info", Format: "text", ConsensusLevel: "warn"},
		Snapshots: SnapshotsConfig{Interval: 1000, Keep: 2},
	}
}

// LoadConfig reads the home's config file strictly: an unknown key is an error, so a typo does
// not silently leave a default in place.
func LoadConfig(home string) (Config, error) {
	path := filepath.Join(home, ConfigFile)
	cfg := DefaultConfig()
	md, err := toml.DecodeFile(path, &cfg)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return cfg, fmt.Errorf("no node config at %s: run `phala init --home %s` first", path, home)
		}
		return cfg, fmt.Errorf("read %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return cfg, fmt.Errorf("%s: unknown key %q", path, undecoded[0].String())
	}
	return cfg, cfg.Validate()
}

// Save writes the config file.
func (c Config) Save(home string) error {
	var buf bytes.Buffer
	buf.WriteString("# Phala-Go node configuration. Durations are Go durations (\"500ms\", \"1s\").\n\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(home, ConfigFile), buf.Bytes(), 0o644)
}

// Validate checks the values CometBFT would otherwise reject late or misread.
func (c Config) Validate() error {
	if c.Consensus.TimeoutCommit <= 0 || c.Consensus.TimeoutPropose <= 0 {
		return errors.New("consensus timeouts must be positive")
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log format %q: use text or json", c.Log.Format)
	}
	if c.Snapshots.Interval < 0 || (c.Snapshots.Interval > 0 && c.Snapshots.Keep < 1) {
		return errors.New("snapshots: interval must be 0 (off) or positive, and keep at least 1")
	}
	for _, l := range []string{c.Log.Level, c.Log.ConsensusLevel} {
		if _, err := parseLevel(l); err != nil {
			return err
		}
	}
	return nil
}

// cometConfig maps the typed config onto CometBFT's.
func (c Config) cometConfig(home string) *cmtcfg.Config {
	cc := cmtcfg.DefaultConfig()
	cc.SetRoot(home)
	cc.Moniker = c.Moniker
	cc.P2P.ListenAddress = c.P2P.ListenAddress
	cc.P2P.ExternalAddress = c.P2P.ExternalAddress
	cc.P2P.PersistentPeers = c.P2P.PersistentPeers
	if c.P2P.Local {
		cc.P2P.AllowDuplicateIP = true
		cc.P2P.AddrBookStrict = false
		cc.P2P.PexReactor = false
	}
	cc.RPC.ListenAddress = c.RPC.ListenAddress
	cc.RPC.MaxBodyBytes = 8 << 20
	cc.Consensus.TimeoutPropose = c.Consensus.TimeoutPropose
	cc.Consensus.TimeoutCommit = c.Consensus.TimeoutCommit
	cc.Consensus.CreateEmptyBlocks = c.Consensus.CreateEmptyBlocks
	cc.Mempool.Size = c.Mempool.Size
	cc.Mempool.CacheSize = 2 * c.Mempool.Size
	cc.Mempool.MaxTxBytes = 4 << 20
	cc.Mempool.MaxTxsBytes = 1 << 30
	cc.TxIndex.Indexer = "kv"
	cc.Instrumentation.Prometheus = c.Metrics.ListenAddress != ""
	cc.Instrumentation.PrometheusListenAddr = c.Metrics.ListenAddress
	cc.Instrumentation.Namespace = "cometbft"
	return cc
}

// writeFileAtomic writes through a temporary file and a rename, so a crash leaves either the old
// or the new file, never a torn one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
