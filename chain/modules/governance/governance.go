package governance

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
)

// Name is the module's name in genesis, queries and keys.
const Name = "governance"

// Limits on proposals.
const (
	MaxProposalMessages = 16
	MaxMemo             = 1024
	MaxCouncil          = 100
)

// Error codes of the governance module; stable across releases.
var (
	ErrNotMember        = errcode.New(Name, 1, "not a council member")
	ErrProposalNotFound = errcode.New(Name, 2, "proposal not found")
	ErrAlreadyApproved  = errcode.New(Name, 3, "already approved")
	ErrNotApproved      = errcode.New(Name, 4, "not enough approvals")
	ErrExpired          = errcode.New(Name, 5, "proposal expired")
	ErrNotOpen          = errcode.New(Name, 6, "proposal is not open")
	ErrNotGoverned      = errcode.New(Name, 7, "message is not governed")
	ErrInvalidProposal  = errcode.New(Name, 8, "invalid proposal")
	ErrInvalidCouncil   = errcode.New(Name, 9, "invalid council")
	ErrInvalidParams    = errcode.New(Name, 10, "invalid params")
	ErrInvalidGenesis   = errcode.New(Name, 11, "invalid genesis")
	ErrNotFound         = errcode.New(Name, 12, "not found")
)

var (
	keyCouncil     = []byte(Name + "/council")
	keyParams      = []byte(Name + "/params")
	keyNextID      = []byte(Name + "/next_id")
	prefixProposal = []byte(Name + "/p/")
)

// ProposalKey is the state key of a proposal.
func ProposalKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(slices.Clone(prefixProposal), id)
}

// Module is the governance module. It executes proposals through the router it is given.
type Module struct {
	router *module.Router
}

// New returns the governance module; it dispatches executed proposals through r.
func New(r *module.Router) *Module { return &Module{router: r} }

func (*Module) Name() string { return Name }

func (m *Module) Register(r *module.Router) {
	module.Handle(r, false, m.propose)
	module.Handle(r, false, m.approve)
	module.Handle(r, false, m.execute)
	module.Handle(r, true, setCouncil)
	module.Handle(r, true, setParams)
}

// GetCouncil reads the council.
func GetCouncil(r store.Reader) *Council {
	var c Council
	mustDecode(r.Get(keyCouncil), &c)
	return &c
}

// GetParams reads governance's params.
func GetParams(r store.Reader) *Params {
	var p Params
	mustDecode(r.Get(keyParams), &p)
	return &p
}

// GetProposal reads a proposal.
func GetProposal(r store.Reader, id uint64) (*Proposal, error) {
	b := r.Get(ProposalKey(id))
	if b == nil {
		return nil, errcode.Wrapf(ErrProposalNotFound, "no proposal %d", id)
	}
	var p Proposal
	mustDecode(b, &p)
	return &p, nil
}

func mustDecode(b []byte, m proto.Message) {
	if err := module.StrictUnmarshal(b, m); err != nil {
		panic(&store.FatalError{Err: err})
	}
}

func isMember(c *Council, id keys.AccountID) bool {
	return slices.ContainsFunc(c.GetMembers(), func(m []byte) bool { return keys.AccountID(m) == id })
}

// ValidateBasic checks a council without state: 1..MaxCouncil distinct 32-byte members and a
// threshold between 1 and the number of members.
func (c *Council) ValidateBasic() error {
	n := len(c.GetMembers())
	if n == 0 || n > MaxCouncil {
		return errcode.Wrapf(ErrInvalidCouncil, "%d members, want 1..%d", n, MaxCouncil)
	}
	seen := make(map[keys.AccountID]bool, n)
	for _, m := range c.GetMembers() {
		if len(m) != len(keys.AccountID{}) {
			return errcode.Wrapf(ErrInvalidCouncil, "a member id has %d bytes, want 32", len(m))
		}
		if seen[keys.AccountID(m)] {
			return errcode.Wrapf(ErrInvalidCouncil, "%s is listed twice", keys.AccountID(m))
		}
		seen[keys.AccountID(m)] = true
	}
	if t := c.GetThreshold(); t == 0 || int(t) > n {
		return errcode.Wrapf(ErrInvalidCouncil, "threshold %d, want 1..%d", t, n)
	}
	return nil
}

func (m *MsgSetCouncil) ValidateBasic() error {
	if m.GetCouncil() == nil {
		return errcode.Wrapf(ErrInvalidCouncil, "missing")
	}
	return m.GetCouncil().ValidateBasic()
}

func (p *Params) ValidateBasic() error {
	if p.GetVotingPeriod() == 0 || p.GetVotingPeriod() > 10_000_000 {
		return errcode.Wrapf(ErrInvalidParams, "voting_period %d blocks, want 1..10000000", p.GetVotingPeriod())
	}
	return nil
}

