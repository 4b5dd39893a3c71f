package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"
)

// ValidatorPower is each genesis validator's voting power.
const ValidatorPower = 10

// ErrInitialized is returned when a home already holds a node.
var ErrInitialized = errors.New("home already initialised")

// Identity is what Init created: the node's P2P id and its validator's public key.
type Identity struct {
	Home   string
	NodeID string
	// Validator is the CometBFT consensus key, ready for a genesis validator list.
	Validator cmttypes.GenesisValidator
}

func paths(home string) (nodeKey, pvKey, pvState, genesis string) {
	return filepath.Join(home, "config", "node_key.json"),
		filepath.Join(home, "config", "priv_validator_key.json"),
		filepath.Join(home, "data", "priv_validator_state.json"),
		filepath.Join(home, "config", "genesis.json")
}

// createKeys makes a home's directories, node key and validator key.
func createKeys(home, moniker string) (Identity, error) {
	nodeKeyPath, pvKeyPath, pvStatePath, genesisPath := paths(home)
	if _, err := os.Stat(genesisPath); err == nil {
		return Identity{}, fmt.Errorf("%w: %s exists; pick another --home or remove it", ErrInitialized, genesisPath)
	}
	for _, dir := range []string{"config", "data"} {
		if err := os.MkdirAll(filepath.Join(home, dir), 0o700); err != nil {
			return Identity{}, err
		}
	}
	nk, err := p2p.LoadOrGenNodeKey(nodeKeyPath)
	if err != nil {
		return Identity{}, fmt.Errorf("node key: %w", err)
	}
	pv := privval.GenFilePV(pvKeyPath, pvStatePath)
	pv.Save()
	pub, err := pv.GetPubKey()
	if err != nil {
		return Identity{}, err
	}
	return Identity{
		Home:      home,
		NodeID:    string(nk.ID()),
		Validator: cmttypes.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: ValidatorPower, Name: moniker},
	}, nil
}

// Init writes a new single-validator home: keys, config and genesis.
func Init(home string, cfg Config, g GenesisOptions) (Identity, error) {
	id, err := createKeys(home, cfg.Moniker)
	if err != nil {
		return Identity{}, err
	}
	doc, err := g.genesisDoc([]cmttypes.GenesisValidator{id.Validator})
	if err != nil {
		return Identity{}, err
	}
	if err := writeGenesis(home, doc); err != nil {
		return Identity{}, err
	}
	return id, cfg.Save(home)
}

func writeGenesis(home string, doc *cmttypes.GenesisDoc) error {
	b, err := cmtjson.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, _, _, path := paths(home)
	return writeFileAtomic(path, b, 0o644)
}

// ReadGenesis loads a home's genesis document.
func ReadGenesis(home string) (*cmttypes.GenesisDoc, error) {
	_, _, _, path := paths(home)
	return cmttypes.GenesisDocFromFile(path)
}

// TestnetOptions describe a local multi-validator network.
type TestnetOptions struct {
	Validators int
	Output     string
	// StartingPort is node 0's P2P port; node i uses StartingPort+10*i for P2P, +1 for RPC and
	// +2 for metrics.
	StartingPort int
	Config       Config
	Genesis      GenesisOptions
}

// Testnet writes one home per validator under Output (node0, node1, ...), all sharing one
// genesis and peering over 127.0.0.1.
func Testnet(o TestnetOptions) ([]Identity, error) {
	if o.Validators < 1 {
		return nil, errors.New("a testnet needs at least one validator")
	}
	ids := make([]Identity, o.Validators)
	vals := make([]cmttypes.GenesisValidator, o.Validators)
	for i := range ids {
		home := filepath.Join(o.Output, fmt.Sprintf("node%d", i))
		id, err := createKeys(home, fmt.Sprintf("node%d", i))
		if err != nil {
			return nil, err
		}
		ids[i], vals[i] = id, id.Validator
	}
	doc, err := o.Genesis.genesisDoc(vals)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		var peers []string
		for j, other := range ids {
			if j != i {
				peers = append(peers, fmt.Sprintf("%s@127.0.0.1:%d", other.NodeID, o.StartingPort+10*j))
			}
		}
		cfg := o.Config
		cfg.Moniker = fmt.Sprintf("node%d", i)
		cfg.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", o.StartingPort+10*i)
		cfg.P2P.PersistentPeers = strings.Join(peers, ",")
		cfg.P2P.Local = true
		cfg.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", o.StartingPort+10*i+1)
		if cfg.Metrics.ListenAddress != "" {
			cfg.Metrics.ListenAddress = fmt.Sprintf("127.0.0.1:%d", o.StartingPort+10*i+2)
		}
		if err := writeGenesis(id.Home, doc); err != nil {
			return nil, err
		}
		if err := cfg.Save(id.Home); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
