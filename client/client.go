package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/crypto/keys"
)

// ErrTimeout is returned when a submitted transaction is not included before the deadline.
var ErrTimeout = errors.New("transaction not included in time")

// Client talks to one node over its RPC.
type Client struct {
	rpc     *rpchttp.HTTP
	url     string
	chainID string
}

// New connects to a node's RPC (http://host:port) and learns its chain id.
func New(ctx context.Context, url string) (*Client, error) {
	rpc, err := rpchttp.New(url, "/websocket")
	if err != nil {
		return nil, fmt.Errorf("node RPC %s: %w", url, err)
	}
	c := &Client{rpc: rpc, url: url}
	st, err := rpc.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("node RPC %s is not answering: %w (is the node running? `phala dev` starts one)", url, err)
	}
	c.chainID = st.NodeInfo.Network
	return c, nil
}

// RPC exposes the underlying CometBFT RPC client.
func (c *Client) RPC() *rpchttp.HTTP { return c.rpc }

// URL is the node's RPC address.
func (c *Client) URL() string { return c.url }

// ChainID is the chain the node runs.
func (c *Client) ChainID() string { return c.chainID }

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*ctypes.ResultStatus, error) { return c.rpc.Status(ctx) }

// WaitHeight returns once the node's latest block is at least h, or when ctx ends.
func (c *Client) WaitHeight(ctx context.Context, h int64) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		st, err := c.rpc.Status(ctx)
		if err == nil && st.SyncInfo.LatestBlockHeight >= h {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for height %d: %w", h, ctx.Err())
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// Query runs an application query and returns its value and the height it reflects.
func (c *Client) Query(ctx context.Context, path string, data []byte, height int64) ([]byte, int64, error) {
	resp, err := c.rpc.ABCIQueryWithOptions(ctx, path, data, optsAt(height, false))
	if err != nil {
		return nil, 0, fmt.Errorf("query %s: %w", path, err)
	}
	r := resp.Response
	if err := errcode.FromABCI(r.Codespace, r.Code, r.Log); err != nil {
		return nil, r.Height, err
	}
	return r.Value, r.Height, nil
}

// QueryProto runs a query and decodes its answer into out.
func (c *Client) QueryProto(ctx context.Context, path string, data []byte, out proto.Message) (int64, error) {
	v, h, err := c.Query(ctx, path, data, 0)
	if err != nil {
		return h, err
	}
	return h, proto.Unmarshal(v, out)
}

// Account reads an account's committed balance and nonce.
func (c *Client) Account(ctx context.Context, id keys.AccountID) (accounts.State, int64, error) {
	var a accounts.Account
	h, err := c.QueryProto(ctx, "/accounts/"+accounts.QueryAccount, id[:], &a)
	if err != nil {
		return accounts.State{}, h, err
	}
	s, err := decodeAccount(&a)
	return s, h, err
}

func decodeAccount(a *accounts.Account) (accounts.State, error) {
	bal, err := amount.Parse(a.GetBalance())
	if err != nil {
		return accounts.State{}, fmt.Errorf("node answered a bad balance: %w", err)
	}
	return accounts.State{Balance: bal, Nonce: a.GetNonce()}, nil
}

// NextNonce is the nonce the account's next transaction must carry, counting transactions
// already accepted into the node's mempool.
func (c *Client) NextNonce(ctx context.Context, id keys.AccountID) (uint64, error) {
	var a accounts.Account
	if _, err := c.QueryProto(ctx, "/pending/accounts/"+accounts.QueryAccount, id[:], &a); err != nil {
		return 0, err
	}
	return a.GetNonce(), nil
}

// TxOptions tune a submission; the zero value is fine.
type TxOptions struct {
	// Fee overrides the computed minimum fee.
	Fee  *amount.Amount
	Memo string
	// Nonce overrides the account's next nonce.
	Nonce *uint64
}

// Build signs a transaction carrying msgs with the fee the chain requires for its size.
func (c *Client) Build(ctx context.Context, key keys.PrivateKey, opts TxOptions, msgs ...proto.Message) ([]byte, error) {
	u := tx.Unsigned{ChainID: c.chainID, Msgs: msgs, Memo: opts.Memo}
	if opts.Nonce != nil {
		u.Nonce = *opts.Nonce
	} else {
		n, err := c.NextNonce(ctx, key.Public().AccountID())
		if err != nil {
			return nil, err
		}
		u.Nonce = n
	}
	if opts.Fee != nil {
		u.Fee = *opts.Fee
		return tx.Build(u, key)
	}
	var p accounts.Params
	if _, err := c.QueryProto(ctx, "/accounts/"+accounts.QueryParams, nil, &p); err != nil {
		return nil, err
	}
	return BuildWithMinimumFee(u, key, &p)
}

// BuildWithMinimumFee signs u with the least fee the params require. The fee depends on the
// encoded size, which depends on the fee's digits, so it iterates to a fixed point.
func BuildWithMinimumFee(u tx.Unsigned, key keys.PrivateKey, p *accounts.Params) ([]byte, error) {
	for range 4 {
		raw, err := tx.Build(u, key)
		if err != nil {
			return nil, err
		}
		need, err := accounts.RequiredFee(p, len(raw), len(u.Msgs))
		if err != nil {
			return nil, err
		}
		if u.Fee.Cmp(need) >= 0 {
			return raw, nil
		}
		u.Fee = need
	}
	return nil, errors.New("fee did not settle; pass a fee explicitly")
}

// TxResult is a transaction's outcome in a block.
type TxResult struct {
	Hash   string
	Height int64
	// Err is the chain's error when the transaction failed in the block (its fee was charged).
	Err    error
	Events []Event
}

// Event is an ABCI event with its attributes.
type Event struct {
	Type       string            `json:"type"`
	Attributes map[string]string `json:"attributes"`
}

// Attr returns the value of the first event of type typ with attribute key.
func (r *TxResult) Attr(typ, key string) (string, bool) {
	for _, e := range r.Events {
		if e.Type == typ {
			v, ok := e.Attributes[key]
			return v, ok
		}
	}
	return "", false
}

// Submit builds, signs and broadcasts a transaction and waits until a block includes it. A
// refusal by the mempool is returned as the error; a failure inside the block is in TxResult.Err.
func (c *Client) Submit(ctx context.Context, key keys.PrivateKey, opts TxOptions, msgs ...proto.Message) (*TxResult, error) {
	raw, err := c.Build(ctx, key, opts, msgs...)
	if err != nil {
		return nil, err
	}
	return c.BroadcastAndWait(ctx, raw)
}

// Broadcast sends a signed transaction and returns its hash once the mempool accepted it.
func (c *Client) Broadcast(ctx context.Context, raw []byte) (string, error) {
	res, err := c.rpc.BroadcastTxSync(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("broadcast: %w", err)
	}
	if err := errcode.FromABCI(res.Codespace, res.Code, res.Log); err != nil {
		return res.Hash.String(), err
	}
	return res.Hash.String(), nil
}

// BroadcastAndWait sends a signed transaction and waits for its block.
func (c *Client) BroadcastAndWait(ctx context.Context, raw []byte) (*TxResult, error) {
	hash, err := c.Broadcast(ctx, raw)
	if err != nil {
		return nil, err
	}
	return c.WaitTx(ctx, hash)
}

// WaitTx polls until the transaction is in a block or ctx ends.
func (c *Client) WaitTx(ctx context.Context, hash string) (*TxResult, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := c.Tx(ctx, hash)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrTxNotFound) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %s: %v", ErrTimeout, hash, ctx.Err())
		case <-tick.C:
		}
	}
}

