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
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/client"
	"github.com/phala-go/phala/contract/build"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
)

// contractWaitTimeout is the default --timeout of commands that wait for a cluster's report
// besides the block: the report lands a few blocks after the request.
const contractWaitTimeout = 2 * time.Minute

func addContractTxCmds(cmd *cobra.Command, g *globals) {
	cmd.AddCommand(newContractBuildCmd(g), newContractUploadCmd(g), newContractInstantiateCmd(g), newContractExecCmd(g),
		newContractDepositCmd(g), newContractShowCmd(g), newContractListCmd(g), newContractCodeCmd(g), newContractAddressCmd(g))
}

func newContractBuildCmd(g *globals) *cobra.Command {
	var out, wasmOpt string
	c := &cobra.Command{
		Use:   "build DIR",
		Short: "Build a Go contract to Wasm (go build for wasip1, then wasm-opt when installed)",
		Example: `  phala contract build ./examples/contracts/token              # writes token.wasm
  phala contract build ./mycontract --out my.wasm --wasm-opt -  # skip wasm-opt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if out == "" {
				abs, err := filepath.Abs(dir)
				if err != nil {
					return err
				}
				out = filepath.Base(abs) + ".wasm"
			}
			res, err := build.BuildWith(cmd.Context(), dir, build.Options{WasmOpt: wasmOpt})
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, res.Wasm, 0o644); err != nil {
				return err
			}
			hash := contracts.CodeHash(res.Wasm)
			v := builtJSON{File: out, Size: len(res.Wasm), CodeHash: hex.EncodeToString(hash[:]), Optimized: res.Optimized, Note: res.Note}
			return g.print(cmd, v, func(w io.Writer) {
				fmt.Fprintf(w, "wrote %s: %d bytes, code hash %s\n", v.File, v.Size, v.CodeHash)
				if v.Optimized {
					fmt.Fprintln(w, "wasm-opt: optimized")
				} else {
					fmt.Fprintf(w, "wasm-opt: not run (%s)\n", v.Note)
				}
			})
		},
	}
	c.Flags().StringVar(&out, "out", "", "output file (default: DIR's name + .wasm in the current directory)")
	c.Flags().StringVar(&wasmOpt, "wasm-opt", "", `wasm-opt command (default: wasm-opt on PATH, skipped when absent); "-" skips it`)
	return c
}

type builtJSON struct {
	File      string `json:"file"`
	Size      int    `json:"size"`
	CodeHash  string `json:"code_hash"`
	Optimized bool   `json:"optimized"`
	Note      string `json:"note,omitempty"`
}

// contractTx is what a contract transaction command needs: its deadline, a client and the key.
type contractTx struct {
	ctx  context.Context
	c    *client.Client
	key  keys.PrivateKey
	opts client.TxOptions
}

// contractTx opens the --from key and connects; cancel releases the --timeout deadline.
func (g *globals) contractTx(cmd *cobra.Command, f *txFlags) (t contractTx, cancel func(), err error) {
	if t.key, err = g.signer(f.from); err != nil {
		return t, nil, err
	}
	t.opts.Memo = f.memo
	if f.fee != "" {
		fee, err := amount.ParsePHA(f.fee)
		if err != nil {
			return t, nil, fmt.Errorf("--fee: %w", err)
		}
		t.opts.Fee = &fee
	}
	t.ctx, cancel = context.WithTimeout(cmd.Context(), f.timeout)
	if t.c, err = g.client(t.ctx); err != nil {
		cancel()
		return t, nil, err
	}
	return t, cancel, nil
}

// txFailed reports a transaction that failed in its block (the fee was charged): exit status 2.
func (g *globals) txFailed(cmd *cobra.Command, res *client.TxResult) error {
	out := txJSON{Hash: res.Hash, Height: res.Height, Events: res.Events, Log: res.Err.Error()}
	var remote *errcode.Remote
	if errors.As(res.Err, &remote) {
		out.Codespace, out.Code = remote.Err.Codespace(), remote.Err.Code()
	}
	if err := g.print(cmd, out, func(w io.Writer) {
		fmt.Fprintf(w, "transaction %s FAILED in block %d (the fee was charged): %v\n", res.Hash, res.Height, res.Err)
	}); err != nil {
		return err
	}
	return exitCode(2)
}

// longTimeout makes --timeout default to contractWaitTimeout, for commands that wait for the
// cluster.
func longTimeout(c *cobra.Command) {
	fl := c.Flags().Lookup("timeout")
	_ = fl.Value.Set(contractWaitTimeout.String())
	fl.DefValue = fl.Value.String()
	fl.Usage = "how long to wait for the transaction's block and the cluster's report"
}

func addGasFlag(c *cobra.Command, gas *uint64) {
	c.Flags().Uint64Var(gas, "gas", client.DefaultGasLimit,
		"gas limit, prepaid at the chain's gas price; the unused part is refunded when the cluster reports")
}

// readPayload reads a JSON argument: literal, @FILE, or - for standard input.
func readPayload(cmd *cobra.Command, what, s string) ([]byte, error) {
	var b []byte
	var err error
	switch {
	case s == "-":
		b, err = io.ReadAll(cmd.InOrStdin())
	case strings.HasPrefix(s, "@"):
		b, err = os.ReadFile(s[1:])
	default:
		b = []byte(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s is not valid JSON (give it literally, as @FILE, or - for standard input)", what)
	}
	return b, nil
}

// parseHash32 reads a 32-byte id or hash written in hex (0x optional).
func parseHash32(what, s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("%s %q: want 64 hex digits", what, s)
	}
	return b, nil
}

func newContractUploadCmd(g *globals) *cobra.Command {
	var f txFlags
	c := &cobra.Command{
		Use:   "upload FILE.wasm",
		Short: "Upload contract code (compressed with zstd) and print its code hash",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			wasm, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			t, cancel, err := g.contractTx(cmd, &f)
			if err != nil {
				return err
			}
			defer cancel()
			hash, res, err := t.c.UploadCode(t.ctx, t.key, wasm, t.opts)
			if res != nil && res.Err != nil {
				return g.txFailed(cmd, res)
			}
			if err != nil {
				return explain(err)
			}
			code, err := t.c.Code(t.ctx, hash[:])
			if err != nil {
				return err
			}
			existing, _ := res.Attr("code_uploaded", "existing")
			v := uploadJSON{codeJSON: toCodeJSON(code), Existing: existing == "true", TxHash: res.Hash, TxHeight: res.Height}
			return g.print(cmd, v, func(w io.Writer) {
				if v.Existing {
					fmt.Fprintf(w, "code %s was already uploaded (block %d); nothing changed\n", v.Hash, v.Height)
				} else {
					fmt.Fprintf(w, "code %s uploaded: %d bytes, stored as %d (%s)\n", v.Hash, v.Size, v.StoredSize, v.Compression)
				}
				fmt.Fprintf(w, "transaction %s committed in block %d\n", v.TxHash, v.TxHeight)
			})
		},
	}
	addTxFlags(c, g, &f)
	return c
}

type uploadJSON struct {
	codeJSON
	Existing bool   `json:"existing"`
	TxHash   string `json:"tx_hash"`
	TxHeight int64  `json:"tx_height"`
}

type codeJSON struct {
	Hash        string `json:"code_hash"`
	Size        uint64 `json:"size"`
	StoredSize  uint64 `json:"stored_size"`
	Compression string `json:"compression"`
	Uploader    string `json:"uploader"`
	Height      int64  `json:"height"`
}

func toCodeJSON(c *contracts.Code) codeJSON {
	return codeJSON{Hash: hex.EncodeToString(c.GetHash()), Size: c.GetSize(), StoredSize: c.GetStoredSize(), Compression: c.GetCompression(),
		Uploader: keys.AccountID(c.GetUploader()).String(), Height: c.GetHeight()}
}

func newContractInstantiateCmd(g *globals) *cobra.Command {
	var f txFlags
	var clusterArg, initArg, salt string
	var opts client.InstantiateOptions
	c := &cobra.Command{
		Use:   "instantiate CODE_HASH",
		Short: "Create a contract from uploaded code in a cluster and wait for the cluster to start it",
		Long: `Creates a contract from uploaded code in a cluster. The init message is sealed to the
cluster's newest published key (X-Wing), bound to the contract id and your account, so only the
cluster's workers read it; --plain sends it in the clear. The command waits (up to --timeout)
until the cluster reports: the contract is then ACTIVE with its own keys, or FAILED with the
class of failure (the details are in your receipt).

The contract id is SHA-256 over the deployer, code hash, cluster and salt: deploy the same code
again in the same cluster with another --salt.`,
		Example: `  phala contract instantiate 3f0c...e1 --cluster 1 --from alice \
    --init '{"name":"Phala Token","symbol":"PHT","mint":[{"to":"0x<hex account>","amount":1000}]}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hash, err := parseHash32("code hash", args[0])
			if err != nil {
				return err
			}
			cluster, err := parseClusterID(clusterArg)
			if err != nil {
				return err
			}
			init, err := readPayload(cmd, "--init", initArg)
			if err != nil {
				return err
			}
			t, cancel, err := g.contractTx(cmd, &f)
			if err != nil {
				return err
			}
			defer cancel()
			ct, res, err := t.c.Instantiate(t.ctx, t.key, hash, cluster, []byte(salt), init, opts)
			if res != nil && res.Err != nil {
				return g.txFailed(cmd, res)
			}
			if ct == nil {
				return explain(err)
			}
			v := instantiatedJSON{contractJSON: toContractJSON(ct), TxHash: res.Hash, TxHeight: res.Height}
			if perr := g.print(cmd, v, func(w io.Writer) {
				fmt.Fprintf(w, "contract %s in cluster %s: %s\n", v.ID, v.ClusterNumber, v.Status)
				if len(v.Keys) > 0 {
					fmt.Fprintf(w, "keys of cluster key generation %d published in block %d\n", v.Keys[len(v.Keys)-1].Generation, v.Keys[len(v.Keys)-1].Height)
				}
				fmt.Fprintf(w, "instantiated by transaction %s in block %d\n", v.TxHash, v.TxHeight)
			}); perr != nil {
				return perr
			}
			switch {
			case errors.Is(err, client.ErrInstantiationFailed):
				return fmt.Errorf("%w; `phala contract receipt %s init` shows why (%w)", err, v.ID, exitCode(2))
			case errors.Is(err, client.ErrNoAnswer):
				return fmt.Errorf("%w: `phala contract show %s` tells when it is ready", err, v.ID)
			}
			return err
		},
	}
	addTxFlags(c, g, &f)
	longTimeout(c)
	c.Flags().StringVar(&clusterArg, "cluster", "", "cluster: its number (1, 2, ...) or 64-hex-digit id")
	c.Flags().StringVar(&initArg, "init", "{}", "init message: JSON, @FILE or - (standard input)")
	c.Flags().StringVar(&salt, "salt", "", "salt (its UTF-8 bytes, at most 64) making the contract id unique")
	c.Flags().BoolVar(&opts.Plain, "plain", false, "send the init message unencrypted (it becomes public)")
	c.Flags().BoolVar(&opts.AllowPlain, "allow-plain", false, "let the contract accept unencrypted commands")
	addGasFlag(c, &opts.GasLimit)
	_ = c.MarkFlagRequired("cluster")
	return c
}

