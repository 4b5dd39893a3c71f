package tee

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"time"
)

// TestLibraryPanicRefused feeds the quote shape that makes go-tdx-guest's parser slice out of
// range (found by FuzzVerify): a QE auth data size larger than the data that follows.
func TestLibraryPanicRefused(t *testing.T) {
	q := recordedQuote(t)
	// Header 48, body 584, signed data size 4, signature 64, attestation key 64, certification
	// data type 2 and size 4, QE report 384, QE report signature 64: the auth data size follows.
	off := 48 + 584 + 4 + 64 + 64 + 6 + 384 + 64
	binary.LittleEndian.PutUint16(q[off:], 0xfff0)
	_, err := parseTDXQuote(q)
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "panicked")
	_, err = Verify(Evidence{Kind: KindTDX, Quote: q}, Collateral{Kind: KindTDX}, Policy{}, time.Time{})
	require.ErrorIs(t, err, ErrMalformed)
}
