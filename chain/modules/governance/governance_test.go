package governance

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCouncilValidateBasic(t *testing.T) {
	id := func(b byte) []byte { m := make([]byte, 32); m[0] = b; return m }
	many := make([][]byte, MaxCouncil+1)
	for i := range many {
		many[i] = id(byte(i))
		many[i][1] = byte(i >> 8)
	}
	tests := []struct {
		name    string
		c       *Council
		wantErr bool
	}{
		{"one of one", &Council{Members: [][]byte{id(1)}, Threshold: 1}, false},
		{"two of three", &Council{Members: [][]byte{id(1), id(2), id(3)}, Threshold: 2}, false},
		{"empty", &Council{Threshold: 1}, true},
		{"zero threshold", &Council{Members: [][]byte{id(1)}}, true},
		{"threshold above members", &Council{Members: [][]byte{id(1)}, Threshold: 2}, true},
		{"duplicate member", &Council{Members: [][]byte{id(1), id(1)}, Threshold: 1}, true},
		{"short id", &Council{Members: [][]byte{{1, 2}}, Threshold: 1}, true},
		{"too many", &Council{Members: many, Threshold: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.ValidateBasic()
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidCouncil)
			} else {
				require.NoError(t, err)
			}
		})
	}
}

func TestApprovalsCountOnlyCurrentMembers(t *testing.T) {
	m := func(b byte) []byte { x := make([]byte, 32); x[0] = b; return x }
	p := &Proposal{Approvals: [][]byte{m(1), m(2), m(3)}}
	require.Equal(t, uint32(3), approvalsFromCurrentCouncil(&Council{Members: [][]byte{m(1), m(2), m(3)}}, p))
	require.Equal(t, uint32(1), approvalsFromCurrentCouncil(&Council{Members: [][]byte{m(2), m(9)}}, p))
}

func TestProposalKeysSortByID(t *testing.T) {
	require.Less(t, string(ProposalKey(9)), string(ProposalKey(10)))
	require.Less(t, string(ProposalKey(255)), string(ProposalKey(256)))
}
