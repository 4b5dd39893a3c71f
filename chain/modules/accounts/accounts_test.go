package accounts

import (
	"testing"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
)

func newCtx(t *testing.T) *module.Context {
	tr, err := store.OpenTree(dbm.NewMemDB(), nil)
	require.NoError(t, err)
	return module.NewContext(store.NewCache(tr.Working()), module.Block{ChainID: "c", Height: 1})
}

func TestRequiredFee(t *testing.T) {
	tests := []struct {
		perByte, perMsg string
		size, msgs      int
		want            string
		wantErr         bool
	}{
		{"1000000", "100000000", 200, 1, "300000000", false},
		{"0", "0", 10_000, 64, "0", false},
		{"1", "1", 0, 0, "0", false},
		{"340282366920938463463374607431768211455", "0", 2, 1, "", true},
	}
	for _, tt := range tests {
		got, err := RequiredFee(&Params{FeePerByte: tt.perByte, FeePerMessage: tt.perMsg}, tt.size, tt.msgs)
		if tt.wantErr {
			require.Error(t, err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got.String())
	}
}

func TestTransfer(t *testing.T) {
	a, b := keys.AccountID{1}, keys.AccountID{2}
	tests := []struct {
		name      string
		from, to  keys.AccountID
		amt       amount.Amount
		wantErr   error
		wantA     string
		wantB     string
		wantEvent bool
	}{
		{"moves funds", a, b, amount.FromUint64(40), nil, "60", "40", true},
		{"whole balance", a, b, amount.FromUint64(100), nil, "0", "100", true},
		{"to oneself changes nothing", a, a, amount.FromUint64(40), nil, "100", "0", true},
		{"more than the balance", a, b, amount.FromUint64(101), ErrInsufficientBalance, "100", "0", false},
		{"zero", a, b, amount.Zero, ErrZeroAmount, "100", "0", false},
		{"from an empty account", b, a, amount.FromUint64(1), ErrInsufficientBalance, "100", "0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := newCtx(t)
			set(ctx, a, State{Balance: amount.FromUint64(100)})
			err := Transfer(ctx, tt.from, tt.to, tt.amt)
			require.ErrorIs(t, err, tt.wantErr)
			require.Equal(t, tt.wantA, Get(ctx, a).Balance.String())
			require.Equal(t, tt.wantB, Get(ctx, b).Balance.String())
			require.Equal(t, tt.wantEvent, len(ctx.Events()) == 1)
		})
	}
}

func TestTransferOverflow(t *testing.T) {
	ctx := newCtx(t)
	a, b := keys.AccountID{1}, keys.AccountID{2}
	set(ctx, a, State{Balance: amount.FromUint64(10)})
	set(ctx, b, State{Balance: amount.Max})
	require.ErrorIs(t, Transfer(ctx, a, b, amount.FromUint64(1)), ErrOverflow)
	require.Equal(t, "10", Get(ctx, a).Balance.String())
	require.Equal(t, amount.Max, Get(ctx, b).Balance)
}

func TestEmptyAccountsAreNotStored(t *testing.T) {
	ctx := newCtx(t)
	a := keys.AccountID{1}
	set(ctx, a, State{Balance: amount.FromUint64(5)})
	require.NotNil(t, ctx.Get(AccountKey(a)))
	set(ctx, a, State{})
	require.Nil(t, ctx.Get(AccountKey(a)), "a zero account leaves no state behind")
}

func TestModuleAccount(t *testing.T) {
	require.Equal(t, "modlphala/fc", string(FeeCollector[:12]))
	require.Equal(t, make([]byte, 20), FeeCollector[12:])
}
