package store

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"
)

func newTree(t *testing.T, db dbm.DB) *Tree {
	t.Helper()
	tr, err := OpenTree(db, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return tr
}

// model is a plain map used as the reference a Cache must agree with.
type model map[string]string

func (m model) rangeKeys(start, end []byte) []string {
	var keys []string
	for k := range m {
		if inRange([]byte(k), start, end) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func collect(it Iterator) (keys, values []string) {
	defer it.Close()
	for ; it.Valid(); it.Next() {
		keys = append(keys, string(it.Key()))
		values = append(values, string(it.Value()))
	}
	return keys, values
}

func TestCacheAgreesWithModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := newTree(t, dbm.NewMemDB())
	base := model{}
	for i := 0; i < 200; i++ {
		k := fmt.Sprintf("k%03d", rng.IntN(300))
		v := fmt.Sprintf("v%d", i)
		tr.Working().Set([]byte(k), []byte(v))
		base[k] = v
	}
	outer := NewCache(tr.Working())
	inner := NewCache(outer)
	want := maps(base)
	for i := 0; i < 500; i++ {
		k := fmt.Sprintf("k%03d", rng.IntN(300))
		if rng.IntN(3) == 0 {
			inner.Delete([]byte(k))
			delete(want, k)
		} else {
			v := fmt.Sprintf("w%d", i)
			inner.Set([]byte(k), []byte(v))
			want[k] = v
		}
	}
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("k%03d", i)
		got := inner.Get([]byte(k))
		if v, ok := want[k]; ok {
			require.Equal(t, v, string(got), k)
		} else {
			require.Nil(t, got, k)
		}
	}
	ranges := [][2][]byte{{nil, nil}, {[]byte("k050"), []byte("k150")}, {[]byte("k299"), nil}, {[]byte("k100"), []byte("k100\x00")}}
	for _, r := range ranges {
		keys, values := collect(inner.Iterator(r[0], r[1]))
		wantKeys := want.rangeKeys(r[0], r[1])
		require.Equal(t, wantKeys, keys)
		for i, k := range keys {
			require.Equal(t, want[k], values[i])
		}
	}
	// The parent must not see anything until Write.
	for k, v := range base {
		require.Equal(t, v, string(outer.Get([]byte(k))))
	}
	inner.Write(outer)
	require.Zero(t, inner.Len())
	outer.Write(tr.Working())
	keys, _ := collect(tr.Working().Iterator(nil, nil))
	require.Equal(t, want.rangeKeys(nil, nil), keys)
}

func maps(m model) model {
	out := model{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Writes flushed from a Cache land in sorted order, so two replicas that performed the same
// writes in different orders reach the same root hash.
func TestRootIndependentOfWriteOrder(t *testing.T) {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i*7919%1000)
	}
	var hashes [][]byte
	for seed := uint64(0); seed < 3; seed++ {
		tr := newTree(t, dbm.NewMemDB())
		c := NewCache(tr.Working())
		order := slices.Clone(keys)
		rand.New(rand.NewPCG(seed, seed)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			c.Set([]byte(k), []byte("v"+k))
		}
		c.Write(tr.Working())
		h, _, err := tr.Commit()
		require.NoError(t, err)
		hashes = append(hashes, h)
	}
	require.Equal(t, hashes[0], hashes[1])
	require.Equal(t, hashes[0], hashes[2])
}

func TestCommitReloadAndSnapshots(t *testing.T) {
	db := dbm.NewMemDB()
	tr := newTree(t, db)
	tr.SetInitialVersion(5)
	tr.Working().Set([]byte("a"), []byte("1"))
	working := tr.WorkingHash()
	h5, v, err := tr.Commit()
	require.NoError(t, err)
	require.Equal(t, int64(5), v)
	require.Equal(t, working, h5)
	tr.Working().Set([]byte("a"), []byte("2"))
	tr.Working().Set([]byte("b"), nil)
	h6, v, err := tr.Commit()
	require.NoError(t, err)
	require.Equal(t, int64(6), v)
	require.NotEqual(t, h5, h6)

	// A later write that is not committed is lost on reopen, as after a crash.
	tr.Working().Set([]byte("c"), []byte("lost"))
	reopened := newTree(t, db)
	require.Equal(t, int64(6), reopened.Version())
	require.Equal(t, h6, reopened.Hash())
	require.Nil(t, reopened.Working().Get([]byte("c")))
	require.Equal(t, []byte{}, reopened.Working().Get([]byte("b")))

	s5, err := reopened.Snapshot(5)
	require.NoError(t, err)
	require.Equal(t, "1", string(s5.Get([]byte("a"))))
	require.Equal(t, h5, s5.Hash())
	_, err = reopened.Snapshot(7)
	require.ErrorIs(t, err, ErrVersionNotFound)
}

func TestProofs(t *testing.T) {
	tr := newTree(t, dbm.NewMemDB())
	for i := 0; i < 50; i++ {
		tr.Working().Set([]byte(fmt.Sprintf("acct/%02d", i)), []byte(fmt.Sprintf("balance %d", i)))
	}
	root, v, err := tr.Commit()
	require.NoError(t, err)
	snap, err := tr.Snapshot(v)
	require.NoError(t, err)

	value, proof, err := snap.Prove([]byte("acct/07"))
	require.NoError(t, err)
	require.Equal(t, "balance 7", string(value))
	require.NoError(t, VerifyProof(root, proof, []byte("acct/07"), value))
	require.ErrorIs(t, VerifyProof(root, proof, []byte("acct/07"), []byte("balance 8")), ErrBadProof)
	require.ErrorIs(t, VerifyProof(bytes.Repeat([]byte{1}, 32), proof, []byte("acct/07"), value), ErrBadProof)

	value, proof, err = snap.Prove([]byte("acct/77"))
	require.NoError(t, err)
	require.Nil(t, value)
	require.NoError(t, VerifyProof(root, proof, []byte("acct/77"), nil))
	require.ErrorIs(t, VerifyProof(root, proof, []byte("acct/07"), nil), ErrBadProof)
	require.ErrorIs(t, VerifyProof(root, nil, []byte("acct/07"), nil), ErrBadProof)
}

func TestPrefixEnd(t *testing.T) {
	require.Equal(t, []byte("acd"), PrefixEnd([]byte("acc")))
	require.Equal(t, []byte{0x01}, PrefixEnd([]byte{0x00, 0xff}))
	require.Nil(t, PrefixEnd([]byte{0xff, 0xff}))
}

func BenchmarkCacheWrite(b *testing.B) {
	tr, _ := OpenTree(dbm.NewMemDB(), slog.New(slog.DiscardHandler))
	for i := 0; i < b.N; i++ {
		c := NewCache(tr.Working())
		for j := 0; j < 3; j++ {
			c.Set([]byte(fmt.Sprintf("acct/%d", (i*3+j)%10000)), []byte("value"))
		}
		c.Write(tr.Working())
		if i%1000 == 999 {
			if _, _, err := tr.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