type instantiatedJSON struct {
	contractJSON
	TxHash   string `json:"tx_hash"`
	TxHeight int64  `json:"tx_height"`
}

type contractJSON struct {
	ID            string            `json:"contract"`
	Status        string            `json:"status"`
	Error         string            `json:"error,omitempty"`
	CodeHash      string            `json:"code_hash"`
	ClusterNumber string            `json:"cluster"`
	ClusterID     string            `json:"cluster_id"`
	Deployer      string            `json:"deployer"`
	DeployerHex   string            `json:"deployer_hex"`
	Salt          string            `json:"salt"`
	Height        int64             `json:"height"`
	AllowPlain    bool              `json:"allow_plain"`
	Commands      uint64            `json:"commands"`
	Keys          []contractKeyJSON `json:"keys"`
}

type contractKeyJSON struct {
	Generation     uint32            `json:"cluster_generation"`
	Height         int64             `json:"height"`
	EncryptionKeys map[string]string `json:"encryption_keys"`
}

func toContractJSON(c *contracts.Contract) contractJSON {
	deployer := keys.AccountID(c.GetDeployer())
	out := contractJSON{ID: hex.EncodeToString(c.GetId()), Status: strings.TrimPrefix(c.GetStatus().String(), "STATUS_"), Error: c.GetError(),
		CodeHash: hex.EncodeToString(c.GetCodeHash()), ClusterNumber: registry.ClusterLabel(c.GetCluster()), ClusterID: hex.EncodeToString(c.GetCluster()),
		Deployer: deployer.String(), DeployerHex: sdkAddress(deployer), Salt: hex.EncodeToString(c.GetSalt()), Height: c.GetHeight(),
		AllowPlain: c.GetAllowPlain(), Commands: c.GetCommands(), Keys: []contractKeyJSON{}}
	for _, k := range c.GetKeys() {
		kj := contractKeyJSON{Generation: k.GetClusterGeneration(), Height: k.GetHeight(), EncryptionKeys: map[string]string{}}
		for _, e := range k.GetEncryptionKeys() {
			kj.EncryptionKeys[envelope.KEM(e.GetKem()).String()] = hex.EncodeToString(e.GetPublicKey())
		}
		out.Keys = append(out.Keys, kj)
	}
	return out
}

