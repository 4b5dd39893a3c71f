package pruntime

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/chaintest"
)

// exportStream is the chain's state at height h as a snapshot stream.
func exportStream(t *testing.T, w *world, h int64) []byte {
	snap, err := w.chain.App.State(h)
	require.NoError(t, err)
	exp, err := snap.Export()
	require.NoError(t, err)
	defer exp.Close()
	var out []byte
	for {
		n, err := exp.Next()
		if err == store.ErrExportDone {
			return out
		}
		require.NoError(t, err)
		out = append(out, store.EncodeExportNode(n)...)
	}
}

func fastSync(t *testing.T, r *Runtime, blocks []*chaintest.Block, h int64, stream []byte) error {
	var headers []*api.Header
	for _, b := range blocks[:h+1] {
		e := b.Encode()
		headers = append(headers, &api.Header{SignedHeader: e.SignedHeader, ValidatorSet: e.ValidatorSet})
	}
	_, err := r.SyncHeaders(&api.SyncHeadersRequest{Headers: headers})
	require.NoError(t, err)
	const chunk = 1000
	for i := 0; i < len(stream); i += chunk {
		end := min(i+chunk, len(stream))
		if _, err := r.LoadSnapshot(&api.LoadSnapshotRequest{Height: h, Chunk: stream[i:end], Last: end == len(stream)}); err != nil {
			return err
		}
	}
	return nil
}

func TestFastSync(t *testing.T) {
	w := newWorld(t)
	r := w.runtimeAt(t.TempDir())
	defer r.Close()
	_, err := r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	// Registration comes after the snapshot height, so the worker misses nothing meant for it.
	var blocks []*chaintest.Block
	for i := 0; i < 10; i++ {
		blocks = append(blocks, w.chain.Next(w.sign("Bob", &mq.MsgPush{Topic: "x"})))
	}
	const snapHeight = 8
	require.NoError(t, fastSync(t, r, blocks, snapHeight, exportStream(t, w, snapHeight)))
	require.Equal(t, int64(snapHeight), r.Info().VerifiedHeight)
	require.Equal(t, int64(snapHeight+1), r.Info().NextHeight)

	blocks = append(blocks, history(t, w, r, 3)...)
	syncTo(t, w, r, blocks)
	h := r.Info().VerifiedHeight
	mine, err := r.app.State(h)
	require.NoError(t, err)
	theirs, err := w.chain.App.State(h)
	require.NoError(t, err)
	require.Equal(t, theirs.Hash(), mine.Hash())
	out, err := r.Egress()
	require.NoError(t, err)
	require.Len(t, out, 3, "after fast sync the worker answers pings like any other")
}

func TestTamperedSnapshotIsRefused(t *testing.T) {
	w := newWorld(t)
	r := w.runtimeAt(t.TempDir())
	defer r.Close()
	_, err := r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	var blocks []*chaintest.Block
	for i := 0; i < 6; i++ {
		blocks = append(blocks, w.chain.Next())
	}
	stream := exportStream(t, w, 4)
	stream[len(stream)/2] ^= 0x01
	err = fastSync(t, r, blocks, 4, stream)
	require.Error(t, err)
	require.Equal(t, 1.0, counter(r.metrics.integrity.WithLabelValues("snapshot_refused")))
	require.Equal(t, int64(1), r.Info().NextHeight, "back to a verified sync from genesis")
	syncTo(t, w, r, blocks)
	require.Equal(t, int64(5), r.Info().VerifiedHeight)
}
