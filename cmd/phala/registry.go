package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/tee"
)

// governedFlags are shared by commands that propose governed messages.
type governedFlags struct {
	txFlags
	execute bool
}

func addGovernedFlags(cmd *cobra.Command, g *globals, f *governedFlags) {
	addTxFlags(cmd, g, &f.txFlags)
	cmd.Flags().BoolVar(&f.execute, "execute", true, "execute the proposal at once (succeeds when your approval reaches the council threshold)")
}

func newRuntimeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "runtime", Short: "The allowlist of pRuntime builds (governed)"}
	var f governedFlags
	var meas string
	var version uint32
	allow := &cobra.Command{
		Use:     "allow",
		Short:   "Propose allowing a pRuntime build by its measurement",
		Example: "  phala runtime allow --from alice --measurement sim:$(pruntime measure --tee sim) --version 1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, m, err := tee.ParseMeasurement(meas)
			if err != nil {
				return fmt.Errorf("--measurement: %w", err)
			}
			return g.proposeMsgs(cmd, &f.txFlags, f.execute, &registry.MsgAllowRuntime{TeeKind: string(k), Measurement: m, Version: version})
		},
	}
	addGovernedFlags(allow, g, &f)
	allow.Flags().StringVar(&meas, "measurement", "", "measurement as <kind>:<hex> (pruntime measure prints it)")
	allow.Flags().Uint32Var(&version, "version", 1, "the build's runtime version")
	_ = allow.MarkFlagRequired("measurement")

	var rf governedFlags
	var rmeas string
	revoke := &cobra.Command{
		Use:   "revoke",
		Short: "Propose revoking a pRuntime build; its workers stop counting as registered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, m, err := tee.ParseMeasurement(rmeas)
			if err != nil {
				return fmt.Errorf("--measurement: %w", err)
			}
			return g.proposeMsgs(cmd, &rf.txFlags, rf.execute, &registry.MsgRevokeRuntime{TeeKind: string(k), Measurement: m})
		},
	}
	addGovernedFlags(revoke, g, &rf)
	revoke.Flags().StringVar(&rmeas, "measurement", "", "measurement as <kind>:<hex>")
	_ = revoke.MarkFlagRequired("measurement")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the allowed pRuntime builds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rts registry.Runtimes
			if err := g.queryProto(cmd, "/registry/"+registry.QueryRuntimes, nil, &rts); err != nil {
				return err
			}
			type rtJSON struct {
				Measurement string `json:"measurement"`
				Version     uint32 `json:"version"`
				AddedHeight int64  `json:"added_height"`
			}
			out := []rtJSON{}
			for _, r := range rts.Runtimes {
				m, _ := tee.FormatMeasurement(tee.Kind(r.TeeKind), r.Measurement)
				out = append(out, rtJSON{Measurement: m, Version: r.Version, AddedHeight: r.AddedHeight})
			}
			return g.print(cmd, out, func(w io.Writer) {
				for _, r := range out {
					fmt.Fprintf(w, "version %-4d added at %-8d %s\n", r.Version, r.AddedHeight, r.Measurement)
				}
			})
		},
	}
	cmd.AddCommand(allow, revoke, list)
	return cmd
}

// workerJSON is how workers are printed.
type workerJSON struct {
	Identity       string `json:"identity_key"`
	Operator       string `json:"operator"`
	TEE            string `json:"tee"`
	Measurement    string `json:"measurement"`
	RuntimeVersion uint32 `json:"runtime_version"`
	TCBStatus      string `json:"tcb_status"`
	Confidence     uint32 `json:"confidence"`
	Cores          uint32 `json:"cores"`
	AttestedAt     string `json:"attested_at"`
	ExpiresAt      string `json:"expires_at"`
	Registered     int64  `json:"registered_height"`
	Gatekeeper     bool   `json:"gatekeeper"`
}

func toWorkerJSON(w *registry.Worker, gatekeepers *registry.Gatekeepers) workerJSON {
	m, _ := tee.FormatMeasurement(tee.Kind(w.TeeKind), w.Measurement)
	out := workerJSON{
		Identity: hex.EncodeToString(w.Info.IdentityKey), Operator: keys.AccountID(w.Info.Operator).String(),
		TEE: w.TeeKind, Measurement: m, RuntimeVersion: w.Info.RuntimeVersion, TCBStatus: w.TcbStatus,
		Confidence: w.Confidence, Cores: w.Info.Cores, Registered: w.RegisteredHeight,
		AttestedAt: time.Unix(w.AttestedAt, 0).UTC().Format(time.RFC3339), ExpiresAt: time.Unix(w.ExpiresAt, 0).UTC().Format(time.RFC3339),
	}
	for _, k := range gatekeepers.GetWorkers() {
		if string(k) == string(w.Info.IdentityKey) {
			out.Gatekeeper = true
		}
	}
	return out
}

