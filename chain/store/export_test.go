package store

import (
	"bytes"
	"fmt"
	"testing"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/stretchr/testify/require"
)

// TestExportImportRebuildsTheRoot: a tree exported, chunked at awkward sizes and imported
// elsewhere has the same root hash.
func TestExportImportRebuildsTheRoot(t *testing.T) {
	src := newTree(t, dbm.NewMemDB())
	for v := 0; v < 5; v++ {
		for i := 0; i < 200; i++ {
			src.Working().Set([]byte(fmt.Sprintf("k%03d", (i*37+v)%250)), []byte(fmt.Sprintf("v%d-%d", v, i)))
		}
		_, _, err := src.Commit()
		require.NoError(t, err)
	}
	snap, err := src.Snapshot(src.Version())
	require.NoError(t, err)
	exp, err := snap.Export()
	require.NoError(t, err)
	var stream []byte
	for {
		n, err := exp.Next()
		if err == ErrExportDone {
			break
		}
		require.NoError(t, err)
		stream = append(stream, EncodeExportNode(n)...)
	}
	exp.Close()

	dstDB := dbm.NewMemDB()
	dst := newTree(t, dstDB)
	imp, err := dst.Import(snap.Version())
	require.NoError(t, err)
	var dec ExportDecoder
	for i := 0; i < len(stream); i += 777 {
		nodes, err := dec.Feed(stream[i:min(i+777, len(stream))])
		require.NoError(t, err)
		for _, n := range nodes {
			require.NoError(t, imp.Add(n))
		}
	}
	require.NoError(t, dec.Done())
	require.NoError(t, imp.Commit())
	imp.Close()
	reopened := newTree(t, dstDB)
	require.Equal(t, snap.Hash(), reopened.Hash())
}

func TestExportDecoderRefusals(t *testing.T) {
	leaf := EncodeExportNode(&ExportNode{Key: []byte("k"), Value: []byte("v"), Version: 3, Height: 0})
	for name, b := range map[string][]byte{
		"truncated":          leaf[:len(leaf)-1],
		"inner with a value": EncodeExportNode(&ExportNode{Key: []byte("k"), Value: []byte("v"), Version: 3, Height: 2}),
		"leaf without value": EncodeExportNode(&ExportNode{Key: []byte("k"), Version: 3, Height: 0}),
		"zero version":       EncodeExportNode(&ExportNode{Key: []byte("k"), Value: []byte("v"), Version: 0}),
		"huge frame":         {0xff, 0xff, 0xff, 0xff, 0x7f},
	} {
		var d ExportDecoder
		nodes, err := d.Feed(b)
		if err == nil {
			err = d.Done()
		}
		require.ErrorIs(t, err, ErrBadExport, name)
		require.Empty(t, nodes, name)
	}
}

func FuzzExportDecoder(f *testing.F) {
	f.Add(EncodeExportNode(&ExportNode{Key: []byte("k"), Value: []byte("v"), Version: 3}))
	f.Add([]byte{0x03, 0x01, 'k', 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d ExportDecoder
		nodes, err := d.Feed(b)
		if err != nil {
			return
		}
		var again []byte
		for _, n := range nodes {
			again = append(again, EncodeExportNode(n)...)
		}
		if !bytes.HasPrefix(b, again) {
			t.Fatal("decoded nodes do not re-encode to the input")
		}
	})
}
