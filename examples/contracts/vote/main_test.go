package main

import (
	"errors"
	"testing"

	"github.com/phala-go/phala/sdk"
	"github.com/phala-go/phala/sdk/sdktest"
)

var (
	alice = sdktest.Account("alice")
	bob   = sdktest.Account("bob")
	carol = sdktest.Account("carol")
	dave  = sdktest.Account("dave")
)

func newVote(t *testing.T, allow ...sdk.Caller) *sdktest.Env {
	t.Helper()
	env := sdktest.New()
	m := InitMsg{Question: "Lunch?", Options: []string{"pizza", "sushi", "salad"}, EndHeight: 20}
	for _, a := range allow {
		m.Voters = append(m.Voters, a.ID)
	}
	if _, err := env.Instantiate(alice, m); err != nil {
		t.Fatal(err)
	}
	return env
}

func cast(env *sdktest.Env, who sdk.Caller, option string) error {
	_, err := env.Execute(who, sdktest.Msg("vote", VoteMsg{Option: option}))
	return err
}

func TestTallyAfterTheEnd(t *testing.T) {
	env := newVote(t)
	for who, o := range map[sdk.Caller]string{alice: "sushi", bob: "pizza", carol: "sushi"} {
		if err := cast(env, who, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Query(alice, sdktest.Msg("tally", struct{}{})); !errors.Is(err, errOpen) {
		t.Fatalf("tally before the end: %v", err)
	}
	i, err := sdktest.QueryAs[Info](env, sdktest.Anonymous, sdktest.Msg("info", struct{}{}))
	if err != nil || i.Ballots != 3 || i.Restricted {
		t.Fatalf("info %+v %v", i, err)
	}
	env.Advance(19)
	got, err := sdktest.QueryAs[Tally](env, sdktest.Anonymous, sdktest.Msg("tally", struct{}{}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Count{{"pizza", 1}, {"sushi", 2}, {"salad", 0}}
	if got.Ballots != 3 || len(got.Results) != 3 {
		t.Fatalf("tally %+v", got)
	}
	for k := range want {
		if got.Results[k] != want[k] {
			t.Fatalf("tally %+v, want %+v", got.Results, want)
		}
	}
	if err := cast(env, dave, "pizza"); !errors.Is(err, errEnded) {
		t.Fatalf("vote after the end: %v", err)
	}
}

func TestOneVotePerAccount(t *testing.T) {
	env := newVote(t)
	if err := cast(env, bob, "salad"); err != nil {
		t.Fatal(err)
	}
	before := env.Storage()
	if err := cast(env, bob, "pizza"); !errors.Is(err, errAlreadyVote) {
		t.Fatalf("second vote: %v", err)
	}
	if len(env.Storage()) != len(before) || string(env.Storage()["counts"]) != string(before["counts"]) {
		t.Fatal("a refused vote changed the counts")
	}
	voted, err := sdktest.QueryAs[bool](env, bob, sdktest.Msg("has_voted", struct{}{}))
	if err != nil || !voted {
		t.Fatalf("has_voted(bob) = %v %v", voted, err)
	}
	voted, err = sdktest.QueryAs[bool](env, carol, sdktest.Msg("has_voted", struct{}{}))
	if err != nil || voted {
		t.Fatalf("has_voted(carol) = %v %v", voted, err)
	}
}

func TestBallotRules(t *testing.T) {
	env := newVote(t, alice, bob)
	tests := []struct {
		name string
		who  sdk.Caller
		opt  string
		want error
	}{
		{"not on the list", carol, "pizza", errNotVoter},
		{"contract caller", sdktest.Contract("x"), "pizza", errAnonymous},
		{"anonymous", sdktest.Anonymous, "pizza", errAnonymous},
		{"unknown option", alice, "tacos", sdktest.ErrContract},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := cast(env, tc.who, tc.opt); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if err := cast(env, alice, "pizza"); err != nil {
		t.Fatal(err)
	}
	// The storage a ballot writes does not name the option chosen.
	for k := range env.Storage() {
		if k == "counts" || k == "info" || len(k) > 6 && (k[:6] == "voter/" || k[:6] == "voted/") {
			continue
		}
		t.Fatalf("unexpected key %q", k)
	}
}

func TestInstantiateChecks(t *testing.T) {
	bad := []InitMsg{
		{Options: []string{"a", "b"}, EndHeight: 9},
		{Question: "q", Options: []string{"a"}, EndHeight: 9},
		{Question: "q", Options: []string{"a", "a"}, EndHeight: 9},
		{Question: "q", Options: []string{"a", ""}, EndHeight: 9},
		{Question: "q", Options: []string{"a", "b"}, EndHeight: 1},
	}
	for _, m := range bad {
		env := sdktest.New()
		if _, err := env.Instantiate(alice, m); !errors.Is(err, sdktest.ErrContract) || len(env.Storage()) != 0 {
			t.Errorf("instantiate %+v: %v", m, err)
		}
	}
}
