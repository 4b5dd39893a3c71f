package kdf

import (
	"bufio"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/phala-go/phala/crypto/envelope"
	"github.com/stretchr/testify/require"
)

const docsPath = "../../docs/crypto-envelopes.md"

// Fixed inputs of the vectors: M a master key, C cluster id 1 (as Phala
// numbers clusters), K a contract id.
var vectorInputs = []struct{ name, hex string }{
	{"M", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},
	{"C", "0000000000000000000000000000000000000000000000000000000000000001"},
	{"K", "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"},
}

func input(t testing.TB, name string) [32]byte {
	for _, in := range vectorInputs {
		if in.name == name {
			b, err := hex.DecodeString(in.hex)
			require.NoError(t, err)
			return [32]byte(b)
		}
	}
	t.Fatalf("no input %s", name)
	return [32]byte{}
}

type vector struct {
	name, call string
	out        func(t testing.TB) []byte
	want       string
}

func vectors() []vector {
	M := func(t testing.TB) [32]byte { return input(t, "M") }
	CK := func(t testing.TB) [32]byte { return ClusterKey(M(t), input(t, "C"), 1) }
	KK := func(t testing.TB) [32]byte { return ContractKey(CK(t), input(t, "K")) }
	derive := func(labels ...string) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			m := M(t)
			ls := make([][]byte, len(labels))
			for i, l := range labels {
				ls[i] = []byte(l)
			}
			k, err := Derive(m[:], ls...)
			require.NoError(t, err)
			return k[:]
		}
	}
	key := func(f func(t testing.TB) [32]byte) func(t testing.TB) []byte {
		return func(t testing.TB) []byte { k := f(t); return k[:] }
	}
	envKey := func(kem envelope.KEM) func(t testing.TB) envelope.PrivateKey {
		return func(t testing.TB) envelope.PrivateKey {
			k, err := ContractEnvelopeKey(KK(t), kem)
			require.NoError(t, err)
			return k
		}
	}
	return []vector{
		{"D1", `Derive(M, "ab", "c")`, derive("ab", "c"), "cd248c28168b3f8b650a9bb63632a2323263aaa20e432904379ab05cac10311e"},
		{"D2", `Derive(M, "a", "bc")`, derive("a", "bc"), "d5d27cdbf981ab535095d6667c6f7e0475c6ea447a7c3ebdfce0b8c616fe9b0a"},
		{"D3", `Derive(M, "abc")`, derive("abc"), "456dda2521e4fd7cfb971297dbff241992aea217e7ebb4dce802b4fccb6e5e6b"},
		{"D4", `Derive(M)`, derive(), "21ff173dc912adc32dcfc94af423d21ca83a4cdee87a5aa018c244c7d5219bc0"},
		{"CK", `ClusterKey(M, C, 1)`, key(CK), "89110324f66859b465ae8620a8f952508e9c272a509332bf0b2cbfcbdb12d0d4"},
		{"CK2", `ClusterKey(M, C, 2)`, key(func(t testing.TB) [32]byte { return ClusterKey(M(t), input(t, "C"), 2) }), "d32ba69ec5a57d44c3acea9eea3ecea381bf28e266305077a9b3520cdec76b54"},
		{"CXP", `ClusterEnvelopeKey(CK, X25519).Public().Key`, func(t testing.TB) []byte {
			k, err := ClusterEnvelopeKey(CK(t), envelope.X25519)
			require.NoError(t, err)
			return k.Public().Key
		}, "b22347a3edf88489274af48dfcb520cf5d4e0c3d3c99c2640447d79534a5fb62"},
		{"KK", `ContractKey(CK, K)`, key(KK), "9512c4a00b821cc0c448ff64060b3a703b800cbe4f36583181ba447cc2640b5a"},
		{"SK", `ContractStateKey(KK)`, key(func(t testing.TB) [32]byte { return ContractStateKey(KK(t)) }), "648c2df4fcbe384b332d77b441e67efbff7e8b2c5578412ea9e582f7c528e52a"},
		{"R1", `Randomness(KK, 0, "")`, key(func(t testing.TB) [32]byte { return Randomness(KK(t), 0, nil) }), "a02e549186b5b222526ddf5015d9bf8b42c93737cb34d74072b713be6a32115e"},
		{"R2", `Randomness(KK, 1000, "")`, key(func(t testing.TB) [32]byte { return Randomness(KK(t), 1000, nil) }), "045de2c561073e2114669cf3d054828a73b146503dd4d795cf6ca70afeb8d300"},
		{"R3", `Randomness(KK, 1000, "tx:0")`, key(func(t testing.TB) [32]byte { return Randomness(KK(t), 1000, []byte("tx:0")) }), "559ce6bb7f2571e21f0e5aba82a7cb060e12907a88b553d9645b0622ab8f768c"},
		{"SUB", `Subkey(M, "pruntime/checkpoint-seal/v1")`, key(func(t testing.TB) [32]byte { return Subkey(M(t), "pruntime/checkpoint-seal/v1") }), "b2ad8417680fdb646e1a38734c00f343aa5db87f9b8f2afecd0f849dcce73d5a"},
		{"EXS", `ContractEnvelopeKey(KK, X25519).Bytes()`, func(t testing.TB) []byte { return envKey(envelope.X25519)(t).Bytes() }, "804e47d0b747153c592a6395a33567cf1c9c20c4cecd7b55e7b918dbd2475250"},
		{"EXP", `ContractEnvelopeKey(KK, X25519).Public().Key`, func(t testing.TB) []byte { return envKey(envelope.X25519)(t).Public().Key }, "22a5287b2e1ebbeaf00def6ca8ee59e4049a06b84521b0114b7074072d50ee33"},
		{"EWS", `ContractEnvelopeKey(KK, XWing).Bytes()`, func(t testing.TB) []byte { return envKey(envelope.XWing)(t).Bytes() }, "90e89bac6d0f295128c0f1c33cc4e8b5012951e510ae245211569efbdb7acd86"},
		{"EWP", `SHA-256(ContractEnvelopeKey(KK, XWing).Public().Key)`, func(t testing.TB) []byte {
			sum := sha256.Sum256(envKey(envelope.XWing)(t).Public().Key)
			return sum[:]
		}, "34cb68578ca1719c3d34a7e5cc29f04bc930635a82c9e84fae9adc84c3da79c8"},
	}
}