// ErrTxNotFound is returned for a transaction the node has not indexed.
var ErrTxNotFound = errors.New("transaction not found")

// Tx looks a transaction up by hash (hex).
func (c *Client) Tx(ctx context.Context, hash string) (*TxResult, error) {
	h, err := hex.DecodeString(strings.TrimPrefix(hash, "0x"))
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("transaction hash %q: want 64 hex digits", hash)
	}
	res, err := c.rpc.Tx(ctx, h, false)
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil, fmt.Errorf("%w: %s", ErrTxNotFound, hash)
		}
		return nil, err
	}
	out := &TxResult{
		Hash:   strings.ToUpper(hex.EncodeToString(h)),
		Height: res.Height,
		Err:    errcode.FromABCI(res.TxResult.Codespace, res.TxResult.Code, res.TxResult.Log),
	}
	for _, e := range res.TxResult.Events {
		ev := Event{Type: e.Type, Attributes: map[string]string{}}
		for _, a := range e.Attributes {
			ev.Attributes[a.Key] = a.Value
		}
		out.Events = append(out.Events, ev)
	}
	return out, nil
}

func optsAt(height int64, prove bool) rpcclient.ABCIQueryOptions {
	return rpcclient.ABCIQueryOptions{Height: height, Prove: prove}
}