// sdkAddress is an account as contracts write it (sdk.Address): "0x" + 64 hex digits.
func sdkAddress(a keys.AccountID) string { return "0x" + hex.EncodeToString(a[:]) }

func printContract(w io.Writer, c contractJSON) {
	status := c.Status
	if c.Error != "" {
		status += " (outcome " + c.Error + ")"
	}
	plain := "refused"
	if c.AllowPlain {
		plain = "accepted"
	}
	fmt.Fprintf(w, "contract   %s\nstatus     %s\ncode       %s\ncluster    %s (id %s)\ndeployer   %s (%s)\n", c.ID, status, c.CodeHash,
		c.ClusterNumber, c.ClusterID, c.Deployer, c.DeployerHex)
	if salt, _ := hex.DecodeString(c.Salt); len(salt) > 0 {
		fmt.Fprintf(w, "salt       %s%s\n", c.Salt, quotedIfPrintable(salt))
	}
	fmt.Fprintf(w, "created    block %d\ncommands   %d accepted; plain commands %s\n", c.Height, c.Commands, plain)
	for _, k := range c.Keys {
		fmt.Fprintf(w, "keys       cluster generation %d (block %d): x25519 %s, xwing %d bytes\n", k.Generation, k.Height,
			k.EncryptionKeys[envelope.X25519.String()], len(k.EncryptionKeys[envelope.XWing.String()])/2)
	}
}