func TestVectors(t *testing.T) {
	for _, v := range vectors() {
		if got := hex.EncodeToString(v.out(t)); got != v.want {
			t.Errorf("%s = %s: got %s, want %s", v.name, v.call, got, v.want)
		}
	}
}

// TestDeriveEncoding checks Derive against HKDF computed here from the
// documented encoding: salt Domain, info = uint64be(len(label)) || label ...
func TestDeriveEncoding(t *testing.T) {
	m := input(t, "M")
	info := "\x00\x00\x00\x00\x00\x00\x00\x02ab\x00\x00\x00\x00\x00\x00\x00\x01c"
	prk, err := hkdf.Extract(sha256.New, m[:], []byte("phala-go/kdf/v1"))
	require.NoError(t, err)
	want, err := hkdf.Expand(sha256.New, prk, info, 32)
	require.NoError(t, err)
	got, err := Derive(m[:], []byte("ab"), []byte("c"))
	require.NoError(t, err)
	require.Equal(t, want, got[:])
}

// TestNamedLabels checks each named derivation against Derive with the
// labels its documentation gives.
func TestNamedLabels(t *testing.T) {
	m, c, k := input(t, "M"), input(t, "C"), input(t, "K")
	d := func(secret [32]byte, labels ...[]byte) [32]byte {
		out, err := Derive(secret[:], labels...)
		require.NoError(t, err)
		return out
	}
	require.Equal(t, d(m, []byte("cluster-key"), c[:], []byte{0, 0, 0, 7}), ClusterKey(m, c, 7))
	require.Equal(t, d(m, []byte("contract-key"), k[:]), ContractKey(m, k))
	require.Equal(t, d(m, []byte("contract-state-key")), ContractStateKey(m))
	require.Equal(t, d(m, []byte("randomness"), []byte{0, 0, 0, 0, 0, 0, 0x03, 0xe8}, []byte("x")), Randomness(m, 1000, []byte("x")))
	require.Equal(t, d(m, []byte("subkey"), []byte("p")), Subkey(m, "p"))
	for _, kem := range []envelope.KEM{envelope.X25519, envelope.XWing} {
		for label, f := range map[string]func([32]byte, envelope.KEM) (envelope.PrivateKey, error){
			"contract-envelope-key": ContractEnvelopeKey, "cluster-envelope-key": ClusterEnvelopeKey,
		} {
			ikm := d(m, []byte(label), []byte{byte(kem >> 8), byte(kem)})
			want, err := envelope.DeriveKey(kem, ikm[:])
			require.NoError(t, err)
			got, err := f(m, kem)
			require.NoError(t, err)
			require.True(t, want.Public().Equal(got.Public()), label)
			require.Equal(t, want.Bytes(), got.Bytes(), label)
		}
	}
}

func TestDeriveRejectsShortSecret(t *testing.T) {
	for _, n := range []int{0, 1, MinSecretLen - 1} {
		out, err := Derive(make([]byte, n), []byte("x"))
		require.ErrorIs(t, err, ErrShortSecret, "%d bytes", n)
		require.Equal(t, [32]byte{}, out)
	}
	for _, n := range []int{MinSecretLen, 64} {
		_, err := Derive(make([]byte, n), []byte("x"))
		require.NoError(t, err)
	}
}

