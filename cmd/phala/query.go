package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
)

// proofFlags choose whether and how an answer is verified.
type proofFlags struct {
	prove       bool
	trustHeight int64
	trustHash   string
}

func addProofFlags(cmd *cobra.Command, f *proofFlags) {
	cmd.Flags().BoolVar(&f.prove, "prove", false, "verify the answer: Merkle proof against the app hash of a light-client-verified header")
	cmd.Flags().Int64Var(&f.trustHeight, "trust-height", 0, "height of a header you trust (with --trust-hash); default: the genesis validators, on first use")
	cmd.Flags().StringVar(&f.trustHash, "trust-hash", "", "hash of the header at --trust-height")
}

// accountJSON is how accounts are printed.
type accountJSON struct {
	Address    string `json:"address"`
	Balance    string `json:"balance"`
	BalancePHA string `json:"balance_pha"`
	Nonce      uint64 `json:"nonce"`
	Height     int64  `json:"height"`
	Verified   bool   `json:"verified"`
	AppHash    string `json:"app_hash,omitempty"`
}

// readAccount reads an account, through a verified proof when asked.
func (g *globals) readAccount(ctx context.Context, id keys.AccountID, pf *proofFlags) (accountJSON, error) {
	c, err := g.client(ctx)
	if err != nil {
		return accountJSON{}, err
	}
	out := accountJSON{Address: id.String()}
	var st accounts.State
	if !pf.prove {
		st, out.Height, err = c.Account(ctx, id)
		if err != nil {
			return out, err
		}
	} else {
		trust := client.Trust{Height: pf.trustHeight}
		if pf.trustHash != "" {
			if trust.Hash, err = hex.DecodeString(pf.trustHash); err != nil {
				return out, fmt.Errorf("--trust-hash: %w", err)
			}
		}
		v, err := c.NewVerifier(ctx, filepath.Join(g.home, "light"), trust)
		if err != nil {
			return out, err
		}
		defer v.Close()
		proven, err := v.Get(ctx, accounts.AccountKey(id))
		if err != nil {
			return out, err
		}
		var a accounts.Account
		if proven.Value != nil {
			if err := proto.Unmarshal(proven.Value, &a); err != nil {
				return out, err
			}
		}
		if st.Balance, err = amount.Parse(orZero(a.GetBalance())); err != nil {
			return out, err
		}
		st.Nonce = a.GetNonce()
		out.Height, out.Verified, out.AppHash = proven.Height, true, fmt.Sprintf("%X", proven.AppHash)
	}
	out.Balance, out.BalancePHA, out.Nonce = st.Balance.String(), amount.FormatPHA(st.Balance), st.Nonce
	return out, nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func newQueryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "query", Aliases: []string{"q"}, Short: "Read chain state"}
	var pf proofFlags
	accountCmd := func(use, short string, balanceOnly bool) *cobra.Command {
		c := &cobra.Command{
			Use:   use + " ADDRESS|KEYNAME",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				p, err := g.printer(cmd)
				if err != nil {
					return err
				}
				id, err := g.resolveAddress(args[0])
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
				defer cancel()
				a, err := g.readAccount(ctx, id, &pf)
				if err != nil {
					return err
				}
				return p.print(a, func(w io.Writer) {
					if balanceOnly {
						fmt.Fprintf(w, "%s\n", a.BalancePHA)
					} else {
						fmt.Fprintf(w, "address: %s\nbalance: %s (%s)\nnonce:   %d\n", a.Address, a.BalancePHA, a.Balance, a.Nonce)
					}
					if a.Verified {
						fmt.Fprintf(w, "verified: Merkle proof at height %d against app hash %s of a light-client-verified header\n", a.Height, a.AppHash)
					} else {
						fmt.Fprintf(w, "height: %d (unverified; add --prove to verify)\n", a.Height)
					}
				})
			},
		}
		addClientFlags(c, g)
		addProofFlags(c, &pf)
		return c
	}

	txCmd := &cobra.Command{
		Use:   "tx HASH",
		Short: "Show a transaction's result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.Tx(cmd.Context(), trimHash(args[0]))
			if err != nil {
				return err
			}
			out := txJSON{Hash: res.Hash, Height: res.Height, Events: res.Events}
			if res.Err != nil {
				out.Log = res.Err.Error()
			}
			return p.print(out, func(w io.Writer) {
				status := "succeeded"
				if res.Err != nil {
					status = "failed: " + res.Err.Error()
				}
				fmt.Fprintf(w, "transaction %s in block %d %s\n", res.Hash, res.Height, status)
				for _, e := range res.Events {
					fmt.Fprintf(w, "  event %s %v\n", e.Type, e.Attributes)
				}
			})
		},
	}

	blockCmd := &cobra.Command{
		Use:   "block [HEIGHT]",
		Short: "Show a block (the latest by default)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var height *int64
			if len(args) == 1 {
				h, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil {
					return fmt.Errorf("height %q: %w", args[0], err)
				}
				height = &h
			}
			b, err := c.RPC().Block(cmd.Context(), height)
			if err != nil {
				return err
			}
			out := map[string]any{
				"height": b.Block.Height, "hash": b.BlockID.Hash.String(), "time": b.Block.Time,
				"txs": len(b.Block.Txs), "app_hash": b.Block.AppHash.String(), "proposer": b.Block.ProposerAddress.String(),
			}
			return p.print(out, func(w io.Writer) {
				fmt.Fprintf(w, "height:   %d\nhash:     %s\ntime:     %s\ntxs:      %d\napp hash: %s (state after block %d)\nproposer: %s\n",
					b.Block.Height, b.BlockID.Hash, b.Block.Time.Format(time.RFC3339Nano), len(b.Block.Txs), b.Block.AppHash, b.Block.Height-1, b.Block.ProposerAddress)
			})
		},
	}

	params := &cobra.Command{
		Use:   "fees",
		Short: "Show the fee rates and transaction size limit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var params accounts.Params
			if _, err := c.QueryProto(cmd.Context(), "/accounts/"+accounts.QueryParams, nil, &params); err != nil {
				return err
			}
			return p.print(map[string]any{"fee_per_byte": params.FeePerByte, "fee_per_message": params.FeePerMessage, "max_tx_bytes": params.MaxTxBytes},
				func(w io.Writer) {
					fmt.Fprintf(w, "fee per byte:    %s\nfee per message: %s\nmax tx bytes:    %d\n", params.FeePerByte, params.FeePerMessage, params.MaxTxBytes)
				})
		},
	}
	cmd.AddCommand(accountCmd("account", "Show an account's balance and nonce", false),
		accountCmd("balance", "Show an account's balance", true), txCmd, blockCmd, params)
	return cmd
}

