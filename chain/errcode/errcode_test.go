package errcode

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

var errSample = New("sample", 7, "sample failure")

func TestRoundTripThroughABCI(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		codespace string
		code      uint32
		matches   error
	}{
		{"sentinel", errSample, "sample", 7, errSample},
		{"wrapped", Wrapf(errSample, "account %d", 3), "sample", 7, errSample},
		{"double wrapped", fmt.Errorf("tx 2: %w", Wrapf(errSample, "x")), "sample", 7, errSample},
		{"plain error", errors.New("disk full"), "internal", 1, Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			space, code, log := ABCI(tt.err)
			require.Equal(t, tt.codespace, space)
			require.Equal(t, tt.code, code)
			require.Equal(t, tt.err.Error(), log)
			remote := FromABCI(space, code, log)
			require.ErrorIs(t, remote, tt.matches)
			require.Equal(t, log, remote.Error())
		})
	}
}

func TestDistinctCodesDoNotMatch(t *testing.T) {
	other := New("sample", 8, "other")
	require.NotErrorIs(t, errSample, other)
	require.NotErrorIs(t, FromABCI("another", 7, "x"), errSample)
	require.NoError(t, FromABCI("sample", OK, ""))
}

func TestCodeZeroIsRefused(t *testing.T) {
	require.Panics(t, func() { New("sample", OK, "x") })
}
