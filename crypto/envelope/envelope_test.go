package envelope

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	testContext = []byte("contract-1")
	testAAD     = []byte("aad")
)

func TestSealOpenRoundTrip(t *testing.T) {
	for _, kem := range kems {
		t.Run(kem.String(), func(t *testing.T) {
			k := mustDerive(t, kem, seq32())
			for _, n := range []int{0, 1, 256, 64 << 10} {
				msg := bytes.Repeat([]byte{0xa5}, n)
				for _, purpose := range []Purpose{PurposeCommand, PurposeQuery, PurposeMasterKeyShare, PurposeClusterKeyShare, PurposeKeyHandover, "x", Purpose(strings.Repeat("p", MaxPurposeLen))} {
					for _, ctx := range [][]byte{nil, testContext, make([]byte, MaxContextLen)} {
						env, err := Seal(k.Public(), purpose, ctx, testAAD, msg)
						require.NoError(t, err)
						require.Len(t, env, n+kem.Overhead())
						got, err := KEMOf(env)
						require.NoError(t, err)
						require.Equal(t, kem, got)
						pt, err := Open(k, purpose, ctx, testAAD, env)
						require.NoError(t, err)
						require.True(t, bytes.Equal(msg, pt))
					}
				}
			}
			// nil and empty context and aad are the same.
			env, err := Seal(k.Public(), PurposeCommand, nil, nil, []byte("m"))
			require.NoError(t, err)
			pt, err := Open(k, PurposeCommand, []byte{}, []byte{}, env)
			require.NoError(t, err)
			require.Equal(t, []byte("m"), pt)
			// Sealing is randomized.
			again, err := Seal(k.Public(), PurposeCommand, nil, nil, []byte("m"))
			require.NoError(t, err)
			require.NotEqual(t, env, again)
		})
	}
}