// quotedIfPrintable shows a salt given as text (--salt) the way it was typed.
func quotedIfPrintable(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return fmt.Sprintf(" (%q)", b)
}

func newContractExecCmd(g *globals) *cobra.Command {
	var f txFlags
	var opts client.ExecuteOptions
	var wait, follow bool
	c := &cobra.Command{
		Use:   "exec CONTRACT JSON",
		Short: "Send a command to a contract (sealed to the contract's key) and print its number",
		Long: `Sends a command to a contract. The JSON (literal, @FILE or - for standard input) is sealed
to the contract's newest key (X-Wing), bound to the contract id and your account, so only the
cluster's workers read it; --plain sends it in the clear, which only contracts instantiated with
--allow-plain accept. The gas limit is prepaid; what the command does not use is refunded when
the cluster reports. The command runs when its cluster gets to it: --wait waits (up to --timeout)
for the outcome and the gas used, and lists the messages the command sent to other contracts;
--follow also waits until each of those messages was delivered (in whichever cluster its
receiver runs) and prints the receiver's outcome and how many blocks the delivery took. The
details of a failure, the output and the private events are in your receipt.`,
		Example: `  phala contract exec 9a1f...07 '{"transfer":{"to":"0x<hex account>","amount":5}}' --from alice --wait
  phala contract exec 9a1f...07 '{"transfer_notify":{"to":"0x<contract>","amount":5}}' --from alice --follow`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseHash32("contract", args[0])
			if err != nil {
				return err
			}
			input, err := readPayload(cmd, "the command", args[1])
			if err != nil {
				return err
			}
			t, cancel, err := g.contractTx(cmd, &f)
			if err != nil {
				return err
			}
			defer cancel()
			n, res, err := t.c.Execute(t.ctx, t.key, id, input, opts)
			if res != nil && res.Err != nil {
				return g.txFailed(cmd, res)
			}
			if err != nil {
				return explain(err)
			}
			v := execJSON{Contract: hex.EncodeToString(id), Command: n, GasLimit: client.DefaultGasLimit, TxHash: res.Hash, TxHeight: res.Height}
			if opts.GasLimit != 0 {
				v.GasLimit = opts.GasLimit
			}
			if !wait && !follow {
				return g.print(cmd, v, func(w io.Writer) { printExec(w, v) })
			}
			x, err := t.c.WaitExecuted(t.ctx, id, n)
			if err != nil {
				if perr := g.print(cmd, v, func(w io.Writer) { printExec(w, v) }); perr != nil {
					return perr
				}
				return err
			}
			if v.Report, err = toReportJSON(t, x); err != nil {
				return err
			}
			if follow {
				for i, m := range v.Report.Sent {
					if m.Bounced != "" {
						continue
					}
					d, err := t.c.WaitDelivered(t.ctx, x.Sent[i].From[:], m.Number)
					if err != nil {
						if perr := g.print(cmd, v, func(w io.Writer) { printExec(w, v) }); perr != nil {
							return perr
						}
						return err
					}
					v.Report.Sent[i].Delivery = &deliveryJSON{Outcome: d.Outcome, Height: d.Height, TxHash: d.TxHash, Blocks: d.Height - x.Height}
				}
			}
			if err := g.print(cmd, v, func(w io.Writer) { printExec(w, v) }); err != nil {
				return err
			}
			if x.Outcome != "ok" {
				return fmt.Errorf("command %d failed: outcome %q; `phala contract receipt %s %d` shows why (%w)", n, x.Outcome, v.Contract, n, exitCode(2))
			}
			return nil
		},
	}
	addTxFlags(c, g, &f)
	longTimeout(c)
	c.Flags().BoolVar(&opts.Plain, "plain", false, "send the command unencrypted (only if the contract allows it)")
	c.Flags().BoolVar(&wait, "wait", false, "wait for the cluster's report: the outcome, the gas used and the messages sent")
	c.Flags().BoolVar(&follow, "follow", false, "--wait, then also wait until every message the command sent was delivered")
	addGasFlag(c, &opts.GasLimit)
	return c
}