func (m *MsgSetParams) ValidateBasic() error {
	if m.GetParams() == nil {
		return errcode.Wrapf(ErrInvalidParams, "missing")
	}
	return m.GetParams().ValidateBasic()
}

func (m *MsgPropose) ValidateBasic() error {
	if n := len(m.GetMessages()); n == 0 || n > MaxProposalMessages {
		return errcode.Wrapf(ErrInvalidProposal, "%d messages, want 1..%d", n, MaxProposalMessages)
	}
	if len(m.GetMemo()) > MaxMemo {
		return errcode.Wrapf(ErrInvalidProposal, "memo longer than %d bytes", MaxMemo)
	}
	return nil
}

// decodeGoverned decodes a proposal's messages and refuses any that is not governed: ordinary
// messages need no council, and executing one as the council would be meaningless.
func (m *Module) decodeGoverned(anys []*anypb.Any) ([]proto.Message, error) {
	msgs := make([]proto.Message, len(anys))
	for i, a := range anys {
		msg, err := m.router.Decode(a)
		if err != nil {
			return nil, errcode.Wrapf(ErrInvalidProposal, "message %d: %v", i, err)
		}
		if !m.router.IsGoverned(a.GetTypeUrl()) {
			return nil, errcode.Wrapf(ErrNotGoverned, "message %d (%s) needs no council: send it in a transaction", i, a.GetTypeUrl())
		}
		msgs[i] = msg
	}
	return msgs, nil
}

func (m *Module) propose(ctx *module.Context, caller module.Caller, msg *MsgPropose) error {
	if caller.Council || !isMember(GetCouncil(ctx), caller.Account) {
		return errcode.Wrapf(ErrNotMember, "%s cannot propose", caller.Account)
	}
	if _, err := m.decodeGoverned(msg.GetMessages()); err != nil {
		return err
	}
	id := nextID(ctx)
	p := &Proposal{
		Id:           id,
		Proposer:     caller.Account[:],
		Messages:     msg.GetMessages(),
		Memo:         msg.GetMemo(),
		Approvals:    [][]byte{caller.Account[:]},
		SubmitHeight: ctx.Height,
		ExpiryHeight: ctx.Height + int64(GetParams(ctx).GetVotingPeriod()),
		Status:       ProposalStatus_PROPOSAL_STATUS_OPEN,
	}
	ctx.Set(ProposalKey(id), module.Marshal(p))
	ctx.Emit("proposal_submitted", module.Attr("proposal_id", strconv.FormatUint(id, 10)), module.Attr("proposer", caller.Account.String()))
	return nil
}

func nextID(ctx *module.Context) uint64 {
	var id uint64 = 1
	if b := ctx.Get(keyNextID); len(b) == 8 {
		id = binary.BigEndian.Uint64(b)
	}
	ctx.Set(keyNextID, binary.BigEndian.AppendUint64(nil, id+1))
	return id
}