func TestSealMaxSize(t *testing.T) {
	k := mustDerive(t, X25519, seq32())
	big := make([]byte, MaxSize-X25519.Overhead())
	env, err := Seal(k.Public(), PurposeCommand, nil, nil, big)
	require.NoError(t, err)
	require.Len(t, env, MaxSize)
	pt, err := Open(k, PurposeCommand, nil, nil, env)
	require.NoError(t, err)
	require.Len(t, pt, len(big))

	_, err = Seal(k.Public(), PurposeCommand, nil, nil, append(big, 0))
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = Open(k, PurposeCommand, nil, nil, append(env, 0))
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestBadArguments(t *testing.T) {
	k := mustDerive(t, X25519, seq32())
	env, err := Seal(k.Public(), PurposeCommand, nil, nil, []byte("m"))
	require.NoError(t, err)
	for _, p := range []Purpose{"", Purpose(strings.Repeat("p", MaxPurposeLen+1)), "phala/command v1", "phala/\x00", "phala/é", "phala/\x7f", "\t"} {
		_, err := Seal(k.Public(), p, nil, nil, []byte("m"))
		require.ErrorIs(t, err, ErrBadPurpose, "%q", p)
		_, err = Open(k, p, nil, nil, env)
		require.ErrorIs(t, err, ErrBadPurpose, "%q", p)
	}
	long := make([]byte, MaxContextLen+1)
	_, err = Seal(k.Public(), PurposeCommand, long, nil, []byte("m"))
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = Open(k, PurposeCommand, long, nil, env)
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = Open(PrivateKey{}, PurposeCommand, nil, nil, env)
	require.ErrorIs(t, err, ErrUnknownKEM)
	_, err = Seal(PublicKey{}, PurposeCommand, nil, nil, []byte("m"))
	require.ErrorIs(t, err, ErrUnknownKEM)
}

func TestOpenRejects(t *testing.T) {
	for _, kem := range kems {
		t.Run(kem.String(), func(t *testing.T) {
			k := mustDerive(t, kem, seq32())
			otherSeed := seq32()
			otherSeed[0] = 0xff
			other := mustDerive(t, kem, otherSeed)
			otherKEM := mustDerive(t, X25519+XWing-kem, seq32())
			msg := []byte("transfer 10 PHA to bob")
			env, err := Seal(k.Public(), PurposeCommand, testContext, testAAD, msg)
			require.NoError(t, err)
			orig := bytes.Clone(env)
			second, err := Seal(k.Public(), PurposeCommand, testContext, testAAD, msg)
			require.NoError(t, err)

			encEnd := headerSize + kem.encSize()
			ctStart := encEnd + lengthSize
			flip := func(i int) []byte { e := bytes.Clone(env); e[i] ^= 0x01; return e }
			swapEnc := bytes.Clone(env)
			copy(swapEnc[headerSize:encEnd], second[headerSize:encEnd])
			shortCT := append(bytes.Clone(env[:ctStart-4]), 0, 0, 0, 15)
			shortCT = append(shortCT, env[ctStart:ctStart+15]...)

			type tc struct {
				name    string
				key     PrivateKey
				purpose Purpose
				ctx     []byte
				aad     []byte
				env     []byte
				want    error
			}
			cases := []tc{
				{"wrong key", other, PurposeCommand, testContext, testAAD, env, ErrDecrypt},
				{"key of the other KEM", otherKEM, PurposeCommand, testContext, testAAD, env, ErrWrongKEM},
				{"wrong purpose", k, PurposeQuery, testContext, testAAD, env, ErrDecrypt},
				{"purpose prefix", k, "phala/command/v", testContext, testAAD, env, ErrDecrypt},
				{"wrong context", k, PurposeCommand, []byte("contract-2"), testAAD, env, ErrDecrypt},
				{"no context", k, PurposeCommand, nil, testAAD, env, ErrDecrypt},
				{"context extended", k, PurposeCommand, append(bytes.Clone(testContext), 0), testAAD, env, ErrDecrypt},
				{"wrong aad", k, PurposeCommand, testContext, []byte("aae"), env, ErrDecrypt},
				{"no aad", k, PurposeCommand, testContext, nil, env, ErrDecrypt},
				{"aad moved into context", k, PurposeCommand, append(bytes.Clone(testContext), testAAD...), nil, env, ErrDecrypt},
				{"flipped version", k, PurposeCommand, testContext, testAAD, flip(0), ErrMalformed},
				{"flipped KEM id high", k, PurposeCommand, testContext, testAAD, flip(1), ErrUnknownKEM},
				{"flipped KEM id low", k, PurposeCommand, testContext, testAAD, flip(2), ErrUnknownKEM},
				{"flipped enc first", k, PurposeCommand, testContext, testAAD, flip(headerSize), ErrDecrypt},
				{"flipped enc last", k, PurposeCommand, testContext, testAAD, flip(encEnd - 1), ErrDecrypt},
				{"enc of another envelope", k, PurposeCommand, testContext, testAAD, swapEnc, ErrDecrypt},
				{"flipped length", k, PurposeCommand, testContext, testAAD, flip(ctStart - 1), ErrMalformed},
				{"flipped length high", k, PurposeCommand, testContext, testAAD, flip(encEnd), ErrMalformed},
				{"flipped ciphertext", k, PurposeCommand, testContext, testAAD, flip(ctStart), ErrDecrypt},
				{"flipped tag", k, PurposeCommand, testContext, testAAD, flip(len(env) - 1), ErrDecrypt},
				{"ciphertext shorter than tag", k, PurposeCommand, testContext, testAAD, shortCT, ErrMalformed},
				{"trailing byte", k, PurposeCommand, testContext, testAAD, append(bytes.Clone(env), 0), ErrMalformed},
				{"another envelope appended", k, PurposeCommand, testContext, testAAD, append(bytes.Clone(env), second...), ErrMalformed},
			}
			for _, n := range []int{0, 1, 2, headerSize, headerSize + 1, encEnd - 1, encEnd, ctStart - 1, ctStart, len(env) - 1} {
				cases = append(cases, tc{"truncated to " + strconv.Itoa(n), k, PurposeCommand, testContext, testAAD, env[:n], ErrMalformed})
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					in := bytes.Clone(c.env)
					pt, err := Open(c.key, c.purpose, c.ctx, c.aad, c.env)
					require.ErrorIs(t, err, c.want)
					require.Nil(t, pt)
					require.Equal(t, in, c.env, "Open must not modify its input")
					if c.want == ErrDecrypt {
						require.Equal(t, ErrDecrypt.Error(), err.Error(), "a decryption failure must not say why")
					}
					if c.want == ErrUnknownKEM {
						require.ErrorIs(t, err, ErrMalformed)
					}
					_, _, err = OpenWithReply(c.key, c.purpose, c.ctx, c.aad, c.env)
					require.ErrorIs(t, err, c.want)
				})
			}
			require.Equal(t, orig, env)
			pt, err := Open(k, PurposeCommand, testContext, testAAD, env)
			require.NoError(t, err, "the original envelope still opens")
			require.Equal(t, msg, pt)
		})
	}
}