func newStatusCmd(g *globals) *cobra.Command {
	var until int64
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the node's status",
		Example: `  phala status
  phala status --wait-height 120    # returns once block 120 is committed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			if until > 0 {
				if err := c.WaitHeight(ctx, until); err != nil {
					return err
				}
			}
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			out := map[string]any{
				"chain_id": st.NodeInfo.Network, "node_id": st.NodeInfo.DefaultNodeID, "moniker": st.NodeInfo.Moniker,
				"latest_height": st.SyncInfo.LatestBlockHeight, "latest_block_hash": st.SyncInfo.LatestBlockHash.String(),
				"latest_app_hash": st.SyncInfo.LatestAppHash.String(), "latest_block_time": st.SyncInfo.LatestBlockTime,
				"catching_up": st.SyncInfo.CatchingUp, "validator": st.ValidatorInfo.Address.String(), "voting_power": st.ValidatorInfo.VotingPower,
			}
			return p.print(out, func(w io.Writer) {
				fmt.Fprintf(w, "chain:        %s\nnode:         %s (%s)\nheight:       %d (%s)\nblock time:   %s\ncatching up:  %v\nvoting power: %d\n",
					st.NodeInfo.Network, st.NodeInfo.Moniker, st.NodeInfo.DefaultNodeID, st.SyncInfo.LatestBlockHeight, st.SyncInfo.LatestBlockHash,
					st.SyncInfo.LatestBlockTime.Format(time.RFC3339), st.SyncInfo.CatchingUp, st.ValidatorInfo.VotingPower)
			})
		},
	}
	cmd.Flags().Int64Var(&until, "wait-height", 0, "first wait until the chain has committed this height")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait, --wait-height included")
	return cmd
}
