package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/contract/build"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/kdf"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node/nodetest"
)

// tokenWasm is the example token contract, built once (without wasm-opt: faster, same validity).
var tokenWasm = sync.OnceValues(func() ([]byte, error) {
	out, err := build.BuildWith(context.Background(), "../examples/contracts/token", build.Options{WasmOpt: "-"})
	if err != nil {
		return nil, err
	}
	return out.Wasm, nil
})

func devKey(t testing.TB, name string) keys.PrivateKey {
	k, err := keys.FromURI(keys.Sr25519, "//"+name)
	require.NoError(t, err)
	return k
}

// derived is a cluster key generation as its members hold it: the private envelope keys of the
// cluster and the published halves, as the chain lists them (X25519 first, then X-Wing).
type derived struct {
	secret    [32]byte
	private   map[envelope.KEM]envelope.PrivateKey
	published []*registry.EncryptionKey
}

func derive(t *testing.T, secret [32]byte, envKey func([32]byte, envelope.KEM) (envelope.PrivateKey, error), kems ...envelope.KEM) derived {
	d := derived{secret: secret, private: map[envelope.KEM]envelope.PrivateKey{}}
	for _, kem := range kems {
		k, err := envKey(secret, kem)
		require.NoError(t, err)
		d.private[kem] = k
		d.published = append(d.published, &registry.EncryptionKey{Kem: uint32(kem), PublicKey: k.Public().Key})
	}
	return d
}

// opener opens an envelope the way a worker does: with the private key of the KEM it names.
func (d derived) open(t *testing.T, env, contract []byte, sender keys.AccountID) ([]byte, error) {
	kem, err := envelope.KEMOf(env)
	require.NoError(t, err)
	priv, ok := d.private[kem]
	if !ok {
		return nil, envelope.ErrUnknownKEM
	}
	return envelope.Open(priv, envelope.PurposeCommand, contract, sender[:], env)
}

var (
	master  = [32]byte{0x4d, 0x61, 0x73, 0x74, 0x65, 0x72}
	cluster = registry.ClusterID(1)
	both    = []envelope.KEM{envelope.X25519, envelope.XWing}
)

func clusterGen(t *testing.T, gen uint32, kems ...envelope.KEM) derived {
	return derive(t, kdf.ClusterKey(master, [32]byte(cluster), gen), kdf.ClusterEnvelopeKey, kems...)
}

func contractGen(t *testing.T, id [32]byte, gen uint32, kems ...envelope.KEM) derived {
	return derive(t, kdf.ContractKey(kdf.ClusterKey(master, [32]byte(cluster), gen), id), kdf.ContractEnvelopeKey, kems...)
}

// TestInstantiateMsgSealsToTheCluster: the init message opens with the cluster's derived private
// key, bound to the contract id and the deployer; the X-Wing key is preferred.
func TestInstantiateMsgSealsToTheCluster(t *testing.T) {
	alice, bob := devKey(t, "Alice").Public().AccountID(), devKey(t, "Bob").Public().AccountID()
	hash := contracts.CodeHash([]byte("code"))
	init := []byte(`{"name":"T","symbol":"T","mint":[]}`)
	for _, c := range []struct {
		name    string
		kems    []envelope.KEM
		wantKEM envelope.KEM
	}{
		{"both keys: X-Wing", both, envelope.XWing},
		{"X25519 only", []envelope.KEM{envelope.X25519}, envelope.X25519},
		{"X-Wing only", []envelope.KEM{envelope.XWing}, envelope.XWing},
	} {
		t.Run(c.name, func(t *testing.T) {
			gen := clusterGen(t, 3, c.kems...)
			ck := &registry.ClusterKey{Cluster: cluster, Generation: 3, EncryptionKeys: gen.published}
			msg, id, err := instantiateMsg(alice, hash[:], cluster, []byte("s"), init, ck, InstantiateOptions{AllowPlain: true})
			require.NoError(t, err)
			require.Equal(t, contracts.ContractID(alice, hash[:], cluster, []byte("s")), id)
			require.True(t, msg.GetEncrypted())
			require.True(t, msg.GetAllowPlain())
			require.Equal(t, uint32(3), msg.GetKeyGeneration())
			require.Equal(t, DefaultGasLimit, msg.GetGasLimit())
			require.NoError(t, msg.ValidateBasic())
			kem, err := envelope.KEMOf(msg.GetInit())
			require.NoError(t, err)
			require.Equal(t, c.wantKEM, kem)

			got, err := gen.open(t, msg.GetInit(), id[:], alice)
			require.NoError(t, err)
			require.Equal(t, init, got)
			// Bound to the deployer and the contract id; other cluster generations cannot open it.
			_, err = gen.open(t, msg.GetInit(), id[:], bob)
			require.ErrorIs(t, err, envelope.ErrDecrypt)
			other := contracts.ContractID(alice, hash[:], cluster, []byte("t"))
			_, err = gen.open(t, msg.GetInit(), other[:], alice)
			require.ErrorIs(t, err, envelope.ErrDecrypt)
			_, err = clusterGen(t, 2, c.kems...).open(t, msg.GetInit(), id[:], alice)
			require.ErrorIs(t, err, envelope.ErrDecrypt)
		})
	}
}

