package keys

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/phala-go/phala/crypto/ss58"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/blake2b"
)

func mustHex32(t testing.TB, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	require.NoError(t, err)
	require.Len(t, b, 32)
	return [32]byte(b)
}

type uriVector struct {
	typ     Type
	uri     string
	pub     string // hex, without 0x
	generic string // SS58 prefix 42, when published
	phala   string // SS58 prefix 30, when published
}

// Published derivations. Source for each group in the comment above it.
var uriVectors = []uriVector{
	// The dev accounts (the values in the brief; Substrate's sp-keyring and
	// polkadot.js testing pairs). Phala (30) addresses: Phala-Network/
	// phala-blockchain crates/pink-libs/subrpc/src/ss58.rs test "Alice in
	// Phala", and the `swanky phala account list` output in the swanky-cli
	// Phala plugin README for all six.
	{Sr25519, "//Alice", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "45R2pfjQUW2s9PQRHU48HQKLKHVMaDja7N3wpBtmF28UYDs2"},
	{Sr25519, "//Bob", "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48", "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "43qsYbZGLn2xzNuurY6BY4QNDSUU7gLEcXuckpm6B3DEmEx9"},
	{Sr25519, "//Charlie", "90b5ab205c6974c9ea841be688864633dc9ca8a357843eeacf2314649965fe22", "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y", "43tXcmhJfmvbczKaPKgWXirf3a9r6zD63KAxHq4CTSPm4DRf"},
	{Sr25519, "//Dave", "306721211d5404bd9da88e0204360a1a9ab8b87c66c1bc2fcdd37f3c2222cc20", "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy", "41iFgxEGsnyGv5Abdo6Uq6n6BjoLS3p1UMKv9GvwMVuY5er7"},
	{Sr25519, "//Eve", "e659a7a1628cdd93febc04a4e0646ea20e9f5f0ce097d9a05290d4a9e054df4e", "5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw", "45ppQG9QcAkUdh2AP25CxDAnBAK1EACefQA2rMtbApzu6UXa"},
	{Sr25519, "//Ferdie", "1cbd2d43530a44705ad088af313e18f80b53ef16b36177cd4b77b846f2a5f07c", "5CiPPseXPECbkjWCa6MnjNokrgYjMqmKndv2rSnekmSK2DjL", "41GUHy9gmjhst2edhhoWCZcf6rqCheD5XMGTUF53CWJTePuc"},
	// ed25519 //Alice (brief); generic addresses of the ed25519 dev keys as
	// used for GRANDPA in Substrate chain specs (e.g. the dev-key lists in
	// polkadot-sdk based projects).
	{Ed25519, "//Alice", "88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee", "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu", ""},
	{Ed25519, "//Bob", "", "5GoNkf6WdbxCFnPdAnYYQyCjAKPJgLNxXwPjwTh6DGg6gN3E", ""},
	{Ed25519, "//Charlie", "", "5DbKjhNLpqX3zqZdNBc9BGb4fHU1cRBaDhJUskrvkwfraDi6", ""},
	{Ed25519, "//Dave", "", "5ECTwv6cZ5nJQPk6tWfaTrEk8YH2L7X1VT4EL5Tx2ikfFwb7", ""},
	{Ed25519, "//Eve", "", "5Ck2miBfCe1JQ4cY3NDsXyBaD6EcsgiVmEFTWwqNSs25XDEq", ""},
	{Ed25519, "//Ferdie", "", "5E2BmpVFzYGd386XRCZ76cDePMB3sfbZp5ZKGUsrG1m6gomN", ""},
	// Substrate's Secret URI test vectors (paritytech/substrate wiki
	// "Secret-URI-Test-Vectors", as checked by polkadot-js/common
	// packages/keyring/src/suri.spec.ts).
	{Sr25519, DevPhrase, "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a", "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV", ""},
	{Sr25519, DevPhrase + "///password", "b69355deefa7a8f33e9297f5af22e680f03597a99d4f4b1c44be47e7a2275802", "5GC6LfpV352HtJPySfAecb5JdePtf4R9Vq49NUU8RhzgBqgq", ""},
	{Sr25519, DevPhrase + "/foo", "40b9675df90efa6069ff623b0fdfcf706cd47ca7452a5056c7ad58194d23440a", "5DXZzrDxHbkQov4QBAY4TjpwnHCMrKXkomTnKSw8UArBEY5v", ""},
	{Sr25519, DevPhrase + "//foo", "547d4a55642ec7ebadc0bd29b6e570b8c926059b3c0655d4948075e9a7e6f31e", "5DyV6fZuvPemWrUqBgWwTSgoV86w6xms3KhkFU6cQcWxU8eP", ""},
	{Sr25519, DevPhrase + "//foo/bar", "3841947ffcde6f5fef26fb68b59bb8665637e30e32ec2051f99cf6b9c674fe09", "5DLU27is5iViNopQb2KxsTyPx6j4vCu8X3sk3j3NNLkPCqKM", ""},
	{Sr25519, DevPhrase + "/foo//bar", "dc142f7476a7b0aa262aeccf207f1d18daa90762db393006741e8a31f39dbc53", "5H3GPTqDSpjkfDwbHy12PD6BWm8jvGSX4xYC8UMprHpTPcRg", ""},
	{Sr25519, DevPhrase + "//foo/bar//42/69", "a2e56b06407a6d1e819d2fc33fa0ec604b29c2e868b70b3696bb049b8725934b", "5FkHmNgbg64MwStgCyDi2Uw3ufFu11mqQgmWT9uwK4Lghvpv", ""},
	{Sr25519, DevPhrase + "//foo/bar//42/69///password", "0e0d24e3e1ff2c07f269c99e2e0df8681fda1851ac42fc846ca2daaa90cd8f14", "5CP8S23JBNXYNpJsL7ESPJBNnUZE6itcfM4EnDxEhaVEU6dT", ""},
	{Sr25519, DevPhrase + "//Alice", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", ""},
	// sp-core sr25519.rs tests: derive_soft_known_pair_should_work
	// (DEV_PHRASE/Alice) and default_phrase_should_be_used ("/Alice" is
	// DEV_PHRASE/Alice).
	{Sr25519, DevPhrase + "/Alice", "d6c71059dbbe9ad2b0ed3f289738b800836eb425544ce694825285b958ca755e", "", ""},
	{Sr25519, "/Alice", "d6c71059dbbe9ad2b0ed3f289738b800836eb425544ce694825285b958ca755e", "", ""},
	// subkey inspect //Alice prints "Secret seed: 0xe5be9a50..." (the hard-
	// derived mini secret); sp-core's SecretUri doc example uses it too.
	{Sr25519, "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a", "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", ""},
	// sp-core sr25519.rs sr_test_vector_should_work and seeded_pair_should_work
	// (the ASCII seed "12345678901234567890123456789012").
	{Sr25519, "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f", "", ""},
	{Sr25519, "0x" + hex.EncodeToString([]byte("12345678901234567890123456789012")), "741c08a06f41c596608f6774259bd9043304adfa5d3eea62760bd9be97634d63", "", ""},
	// sp-core ed25519.rs test_vector_by_string_should_work (RFC 8032 test 1)
	// and seeded_pair_should_work.
	{Ed25519, "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "", ""},
	{Ed25519, "0x" + hex.EncodeToString([]byte("12345678901234567890123456789012")), "2f8c6129d816cf51c374bc7f08c3e63ed156cf78aefb4a6550d97b87997977ee", "", ""},
	// subkey inspect of plain 12-word mnemonics:
	// gist joepetrowski/d16b030fcca6df82d75d2a4401222ee8,
	{Sr25519, "favorite liar zebra assume hurt cage any damp inherit rescue delay panic", "6ce96ae5c300096b09dbd4567b0574f6a1281ae0e5cfe4f6b0233d1821f6206b", "5EXWNJuoProc7apm1JS8m9RTqV3vVwR9dCg6sQVpKnoHtJ68", ""},
	// ithaka-dev/unity-chain scripts/keys.md (sr25519 and ed25519 of one phrase),
	{Sr25519, "marble crisp cover huge yellow quick warm pudding spatial engage unfair million", "b0e396819f644dcb7c9c6ba0bdf3acd6b3bf7faa8394ec4e49948906efce482c", "5G4dtixpo43WQM5V4QSHjHw6BpwRdEnrBwP9zQid2RvRQkCK", ""},
	{Ed25519, "marble crisp cover huge yellow quick warm pudding spatial engage unfair million", "e7988839e659db69ae9ad08c3ef2ccabba44236024a039ebad83bd8fc75dccfb", "5HJNEJ6KCG8PDzXC7ZeNDJetktYzpyPXi8GLVagP8fvC8tdH", ""},
	{Sr25519, "clean upper wool melt current summer pride fuel sudden enlist swarm cram", "705687ba7ccd43e2c192185e80b3045bb8ab47dbbf8e8cf4a6a37b9d3cb95c22", "5EbzvcEPgEnMqc5YLMHdozWhKcbtRSPbZLXJmFf6B9paCayp", ""},
	{Ed25519, "clean upper wool melt current summer pride fuel sudden enlist swarm cram", "5a9b9bec588531188fb362aca065730ded3dcd1c9529d33d5b66f1710bfdec88", "5E7WPi4qsCp5EsqtXdP5GiUXJqCfyGr2QMbDb9v7E2nMzvkU", ""},
	// and the Polkadot docs' subkey inspect example (address-formats page).
	{Sr25519, "caution juice atom organ advance problem want pledge someone senior holiday very", "", "5Gv8YYFu8H1btvmrJy9FjjAWfb99wrhV3uhPFoNEr918utyR", ""},
}

func TestPublishedDerivations(t *testing.T) {
	for _, v := range uriVectors {
		t.Run(v.typ.String()+" "+v.uri, func(t *testing.T) {
			k, err := FromURI(v.typ, v.uri)
			require.NoError(t, err)
			pub := k.Public()
			require.Equal(t, v.typ, pub.Type)
			if v.pub != "" {
				require.Equal(t, v.pub, hex.EncodeToString(pub.Key[:]))
			}
			if v.generic != "" {
				addr, err := ss58.Encode(pub.Key[:], ss58.GenericPrefix)
				require.NoError(t, err)
				require.Equal(t, v.generic, addr)
			}
			if v.phala != "" {
				require.Equal(t, v.phala, pub.AccountID().String())
			}
		})
	}
}

// subkey prints the mini secret of a phrase as "Secret seed"; deriving from
// that seed must give the same key as the phrase.
func TestSubkeySecretSeeds(t *testing.T) {
	for _, tc := range []struct{ phrase, seed string }{
		// gist joepetrowski/d16b030fcca6df82d75d2a4401222ee8
		{"favorite liar zebra assume hurt cage any damp inherit rescue delay panic", "235c69907d33b85f27bd78e73ff5d0c67bd4894515cc30c77f4391859bc1a3f2"},
		// ithaka-dev/unity-chain scripts/keys.md
		{"marble crisp cover huge yellow quick warm pudding spatial engage unfair million", "fd72a60d6cd6d226c7dac996b9479bf5f4631434fd6b1bdec3e76e35a39e2be4"},
		{"clean upper wool melt current summer pride fuel sudden enlist swarm cram", "ea9849a82002075b9613688c0ac5a08267ae349ff1d49052c3a7023de80890f5"},
		// Polkadot docs, subkey inspect example
		{"caution juice atom organ advance problem want pledge someone senior holiday very", "c8fa03532fb22ee1f7f6908b9c02b4e72483f0dbd66e4cd456b8f34c6230b849"},
	} {
		mini, err := miniSecretFromMnemonic(tc.phrase, "")
		require.NoError(t, err)
		require.Equal(t, tc.seed, hex.EncodeToString(mini[:]))
		for _, typ := range []Type{Sr25519, Ed25519} {
			a, err := FromURI(typ, tc.phrase)
			require.NoError(t, err)
			b, err := FromURI(typ, "0x"+tc.seed)
			require.NoError(t, err)
			require.Equal(t, a.Public(), b.Public())
		}
	}
}

// sp-core ed25519.rs seed_and_derive_should_work: the seed 0x9d61... with the
// hard junction [0; 32] (which is what "//0" encodes to) gives the seed
// 0xede3354e...
func TestEd25519HardDerivationSeed(t *testing.T) {
	k, err := FromURI(Ed25519, "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60//0")
	require.NoError(t, err)
	seed := mustHex32(t, "ede3354e133f9c8e337ddd6ee5415ed4b4ffe5fc7d21e933f4930a3730e5b21c")
	want := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	pub := k.Public()
	require.Equal(t, []byte(want), pub.Key[:])
}

// Equivalent spellings derive the same key, as in Substrate.
func TestEquivalentURIs(t *testing.T) {
	for _, typ := range []Type{Sr25519, Ed25519} {
		for _, group := range [][]string{
			{"//Alice", DevPhrase + "//Alice", "  " + DevPhrase + "  //Alice", "//Alice///"},
			{"//0", "//00", "//+0", DevPhrase + "//000"},
			{"//7", "//07", "//+7"},
			{"//Alice///password", DevPhrase + "//Alice///password"},
		} {
			first, err := FromURI(typ, group[0])
			require.NoError(t, err)
			for _, u := range group[1:] {
				k, err := FromURI(typ, u)
				require.NoError(t, err, u)
				require.Equal(t, first.Public(), k.Public(), "%s %q", typ, u)
			}
		}
	}
}

// Different spellings that must not collide.
func TestDistinctURIs(t *testing.T) {
	uris := []string{"//Alice", "//alice", "//Alice//Alice", "//Alice///x", "//1", "//+", "//1a", "//18446744073709551615", "//18446744073709551616", "//" + strings.Repeat("x", 31), "//" + strings.Repeat("x", 32)}
	seen := map[[32]byte]string{}
	for _, u := range uris {
		k, err := FromURI(Ed25519, u)
		require.NoError(t, err, u)
		prev, dup := seen[k.Public().Key]
		require.False(t, dup, "%q and %q collide", u, prev)
		seen[k.Public().Key] = u
	}
}

func TestChainCode(t *testing.T) {
	pad := func(b ...byte) [32]byte {
		var cc [32]byte
		copy(cc[:], b)
		return cc
	}
	long := append(scaleCompact(40), strings.Repeat("a", 40)...)
	for _, tc := range []struct {
		code string
		want [32]byte
	}{
		{"0", pad()},
		{"42", pad(42)},
		{"+42", pad(42)},
		{"0042", pad(42)},
		{"256", pad(0, 1)},
		{"18446744073709551615", pad(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
		// One more than u64::MAX is a string, as in Rust.
		{"18446744073709551616", pad(append([]byte{20 << 2}, "18446744073709551616"...)...)},
		{"Alice", pad(5<<2, 'A', 'l', 'i', 'c', 'e')},
		{"-1", pad(2<<2, '-', '1')},
		{"+", pad(1<<2, '+')},
		{"1 ", pad(2<<2, '1', ' ')},
		// 31 bytes of string + 1 length byte = 32: padded, not hashed.
		{strings.Repeat("b", 31), pad(append([]byte{31 << 2}, strings.Repeat("b", 31)...)...)},
		// 33 bytes: hashed.
		{strings.Repeat("a", 40), blake2b.Sum256(long)},
	} {
		require.Equal(t, tc.want, chainCode(tc.code), "%q", tc.code)
	}
}

// SCALE compact integers, from the SCALE codec specification's examples.
func TestScaleCompact(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "00"}, {1, "04"}, {42, "a8"}, {63, "fc"}, {64, "0101"}, {69, "1501"},
		{16383, "fdff"}, {16384, "02000100"}, {65535, "feff0300"},
		{1073741823, "feffffff"}, {1073741824, "0300000040"},
		{1<<32 - 1, "03ffffffff"}, {1 << 32, "070000000001"},
		{1<<64 - 1, "13ffffffffffffffff"},
	} {
		require.Equal(t, tc.want, hex.EncodeToString(scaleCompact(tc.n)), "%d", tc.n)
	}
}

func TestParseURIGrammar(t *testing.T) {
	// Cases from sp-core address_uri.rs tests, with the phrase replaced where
	// needed; hard junctions are marked by a leading "/" in want.
	for _, tc := range []struct {
		in       string
		phrase   string
		paths    []string
		password string
		hasPW    bool
	}{
		{"///", DevPhrase, nil, "", true},
		{"////////", DevPhrase, nil, "/////", true},
		{"sdasd///asda", "sdasd", nil, "asda", true},
		{"sdasd//asda", "sdasd", []string{"/asda"}, "", false},
		{"sdasd/xx//asda", "sdasd", []string{"xx", "/asda"}, "", false},
		{"sdasd/xx//a/b//c///pass", "sdasd", []string{"xx", "/a", "b", "/c"}, "pass", true},
		{"sdasd/asd.a", "sdasd", []string{"asd.a"}, "", false},
		{"sdasd//asd.a", "sdasd", []string{"/asd.a"}, "", false},
		{"hello world/s//h///pass", "hello world", []string{"s", "/h"}, "pass", true},
		{"hello world///pass word/x", "hello world", nil, "pass word/x", true},
		{"0xab//1", "0xab", []string{"/1"}, "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := parseURI(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.phrase, u.phrase)
			require.Equal(t, tc.password, u.password)
			require.Equal(t, tc.hasPW, u.hasPassword)
			require.Len(t, u.junctions, len(tc.paths))
			for i, p := range tc.paths {
				code, hard := strings.CutPrefix(p, "/")
				require.Equal(t, junction{hard: hard, cc: chainCode(code)}, u.junctions[i])
			}
		})
	}
}

func TestFromURIRefusals(t *testing.T) {
	secretWord := "pledge"
	for _, tc := range []struct {
		name string
		typ  Type
		uri  string
		want error
	}{
		{"empty", Sr25519, "", ErrInvalidURI},
		{"bad type 0", 0, "//Alice", ErrUnknownType},
		{"bad type 3", 3, "//Alice", ErrUnknownType},
		{"empty hard junction", Sr25519, "//Alice//", ErrInvalidURI},
		{"empty soft junction", Sr25519, "//Alice/", ErrInvalidURI},
		{"dot in phrase", Sr25519, "sd.asd//x", ErrInvalidURI},
		{"tab in phrase", Sr25519, strings.Replace(DevPhrase, " ", "\t", 1), ErrInvalidURI},
		{"newline in password", Sr25519, "//Alice///pa\nss", ErrInvalidURI},
		{"not a mnemonic", Sr25519, "hello world " + secretWord, ErrInvalidMnemonic},
		{"bad checksum", Sr25519, strings.Replace(DevPhrase, "walk", "wall", 1) + "//Alice", ErrInvalidMnemonic},
		{"short seed", Sr25519, "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f", ErrInvalidURI},
		{"long seed", Ed25519, "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f6000", ErrInvalidURI},
		{"non-hex seed", Sr25519, "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7fzz", ErrInvalidURI},
		{"password on seed", Sr25519, "0x9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60///" + secretWord, ErrInvalidURI},
		{"ed25519 soft", Ed25519, "//Alice/soft", ErrSoftDerivation},
		{"ed25519 soft first", Ed25519, DevPhrase + "/foo", ErrSoftDerivation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := FromURI(tc.typ, tc.uri)
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, PrivateKey{}, k)
			require.NotContains(t, err.Error(), secretWord, "error message leaks the URI")
			require.NotContains(t, err.Error(), "9d61b1", "error message leaks the seed")
		})
	}
}

func FuzzFromURI(f *testing.F) {
	for _, v := range uriVectors {
		f.Add(uint8(v.typ), v.uri)
	}
	f.Add(uint8(Ed25519), "//Alice/soft")
	f.Add(uint8(Sr25519), "////////")
	f.Add(uint8(Sr25519), "0x//")
	f.Fuzz(func(t *testing.T, typ uint8, uri string) {
		k, err := FromURI(Type(typ), uri)
		if err != nil {
			if !reflect.DeepEqual(k, PrivateKey{}) {
				t.Fatal("refusal returned a key")
			}
			if !errors.Is(err, ErrInvalidURI) && !errors.Is(err, ErrInvalidMnemonic) &&
				!errors.Is(err, ErrSoftDerivation) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if k.Public().Type != Type(typ) {
			t.Fatalf("type %d gave a %s key", typ, k.Public().Type)
		}
		sig, err := k.Sign("fuzz", []byte(uri))
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Public().Verify("fuzz", []byte(uri), sig); err != nil {
			t.Fatal(err)
		}
	})
}
