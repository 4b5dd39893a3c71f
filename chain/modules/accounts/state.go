package accounts

import (
	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
)

// Name is the module's name in genesis, queries and keys.
const Name = "accounts"

var (
	prefixAccount = []byte(Name + "/a/")
	keyParams     = []byte(Name + "/params")
	keyIssuance   = []byte(Name + "/issuance")
)

// AccountKey is the state key of an account: what a client asks a proof for.
func AccountKey(id keys.AccountID) []byte {
	return append(append(make([]byte, 0, len(prefixAccount)+len(id)), prefixAccount...), id[:]...)
}

// ModuleAccount is the account of a chain module, derived like Substrate's PalletId accounts:
// "modl" followed by the 8-byte id, zero-padded. No key controls it.
func ModuleAccount(id [8]byte) keys.AccountID {
	var a keys.AccountID
	copy(a[:], "modl")
	copy(a[4:], id[:])
	return a
}

// FeeCollector receives every transaction fee.
var FeeCollector = ModuleAccount([8]byte{'p', 'h', 'a', 'l', 'a', '/', 'f', 'c'})

// State is an account's balance and nonce, decoded.
type State struct {
	Balance amount.Amount
	Nonce   uint64
}

// Get reads an account; an account never written has zero balance and nonce.
func Get(r store.Reader, id keys.AccountID) State {
	b := r.Get(AccountKey(id))
	if b == nil {
		return State{}
	}
	var a Account
	if err := module.StrictUnmarshal(b, &a); err != nil {
		panic(&store.FatalError{Err: err})
	}
	bal, err := amount.Parse(a.GetBalance())
	if err != nil {
		panic(&store.FatalError{Err: err})
	}
	return State{Balance: bal, Nonce: a.GetNonce()}
}

func set(kv store.KV, id keys.AccountID, s State) {
	if s.Balance.IsZero() && s.Nonce == 0 {
		kv.Delete(AccountKey(id))
		return
	}
	kv.Set(AccountKey(id), module.Marshal(&Account{Balance: s.Balance.String(), Nonce: s.Nonce}))
}

// Issuance is the total of all balances.
func Issuance(r store.Reader) amount.Amount {
	b := r.Get(keyIssuance)
	if b == nil {
		return amount.Zero
	}
	a, err := amount.Parse(string(b))
	if err != nil {
		panic(&store.FatalError{Err: err})
	}
	return a
}

func setIssuance(kv store.KV, a amount.Amount) { kv.Set(keyIssuance, []byte(a.String())) }

// GetParams reads the fee and size rules.
func GetParams(r store.Reader) *Params {
	var p Params
	if err := module.StrictUnmarshal(r.Get(keyParams), &p); err != nil {
		panic(&store.FatalError{Err: err})
	}
	return &p
}

func setParams(kv store.KV, p *Params) { kv.Set(keyParams, module.Marshal(p)) }
