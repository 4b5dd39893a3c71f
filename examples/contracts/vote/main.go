// Command vote is a private ballot: who voted is recorded (one vote per account) but not how;
// the tally stays secret until the end height, after which anyone may read it.
//
// Messages:
//
//	instantiate {"question": "Lunch?", "options": ["pizza", "sushi"], "end_height": 50, "voters": ["0x.."]}
//	                                     voters is optional: without it every account may vote
//	execute     {"vote": {"option": "sushi"}}   before end_height, once per account
//	query       {"has_voted": {}}                whether the caller has voted
//	query       {"info": {}}                     question, options, end height, ballots cast
//	query       {"tally": {}}                    votes per option, from end_height on
package main

import (
	"errors"
	"fmt"

	"github.com/phala-go/phala/sdk"
)

func main() {}

// InitMsg sets up the ballot.
type InitMsg struct {
	Question  string        `json:"question"`
	Options   []string      `json:"options"`
	EndHeight uint64        `json:"end_height"`
	Voters    []sdk.Address `json:"voters,omitempty"`
}

// VoteMsg casts the caller's ballot.
type VoteMsg struct {
	Option string `json:"option"`
}

// Info is the ballot's public description.
type Info struct {
	Question   string   `json:"question"`
	Options    []string `json:"options"`
	EndHeight  uint64   `json:"end_height"`
	Restricted bool     `json:"restricted"`
	Ballots    uint64   `json:"ballots"`
}

// Tally is the result.
type Tally struct {
	Question string  `json:"question"`
	Results  []Count `json:"results"`
	Ballots  uint64  `json:"ballots"`
}

// Count is the votes of one option.
type Count struct {
	Option string `json:"option"`
	Votes  uint64 `json:"votes"`
}

var (
	errEnded       = errors.New("voting has ended")
	errOpen        = errors.New("the tally is secret until voting ends")
	errAlreadyVote = errors.New("this account has already voted")
	errNotVoter    = errors.New("this account may not vote")
	errAnonymous   = errors.New("the caller must be an account")
)

var (
	info   = sdk.NewItem[Info]("info")
	voters = sdk.NewMap[bool]("voter/") // the allowlist, when restricted
	voted  = sdk.NewMap[bool]("voted/")
	// counts is one value for all options, so a ballot writes the same key whatever its choice.
	counts = sdk.NewItem[[]uint64]("counts")
)

func init() {
	sdk.Init(instantiate)
	sdk.Handle("vote", vote)
	sdk.HandleQuery("has_voted", func(ctx sdk.Context, _ struct{}) (bool, error) {
		c := ctx.Caller()
		if c.Kind != sdk.CallerAccount {
			return false, errAnonymous
		}
		return voted.Has(c.ID.String()), nil
	})
	sdk.HandleQuery("info", func(sdk.Context, struct{}) (Info, error) {
		i, _ := info.Get()
		return i, nil
	})
	sdk.HandleQuery("tally", tally)
}

func instantiate(ctx sdk.Context, msg InitMsg) error {
	if msg.Question == "" || len(msg.Options) < 2 {
		return errors.New("a question and at least two options are required")
	}
	seen := map[string]bool{}
	for _, o := range msg.Options {
		if o == "" || seen[o] {
			return fmt.Errorf("options must be distinct and non-empty (%q)", o)
		}
		seen[o] = true
	}
	if msg.EndHeight <= ctx.Block().Height {
		return fmt.Errorf("end_height %d must be after the current height %d", msg.EndHeight, ctx.Block().Height)
	}
	for _, v := range msg.Voters {
		voters.Set(v.String(), true)
	}
	info.Set(Info{Question: msg.Question, Options: msg.Options, EndHeight: msg.EndHeight, Restricted: len(msg.Voters) > 0})
	counts.Set(make([]uint64, len(msg.Options)))
	return nil
}

func vote(ctx sdk.Context, msg VoteMsg) error {
	i, _ := info.Get()
	if ctx.Block().Height >= i.EndHeight {
		return errEnded
	}
	c := ctx.Caller()
	if c.Kind != sdk.CallerAccount {
		return errAnonymous
	}
	if i.Restricted && !voters.Has(c.ID.String()) {
		return errNotVoter
	}
	if voted.Has(c.ID.String()) {
		return errAlreadyVote
	}
	// Visit every option whatever the choice, so the work done does not depend on the ballot.
	choice := -1
	for k, o := range i.Options {
		if o == msg.Option {
			choice = k
		}
	}
	if choice < 0 {
		return fmt.Errorf("unknown option %q", msg.Option)
	}
	cs, _ := counts.Get()
	cs[choice]++
	counts.Set(cs)
	voted.Set(c.ID.String(), true)
	i.Ballots++
	info.Set(i)
	return nil
}

func tally(ctx sdk.Context, _ struct{}) (Tally, error) {
	i, _ := info.Get()
	if ctx.Block().Height < i.EndHeight {
		return Tally{}, fmt.Errorf("%w (height %d)", errOpen, i.EndHeight)
	}
	cs, _ := counts.Get()
	t := Tally{Question: i.Question, Ballots: i.Ballots}
	for k, o := range i.Options {
		t.Results = append(t.Results, Count{Option: o, Votes: cs[k]})
	}
	return t, nil
}
