package keys

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/phala-go/phala/crypto/ss58"
	"github.com/stretchr/testify/require"
)

var aliceID = AccountID{0xd4, 0x35, 0x93, 0xc7, 0x15, 0xfd, 0xd3, 0x1c, 0x61, 0x14, 0x1a, 0xbd, 0x04, 0xa9, 0x9f, 0xd6,
	0x82, 0x2c, 0x85, 0x58, 0x85, 0x4c, 0xcd, 0xe3, 0x9a, 0x56, 0x84, 0xe7, 0xa5, 0x6d, 0xa2, 0x7d}

func TestParseAccountID(t *testing.T) {
	for _, s := range []string{
		"45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2",
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
		"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
		"0xD43593C715FDD31C61141ABD04A99FD6822C8558854CCDE39A5684E7A56DA27D",
	} {
		a, err := ParseAccountID(s)
		require.NoError(t, err, s)
		require.Equal(t, aliceID, a)
	}
	require.Equal(t, "45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2", aliceID.String())
}

func TestParseAccountIDRefusals(t *testing.T) {
	for _, s := range []string{
		"",
		"0x",
		"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da2",     // 31 bytes
		"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d00", // 33 bytes
		"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27g",
		"d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", // hex needs 0x
		"0Xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
		"15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5", // Polkadot (0)
		"HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F",  // Kusama (2)
		"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ", // checksum
		" 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
	} {
		a, err := ParseAccountID(s)
		require.ErrorIs(t, err, ErrInvalidAccountID, "%q", s)
		require.Equal(t, AccountID{}, a)
	}
}

func TestAccountIDText(t *testing.T) {
	type doc struct{ Account AccountID }
	b, err := json.Marshal(doc{aliceID})
	require.NoError(t, err)
	require.Equal(t, `{"Account":"45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2"}`, string(b))
	var d doc
	require.NoError(t, json.Unmarshal(b, &d))
	require.Equal(t, aliceID, d.Account)

	d = doc{Account: aliceID}
	require.Error(t, json.Unmarshal([]byte(`{"Account":"15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"}`), &d))
	require.Equal(t, aliceID, d.Account, "a refused value changed the target")
}

func TestType(t *testing.T) {
	require.Equal(t, "sr25519", Sr25519.String())
	require.Equal(t, "ed25519", Ed25519.String())
	require.Equal(t, "unknown(0)", Type(0).String())
	for s, want := range map[string]Type{"sr25519": Sr25519, "ed25519": Ed25519, "SR25519": Sr25519, "Ed25519": Ed25519} {
		got, err := ParseType(s)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, s := range []string{"", "ecdsa", "sr25519 ", "1"} {
		_, err := ParseType(s)
		require.ErrorIs(t, err, ErrUnknownType)
	}
	b, err := json.Marshal(struct{ T Type }{Ed25519})
	require.NoError(t, err)
	require.Equal(t, `{"T":"ed25519"}`, string(b))
	_, err = json.Marshal(struct{ T Type }{7})
	require.ErrorIs(t, err, ErrUnknownType)
	var v struct{ T Type }
	require.NoError(t, json.Unmarshal([]byte(`{"T":"sr25519"}`), &v))
	require.Equal(t, Sr25519, v.T)
}

func FuzzParseAccountID(f *testing.F) {
	f.Add("45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2")
	f.Add("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
	f.Add("0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
	f.Add("0x")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAccountID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidAccountID) {
				t.Fatalf("error %v does not wrap ErrInvalidAccountID", err)
			}
			return
		}
		// Whatever form was accepted names the same account as its
		// canonical forms.
		if strings.HasPrefix(s, "0x") {
			return
		}
		_, prefix, err := ss58.Decode(s)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ss58.Encode(a[:], prefix)
		if err != nil || again != s {
			t.Fatalf("re-encode %q: %q %v", s, again, err)
		}
	})
}
