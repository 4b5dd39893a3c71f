package node

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/app"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/tee/sim"
)

// GenesisOptions describe a chain's starting state.
type GenesisOptions struct {
	ChainID string
	// Time is the genesis time; the caller chooses it (the clock is never read here).
	Time  time.Time
	State app.GenesisState
}

// DevAccount is one of the standard Substrate development accounts.
type DevAccount struct {
	Name string
	URI  string
	Key  keys.PrivateKey
}

// DevNames are the development accounts, derived from the Substrate dev phrase as //Name.
var DevNames = []string{"Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"}

// DevBalance is what each dev account holds at genesis on dev chains.
var DevBalance = func() amount.Amount {
	a, _ := amount.OnePHA.MulUint64(1_000_000)
	return a
}()

// DevAccounts derives the sr25519 development accounts.
func DevAccounts() ([]DevAccount, error) {
	out := make([]DevAccount, len(DevNames))
	for i, n := range DevNames {
		k, err := keys.FromURI(keys.Sr25519, "//"+n)
		if err != nil {
			return nil, fmt.Errorf("derive //%s: %w", n, err)
		}
		out[i] = DevAccount{Name: n, URI: "//" + n, Key: k}
	}
	return out, nil
}

// SimSecretFile is where a development home keeps the simulated TEE's host secret, whose platform
// key a dev genesis trusts.
const SimSecretFile = "sim-tee-secret"

// DevGenesisFor is DevGenesis trusting the sim platform key of the secret in dir (created if
// absent), which the home's workers use.
func DevGenesisFor(chainID string, t time.Time, dir string) (GenesisOptions, error) {
	key, err := sim.PlatformKey(filepath.Join(dir, SimSecretFile))
	if err != nil {
		return GenesisOptions{}, fmt.Errorf("sim platform key: %w", err)
	}
	return DevGenesis(chainID, t, key)
}

// NewGenesis is a chain with the given council and default rules, nothing funded, sim refused.
func NewGenesis(chainID string, t time.Time, council []keys.AccountID, threshold uint32) GenesisOptions {
	return GenesisOptions{ChainID: chainID, Time: t, State: app.GenesisState{
		Accounts:   accounts.Genesis{Params: accounts.DefaultParams()},
		Governance: governance.Genesis{Council: governance.GenesisCouncil{Members: council, Threshold: threshold}, VotingPeriod: governance.DefaultVotingPeriod},
		Registry:   registry.Genesis{Params: registry.DefaultParams()},
		Contracts:  &contracts.Genesis{Params: contracts.DefaultParams()},
	}}
}

// DevGenesis funds the dev accounts, makes Alice the council alone and accepts simulated TEE
// workers whose platform key is among simKeys: a chain for development and tests, never for
// value.
func DevGenesis(chainID string, t time.Time, simKeys ...ed25519.PublicKey) (GenesisOptions, error) {
	devs, err := DevAccounts()
	if err != nil {
		return GenesisOptions{}, err
	}
	g := NewGenesis(chainID, t, []keys.AccountID{devs[0].Key.Public().AccountID()}, 1)
	for _, d := range devs {
		g.State.Accounts.Balances = append(g.State.Accounts.Balances, accounts.GenesisBalance{Address: d.Key.Public().AccountID(), Balance: DevBalance})
	}
	g.State.Registry.TEE.AllowSim = true
	for _, k := range simKeys {
		g.State.Registry.TEE.SimPlatformKeys = append(g.State.Registry.TEE.SimPlatformKeys, registry.SimKey(k))
	}
	return g, nil
}

// genesisDoc assembles the CometBFT genesis document with the given validators.
func (g GenesisOptions) genesisDoc(validators []cmttypes.GenesisValidator) (*cmttypes.GenesisDoc, error) {
	state, err := g.State.Marshal()
	if err != nil {
		return nil, err
	}
	params := cmttypes.DefaultConsensusParams()
	params.Block.MaxBytes = 8 << 20
	doc := &cmttypes.GenesisDoc{
		GenesisTime:     g.Time.UTC().Round(0),
		ChainID:         g.ChainID,
		InitialHeight:   1,
		ConsensusParams: params,
		Validators:      validators,
		AppState:        state,
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	return doc, nil
}
