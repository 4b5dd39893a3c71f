package accounts

import (
	"encoding/json"
	"fmt"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/crypto/keys"
)

// Error codes of the accounts module; stable across releases.
var (
	ErrInsufficientBalance = errcode.New(Name, 1, "insufficient balance")
	ErrOverflow            = errcode.New(Name, 2, "balance overflow")
	ErrZeroAmount          = errcode.New(Name, 3, "amount must be positive")
	ErrInvalidAddress      = errcode.New(Name, 4, "invalid account id")
	ErrInvalidAmount       = errcode.New(Name, 5, "invalid amount")
	ErrInvalidParams       = errcode.New(Name, 6, "invalid params")
	ErrNotAnAccount        = errcode.New(Name, 7, "the caller has no account")
	ErrInvalidGenesis      = errcode.New(Name, 8, "invalid genesis")
	ErrNotFound            = errcode.New(Name, 9, "not found")
)

// Bounds of the governed transaction size limit.
const (
	MinMaxTxBytes = 1 << 10
	MaxMaxTxBytes = tx.MaxBytes
)

// Module is the accounts module.
type Module struct{}

// New returns the accounts module.
func New() *Module { return &Module{} }

func (*Module) Name() string { return Name }

func (*Module) Register(r *module.Router) {
	module.Handle(r, false, handleTransfer)
	module.Handle(r, true, handleSetParams)
}

// ValidateBasic checks a transfer without state.
func (m *MsgTransfer) ValidateBasic() error {
	if len(m.GetTo()) != len(keys.AccountID{}) {
		return errcode.Wrapf(ErrInvalidAddress, "recipient has %d bytes, want 32", len(m.GetTo()))
	}
	a, err := amount.Parse(m.GetAmount())
	if err != nil {
		return errcode.Wrapf(ErrInvalidAmount, "%v", err)
	}
	if a.IsZero() {
		return ErrZeroAmount
	}
	return nil
}

// ValidateBasic checks params without state.
func (m *MsgSetParams) ValidateBasic() error { return validateParams(m.GetParams()) }

func validateParams(p *Params) error {
	if p == nil {
		return errcode.Wrapf(ErrInvalidParams, "missing")
	}
	if _, err := amount.Parse(p.GetFeePerByte()); err != nil {
		return errcode.Wrapf(ErrInvalidParams, "fee_per_byte: %v", err)
	}
	if _, err := amount.Parse(p.GetFeePerMessage()); err != nil {
		return errcode.Wrapf(ErrInvalidParams, "fee_per_message: %v", err)
	}
	if p.GetMaxTxBytes() < MinMaxTxBytes || p.GetMaxTxBytes() > MaxMaxTxBytes {
		return errcode.Wrapf(ErrInvalidParams, "max_tx_bytes %d outside [%d, %d]", p.GetMaxTxBytes(), MinMaxTxBytes, MaxMaxTxBytes)
	}
	return nil
}

func handleTransfer(ctx *module.Context, caller module.Caller, msg *MsgTransfer) error {
	if caller.Council {
		return errcode.Wrapf(ErrNotAnAccount, "the council holds no funds; transfers come from accounts")
	}
	amt, _ := amount.Parse(msg.GetAmount()) // checked by ValidateBasic
	to := keys.AccountID(msg.GetTo())
	return Transfer(ctx, caller.Account, to, amt)
}

func handleSetParams(ctx *module.Context, _ module.Caller, msg *MsgSetParams) error {
	setParams(ctx, msg.GetParams())
	ctx.Emit("accounts_params_set")
	return nil
}

// Transfer moves amt from one account to another. Other modules use it to move funds they
// control; on any error nothing changed.
func Transfer(ctx *module.Context, from, to keys.AccountID, amt amount.Amount) error {
	if amt.IsZero() {
		return ErrZeroAmount
	}
	src := Get(ctx, from)
	bal, err := src.Balance.Sub(amt)
	if err != nil {
		return errcode.Wrapf(ErrInsufficientBalance, "%s has %s, needs %s", from, amount.FormatPHA(src.Balance), amount.FormatPHA(amt))
	}
	if from != to {
		dst := Get(ctx, to)
		if dst.Balance, err = dst.Balance.Add(amt); err != nil {
			return errcode.Wrapf(ErrOverflow, "%s would exceed the largest balance", to)
		}
		src.Balance = bal
		set(ctx, from, src)
		set(ctx, to, dst)
	}
	ctx.Emit("transfer",
		module.Attr("sender", from.String()),
		module.Attr("recipient", to.String()),
		module.Attr("amount", amt.String()))
	return nil
}

// RequiredFee is the least fee a transaction of txBytes bytes with msgs messages must pay.
func RequiredFee(p *Params, txBytes, msgs int) (amount.Amount, error) {
	perByte, err := amount.Parse(p.GetFeePerByte())
	if err != nil {
		return amount.Zero, err
	}
	perMsg, err := amount.Parse(p.GetFeePerMessage())
	if err != nil {
		return amount.Zero, err
	}
	byBytes, err := perByte.MulUint64(uint64(txBytes))
	if err != nil {
		return amount.Zero, err
	}
	byMsgs, err := perMsg.MulUint64(uint64(msgs))
	if err != nil {
		return amount.Zero, err
	}
	return byBytes.Add(byMsgs)
}