func TestInstantiateMsgPlainAndRefusals(t *testing.T) {
	alice := devKey(t, "Alice").Public().AccountID()
	hash := contracts.CodeHash([]byte("code"))
	init := []byte(`{}`)
	msg, _, err := instantiateMsg(alice, hash[:], cluster, nil, init, nil, InstantiateOptions{Plain: true, GasLimit: 7})
	require.NoError(t, err)
	require.False(t, msg.GetEncrypted())
	require.Equal(t, init, msg.GetInit())
	require.Equal(t, uint64(7), msg.GetGasLimit())

	gen := clusterGen(t, 1, both...)
	for _, c := range []struct {
		name string
		ck   *registry.ClusterKey
	}{
		{"no key", nil},
		{"another cluster's key", &registry.ClusterKey{Cluster: registry.ClusterID(2), Generation: 1, EncryptionKeys: gen.published}},
		{"no encryption key", &registry.ClusterKey{Cluster: cluster, Generation: 1}},
		{"unknown KEM only", &registry.ClusterKey{Cluster: cluster, Generation: 1, EncryptionKeys: []*registry.EncryptionKey{{Kem: 0x99, PublicKey: make([]byte, 32)}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg, _, err := instantiateMsg(alice, hash[:], cluster, nil, init, c.ck, InstantiateOptions{})
			require.ErrorIs(t, err, ErrNoKey)
			require.Nil(t, msg)
		})
	}
}

// TestExecuteMsgSealsToTheNewestContractKey: the command opens with the contract's derived
// private key of the newest generation only, bound to the contract id and the sender.
func TestExecuteMsgSealsToTheNewestContractKey(t *testing.T) {
	alice, bob := devKey(t, "Alice").Public().AccountID(), devKey(t, "Bob").Public().AccountID()
	id := contracts.ContractID(alice, []byte("code"), cluster, nil)
	g1, g2 := contractGen(t, id, 1, both...), contractGen(t, id, 2, both...)
	ct := &contracts.Contract{Id: id[:], Cluster: cluster, Status: contracts.Contract_STATUS_ACTIVE, Keys: []*contracts.ContractKey{
		{ClusterGeneration: 1, EncryptionKeys: g1.published}, {ClusterGeneration: 2, EncryptionKeys: g2.published}}}
	input := []byte(`{"transfer":{"to":"0x01","amount":5}}`)

	msg, err := executeMsg(bob, ct, input, ExecuteOptions{GasLimit: 1234})
	require.NoError(t, err)
	require.NoError(t, msg.ValidateBasic())
	require.True(t, msg.GetEncrypted())
	require.Equal(t, uint32(2), msg.GetKeyGeneration())
	require.Equal(t, uint64(1234), msg.GetGasLimit())
	require.Equal(t, id[:], msg.GetContract())
	kem, err := envelope.KEMOf(msg.GetPayload())
	require.NoError(t, err)
	require.Equal(t, envelope.XWing, kem)
	got, err := g2.open(t, msg.GetPayload(), id[:], bob)
	require.NoError(t, err)
	require.Equal(t, input, got)
	for name, open := range map[string]func() ([]byte, error){
		"older generation":  func() ([]byte, error) { return g1.open(t, msg.GetPayload(), id[:], bob) },
		"another sender":    func() ([]byte, error) { return g2.open(t, msg.GetPayload(), id[:], alice) },
		"another contract":  func() ([]byte, error) { return g2.open(t, msg.GetPayload(), make([]byte, 32), bob) },
		"the cluster's key": func() ([]byte, error) { return clusterGen(t, 2, both...).open(t, msg.GetPayload(), id[:], bob) },
		"another contract's": func() ([]byte, error) {
			return contractGen(t, [32]byte{1}, 2, both...).open(t, msg.GetPayload(), id[:], bob)
		},
	} {
		_, err := open()
		require.ErrorIs(t, err, envelope.ErrDecrypt, name)
	}
}

func TestExecuteMsgRefusals(t *testing.T) {
	alice := devKey(t, "Alice").Public().AccountID()
	id := contracts.ContractID(alice, []byte("code"), cluster, nil)
	keys1 := []*contracts.ContractKey{{ClusterGeneration: 1, EncryptionKeys: contractGen(t, id, 1, both...).published}}
	input := []byte(`{}`)
	for _, c := range []struct {
		name string
		ct   *contracts.Contract
		opts ExecuteOptions
		want error
	}{
		{"pending", &contracts.Contract{Id: id[:], Status: contracts.Contract_STATUS_PENDING}, ExecuteOptions{}, contracts.ErrNotActive},
		{"failed", &contracts.Contract{Id: id[:], Status: contracts.Contract_STATUS_FAILED}, ExecuteOptions{}, contracts.ErrNotActive},
		{"plain refused", &contracts.Contract{Id: id[:], Status: contracts.Contract_STATUS_ACTIVE, Keys: keys1}, ExecuteOptions{Plain: true}, contracts.ErrPlainRefused},
		{"no keys", &contracts.Contract{Id: id[:], Status: contracts.Contract_STATUS_ACTIVE}, ExecuteOptions{}, ErrNoKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg, err := executeMsg(alice, c.ct, input, c.opts)
			require.ErrorIs(t, err, c.want)
			require.Nil(t, msg)
		})
	}
	ct := &contracts.Contract{Id: id[:], Status: contracts.Contract_STATUS_ACTIVE, AllowPlain: true, Keys: keys1}
	msg, err := executeMsg(alice, ct, input, ExecuteOptions{Plain: true})
	require.NoError(t, err)
	require.False(t, msg.GetEncrypted())
	require.Equal(t, input, msg.GetPayload())
	require.Equal(t, DefaultGasLimit, msg.GetGasLimit())
}

