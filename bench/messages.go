package bench

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/devnet"
	"github.com/phala-go/phala/node"
)

// MessagesOptions configure `phala bench messages`.
type MessagesOptions struct {
	// Repo is the repository root; "" finds it from the working directory upwards.
	Repo string
	// PRuntime is the pruntime binary the network runs.
	PRuntime string
	// Rounds is how many messages go each way (within the token's cluster, and across).
	Rounds int
	// BlockTime is the chain's timeout_commit (phala dev's default: 500ms).
	BlockTime time.Duration
	// Log receives progress lines; nil discards them.
	Log *slog.Logger `json:"-"`
}

// Latency is how long a message took, from its sender's report landing on chain to its
// receiver's report landing, over the rounds.
type Latency struct {
	Blocks   Spread `json:"blocks"`
	Duration Timing `json:"duration"`
}

// Spread summarises block counts.
type Spread struct {
	Median int64 `json:"median"`
	Min    int64 `json:"min"`
	Max    int64 `json:"max"`
}

// MessagesResult is `phala bench messages`' outcome.
type MessagesResult struct {
	Options MessagesOptions `json:"options"`
	CPUs    int             `json:"cpus"`
	// Command is a command's own latency: its transaction's block to its report's.
	Command Latency `json:"command"`
	// SameCluster is a message to a contract of the sender's cluster, the baseline of
	// CrossCluster, a message to a contract of the other cluster.
	SameCluster  Latency `json:"same_cluster"`
	CrossCluster Latency `json:"cross_cluster"`
	// Ratio is the cross-cluster message's median duration over the same-cluster one's.
	Ratio float64 `json:"ratio_cross_over_same_cluster"`
}

// Messages measures the latency of asynchronous contract messages on a `phala dev` network
// (one gatekeeper, two clusters of one worker): the token example in cluster 1 notifies an
// order book with transfer_notify, alternately one in cluster 1 (the baseline) and one in
// cluster 2, and each message is timed from the sender's report to the receiver's, in blocks
// and in block time.
func Messages(ctx context.Context, o MessagesOptions) (*MessagesResult, error) {
	if o.Rounds <= 0 || o.BlockTime <= 0 {
		return nil, ErrOptions
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	repo := o.Repo
	if repo == "" {
		var err error
		if repo, err = findRepo("."); err != nil {
			return nil, err
		}
	}
	book, err := buildContract(ctx, filepath.Join(repo, "examples", "contracts", "orderbook"))
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "phala-bench-messages-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	ports, err := node.FreePorts(2)
	if err != nil {
		return nil, err
	}
	cfg := devnet.NodeConfig(o.BlockTime)
	cfg.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[0])
	cfg.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])
	cfg.Metrics.ListenAddress = ""
	o.Log.Info("starting a phala dev network: 1 gatekeeper, 2 clusters of 1 worker, the token example")
	n, err := devnet.Start(ctx, devnet.Options{Home: home, ChainID: "phala-bench", Config: cfg, PRuntime: o.PRuntime, RuntimeAddr: "127.0.0.1:0",
		Gatekeepers: 1, Workers: 2, Clusters: 2, Examples: true, ExamplesDir: filepath.Join(repo, "examples", "contracts")})
	if err != nil {
		return nil, err
	}
	defer n.Stop()
	c, err := client.New(ctx, n.RPC)
	if err != nil {
		return nil, err
	}
	alice, err := keys.FromURI(keys.Sr25519, "//Alice")
	if err != nil {
		return nil, err
	}
	bob, err := keys.FromURI(keys.Sr25519, "//"+devnet.TokenDeployer)
	if err != nil {
		return nil, err
	}
	books, err := deployBooks(ctx, c, alice, n.Token, book)
	if err != nil {
		return nil, err
	}
	// The token pays the gas of its notifications from its account.
	fund, _ := amount.OnePHA.MulUint64(100)
	if res, err := c.Submit(ctx, alice, client.TxOptions{}, &contracts.MsgDeposit{Contract: n.Token, Amount: fund.String(), GasLimit: 100_000_000}); err != nil || res.Err != nil {
		return nil, fmt.Errorf("%w: deposit into the token: %w", ErrFailed, errorsOr(err, res))
	}
	r := &MessagesResult{Options: o, CPUs: runtime.NumCPU()}
	var command, same, cross []sample
	for i := range 2 * o.Rounds {
		to := books[i%2]
		cmd, msg, err := notify(ctx, c, bob, n.Token, to)
		if err != nil {
			return nil, err
		}
		command = append(command, cmd)
		if i%2 == 0 {
			same = append(same, msg)
		} else {
			cross = append(cross, msg)
		}
		o.Log.Info("message delivered", "round", i/2+1, "cross_cluster", i%2 == 1, "blocks", msg.blocks, "duration", msg.d)
	}
	r.Command, r.SameCluster, r.CrossCluster = latency(command), latency(same), latency(cross)
	r.Ratio = ratio(r.CrossCluster.Duration.Median, r.SameCluster.Duration.Median)
	return r, nil
}

