package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime/api"
)

// Signed, encrypted queries straight to a worker of the contract's cluster (docs/queries.md).

func addContractQueryCmds(cmd *cobra.Command, g *globals) {
	cmd.AddCommand(newContractQueryCmd(g), newContractReceiptCmd(g))
}

// queryFlags are shared by query and receipt.
type queryFlags struct {
	from        string
	minHeight   int64
	sessionTTL  time.Duration
	timeout     time.Duration
	trustHeight int64
	trustHash   string
}

func addQueryFlags(c *cobra.Command, g *globals, f *queryFlags) {
	addClientFlags(c, g)
	c.Flags().StringVar(&f.from, "from", "", "the querying account (keyring name): the caller the contract sees")
	c.Flags().Int64Var(&f.minHeight, "min-height", 0, "only a worker that verified at least this height answers (e.g. the block of your last command)")
	c.Flags().DurationVar(&f.sessionTTL, "session-ttl", time.Hour,
		"sign a session key once and reuse it (cached in the client home) for this long; 0 signs every query with the account key")
	c.Flags().DurationVar(&f.timeout, "timeout", time.Minute, "how long to look up the workers (verified reads) and wait for an answer")
	c.Flags().Int64Var(&f.trustHeight, "trust-height", 0, "height of a header you trust (with --trust-hash); default: the genesis validators, on first use")
	c.Flags().StringVar(&f.trustHash, "trust-hash", "", "hash of the header at --trust-height")
	_ = c.MarkFlagRequired("from")
}

type queryJSON struct {
	Contract string          `json:"contract"`
	Output   json.RawMessage `json:"output,omitempty"`
	// OutputHex is the output when it is not JSON.
	OutputHex string `json:"output_hex,omitempty"`
	Height    int64  `json:"height"`
}

func newContractQueryCmd(g *globals) *cobra.Command {
	var f queryFlags
	var gas uint64
	c := &cobra.Command{
		Use:   "query CONTRACT JSON",
		Short: "Query a contract as your account, signed and encrypted, on a worker of its cluster",
		Long: `Query runs the contract's query entry point on a worker of the contract's cluster, found in
light-client-verified chain state. The query is signed by --from (or by a session key it
certified, see --session-ttl) and sealed to the worker's registered key; only that worker can
read it, and only you can read the answer. JSON may be - to read it from standard input.`,
		Example: `  phala contract query 0x5c1e...9a '{"balance":{}}' --from bob
  phala contract query 5c1e...9a '{"balance":{}}' --from bob --min-height 1234`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			contract, err := queryContractID(args[0])
			if err != nil {
				return err
			}
			input := []byte(args[1])
			if args[1] == "-" {
				if input, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), api.MaxSignedQuery+1)); err != nil {
					return err
				}
			}
			if !json.Valid(input) {
				return fmt.Errorf("the query %q is not JSON", input)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			qc, done, err := g.queryClient(ctx, &f)
			if err != nil {
				return err
			}
			defer done()
			out, height, err := qc.Query(ctx, contract, input, client.QueryOptions{MinHeight: f.minHeight, GasLimit: gas})
			if err != nil {
				return err
			}
			v := queryJSON{Contract: hex.EncodeToString(contract[:]), Height: height}
			if json.Valid(out) {
				v.Output = out
			} else {
				v.OutputHex = hex.EncodeToString(out)
			}
			return g.print(cmd, v, func(w io.Writer) {
				if v.Output != nil {
					fmt.Fprintf(w, "%s\n", out)
				} else {
					fmt.Fprintf(w, "0x%s\n", v.OutputHex)
				}
				fmt.Fprintf(w, "height: %d\n", height)
			})
		},
	}
	addQueryFlags(c, g, &f)
	c.Flags().Uint64Var(&gas, "gas", 0, "gas limit of the query (0: the worker's maximum)")
	return c
}

type receiptJSON struct {
	Contract string          `json:"contract"`
	Command  string          `json:"command"`
	Sender   string          `json:"sender"`
	Outcome  string          `json:"outcome"`
	Error    string          `json:"error,omitempty"`
	GasUsed  uint64          `json:"gas_used"`
	Output   json.RawMessage `json:"output,omitempty"`
	// OutputHex is the output when it is not JSON.
	OutputHex string         `json:"output_hex,omitempty"`
	Events    []receiptEvent `json:"events,omitempty"`
	// Block and Time are the block the command ran in; Height the verified height answering.
	Block  int64     `json:"block"`
	Time   time.Time `json:"time"`
	Height int64     `json:"height"`
}

type receiptEvent struct {
	Topic string `json:"topic"`
	Data  string `json:"data_hex"`
}

