package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keyring"
	"github.com/phala-go/phala/crypto/keys"
)

func (g *globals) client(ctx context.Context) (*client.Client, error) {
	return client.New(ctx, g.node)
}

// resolveAddress accepts an SS58 address, 0x hex, or the name of a key in the keyring.
func (g *globals) resolveAddress(s string) (keys.AccountID, error) {
	id, err := keys.ParseAccountID(s)
	if err == nil {
		return id, nil
	}
	kr, krErr := keyring.Open(filepath.Join(g.home, "keyring"), keyring.Backend(g.backend), nil)
	if krErr == nil {
		if rec, err := kr.Get(s); err == nil {
			return rec.Public.AccountID(), nil
		}
	}
	return id, fmt.Errorf("%q is neither an address nor a key in the %s keyring: %w", s, g.backend, err)
}

// txFlags are shared by every command that sends a transaction.
type txFlags struct {
	from    string
	fee     string
	memo    string
	timeout time.Duration
}

func addTxFlags(cmd *cobra.Command, g *globals, f *txFlags) {
	addClientFlags(cmd, g)
	cmd.Flags().StringVar(&f.from, "from", "", "name of the signing key in the keyring")
	cmd.Flags().StringVar(&f.fee, "fee", "", "fee (default: the minimum the chain requires), e.g. 0.01PHA")
	cmd.Flags().StringVar(&f.memo, "memo", "", "memo")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the transaction's block")
	_ = cmd.MarkFlagRequired("from")
}

// txJSON is how transaction results are printed.
type txJSON struct {
	Hash      string         `json:"hash"`
	Height    int64          `json:"height"`
	Code      uint32         `json:"code"`
	Codespace string         `json:"codespace,omitempty"`
	Log       string         `json:"log,omitempty"`
	Events    []client.Event `json:"events,omitempty"`
}

// send signs msgs with --from, submits them, waits for the block and prints the outcome. A
// transaction that failed inside its block exits with status 2 (the fee was charged).
func (g *globals) send(cmd *cobra.Command, f *txFlags, msgs ...proto.Message) (*client.TxResult, error) {
	p, err := g.printer(cmd)
	if err != nil {
		return nil, err
	}
	return g.submit(cmd, f, &p, msgs...)
}

// sendQuiet is send without printing the outcome, for commands that print their own.
func (g *globals) sendQuiet(cmd *cobra.Command, f *txFlags, msgs ...proto.Message) (*client.TxResult, error) {
	return g.submit(cmd, f, nil, msgs...)
}

func (g *globals) submit(cmd *cobra.Command, f *txFlags, p *printer, msgs ...proto.Message) (*client.TxResult, error) {
	key, err := g.signer(f.from)
	if err != nil {
		return nil, err
	}
	opts := client.TxOptions{Memo: f.memo}
	if f.fee != "" {
		fee, err := amount.ParsePHA(f.fee)
		if err != nil {
			return nil, fmt.Errorf("--fee: %w", err)
		}
		opts.Fee = &fee
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	c, err := g.client(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.Submit(ctx, key, opts, msgs...)
	if err != nil {
		return nil, explain(err)
	}
	out := txJSON{Hash: res.Hash, Height: res.Height, Events: res.Events}
	if res.Err != nil {
		var remote *errcode.Remote
		if errors.As(res.Err, &remote) {
			out.Codespace, out.Code = remote.Err.Codespace(), remote.Err.Code()
		}
		out.Log = res.Err.Error()
	}
	if p != nil {
		if err := p.print(out, func(w io.Writer) {
			if res.Err != nil {
				fmt.Fprintf(w, "transaction %s FAILED in block %d (the fee was charged): %v\n", res.Hash, res.Height, res.Err)
				return
			}
			fmt.Fprintf(w, "transaction %s committed in block %d\n", res.Hash, res.Height)
		}); err != nil {
			return nil, err
		}
	} else if res.Err != nil {
		return res, res.Err
	}
	if res.Err != nil {
		return res, exitCode(2)
	}
	return res, nil
}

// explain adds what to do to the commonest refusals.
func explain(err error) error {
	switch {
	case errors.Is(err, accounts.ErrInsufficientBalance):
		return fmt.Errorf("%w (check with `phala query balance`)", err)
	}
	return err
}

func newTxCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tx", Short: "Send transactions"}
	var f txFlags
	var to, amt string
	transfer := &cobra.Command{
		Use:   "transfer",
		Short: "Transfer PHA to another account",
		Example: `  phala tx transfer --from alice --to 45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2 --amount 1.5PHA
  phala tx transfer --from alice --to bob --amount 1000000000000   # smallest units; bob is a keyring name`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dest, err := g.resolveAddress(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			a, err := amount.ParsePHA(amt)
			if err != nil {
				return fmt.Errorf("--amount: %w", err)
			}
			_, err = g.send(cmd, &f, &accounts.MsgTransfer{To: dest[:], Amount: a.String()})
			return err
		},
	}
	addTxFlags(transfer, g, &f)
	transfer.Flags().StringVar(&to, "to", "", "recipient: address or keyring name")
	transfer.Flags().StringVar(&amt, "amount", "", "amount, e.g. 1.5PHA or an integer in the smallest unit (10^-12 PHA)")
	_ = transfer.MarkFlagRequired("to")
	_ = transfer.MarkFlagRequired("amount")
	cmd.AddCommand(transfer)
	return cmd
}

// trimHash normalises a transaction hash for lookups.
func trimHash(s string) string { return strings.ToUpper(strings.TrimPrefix(s, "0x")) }