// TestCompressCode: uploads decompress under the chain's bounds, at upload (the governed
// maximum) and when workers read the code back (its exact size); tiny or incompressible code is
// stored as it is.
func TestCompressCode(t *testing.T) {
	wasm, err := tokenWasm()
	require.NoError(t, err)
	noise := make([]byte, 64<<10)
	_, _ = rand.Read(noise)
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"contract", wasm, contracts.CompressionZstd},
		{"zeros", make([]byte, 1<<20), contracts.CompressionZstd},
		{"tiny", []byte("\x00asm\x01\x00\x00\x00"), contracts.CompressionNone},
		{"under 1 KiB", make([]byte, 1000), contracts.CompressionNone},
		{"exactly 1 KiB", make([]byte, 1024), contracts.CompressionNone},
		{"incompressible", noise, contracts.CompressionNone},
	} {
		t.Run(c.name, func(t *testing.T) {
			stored, compression, err := compressCode(c.in)
			require.NoError(t, err)
			require.Equal(t, c.want, compression)
			for _, limit := range []uint64{contracts.MaxCodeSize, uint64(len(c.in))} {
				out, err := contracts.Decompress(compression, stored, limit)
				require.NoError(t, err)
				require.Equal(t, c.in, out)
			}
		})
	}
	stored, _, err := compressCode(wasm)
	require.NoError(t, err)
	require.Less(t, len(stored), len(wasm)/3, "a Go contract compresses well below its size")
	require.LessOrEqual(t, len(stored), contracts.MaxStoredCodeSize)
}

