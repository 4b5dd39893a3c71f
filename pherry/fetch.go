package pherry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	rpctypes "github.com/cometbft/cometbft/rpc/jsonrpc/types"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phala-go/phala/pruntime/api"
)

// fetcher reads blocks, signed headers and validator sets from a node, in batched RPC calls.
type fetcher struct {
	rpc *rpchttp.HTTP
	// vals caches the last validator set by hash: sets change rarely.
	valsHash []byte
	vals     []byte
}

// maxBatchRequests is CometBFT's default cap on requests per JSON-RPC batch
// (rpc.max_request_batch_size); a node refuses larger batches.
const maxBatchRequests = 10

// call runs requests in batches within the node's cap and returns every result in order. The
// batch client reports a refused batch as a single result, not an error: count to notice.
func (f *fetcher) call(ctx context.Context, n int, enqueue func(b *rpchttp.BatchHTTP, i int) error) ([]any, error) {
	out := make([]any, 0, n)
	for start := 0; start < n; start += maxBatchRequests {
		b := f.rpc.NewBatch()
		end := min(start+maxBatchRequests, n)
		for i := start; i < end; i++ {
			if err := enqueue(b, i); err != nil {
				return nil, err
			}
		}
		res, err := b.Send(ctx)
		if err != nil {
			return nil, err
		}
		if len(res) != end-start {
			return nil, fmt.Errorf("the node answered %d of %d batched requests (is rpc.max_request_batch_size below %d?)", len(res), end-start, maxBatchRequests)
		}
		out = append(out, res...)
	}
	return out, nil
}

// result gives a batched call's result as T. A batch holding one request is answered with a
// single JSON object, which CometBFT's client returns raw (or as its RPC error) instead of typed.
func result[T any](r any) (*T, error) {
	switch v := r.(type) {
	case *T:
		return v, nil
	case json.RawMessage:
		var out T
		if err := cmtjson.Unmarshal(v, &out); err != nil {
			return nil, fmt.Errorf("decode RPC result: %w", err)
		}
		return &out, nil
	case *rpctypes.RPCError:
		return nil, v
	}
	return nil, fmt.Errorf("unexpected RPC result %T", r)
}

// blocks fetches heights [from, to] with their signed headers and validator sets.
func (f *fetcher) blocks(ctx context.Context, from, to int64) ([]*api.Block, error) {
	n := int(to-from+1) * 2
	results, err := f.call(ctx, n, func(b *rpchttp.BatchHTTP, i int) error {
		h := from + int64(i/2)
		if i%2 == 0 {
			_, err := b.Block(ctx, &h)
			return err
		}
		_, err := b.Commit(ctx, &h)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fetch blocks %d..%d: %w", from, to, err)
	}
	out := make([]*api.Block, 0, to-from+1)
	for i := 0; i+1 < len(results); i += 2 {
		blk, err := result[ctypes.ResultBlock](results[i])
		if err != nil {
			return nil, err
		}
		com, err := result[ctypes.ResultCommit](results[i+1])
		if err != nil {
			return nil, err
		}
		sh, err := com.SignedHeader.ToProto().Marshal()
		if err != nil {
			return nil, err
		}
		vals, err := f.validators(ctx, com.Height, com.ValidatorsHash)
		if err != nil {
			return nil, err
		}
		txs := make([][]byte, len(blk.Block.Txs))
		for j, tx := range blk.Block.Txs {
			txs[j] = tx
		}
		out = append(out, &api.Block{SignedHeader: sh, ValidatorSet: vals, Txs: txs})
	}
	return out, nil
}

// headers fetches signed headers and validator sets for [from, to] (fast sync).
func (f *fetcher) headers(ctx context.Context, from, to int64) ([]*api.Header, error) {
	results, err := f.call(ctx, int(to-from+1), func(b *rpchttp.BatchHTTP, i int) error {
		h := from + int64(i)
		_, err := b.Commit(ctx, &h)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fetch headers %d..%d: %w", from, to, err)
	}
	out := make([]*api.Header, 0, len(results))
	for _, r := range results {
		com, err := result[ctypes.ResultCommit](r)
		if err != nil {
			return nil, err
		}
		sh, err := com.SignedHeader.ToProto().Marshal()
		if err != nil {
			return nil, err
		}
		vals, err := f.validators(ctx, com.Height, com.ValidatorsHash)
		if err != nil {
			return nil, err
		}
		out = append(out, &api.Header{SignedHeader: sh, ValidatorSet: vals})
	}
	return out, nil
}

// validators returns the encoded validator set of height h, fetching it only when its hash
// differs from the cached one.
func (f *fetcher) validators(ctx context.Context, h int64, hash []byte) ([]byte, error) {
	if bytes.Equal(hash, f.valsHash) {
		return f.vals, nil
	}
	var all []*cmttypes.Validator
	perPage := 100
	for page := 1; ; page++ {
		res, err := f.rpc.Validators(ctx, &h, &page, &perPage)
		if err != nil {
			return nil, fmt.Errorf("validators of height %d: %w", h, err)
		}
		all = append(all, res.Validators...)
		if len(all) >= res.Total {
			break
		}
	}
	set := cmttypes.NewValidatorSet(all)
	if !bytes.Equal(set.Hash(), hash) {
		return nil, fmt.Errorf("the node's validator set for height %d does not match its header", h)
	}
	p, err := set.ToProto()
	if err != nil {
		return nil, err
	}
	b, err := p.Marshal()
	if err != nil {
		return nil, err
	}
	f.valsHash, f.vals = hash, b
	return b, nil
}
