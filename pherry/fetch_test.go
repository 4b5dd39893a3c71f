package pherry

import (
	"context"
	"testing"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/node/nodetest"
	"github.com/phala-go/phala/pruntime/replica"
)

// TestFetcher: ranges of every size, including ones that split into a one-request batch
// (answered by the node as a lone JSON object) and ones larger than the node's batch cap.
func TestFetcher(t *testing.T) {
	n := nodetest.Start(t)
	nodetest.WaitHeight(t, n.RPC, 25)
	rpc, err := rpchttp.New(n.RPC, "/websocket")
	require.NoError(t, err)
	f := &fetcher{rpc: rpc}
	for _, r := range [][2]int64{{1, 1}, {1, 11}, {3, 24}, {10, 10}} {
		hs, err := f.headers(context.Background(), r[0], r[1])
		require.NoError(t, err, r)
		require.Len(t, hs, int(r[1]-r[0]+1))
		bs, err := f.blocks(context.Background(), r[0], r[1])
		require.NoError(t, err, r)
		require.Len(t, bs, int(r[1]-r[0]+1))
		for i, b := range bs {
			sh, _, err := replica.DecodeHeader(r[0]+int64(i), b.SignedHeader, b.ValidatorSet)
			require.NoError(t, err)
			require.Equal(t, r[0]+int64(i), sh.Height)
		}
	}
}
