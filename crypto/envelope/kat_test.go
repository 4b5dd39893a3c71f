package envelope

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Known-answer vectors: envelopes sealed once to DeriveKey(kem, 00 01 .. 1f)
// with PurposeQuery, context "contract-1", aad "aad" and plaintext
// "hello, phala", and the first reply to each, sealed with aad "height 42"
// and plaintext "answer: 7" (replies are deterministic given the envelope).
// They pin the format: layout, info encoding, suite and reply derivation.
const (
	katPlaintext = "hello, phala"
	katReplyAAD  = "height 42"
	katReply     = "answer: 7"
	katX25519Env = "010020fac047c5ec73ba19c232c84eb48969dc0c430b4e60c07bccbe3803ac8b103c4f0000001c79686e2dfbd63a57e25a07c184f9d96f7773ccd956b817bf5b33ab20"
	katX25519Rep = "07ef6f4249eaf4eb6732bd2b4561f33569eb93ab7267b6ca2d"
	katInfo      = "000000147068616c612d676f2f656e76656c6f70652f76310000000e7068616c612f71756572792f76310000000a636f6e74726163742d31"
	docsPath     = "../../docs/crypto-envelopes.md"
	xwingKATPath = "testdata/xwing-envelope.hex"
)

func TestInfoEncoding(t *testing.T) {
	got, err := info(PurposeQuery, testContext)
	require.NoError(t, err)
	require.Equal(t, katInfo, hex.EncodeToString(got))
	// Length prefixes make (purpose, context) -> info injective.
	a, err := info("phala/a", []byte("bc"))
	require.NoError(t, err)
	b, err := info("phala/ab", []byte("c"))
	require.NoError(t, err)
	require.NotEqual(t, a, b)
}

func TestKnownAnswers(t *testing.T) {
	lines := strings.Fields(readFile(t, xwingKATPath))
	require.Len(t, lines, 2)
	for _, tc := range []struct {
		kem        KEM
		env, reply string
	}{
		{X25519, katX25519Env, katX25519Rep},
		{XWing, lines[0], lines[1]},
	} {
		t.Run(tc.kem.String(), func(t *testing.T) {
			k := mustDerive(t, tc.kem, seq32())
			env := unhex(t, tc.env)
			require.Len(t, env, len(katPlaintext)+tc.kem.Overhead())
			pt, rs, err := OpenWithReply(k, PurposeQuery, testContext, testAAD, env)
			require.NoError(t, err)
			require.Equal(t, katPlaintext, string(pt))
			reply, err := rs.Seal([]byte(katReplyAAD), []byte(katReply))
			require.NoError(t, err)
			require.Equal(t, tc.reply, hex.EncodeToString(reply))
		})
	}
}

// TestDocsShowVectors keeps docs/crypto-envelopes.md true: the vectors it
// prints for other implementations are the ones this package produces.
func TestDocsShowVectors(t *testing.T) {
	flat := strings.Join(strings.Fields(readFile(t, docsPath)), "")
	for name, v := range map[string]string{
		"info":              katInfo,
		"x25519 envelope":   katX25519Env,
		"x25519 reply":      katX25519Rep,
		"x25519 public key": hex.EncodeToString(mustDerive(t, X25519, seq32()).Public().Key),
		"xwing seed":        hex.EncodeToString(mustDerive(t, XWing, seq32()).Bytes()),
	} {
		require.True(t, strings.Contains(flat, v), "docs do not show the %s vector %s", name, v)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