func newContractDepositCmd(g *globals) *cobra.Command {
	var f txFlags
	var gas uint64
	c := &cobra.Command{
		Use:   "deposit CONTRACT AMOUNT",
		Short: "Send PHA to a contract's account and notify the contract",
		Long: `Moves AMOUNT from your account to the contract's on-chain account (its id is the account) in
this transaction, and queues a deposit notice for the contract in its cluster: a contract that
handles deposits (sdk.HandleDeposit) credits you; one that refuses them, or has no handler, has the
funds sent back. A contract pays the gas of the messages it sends from this account, so fund a
contract that messages other contracts this way. The gas limit, prepaid, pays for the notice.`,
		Example: `  phala contract deposit 9a1f...07 10PHA --from alice`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseHash32("contract", args[0])
			if err != nil {
				return err
			}
			amt, err := amount.ParsePHA(args[1])
			if err != nil {
				return fmt.Errorf("amount: %w", err)
			}
			t, cancel, err := g.contractTx(cmd, &f)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := t.c.Submit(t.ctx, t.key, t.opts, &contracts.MsgDeposit{Contract: id, Amount: amt.String(), GasLimit: gas})
			if res != nil && res.Err != nil {
				return g.txFailed(cmd, res)
			}
			if err != nil {
				return explain(err)
			}
			v := depositJSON{Contract: hex.EncodeToString(id), Account: keys.AccountID(id).String(), Amount: amt.String(), TxHash: res.Hash, TxHeight: res.Height}
			return g.print(cmd, v, func(w io.Writer) {
				fmt.Fprintf(w, "deposited %s to contract %s (account %s) in block %d (transaction %s)\n",
					amount.FormatPHA(amt), v.Contract, v.Account, v.TxHeight, v.TxHash)
			})
		},
	}
	addTxFlags(c, g, &f)
	c.Flags().Uint64Var(&gas, "gas", 100_000_000, "gas limit of the contract's deposit handler, prepaid at the chain's gas price; the unused part is refunded")
	return c
}

