package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"
)

func testKey(t *testing.T, b byte) Key {
	k, err := Derive(bytes.Repeat([]byte{b}, 32), "db")
	require.NoError(t, err)
	return k
}

func TestDBSealsAndDetects(t *testing.T) {
	inner := dbm.NewMemDB()
	db := NewDB(inner, testKey(t, 1))
	require.NoError(t, db.Set([]byte("a"), []byte("alpha")))
	require.NoError(t, db.Set([]byte("b"), []byte("beta")))
	require.NoError(t, db.Set([]byte("e"), []byte{}))

	v, err := db.Get([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, "alpha", string(v))
	v, err = db.Get([]byte("e"))
	require.NoError(t, err)
	require.NotNil(t, v, "an empty value is present, not absent")
	v, err = db.Get([]byte("zz"))
	require.NoError(t, err)
	require.Nil(t, v)

	raw, err := inner.Get([]byte("a"))
	require.NoError(t, err)
	require.NotContains(t, string(raw), "alpha", "values are encrypted at rest")

	tests := []struct {
		name   string
		tamper func()
	}{
		{"flipped byte", func() { c := bytes.Clone(raw); c[len(c)-1] ^= 1; require.NoError(t, inner.Set([]byte("a"), c)) }},
		{"value moved from another key", func() {
			b, _ := inner.Get([]byte("b"))
			require.NoError(t, inner.Set([]byte("a"), b))
		}},
		{"truncated", func() { require.NoError(t, inner.Set([]byte("a"), raw[:10])) }},
		{"sealed by another runtime", func() {
			require.NoError(t, NewDB(inner, testKey(t, 2)).Set([]byte("a"), []byte("alpha")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, inner.Set([]byte("a"), raw))
			tt.tamper()
			_, err := db.Get([]byte("a"))
			require.ErrorIs(t, err, ErrTampered)
			it, err := db.Iterator(nil, nil)
			require.NoError(t, err)
			require.False(t, it.Valid(), "iteration stops at the tampered value")
			require.ErrorIs(t, it.Error(), ErrTampered)
			require.NoError(t, it.Close())
		})
	}

	require.NoError(t, inner.Set([]byte("a"), raw))
	batch := db.NewBatch()
	require.NoError(t, batch.Set([]byte("c"), []byte("gamma")))
	require.NoError(t, batch.Write())
	it, err := db.Iterator(nil, nil)
	require.NoError(t, err)
	var got []string
	for ; it.Valid(); it.Next() {
		got = append(got, string(it.Key())+"="+string(it.Value()))
	}
	require.NoError(t, it.Error())
	require.Equal(t, []string{"a=alpha", "b=beta", "c=gamma", "e="}, got)
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	k := testKey(t, 3)
	require.NoError(t, k.WriteFile(path, "keys", []byte("secret")))
	got, err := k.ReadFile(path, "keys")
	require.NoError(t, err)
	require.Equal(t, "secret", string(got))

	_, err = k.ReadFile(path, "checkpoint")
	require.ErrorIs(t, err, ErrTampered, "a file sealed for one purpose cannot be used for another")
	_, err = testKey(t, 4).ReadFile(path, "keys")
	require.ErrorIs(t, err, ErrTampered)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotContains(t, string(b), "secret")
	b[len(b)-1] ^= 1
	require.NoError(t, os.WriteFile(path, b, 0o600))
	_, err = k.ReadFile(path, "keys")
	require.ErrorIs(t, err, ErrTampered)
	_, err = k.ReadFile(filepath.Join(t.TempDir(), "absent"), "keys")
	require.True(t, errors.Is(err, os.ErrNotExist))
}