func newContractReceiptCmd(g *globals) *cobra.Command {
	var f queryFlags
	c := &cobra.Command{
		Use:   "receipt CONTRACT COMMAND|init",
		Short: "Read the receipt of your command (or of your instantiation: init) from a worker of the contract's cluster",
		Long: `Receipt reads the outcome of a command you sent (its number, from phala contract exec) or,
with init, of the instantiation you made: output, error, gas and events, which only the sender may
read. The request is signed and encrypted as for phala contract query.`,
		Example: `  phala contract receipt 0x5c1e...9a 3 --from bob
  phala contract receipt 0x5c1e...9a init --from bob -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			contract, err := queryContractID(args[0])
			if err != nil {
				return err
			}
			command := client.InstantiationCommand
			if args[1] != "init" {
				if command, err = strconv.ParseUint(args[1], 10, 64); err != nil || command == client.InstantiationCommand {
					return fmt.Errorf("command %q: want a command number or init", args[1])
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			qc, done, err := g.queryClient(ctx, &f)
			if err != nil {
				return err
			}
			defer done()
			rc, height, err := qc.QueryReceipt(ctx, contract, command, client.QueryOptions{MinHeight: f.minHeight})
			if err != nil {
				return err
			}
			v := receiptJSON{Contract: hex.EncodeToString(contract[:]), Command: args[1], Sender: keys.AccountID(rc.GetSender()).String(),
				Outcome: rc.GetOutcome(), Error: rc.GetError(), GasUsed: rc.GetGasUsed(), Block: rc.GetHeight(),
				Time: time.Unix(0, rc.GetTime()).UTC(), Height: height}
			if out := rc.GetOutput(); json.Valid(out) {
				v.Output = out
			} else {
				v.OutputHex = hex.EncodeToString(out)
			}
			for _, e := range rc.GetEvents() {
				v.Events = append(v.Events, receiptEvent{Topic: e.GetTopic(), Data: hex.EncodeToString(e.GetData())})
			}
			return g.print(cmd, v, func(w io.Writer) {
				fmt.Fprintf(w, "command %s of %s, block %d (%s): %s\n", v.Command, v.Contract, v.Block, v.Time.Format(time.RFC3339), v.Outcome)
				if v.Error != "" {
					fmt.Fprintf(w, "error:    %s\n", v.Error)
				}
				fmt.Fprintf(w, "gas used: %d\n", v.GasUsed)
				if v.Output != nil {
					fmt.Fprintf(w, "output:   %s\n", v.Output)
				} else if v.OutputHex != "" {
					fmt.Fprintf(w, "output:   0x%s\n", v.OutputHex)
				}
				for _, e := range v.Events {
					fmt.Fprintf(w, "event:    %s %s\n", e.Topic, e.Data)
				}
				fmt.Fprintf(w, "height:   %d\n", v.Height)
			})
		},
	}
	addQueryFlags(c, g, &f)
	return c
}

// queryContractID parses a contract id: 64 hex digits, with or without 0x.
func queryContractID(s string) ([32]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(b) != 32 {
		return [32]byte{}, fmt.Errorf("contract %q: want 64 hex digits", s)
	}
	return [32]byte(b), nil
}

// queryClient connects to --node, opens the light client and picks the signer: a cached
// session of --from, or its account key.
func (g *globals) queryClient(ctx context.Context, f *queryFlags) (*client.QueryClient, func(), error) {
	c, err := g.client(ctx)
	if err != nil {
		return nil, nil, err
	}
	signer, err := g.querySigner(c.ChainID(), f)
	if err != nil {
		return nil, nil, err
	}
	trust := client.Trust{Height: f.trustHeight}
	if f.trustHash != "" {
		if trust.Hash, err = hex.DecodeString(f.trustHash); err != nil {
			return nil, nil, fmt.Errorf("--trust-hash: %w", err)
		}
	}
	v, err := c.NewVerifier(ctx, filepath.Join(g.home, "light"), trust)
	if err != nil {
		return nil, nil, err
	}
	return client.NewQueryClient(v, signer, nil), func() { v.Close() }, nil
}

// querySigner returns --from's cached session when it is valid for a while more, else asks the
// keyring for the account key: to certify a new session (cached for --session-ttl), or to sign
// the query itself (--session-ttl 0).
func (g *globals) querySigner(chainID string, f *queryFlags) (client.QuerySigner, error) {
	kr, err := g.keyring()
	if err != nil {
		return nil, err
	}
	rec, err := kr.Get(f.from)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	if f.sessionTTL == 0 {
		key, err := g.signer(f.from)
		if err != nil {
			return nil, err
		}
		return client.AccountSigner(key), nil
	}
	path := sessionPath(g.home, chainID, rec.Public)
	if b, err := os.ReadFile(path); err == nil {
		s, err := client.ParseSession(b)
		if err == nil && s.Account() == rec.Public && s.ChainID() == chainID && time.Until(s.ExpiresAt()) > sessionMargin {
			return s, nil
		}
	}
	key, err := g.signer(f.from)
	if err != nil {
		return nil, err
	}
	s, err := client.NewSession(key, chainID, f.sessionTTL, time.Now())
	if err != nil {
		return nil, err
	}
	if err := saveSession(path, s); err != nil {
		return nil, fmt.Errorf("caching the session: %w", err)
	}
	return s, nil
}

// sessionMargin renews a cached session this close to its expiry.
const sessionMargin = 2 * time.Minute

// sessionPath is where a session of account on chainID is cached: only the session key, never
// the account key, readable by the owner only.
func sessionPath(home, chainID string, account keys.PublicKey) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, chainID)
	return filepath.Join(home, "sessions", fmt.Sprintf("%s-%x.json", safe, account.Key))
}

func saveSession(path string, s *client.Session) error {
	b, err := s.MarshalBinary()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".session-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if _, err := tmp.Write(b); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