// openProposal loads a proposal that can still be approved or executed.
func openProposal(ctx *module.Context, id uint64) (*Proposal, error) {
	p, err := GetProposal(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.GetStatus() != ProposalStatus_PROPOSAL_STATUS_OPEN {
		return nil, errcode.Wrapf(ErrNotOpen, "proposal %d is %s", id, p.GetStatus())
	}
	if ctx.Height > p.GetExpiryHeight() {
		return nil, errcode.Wrapf(ErrExpired, "proposal %d expired at height %d: propose it again", id, p.GetExpiryHeight())
	}
	return p, nil
}

func (m *Module) approve(ctx *module.Context, caller module.Caller, msg *MsgApprove) error {
	if caller.Council || !isMember(GetCouncil(ctx), caller.Account) {
		return errcode.Wrapf(ErrNotMember, "%s cannot approve", caller.Account)
	}
	p, err := openProposal(ctx, msg.GetProposalId())
	if err != nil {
		return err
	}
	if slices.ContainsFunc(p.GetApprovals(), func(a []byte) bool { return keys.AccountID(a) == caller.Account }) {
		return errcode.Wrapf(ErrAlreadyApproved, "%s already approved proposal %d", caller.Account, p.GetId())
	}
	p.Approvals = append(p.Approvals, caller.Account[:])
	ctx.Set(ProposalKey(p.GetId()), module.Marshal(p))
	ctx.Emit("proposal_approved", module.Attr("proposal_id", strconv.FormatUint(p.GetId(), 10)), module.Attr("member", caller.Account.String()))
	return nil
}

// approvalsFromCurrentCouncil counts approvals of accounts that are members now: a member who
// left the council no longer counts.
func approvalsFromCurrentCouncil(c *Council, p *Proposal) uint32 {
	var n uint32
	for _, a := range p.GetApprovals() {
		if isMember(c, keys.AccountID(a)) {
			n++
		}
	}
	return n
}

func (m *Module) execute(ctx *module.Context, _ module.Caller, msg *MsgExecute) error {
	p, err := openProposal(ctx, msg.GetProposalId())
	if err != nil {
		return err
	}
	c := GetCouncil(ctx)
	if n := approvalsFromCurrentCouncil(c, p); n < c.GetThreshold() {
		return errcode.Wrapf(ErrNotApproved, "proposal %d has %d of the %d approvals it needs", p.GetId(), n, c.GetThreshold())
	}
	msgs, err := m.decodeGoverned(p.GetMessages())
	if err != nil {
		return err
	}
	for i, gm := range msgs {
		if err := m.router.Dispatch(ctx, module.CouncilCaller(), gm); err != nil {
			return errcode.Wrapf(ErrInvalidProposal, "proposal %d message %d failed, nothing was applied: %v", p.GetId(), i, err)
		}
	}
	p.Status = ProposalStatus_PROPOSAL_STATUS_EXECUTED
	p.ExecutedHeight = ctx.Height
	ctx.Set(ProposalKey(p.GetId()), module.Marshal(p))
	ctx.Emit("proposal_executed", module.Attr("proposal_id", strconv.FormatUint(p.GetId(), 10)))
	return nil
}

func setCouncil(ctx *module.Context, _ module.Caller, msg *MsgSetCouncil) error {
	ctx.Set(keyCouncil, module.Marshal(msg.GetCouncil()))
	ctx.Emit("council_set", module.Attr("members", strconv.Itoa(len(msg.GetCouncil().GetMembers()))), module.Attr("threshold", strconv.FormatUint(uint64(msg.GetCouncil().GetThreshold()), 10)))
	return nil
}

func setParams(ctx *module.Context, _ module.Caller, msg *MsgSetParams) error {
	ctx.Set(keyParams, module.Marshal(msg.GetParams()))
	ctx.Emit("governance_params_set")
	return nil
}

// Genesis is the governance section of the genesis file.
type Genesis struct {
	Council      GenesisCouncil `json:"council"`
	VotingPeriod uint64         `json:"voting_period"`
}

// GenesisCouncil names the first council.
type GenesisCouncil struct {
	Members   []keys.AccountID `json:"members"`
	Threshold uint32           `json:"threshold"`
}

// DefaultVotingPeriod is about a day of one-second blocks.
const DefaultVotingPeriod = 86_400

func (*Module) InitGenesis(ctx *module.Context, raw json.RawMessage) error {
	var g Genesis
	if err := module.DecodeGenesis(raw, &g); err != nil {
		return errcode.Wrapf(ErrInvalidGenesis, "%v", err)
	}
	c := &Council{Threshold: g.Council.Threshold}
	for _, id := range g.Council.Members {
		c.Members = append(c.Members, slices.Clone(id[:]))
	}
	if err := c.ValidateBasic(); err != nil {
		return err
	}
	p := &Params{VotingPeriod: g.VotingPeriod}
	if err := p.ValidateBasic(); err != nil {
		return err
	}
	ctx.Set(keyCouncil, module.Marshal(c))
	ctx.Set(keyParams, module.Marshal(p))
	return nil
}

// Query paths.
const (
	QueryCouncil   = "council"   // answer: Council
	QueryParams    = "params"    // answer: Params
	QueryProposal  = "proposal"  // data: 8-byte big-endian id; answer: Proposal
	QueryProposals = "proposals" // answer: Proposals, newest first, at most 100
)

func (*Module) Query(r store.Reader, path string, data []byte) ([]byte, error) {
	switch path {
	case QueryCouncil:
		return module.Marshal(GetCouncil(r)), nil
	case QueryParams:
		return module.Marshal(GetParams(r)), nil
	case QueryProposal:
		if len(data) != 8 {
			return nil, errcode.Wrapf(ErrNotFound, "query data must be an 8-byte proposal id")
		}
		p, err := GetProposal(r, binary.BigEndian.Uint64(data))
		if err != nil {
			return nil, err
		}
		return module.Marshal(p), nil
	case QueryProposals:
		var out Proposals
		it := r.Iterator(prefixProposal, store.PrefixEnd(prefixProposal))
		defer it.Close()
		for ; it.Valid(); it.Next() {
			var p Proposal
			mustDecode(it.Value(), &p)
			out.Proposals = append(out.Proposals, &p)
		}
		slices.Reverse(out.Proposals)
		out.Proposals = out.Proposals[:min(len(out.Proposals), 100)]
		return module.Marshal(&out), nil
	}
	return nil, errcode.Wrapf(ErrNotFound, "no query %q", path)
}
