package envelope

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReplyRoundTrip(t *testing.T) {
	for _, kem := range kems {
		t.Run(kem.String(), func(t *testing.T) {
			k := mustDerive(t, kem, seq32())
			env, ro, err := SealWithReply(k.Public(), PurposeQuery, testContext, testAAD, []byte("get balance"))
			require.NoError(t, err)
			q, rs, err := OpenWithReply(k, PurposeQuery, testContext, testAAD, env)
			require.NoError(t, err)
			require.Equal(t, []byte("get balance"), q)
			// A plain Open of a SealWithReply envelope works too.
			q, err = Open(k, PurposeQuery, testContext, testAAD, env)
			require.NoError(t, err)
			require.Equal(t, []byte("get balance"), q)

			answers := [][]byte{[]byte("42"), nil, bytes.Repeat([]byte{1}, 64<<10)}
			replies := make([][]byte, len(answers))
			for i, a := range answers {
				replies[i], err = rs.Seal([]byte("height 7"), a)
				require.NoError(t, err)
				require.Len(t, replies[i], len(a)+16)
			}
			require.NotEqual(t, replies[0][:2], replies[1][:2], "each reply has its own nonce")
			for i, a := range answers {
				got, err := ro.Open([]byte("height 7"), replies[i])
				require.NoError(t, err)
				require.Equal(t, len(a), len(got))
				require.True(t, bytes.Equal(a, got))
			}
		})
	}
}

func TestReplyRejects(t *testing.T) {
	for _, kem := range kems {
		t.Run(kem.String(), func(t *testing.T) {
			k := mustDerive(t, kem, seq32())
			pair := func() (*ReplyOpener, *ReplySealer) {
				env, ro, err := SealWithReply(k.Public(), PurposeQuery, testContext, testAAD, []byte("q"))
				require.NoError(t, err)
				_, rs, err := OpenWithReply(k, PurposeQuery, testContext, testAAD, env)
				require.NoError(t, err)
				return ro, rs
			}
			ro, rs := pair()
			otherRO, otherRS := pair()
			aad := []byte("height 7")
			r0, err := rs.Seal(aad, []byte("first"))
			require.NoError(t, err)
			r1, err := rs.Seal(aad, []byte("second"))
			require.NoError(t, err)
			foreign, err := otherRS.Seal(aad, []byte("first"))
			require.NoError(t, err)
			flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }

			for _, c := range []struct {
				name  string
				aad   []byte
				reply []byte
			}{
				{"out of order", aad, r1},
				{"reply to another envelope", aad, foreign},
				{"wrong aad", []byte("height 8"), r0},
				{"flipped first byte", aad, flip(r0, 0)},
				{"flipped tag", aad, flip(r0, len(r0)-1)},
				{"truncated", aad, r0[:len(r0)-1]},
				{"shorter than a tag", aad, r0[:15]},
				{"empty", aad, nil},
				{"trailing byte", aad, append(bytes.Clone(r0), 0)},
			} {
				pt, err := ro.Open(c.aad, c.reply)
				require.ErrorIs(t, err, ErrDecrypt, c.name)
				require.Equal(t, ErrDecrypt.Error(), err.Error())
				require.Nil(t, pt)
			}
			// Failures did not advance the sequence: the replies still open in order.
			got, err := ro.Open(aad, r0)
			require.NoError(t, err)
			require.Equal(t, "first", string(got))
			got, err = ro.Open(aad, r1)
			require.NoError(t, err)
			require.Equal(t, "second", string(got))
			// The querier's opener cannot open its own channel's replies twice.
			_, err = ro.Open(aad, r0)
			require.ErrorIs(t, err, ErrDecrypt)
			_, err = otherRO.Open(aad, foreign)
			require.NoError(t, err)
		})
	}
}

func TestReplyTooLarge(t *testing.T) {
	k := mustDerive(t, X25519, seq32())
	env, ro, err := SealWithReply(k.Public(), PurposeQuery, nil, nil, nil)
	require.NoError(t, err)
	_, rs, err := OpenWithReply(k, PurposeQuery, nil, nil, env)
	require.NoError(t, err)
	_, err = rs.Seal(nil, make([]byte, MaxSize-16+1))
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = ro.Open(nil, make([]byte, MaxSize+1))
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorIs(t, err, ErrMalformed)
	max, err := rs.Seal(nil, make([]byte, MaxSize-16))
	require.NoError(t, err)
	_, err = ro.Open(nil, max)
	require.NoError(t, err, "the refused reply did not advance either side")
}