func executedTx(events ...Event) *TxResult { return &TxResult{Hash: "AB", Height: 9, Events: events} }

func ev(typ string, kv ...string) Event {
	e := Event{Type: typ, Attributes: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Attributes[kv[i]] = kv[i+1]
	}
	return e
}

func TestFindExecution(t *testing.T) {
	a, b := strings.Repeat("aa", 32), strings.Repeat("bb", 32)
	report := func(id, n, outcome, gas string) Event {
		return ev("contract_executed", "contract", id, "command", n, "outcome", outcome, "gas_used", gas)
	}
	publish := func(id, topic, data string) Event {
		return ev("contract_event", "contract", id, "topic", topic, "data", data)
	}
	// Two reports in one transaction, each followed by its public events.
	// The first sends two messages (the second bounces at once), each routed as a request
	// (mq_message) before the report's own mq_message.
	c := strings.Repeat("cc", 32)
	sent := func(from, to, n string) Event {
		return ev("contract_message_sent", "from", from, "to", to, "number", n)
	}
	r := executedTx(ev("transfer"), report(a, "3", "ok", "553000"), publish(a, "public/x", "0102"), publish(a, "public/y", ""),
		sent(a, b, "0"), ev("mq_message"), sent(b, c, "7"), ev("contract_bounce", "contract", b, "kind", "message", "number", "7", "reason", "no active contract at the address"),
		ev("mq_message"), ev("mq_message"),
		ev("transfer"), report(a, "4", "contract_error", "12"), publish(a, "public/z", "ff"), ev("mq_message"),
		report(b, "3", "trap", "7"))

	x, err := findExecution(r, a, "3")
	require.NoError(t, err)
	require.Equal(t, &Execution{Contract: [32]byte(mustHex(t, a)), Command: 3, Outcome: "ok", GasUsed: 553000, Height: 9, TxHash: "AB",
		Events: []ContractEvent{{Topic: "public/x", Data: []byte{1, 2}}, {Topic: "public/y", Data: []byte{}}},
		Sent: []SentMessage{{From: [32]byte(mustHex(t, a)), To: [32]byte(mustHex(t, b)), Number: 0},
			{From: [32]byte(mustHex(t, b)), To: [32]byte(mustHex(t, c)), Number: 7, Bounced: "no active contract at the address"}}}, x)
	x, err = findExecution(r, a, "4")
	require.NoError(t, err)
	require.Equal(t, "contract_error", x.Outcome)
	require.Equal(t, []ContractEvent{{Topic: "public/z", Data: []byte{0xff}}}, x.Events)
	require.Empty(t, x.Sent)
	x, err = findExecution(r, b, "3")
	require.NoError(t, err)
	require.Equal(t, "trap", x.Outcome)
	require.Empty(t, x.Events)

	for _, missing := range [][2]string{{a, "5"}, {strings.Repeat("cc", 32), "3"}} {
		x, err := findExecution(r, missing[0], missing[1])
		require.NoError(t, err)
		require.Nil(t, x)
	}
	for name, bad := range map[string]*TxResult{
		"gas not a number":  executedTx(report(a, "3", "ok", "lots")),
		"no outcome":        executedTx(report(a, "3", "", "1")),
		"event data no hex": executedTx(report(a, "3", "ok", "1"), publish(a, "public/x", "zz")),
		"short contract id": executedTx(report("aa", "3", "ok", "1")),
		"sent, bad number":  executedTx(report(a, "3", "ok", "1"), ev("contract_message_sent", "from", a, "to", a, "number", "x")),
		"sent, bad to":      executedTx(report(a, "3", "ok", "1"), ev("contract_message_sent", "from", a, "to", "aa", "number", "1")),
	} {
		id := a
		if name == "short contract id" {
			id = "aa"
		}
		_, err := findExecution(bad, id, "3")
		require.ErrorIs(t, err, ErrMalformedEvent, name)
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func FuzzFindExecution(f *testing.F) {
	id := strings.Repeat("aa", 32)
	f.Add("contract_executed", id, "3", "ok", "1", "contract_event", "public/x", "00")
	f.Add("contract_executed", id, "3", "", "-1", "contract_event", "", "zz")
	f.Add("contract_executed", "aa", "3", "ok", "18446744073709551616", "x", "", "")
	f.Fuzz(func(t *testing.T, typ, contract, command, outcome, gas, typ2, topic, data string) {
		r := executedTx(ev(typ, "contract", contract, "command", command, "outcome", outcome, "gas_used", gas),
			ev(typ2, "contract", contract, "topic", topic, "data", data))
		x, err := findExecution(r, contract, command)
		if err == nil && x != nil && x.Outcome == "" {
			t.Fatalf("accepted an execution without an outcome: %+v", x)
		}
	})
}

// TestContractsAgainstNode runs what a node without workers can answer: uploads (compressed,
// accepted, idempotent), reads, the refusals before and in the block, and the event search
// WaitExecuted relies on.
func TestContractsAgainstNode(t *testing.T) {
	wasm, err := tokenWasm()
	require.NoError(t, err)
	n := nodetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := New(ctx, n.RPC)
	require.NoError(t, err)
	alice := devKey(t, "Alice")

	hash, res, err := c.UploadCode(ctx, alice, wasm, TxOptions{})
	require.NoError(t, err)
	require.Equal(t, contracts.CodeHash(wasm), hash)
	v, ok := res.Attr("code_uploaded", "code_hash")
	require.True(t, ok)
	require.Equal(t, hex.EncodeToString(hash[:]), v)
	code, err := c.Code(ctx, hash[:])
	require.NoError(t, err)
	require.Equal(t, uint64(len(wasm)), code.GetSize())
	require.Equal(t, contracts.CompressionZstd, code.GetCompression())
	require.Less(t, code.GetStoredSize(), uint64(len(wasm)/3))
	aliceID := alice.Public().AccountID()
	require.Equal(t, aliceID[:], code.GetUploader())

	// Uploading again changes nothing.
	again, res, err := c.UploadCode(ctx, devKey(t, "Bob"), wasm, TxOptions{})
	require.NoError(t, err)
	require.Equal(t, hash, again)
	existing, _ := res.Attr("code_uploaded", "existing")
	require.Equal(t, "true", existing)
	code2, err := c.Code(ctx, hash[:])
	require.NoError(t, err)
	require.Equal(t, code.GetUploader(), code2.GetUploader())

	// The uploads are found by event search, as WaitExecuted finds reports.
	var found []string
	query := "code_uploaded.code_hash='" + hex.EncodeToString(hash[:]) + "'"
	require.NoError(t, c.waitEvent(ctx, query, func(r *TxResult) (bool, error) {
		found = append(found, r.Hash)
		return len(found) == 2, nil
	}))
	require.Equal(t, res.Hash, found[1])

	// No cluster exists: an encrypted instantiation has no key to seal to, a plain one is refused
	// by the chain, and nothing is created.
	_, _, err = c.Instantiate(ctx, alice, hash[:], cluster, nil, []byte(`{}`), InstantiateOptions{})
	require.ErrorIs(t, err, registry.ErrClusterNotFound)
	_, _, err = c.Instantiate(ctx, alice, hash[:], cluster, nil, []byte(`{}`), InstantiateOptions{Plain: true})
	require.ErrorIs(t, err, registry.ErrClusterNotFound)
	id := contracts.ContractID(aliceID, hash[:], cluster, nil)
	_, err = c.Contract(ctx, id[:])
	require.ErrorIs(t, err, contracts.ErrContractNotFound)
	_, _, err = c.Execute(ctx, alice, id[:], []byte(`{}`), ExecuteOptions{})
	require.ErrorIs(t, err, contracts.ErrContractNotFound)
	_, err = c.Code(ctx, make([]byte, 32))
	require.ErrorIs(t, err, contracts.ErrCodeNotFound)

	// Waiting for a command nobody executes ends with the context, not with a search error.
	short, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	_, err = c.WaitExecuted(short, id[:], 0)
	require.ErrorIs(t, err, ErrNoAnswer)
	require.NoError(t, ctx.Err())
}

func BenchmarkCompressCode(b *testing.B) {
	wasm, err := tokenWasm()
	require.NoError(b, err)
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		if _, _, err := compressCode(wasm); err != nil {
			b.Fatal(err)
		}
	}
}