func TestSeparation(t *testing.T) {
	m, c, k := input(t, "M"), input(t, "C"), input(t, "K")
	c2, k2 := c, k
	c2[31]++
	k2[0]++
	seen := map[[32]byte]string{}
	add := func(name string, v [32]byte) {
		if prev, dup := seen[v]; dup {
			t.Fatalf("%s and %s derive the same key", prev, name)
		}
		seen[v] = name
	}
	add("cluster 1", ClusterKey(m, c, 1))
	add("cluster 1 generation 2", ClusterKey(m, c, 2))
	add("cluster 2", ClusterKey(m, c2, 1))
	add("contract K", ContractKey(m, k))
	add("contract K2", ContractKey(m, k2))
	add("contract id = cluster id", ContractKey(m, c))
	add("state", ContractStateKey(m))
	add("random 0", Randomness(m, 0, nil))
	add("random 1", Randomness(m, 1, nil))
	add("random 1 extra", Randomness(m, 1, []byte{0}))
	add("subkey empty", Subkey(m, ""))
	add("subkey a", Subkey(m, "a"))
	add("subkey cluster-key", Subkey(m, "cluster-key"))
	add("master", m)
	other, err := Derive(m[:], []byte("ab"), []byte("c"))
	require.NoError(t, err)
	add("ab,c", other)
	for _, labels := range [][][]byte{{[]byte("a"), []byte("bc")}, {[]byte("abc")}, {[]byte("abc"), nil}, {nil, []byte("abc")}, {}} {
		v, err := Derive(m[:], labels...)
		require.NoError(t, err)
		add(fmt.Sprintf("Derive(M, %q)", labels), v)
	}
}

func TestContractEnvelopeKey(t *testing.T) {
	k := input(t, "K")
	for _, kem := range []envelope.KEM{envelope.X25519, envelope.XWing} {
		a, err := ContractEnvelopeKey(k, kem)
		require.NoError(t, err)
		b, err := ContractEnvelopeKey(k, kem)
		require.NoError(t, err)
		require.Equal(t, kem, a.KEM())
		require.True(t, a.Public().Equal(b.Public()), "deterministic")
		require.NoError(t, a.Public().Validate())
		env, err := envelope.Seal(a.Public(), envelope.PurposeCommand, k[:], nil, []byte("inc"))
		require.NoError(t, err)
		pt, err := envelope.Open(b, envelope.PurposeCommand, k[:], nil, env)
		require.NoError(t, err)
		require.Equal(t, []byte("inc"), pt)
	}
	_, err := ContractEnvelopeKey(k, 0x0041)
	require.ErrorIs(t, err, envelope.ErrUnknownKEM)
}

// docTable returns the cells of the first markdown table after the line
// heading in docs/crypto-envelopes.md, without the header and separator rows
// and with backquotes removed.
func docTable(t *testing.T, heading string) [][]string {
	t.Helper()
	f, err := os.Open(docsPath)
	require.NoError(t, err)
	defer f.Close()
	var rows [][]string
	found, inTable := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !found:
			found = line == heading
		case strings.HasPrefix(line, "|"):
			inTable = true
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
			}
			rows = append(rows, cells)
		case inTable:
			return rows[2:]
		}
	}
	require.NoError(t, sc.Err())
	require.True(t, found, "docs have no line %q", heading)
	require.GreaterOrEqual(t, len(rows), 2, "no table after %q", heading)
	return rows[2:]
}

// TestDocsTables keeps the vector tables in docs/crypto-envelopes.md equal
// to what this package computes.
func TestDocsTables(t *testing.T) {
	inputs := docTable(t, "### KDF test inputs")
	require.Len(t, inputs, len(vectorInputs))
	for i, in := range vectorInputs {
		require.Equal(t, []string{in.name, in.hex}, inputs[i], "input row %d", i+1)
	}
	rows := docTable(t, "### KDF test vectors")
	vs := vectors()
	require.Len(t, rows, len(vs))
	for i, v := range vs {
		require.Equal(t, []string{v.name, v.call, hex.EncodeToString(v.out(t))}, rows[i], "vector row %d", i+1)
	}
}

func BenchmarkContractKey(b *testing.B) {
	m, c := input(b, "M"), input(b, "C")
	b.ReportAllocs()
	for b.Loop() {
		m = ContractKey(m, c)
	}
}

func BenchmarkContractEnvelopeKey(b *testing.B) {
	k := input(b, "K")
	for _, kem := range []envelope.KEM{envelope.X25519, envelope.XWing} {
		b.Run(kem.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ContractEnvelopeKey(k, kem); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