func printWorker(w io.Writer, x workerJSON) {
	gk := ""
	if x.Gatekeeper {
		gk = "  gatekeeper"
	}
	fmt.Fprintf(w, "worker %s%s\n  operator:   %s\n  tee:        %s v%d, %s (confidence %d), %d cores\n  attested:   %s, expires %s\n",
		x.Identity, gk, x.Operator, x.TEE, x.RuntimeVersion, x.TCBStatus, x.Confidence, x.Cores, x.AttestedAt, x.ExpiresAt)
}

func parseWorkerKey(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("worker key %q: want 64 hex digits (its identity key, see `phala worker list`)", s)
	}
	return b, nil
}

func newWorkerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "worker", Short: "Registered workers"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List registered workers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ws registry.Workers
			var gks registry.Gatekeepers
			if err := g.queryProto(cmd, "/registry/"+registry.QueryWorkers, nil, &ws); err != nil {
				return err
			}
			if err := g.queryProto(cmd, "/registry/"+registry.QueryGatekeepers, nil, &gks); err != nil {
				return err
			}
			out := []workerJSON{}
			for _, w := range ws.Workers {
				out = append(out, toWorkerJSON(w, &gks))
			}
			return g.print(cmd, out, func(w io.Writer) {
				for _, x := range out {
					printWorker(w, x)
				}
			})
		},
	}
	show := &cobra.Command{
		Use:   "show IDENTITY_KEY",
		Short: "Show a worker",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := parseWorkerKey(args[0])
			if err != nil {
				return err
			}
			var w registry.Worker
			var gks registry.Gatekeepers
			if err := g.queryProto(cmd, "/registry/"+registry.QueryWorker, key, &w); err != nil {
				return err
			}
			if err := g.queryProto(cmd, "/registry/"+registry.QueryGatekeepers, nil, &gks); err != nil {
				return err
			}
			out := toWorkerJSON(&w, &gks)
			return g.print(cmd, out, func(wr io.Writer) { printWorker(wr, out) })
		},
	}
	var pf txFlags
	ping := &cobra.Command{
		Use:   "ping",
		Short: "Ping the workers through the chain and wait for their signed answers",
		Long: `Pushes a ping message on chain; every registered worker verifies the block, answers with
signed egress, and its relayer delivers the answer. Shows which workers answered and how many
blocks it took: the whole path account -> chain -> verified worker -> egress -> chain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nonce := make([]byte, 8)
			if _, err := rand.Read(nonce); err != nil {
				return err
			}
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			res, err := g.sendQuiet(cmd, &pf, &mq.MsgPush{Topic: mq.TopicPing, Payload: module.Marshal(&mq.Ping{Nonce: nonce})})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), pf.timeout)
			defer cancel()
			c, err := g.client(ctx)
			if err != nil {
				return err
			}
			type answer struct {
				Worker string `json:"worker"`
				Height int64  `json:"pong_height"`
				Blocks int64  `json:"blocks_after_ping"`
			}
			var answers []answer
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				var ws registry.Workers
				if _, err := c.QueryProto(ctx, "/registry/"+registry.QueryWorkers, nil, &ws); err != nil {
					return err
				}
				answers = answers[:0]
				for _, w := range ws.Workers {
					if w.LastPongHeight > res.Height {
						answers = append(answers, answer{Worker: hex.EncodeToString(w.Info.IdentityKey), Height: w.LastPongHeight, Blocks: w.LastPongHeight - res.Height})
					}
				}
				if len(ws.Workers) > 0 && len(answers) == len(ws.Workers) {
					break
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("%d of %d workers answered the ping of block %d in time", len(answers), len(ws.Workers), res.Height)
				case <-tick.C:
				}
			}
			return p.print(map[string]any{"ping_height": res.Height, "answers": answers}, func(w io.Writer) {
				fmt.Fprintf(w, "ping in block %d\n", res.Height)
				for _, a := range answers {
					fmt.Fprintf(w, "  worker %s answered in block %d (%d blocks later)\n", a.Worker, a.Height, a.Blocks)
				}
			})
		},
	}
	addTxFlags(ping, g, &pf)
	cmd.AddCommand(list, show, ping)
	return cmd
}