type depositJSON struct {
	Contract string `json:"contract"`
	Account  string `json:"account"`
	Amount   string `json:"amount"`
	TxHash   string `json:"tx_hash"`
	TxHeight int64  `json:"tx_height"`
}

type execJSON struct {
	Contract string      `json:"contract"`
	Command  uint64      `json:"command"`
	GasLimit uint64      `json:"gas_limit"`
	TxHash   string      `json:"tx_hash"`
	TxHeight int64       `json:"tx_height"`
	Report   *reportJSON `json:"report,omitempty"`
}

// reportJSON is a command's outcome as its cluster reported it.
type reportJSON struct {
	Outcome  string            `json:"outcome"`
	GasUsed  uint64            `json:"gas_used"`
	GasCost  string            `json:"gas_cost"`
	Height   int64             `json:"height"`
	TxHash   string            `json:"tx_hash"`
	Events   []publicEventJSON `json:"events"`
	Sent     []sentJSON        `json:"sent"`
	costText string
}

// sentJSON is a message the command sent: queued for its receiver, or bounced at once.
type sentJSON struct {
	From     string        `json:"from"`
	To       string        `json:"to"`
	Number   uint64        `json:"number"`
	Bounced  string        `json:"bounced,omitempty"`
	Delivery *deliveryJSON `json:"delivery,omitempty"`
}

// deliveryJSON is the receiver's report of a message; Blocks counts from the sender's report.
type deliveryJSON struct {
	Outcome string `json:"outcome"`
	Height  int64  `json:"height"`
	TxHash  string `json:"tx_hash"`
	Blocks  int64  `json:"blocks"`
}

type publicEventJSON struct {
	Topic string `json:"topic"`
	Data  string `json:"data"`
}

// toReportJSON adds to an execution what it cost at the chain's current gas price.
func toReportJSON(t contractTx, x *client.Execution) (*reportJSON, error) {
	r := &reportJSON{Outcome: x.Outcome, GasUsed: x.GasUsed, Height: x.Height, TxHash: x.TxHash, Events: []publicEventJSON{}, Sent: []sentJSON{}}
	for _, e := range x.Events {
		r.Events = append(r.Events, publicEventJSON{Topic: e.Topic, Data: hex.EncodeToString(e.Data)})
	}
	for _, m := range x.Sent {
		r.Sent = append(r.Sent, sentJSON{From: hex.EncodeToString(m.From[:]), To: hex.EncodeToString(m.To[:]), Number: m.Number, Bounced: m.Bounced})
	}
	var p contracts.Params
	if _, err := t.c.QueryProto(t.ctx, "/"+contracts.Name+"/"+contracts.QueryParams, nil, &p); err != nil {
		return nil, err
	}
	price, err := amount.Parse(p.GetGasPrice())
	if err != nil {
		return nil, fmt.Errorf("the node answered a bad gas price: %w", err)
	}
	cost, err := price.MulUint64(x.GasUsed)
	if err != nil {
		return nil, err
	}
	r.GasCost, r.costText = cost.String(), amount.FormatPHA(cost)
	return r, nil
}

