package node

import (
	"fmt"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/app"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/crypto/keys"
)

// GenesisOptions describe a chain's starting state.
type GenesisOptions struct {
	ChainID string
	// Time is the genesis time; the caller chooses it (the clock is never read here).
	Time         time.Time
	Council      []keys.AccountID
	Threshold    uint32
	VotingPeriod uint64
	Balances     []accounts.GenesisBalance
	Params       accounts.GenesisParams
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

// DevGenesis funds the dev accounts and makes Alice the council alone: a chain for development
// and tests, never for value.
func DevGenesis(chainID string, t time.Time) (GenesisOptions, error) {
	devs, err := DevAccounts()
	if err != nil {
		return GenesisOptions{}, err
	}
	g := GenesisOptions{
		ChainID:      chainID,
		Time:         t,
		Council:      []keys.AccountID{devs[0].Key.Public().AccountID()},
		Threshold:    1,
		VotingPeriod: governance.DefaultVotingPeriod,
		Params:       accounts.DefaultParams(),
	}
	for _, d := range devs {
		g.Balances = append(g.Balances, accounts.GenesisBalance{Address: d.Key.Public().AccountID(), Balance: DevBalance})
	}
	return g, nil
}

// genesisDoc assembles the CometBFT genesis document with the given validators.
func (g GenesisOptions) genesisDoc(validators []cmttypes.GenesisValidator) (*cmttypes.GenesisDoc, error) {
	state, err := app.Genesis(
		accounts.Genesis{Params: g.Params, Balances: g.Balances},
		governance.Genesis{
			Council:      governance.GenesisCouncil{Members: g.Council, Threshold: g.Threshold},
			VotingPeriod: g.VotingPeriod,
		})
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
