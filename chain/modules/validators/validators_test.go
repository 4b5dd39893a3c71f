package validators

import (
	"bytes"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestSetPower(t *testing.T) {
	tr, err := store.OpenTree(dbm.NewMemDB(), nil)
	require.NoError(t, err)
	kv := store.NewCache(tr.Working())
	require.NoError(t, InitFromConsensus(kv, []abci.ValidatorUpdate{abci.UpdateValidator(key(1), 10, "ed25519")}))
	ctx := module.NewContext(kv, module.Block{Height: 2})
	set := func(k []byte, p int64) error {
		m := &MsgSetValidatorPower{PubKey: k, Power: p}
		if err := m.ValidateBasic(); err != nil {
			return err
		}
		return setPower(ctx, module.CouncilCaller(), m)
	}
	require.ErrorIs(t, set(key(1), 0), ErrEmptySet, "the last validator stays")
	require.ErrorIs(t, set(key(2), 0), ErrNotValidator)
	require.ErrorIs(t, set(key(2)[:31], 5), ErrInvalidValidator)
	require.ErrorIs(t, set(key(2), -1), ErrInvalidValidator)
	require.ErrorIs(t, set(key(2), MaxPower+1), ErrInvalidValidator)
	require.NoError(t, set(key(2), 5))
	require.NoError(t, set(key(1), 0))
	require.Len(t, Set(kv), 1)

	ups := TakeUpdates(kv)
	require.Len(t, ups, 2)
	require.Equal(t, int64(5), ups[0].Power)
	require.Equal(t, int64(0), ups[1].Power)
	require.Empty(t, TakeUpdates(kv), "updates are handed over once")
}
