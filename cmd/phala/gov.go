package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/crypto/keys"
)

// proposalJSON is how proposals are printed.
type proposalJSON struct {
	ID        uint64    `json:"id"`
	Proposer  string    `json:"proposer"`
	Status    string    `json:"status"`
	Memo      string    `json:"memo,omitempty"`
	Approvals []string  `json:"approvals"`
	Expiry    int64     `json:"expiry_height"`
	Executed  int64     `json:"executed_height,omitempty"`
	Messages  []rawJSON `json:"messages"`
}

// rawJSON embeds protojson output as-is.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

func toProposalJSON(p *governance.Proposal) proposalJSON {
	out := proposalJSON{ID: p.Id, Proposer: keys.AccountID(p.Proposer).String(), Status: p.Status.String(), Memo: p.Memo,
		Expiry: p.ExpiryHeight, Executed: p.ExecutedHeight}
	for _, a := range p.Approvals {
		out.Approvals = append(out.Approvals, keys.AccountID(a).String())
	}
	for _, m := range p.Messages {
		b, err := protojson.Marshal(m)
		if err != nil {
			b = []byte(strconv.Quote(m.TypeUrl))
		}
		out.Messages = append(out.Messages, rawJSON(b))
	}
	return out
}

func printProposal(w io.Writer, p proposalJSON) {
	fmt.Fprintf(w, "proposal %d  %s  by %s  expires at %d\n", p.ID, p.Status, p.Proposer, p.Expiry)
	if p.Memo != "" {
		fmt.Fprintf(w, "  memo: %s\n", p.Memo)
	}
	fmt.Fprintf(w, "  approvals: %v\n", p.Approvals)
	for _, m := range p.Messages {
		fmt.Fprintf(w, "  message: %s\n", m)
	}
}

// propose submits a council proposal and, with execute, runs it at once (which succeeds when the
// proposer's approval reaches the threshold, as on dev chains).
func (g *globals) propose(cmd *cobra.Command, f *txFlags, execute bool, msgs ...*anypb.Any) error {
	res, err := g.send(cmd, f, &governance.MsgPropose{Messages: msgs, Memo: f.memo})
	if err != nil || !execute {
		return err
	}
	id, ok := res.Attr("proposal_submitted", "proposal_id")
	if !ok {
		return fmt.Errorf("the chain reported no proposal id")
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return err
	}
	_, err = g.send(cmd, f, &governance.MsgExecute{ProposalId: n})
	return err
}

// proposeMsgs packs governed messages and proposes them.
func (g *globals) proposeMsgs(cmd *cobra.Command, f *txFlags, execute bool, msgs ...proto.Message) error {
	anys := make([]*anypb.Any, len(msgs))
	for i, m := range msgs {
		a, err := module.Pack(m)
		if err != nil {
			return err
		}
		anys[i] = a
	}
	return g.propose(cmd, f, execute, anys...)
}

func newGovCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "gov", Short: "Council governance: propose, approve and execute governed messages"}

	var f txFlags
	var msgs []string
	var execute bool
	propose := &cobra.Command{
		Use:   "propose",
		Short: "Propose governed messages (JSON with an @type); with --execute, run at once when your approval suffices",
		Example: `  phala gov propose --from alice --execute \
    --msg '{"@type":"/phala.accounts.v1.MsgSetParams","params":{"feePerByte":"0","feePerMessage":"1000","maxTxBytes":"262144"}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var anys []*anypb.Any
			for i, m := range msgs {
				var a anypb.Any
				if err := protojson.Unmarshal([]byte(m), &a); err != nil {
					return fmt.Errorf("--msg %d: %w (write it as JSON with an \"@type\" naming the message)", i+1, err)
				}
				anys = append(anys, &a)
			}
			return g.propose(cmd, &f, execute, anys...)
		},
	}
	addTxFlags(propose, g, &f)
	propose.Flags().StringArrayVar(&msgs, "msg", nil, "a governed message as JSON; repeat for several")
	propose.Flags().BoolVar(&execute, "execute", false, "execute right after proposing (when the proposer's approval reaches the threshold)")
	_ = propose.MarkFlagRequired("msg")

	byID := func(use, short string, build func(id uint64) proto.Message) *cobra.Command {
		var f txFlags
		c := &cobra.Command{
			Use:   use + " PROPOSAL_ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := strconv.ParseUint(args[0], 10, 64)
				if err != nil {
					return fmt.Errorf("proposal id %q: %w", args[0], err)
				}
				_, err = g.send(cmd, &f, build(id))
				return err
			},
		}
		addTxFlags(c, g, &f)
		return c
	}
	approve := byID("approve", "Approve an open proposal", func(id uint64) proto.Message { return &governance.MsgApprove{ProposalId: id} })
	exec := byID("execute", "Execute a proposal that has enough approvals", func(id uint64) proto.Message { return &governance.MsgExecute{ProposalId: id} })

	show := &cobra.Command{
		Use:   "proposal PROPOSAL_ID",
		Short: "Show a proposal",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.printer(cmd)
			if err != nil {
				return err
			}
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			var prop governance.Proposal
			if _, err := c.QueryProto(cmd.Context(), "/governance/"+governance.QueryProposal, binary.BigEndian.AppendUint64(nil, id), &prop); err != nil {
				return err
			}
			out := toProposalJSON(&prop)
			return p.print(out, func(w io.Writer) { printProposal(w, out) })
		},
	}
	list := &cobra.Command{
		Use:   "proposals",
		Short: "List recent proposals",
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
			var props governance.Proposals
			if _, err := c.QueryProto(cmd.Context(), "/governance/"+governance.QueryProposals, nil, &props); err != nil {
				return err
			}
			out := []proposalJSON{}
			for _, prop := range props.Proposals {
				out = append(out, toProposalJSON(prop))
			}
			return p.print(out, func(w io.Writer) {
				for _, o := range out {
					printProposal(w, o)
				}
			})
		},
	}
	council := &cobra.Command{
		Use:   "council",
		Short: "Show the council",
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
			var cl governance.Council
			if _, err := c.QueryProto(cmd.Context(), "/governance/"+governance.QueryCouncil, nil, &cl); err != nil {
				return err
			}
			members := []string{}
			for _, m := range cl.Members {
				members = append(members, keys.AccountID(m).String())
			}
			return p.print(map[string]any{"members": members, "threshold": cl.Threshold}, func(w io.Writer) {
				fmt.Fprintf(w, "threshold %d of %d\n", cl.Threshold, len(members))
				for _, m := range members {
					fmt.Fprintf(w, "  %s\n", m)
				}
			})
		},
	}
	cmd.AddCommand(propose, approve, exec, show, list, council)
	return cmd
}