// Ante is the check every transaction passes before its messages run: size, fee, nonce. On
// success it has charged the fee to the signer, paid it to the fee collector and consumed the
// nonce; on error it changed nothing. A fee-exempt transaction (feeExempt) needs no minimum fee.
func Ante(ctx *module.Context, d *tx.Decoded, feeExempt bool) error {
	p := GetParams(ctx)
	if uint64(len(d.Raw)) > p.GetMaxTxBytes() {
		return errcode.Wrapf(tx.ErrTooLarge, "%d bytes, the limit is %d", len(d.Raw), p.GetMaxTxBytes())
	}
	required, err := RequiredFee(p, len(d.Raw), len(d.Msgs))
	if err != nil {
		return errcode.Wrapf(tx.ErrFeeTooLow, "fee rule overflows: %v", err)
	}
	if feeExempt {
		required = amount.Zero
	}
	if d.Fee.Cmp(required) < 0 {
		return errcode.Wrapf(tx.ErrFeeTooLow, "fee %s, this transaction needs at least %s", d.Fee, required)
	}
	signer := d.Signer.AccountID()
	acct := Get(ctx, signer)
	switch n := d.Body.GetNonce(); {
	case n < acct.Nonce:
		return errcode.Wrapf(tx.ErrNonceReplayed, "nonce %d, the account's next nonce is %d", n, acct.Nonce)
	case n > acct.Nonce:
		return errcode.Wrapf(tx.ErrNonceGap, "nonce %d, the account's next nonce is %d: send the missing ones first", n, acct.Nonce)
	}
	bal, err := acct.Balance.Sub(d.Fee)
	if err != nil {
		return errcode.Wrapf(tx.ErrCannotPayFee, "%s has %s, the fee is %s", signer, amount.FormatPHA(acct.Balance), amount.FormatPHA(d.Fee))
	}
	acct.Balance, acct.Nonce = bal, acct.Nonce+1
	set(ctx, signer, acct)
	if !d.Fee.IsZero() {
		fc := Get(ctx, FeeCollector)
		if fc.Balance, err = fc.Balance.Add(d.Fee); err != nil {
			return errcode.Wrapf(ErrOverflow, "fee collector")
		}
		set(ctx, FeeCollector, fc)
	}
	ctx.Emit("fee", module.Attr("payer", signer.String()), module.Attr("amount", d.Fee.String()))
	return nil
}

// Genesis is the accounts section of the genesis file.
type Genesis struct {
	Params   GenesisParams    `json:"params"`
	Balances []GenesisBalance `json:"balances"`
}

// GenesisParams are the initial fee and size rules.
type GenesisParams struct {
	FeePerByte    amount.Amount `json:"fee_per_byte"`
	FeePerMessage amount.Amount `json:"fee_per_message"`
	MaxTxBytes    uint64        `json:"max_tx_bytes"`
}

// GenesisBalance funds one account at genesis.
type GenesisBalance struct {
	Address keys.AccountID `json:"address"`
	Balance amount.Amount  `json:"balance"`
}

// DefaultParams: a 200-byte transfer costs 0.0003 PHA.
func DefaultParams() GenesisParams {
	return GenesisParams{
		FeePerByte:    amount.FromUint64(1_000_000),
		FeePerMessage: amount.FromUint64(100_000_000),
		MaxTxBytes:    tx.MaxBytes, // code uploads are about 1 MB; the per-byte fee prices size
	}
}

func (*Module) InitGenesis(ctx *module.Context, raw json.RawMessage) error {
	var g Genesis
	if err := module.DecodeGenesis(raw, &g); err != nil {
		return errcode.Wrapf(ErrInvalidGenesis, "%v", err)
	}
	p := &Params{FeePerByte: g.Params.FeePerByte.String(), FeePerMessage: g.Params.FeePerMessage.String(), MaxTxBytes: g.Params.MaxTxBytes}
	if err := validateParams(p); err != nil {
		return err
	}
	setParams(ctx, p)
	issuance := amount.Zero
	seen := make(map[keys.AccountID]bool, len(g.Balances))
	for _, b := range g.Balances {
		if seen[b.Address] {
			return errcode.Wrapf(ErrInvalidGenesis, "%s is funded twice", b.Address)
		}
		seen[b.Address] = true
		var err error
		if issuance, err = issuance.Add(b.Balance); err != nil {
			return errcode.Wrapf(ErrInvalidGenesis, "total issuance overflows")
		}
		set(ctx, b.Address, State{Balance: b.Balance})
	}
	setIssuance(ctx, issuance)
	return nil
}

// Query paths.
const (
	QueryAccount = "account" // data: 32-byte account id; answer: Account
	QueryParams  = "params"  // answer: Params
)

func (*Module) Query(r store.Reader, path string, data []byte) ([]byte, error) {
	switch path {
	case QueryAccount:
		if len(data) != len(keys.AccountID{}) {
			return nil, errcode.Wrapf(ErrInvalidAddress, "query data has %d bytes, want 32", len(data))
		}
		s := Get(r, keys.AccountID(data))
		return module.Marshal(&Account{Balance: s.Balance.String(), Nonce: s.Nonce}), nil
	case QueryParams:
		return module.Marshal(GetParams(r)), nil
	}
	return nil, errcode.Wrapf(ErrNotFound, "no query %q", path)
}

// Sum walks every account; tests use it to check the issuance invariant.
func Sum(r store.Reader) (amount.Amount, error) {
	it := r.Iterator(prefixAccount, store.PrefixEnd(prefixAccount))
	defer it.Close()
	total := amount.Zero
	for ; it.Valid(); it.Next() {
		var a Account
		if err := module.StrictUnmarshal(it.Value(), &a); err != nil {
			return amount.Zero, fmt.Errorf("account %x: %w", it.Key(), err)
		}
		bal, err := amount.Parse(a.GetBalance())
		if err != nil {
			return amount.Zero, err
		}
		if total, err = total.Add(bal); err != nil {
			return amount.Zero, err
		}
	}
	return total, nil
}