func errorsOr(err error, res *client.TxResult) error {
	if err != nil {
		return err
	}
	return res.Err
}

// deployBooks deploys an order book trading the token against a second token in each of
// clusters 1 and 2: the receivers of the token's notifications.
func deployBooks(ctx context.Context, c *client.Client, deployer keys.PrivateKey, token, book []byte) ([2][]byte, error) {
	var books [2][]byte
	hash, res, err := c.UploadCode(ctx, deployer, book, client.TxOptions{})
	if err != nil || res.Err != nil {
		return books, fmt.Errorf("%w: upload the order book: %w", ErrFailed, errorsOr(err, res))
	}
	tokenCode, err := c.Contract(ctx, token)
	if err != nil {
		return books, err
	}
	for i := range books {
		cluster := registry.ClusterID(uint64(i + 1))
		holder := deployer.Public().AccountID()
		quote, _, err := c.Instantiate(ctx, deployer, tokenCode.GetCodeHash(), cluster, []byte("quote"),
			[]byte(fmt.Sprintf(`{"name":"Quote","symbol":"Q","mint":[{"to":"0x%x","amount":1}]}`, holder[:])), client.InstantiateOptions{})
		if err != nil {
			return books, fmt.Errorf("%w: a quote token in cluster %d: %w", ErrFailed, i+1, err)
		}
		init := fmt.Sprintf(`{"base":"0x%x","quote":"0x%x"}`, token, quote.GetId())
		ct, _, err := c.Instantiate(ctx, deployer, hash[:], cluster, []byte("book"), []byte(init), client.InstantiateOptions{})
		if err != nil {
			return books, fmt.Errorf("%w: an order book in cluster %d: %w", ErrFailed, i+1, err)
		}
		books[i] = ct.GetId()
	}
	return books, nil
}

// sample is one latency: blocks and block time between two reports.
type sample struct {
	blocks int64
	d      time.Duration
}

// notify sends 1 token to book with transfer_notify and times the command (transaction to
// report) and the message it sent (sender's report to receiver's).
func notify(ctx context.Context, c *client.Client, from keys.PrivateKey, token, book []byte) (cmd, msg sample, err error) {
	input := fmt.Sprintf(`{"transfer_notify":{"to":"0x%x","amount":1}}`, book)
	n, res, err := c.Execute(ctx, from, token, []byte(input), client.ExecuteOptions{})
	if err != nil {
		return cmd, msg, fmt.Errorf("%w: transfer_notify: %w", ErrFailed, err)
	}
	x, err := c.WaitExecuted(ctx, token, n)
	if err != nil {
		return cmd, msg, err
	}
	if x.Outcome != "ok" || len(x.Sent) != 1 || x.Sent[0].Bounced != "" {
		return cmd, msg, fmt.Errorf("%w: transfer_notify %d: outcome %s, sent %+v", ErrFailed, n, x.Outcome, x.Sent)
	}
	d, err := c.WaitDelivered(ctx, x.Sent[0].From[:], x.Sent[0].Number)
	if err != nil {
		return cmd, msg, err
	}
	if d.Outcome != "ok" || hex.EncodeToString(d.To[:]) != hex.EncodeToString(book) {
		return cmd, msg, fmt.Errorf("%w: message %d to %x: outcome %s", ErrFailed, d.Number, d.To, d.Outcome)
	}
	if cmd, err = between(ctx, c, res.Height, x.Height); err != nil {
		return cmd, msg, err
	}
	msg, err = between(ctx, c, x.Height, d.Height)
	return cmd, msg, err
}

// between is the distance from block a to block b, in blocks and in their header times.
func between(ctx context.Context, c *client.Client, a, b int64) (sample, error) {
	var t [2]time.Time
	for i, h := range []int64{a, b} {
		blk, err := c.RPC().Block(ctx, &h)
		if err != nil {
			return sample{}, err
		}
		t[i] = blk.Block.Time
	}
	return sample{blocks: b - a, d: t[1].Sub(t[0])}, nil
}

func latency(s []sample) Latency {
	var blocks []int64
	var ds []time.Duration
	for _, x := range s {
		blocks = append(blocks, x.blocks)
		ds = append(ds, x.d)
	}
	var l Latency
	if len(blocks) > 0 {
		sorted := slices.Sorted(slices.Values(blocks))
		l.Blocks = Spread{Median: sorted[len(sorted)/2], Min: sorted[0], Max: sorted[len(sorted)-1]}
	}
	l.Duration = timing(ds)
	return l
}
