package validators

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
)

// Name is the module's name in genesis, queries and keys.
const Name = "validators"

// Limits on the set.
const (
	MaxValidators = 100
	MaxPower      = 1_000_000_000
)

// Error codes; stable across releases.
var (
	ErrInvalidValidator = errcode.New(Name, 1, "invalid validator")
	ErrNotValidator     = errcode.New(Name, 2, "not a validator")
	ErrEmptySet         = errcode.New(Name, 3, "the validator set would be empty")
	ErrTooMany          = errcode.New(Name, 4, "too many validators")
	ErrNotFound         = errcode.New(Name, 5, "not found")
)

var (
	prefixValidator = []byte(Name + "/v/")
	keyPending      = []byte(Name + "/pending")
)

func validatorKey(pub []byte) []byte { return append(slices.Clone(prefixValidator), pub...) }

// Module is the validators module.
type Module struct{}

// New returns the validators module.
func New() *Module { return &Module{} }

func (*Module) Name() string { return Name }

func (*Module) Register(r *module.Router) { module.Handle(r, true, setPower) }

func (m *MsgSetValidatorPower) ValidateBasic() error {
	if len(m.GetPubKey()) != ed25519.PublicKeySize {
		return errcode.Wrapf(ErrInvalidValidator, "consensus key has %d bytes, want an ed25519 key of 32", len(m.GetPubKey()))
	}
	if m.GetPower() < 0 || m.GetPower() > MaxPower {
		return errcode.Wrapf(ErrInvalidValidator, "power %d, want 0..%d", m.GetPower(), MaxPower)
	}
	return nil
}

// Set returns the current validator set, ordered by key.
func Set(r store.Reader) []*Validator {
	var out []*Validator
	it := r.Iterator(prefixValidator, store.PrefixEnd(prefixValidator))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		out = append(out, &Validator{PubKey: slices.Clone(it.Key()[len(prefixValidator):]), Power: int64(decodePower(it.Value()))})
	}
	return out
}

func decodePower(b []byte) uint64 {
	p, err := strconv.ParseUint(string(b), 10, 63)
	if err != nil {
		panic(&store.FatalError{Err: err})
	}
	return p
}

func setPower(ctx *module.Context, _ module.Caller, msg *MsgSetValidatorPower) error {
	key := validatorKey(msg.GetPubKey())
	exists := ctx.Get(key) != nil
	set := Set(ctx)
	switch {
	case msg.GetPower() == 0 && !exists:
		return errcode.Wrapf(ErrNotValidator, "%X", msg.GetPubKey())
	case msg.GetPower() == 0 && len(set) == 1:
		return errcode.Wrapf(ErrEmptySet, "add another validator before removing the last one")
	case msg.GetPower() > 0 && !exists && len(set) >= MaxValidators:
		return errcode.Wrapf(ErrTooMany, "at most %d validators", MaxValidators)
	}
	if msg.GetPower() == 0 {
		ctx.Delete(key)
	} else {
		ctx.Set(key, []byte(strconv.FormatInt(msg.GetPower(), 10)))
	}
	var pending Validators
	if b := ctx.Get(keyPending); b != nil {
		if err := module.StrictUnmarshal(b, &pending); err != nil {
			return err
		}
	}
	pending.Validators = append(pending.Validators, &Validator{PubKey: msg.GetPubKey(), Power: msg.GetPower()})
	ctx.Set(keyPending, module.Marshal(&pending))
	ctx.Emit("validator_power_set", module.Attr("pub_key", hex.EncodeToString(msg.GetPubKey())), module.Attr("power", strconv.FormatInt(msg.GetPower(), 10)))
	return nil
}

// TakeUpdates returns this block's validator updates for CometBFT and clears them.
func TakeUpdates(kv store.KV) []abci.ValidatorUpdate {
	b := kv.Get(keyPending)
	if b == nil {
		return nil
	}
	kv.Delete(keyPending)
	var pending Validators
	if err := module.StrictUnmarshal(b, &pending); err != nil {
		panic(&store.FatalError{Err: err})
	}
	out := make([]abci.ValidatorUpdate, len(pending.Validators))
	for i, v := range pending.Validators {
		out[i] = abci.UpdateValidator(v.PubKey, v.Power, "ed25519")
	}
	return out
}

// InitFromConsensus records the genesis validators CometBFT passes to InitChain.
func InitFromConsensus(kv store.KV, vals []abci.ValidatorUpdate) error {
	for _, v := range vals {
		pk := v.PubKey.GetEd25519()
		if len(pk) != ed25519.PublicKeySize {
			return errcode.Wrapf(ErrInvalidValidator, "genesis validators must have ed25519 consensus keys")
		}
		kv.Set(validatorKey(pk), []byte(strconv.FormatInt(v.Power, 10)))
	}
	return nil
}

func (*Module) InitGenesis(*module.Context, json.RawMessage) error { return nil }

// QuerySet is the query path of the current set (answer: Validators).
const QuerySet = "set"

func (*Module) Query(r store.Reader, path string, _ []byte) ([]byte, error) {
	if path == QuerySet {
		return module.Marshal(&Validators{Validators: Set(r)}), nil
	}
	return nil, errcode.Wrapf(ErrNotFound, "no query %q", path)
}