func printExec(w io.Writer, v execJSON) {
	fmt.Fprintf(w, "command %d to contract %s accepted in block %d (transaction %s)\n", v.Command, v.Contract, v.TxHeight, v.TxHash)
	r := v.Report
	if r == nil {
		return
	}
	fmt.Fprintf(w, "outcome %s: %d gas used of %d (%s; the rest refunded), reported in block %d (transaction %s)\n",
		r.Outcome, r.GasUsed, v.GasLimit, r.costText, r.Height, r.TxHash)
	for _, e := range r.Events {
		fmt.Fprintf(w, "event %s %s\n", e.Topic, e.Data)
	}
	for _, m := range r.Sent {
		switch {
		case m.Bounced != "":
			fmt.Fprintf(w, "message %d from %s to %s bounced at once: %s\n", m.Number, m.From, m.To, m.Bounced)
		case m.Delivery == nil:
			fmt.Fprintf(w, "message %d from %s to %s queued for its receiver\n", m.Number, m.From, m.To)
		default:
			fmt.Fprintf(w, "message %d from %s to %s delivered in block %d, %d blocks after the report: outcome %s (transaction %s)\n",
				m.Number, m.From, m.To, m.Delivery.Height, m.Delivery.Blocks, m.Delivery.Outcome, m.Delivery.TxHash)
		}
	}
}

func newContractShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show CONTRACT",
		Short: "Show a contract: status, code, cluster, deployer, published keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseHash32("contract", args[0])
			if err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			ct, err := c.Contract(cmd.Context(), id)
			if err != nil {
				return err
			}
			v := toContractJSON(ct)
			return g.print(cmd, v, func(w io.Writer) { printContract(w, v) })
		},
	}
}

func newContractListCmd(g *globals) *cobra.Command {
	var clusterArg string
	var ids bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List contracts, of one cluster or all",
		Example: `  phala contract list --cluster 1
  TOKEN=$(phala contract list --ids)   # the ids alone, one a line, for scripts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cluster []byte
			if clusterArg != "" {
				var err error
				if cluster, err = parseClusterID(clusterArg); err != nil {
					return err
				}
			}
			var cs contracts.Contracts
			if err := g.queryProto(cmd, "/"+contracts.Name+"/"+contracts.QueryContracts, cluster, &cs); err != nil {
				return err
			}
			out := []contractJSON{}
			for _, ct := range cs.GetContracts() {
				out = append(out, toContractJSON(ct))
			}
			if ids {
				for _, c := range out {
					fmt.Fprintln(cmd.OutOrStdout(), c.ID)
				}
				return nil
			}
			return g.print(cmd, out, func(w io.Writer) {
				if len(out) == 0 {
					fmt.Fprintln(w, "no contracts")
				}
				for _, c := range out {
					fmt.Fprintf(w, "%s  %-7s cluster %s  code %s  %d commands\n", c.ID, c.Status, c.ClusterNumber, c.CodeHash, c.Commands)
				}
			})
		},
	}
	c.Flags().StringVar(&clusterArg, "cluster", "", "only this cluster: its number or 64-hex-digit id")
	c.Flags().BoolVar(&ids, "ids", false, "print only the contract ids, one a line (nothing when there is none; overrides -o)")
	return c
}

func newContractCodeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "code CODE_HASH",
		Short: "Show uploaded code: size, stored size and compression, uploader",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hash, err := parseHash32("code hash", args[0])
			if err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			code, err := c.Code(cmd.Context(), hash)
			if err != nil {
				return err
			}
			v := toCodeJSON(code)
			return g.print(cmd, v, func(w io.Writer) {
				fmt.Fprintf(w, "code       %s\nsize       %d bytes, stored as %d (%s)\nuploader   %s\nuploaded   block %d\n",
					v.Hash, v.Size, v.StoredSize, v.Compression, v.Uploader, v.Height)
			})
		},
	}
}

func newContractAddressCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "address ADDRESS|KEY_NAME",
		Short: "Print an account in both forms: SS58 (the chain's) and 0x hex (what contracts take, sdk.Address)",
		Example: `  phala contract address alice
  phala contract address 45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.resolveAddress(args[0])
			if err != nil {
				return err
			}
			v := map[string]string{"address": id.String(), "hex": sdkAddress(id)}
			return g.print(cmd, v, func(w io.Writer) { fmt.Fprintf(w, "address  %s\nhex      %s\n", v["address"], v["hex"]) })
		},
	}
	addClientFlags(c, g)
	return c
}
