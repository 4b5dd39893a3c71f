package pruntime

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/contract/build"
	"github.com/phala-go/phala/contract/vm"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime/api"
)

// uploadFee covers a megabyte of code at the default fee per byte.
var uploadFee = amount.FromUint64(10_000_000_000_000)

var tokenWasm = sync.OnceValues(func() ([]byte, error) {
	out, err := build.BuildWith(context.Background(), "../examples/contracts/token", build.Options{WasmOpt: "-"})
	if err != nil {
		return nil, err
	}
	return out.Wasm, nil
})

func account(t testing.TB, name string) keys.AccountID {
	k, err := keys.FromURI(keys.Sr25519, "//"+name)
	require.NoError(t, err)
	return k.Public().AccountID()
}

func hexAddr(id keys.AccountID) string { return fmt.Sprintf("0x%x", id[:]) }

// sealFor encrypts a payload for a contract (or, for an init, its cluster) the way clients do.
func sealFor(t testing.TB, keys []*registry.EncryptionKey, kem envelope.KEM, contract []byte, sender keys.AccountID, plain string) []byte {
	for _, k := range keys {
		if envelope.KEM(k.GetKem()) == kem {
			env, err := envelope.Seal(envelope.PublicKey{KEM: kem, Key: k.GetPublicKey()}, envelope.PurposeCommand, contract, sender[:], []byte(plain))
			require.NoError(t, err)
			return env
		}
	}
	t.Fatalf("no %s key", kem)
	return nil
}

func (n *keyNet) contract(id []byte) *contracts.Contract {
	c, err := contracts.GetContract(n.chainState(), id)
	require.NoError(n.t, err)
	return c
}

// balanceOf queries the token's balance of caller on a worker.
func (n *keyNet) balanceOf(worker string, contract []byte, caller keys.AccountID) (uint64, error) {
	ans, err := n.rts[worker].QueryContract(context.Background(), contract, vm.Caller{Kind: vm.CallerAccount, ID: caller}, []byte(`{"balance":{}}`), 100_000_000)
	if err != nil {
		return 0, err
	}
	if ans.Result.Err != nil {
		return 0, ans.Result.Err
	}
	var b struct {
		Balance uint64 `json:"balance"`
	}
	require.NoError(n.t, json.Unmarshal(ans.Result.Output, &b))
	return b.Balance, nil
}

// TestContracts runs the token example through a cluster: an encrypted instantiation and
// commands executed identically by every member, receipts, refunds, failures that change
// nothing, a member joining late that replays the history, and a removal after which commands
// are sealed to keys the removed worker lacks.
func TestContracts(t *testing.T) {
	wasm, err := tokenWasm()
	require.NoError(t, err)
	n := newKeyNet(t)
	for _, name := range []string{"g1", "w1", "w2", "w3"} {
		n.open(name)
	}
	n.block()
	n.register("g1", "w1", "w2", "w3")
	n.govern(&registry.MsgRegisterGatekeeper{Worker: n.id("g1")})
	n.settle()
	n.govern(&registry.MsgCreateCluster{Workers: [][]byte{n.id("w1"), n.id("w2")}})
	n.settle()
	cluster := registry.ClusterID(1)
	bob, charlie, dave := account(t, "Bob"), account(t, "Charlie"), account(t, "Dave")

	enc, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	n.block(n.w.signWithFee("Bob", uploadFee, &contracts.MsgUploadCode{Code: enc.EncodeAll(wasm, nil), Compression: contracts.CompressionZstd}))
	hash := contracts.CodeHash(wasm)
	id := contracts.ContractID(bob, hash[:], cluster, []byte("s1"))
	cl, err := registry.GetCluster(n.chainState(), cluster)
	require.NoError(t, err)
	init := fmt.Sprintf(`{"name":"Secret","symbol":"SEC","mint":[{"to":%q,"amount":1000},{"to":%q,"amount":500}]}`, hexAddr(bob), hexAddr(charlie))
	n.block(n.w.sign("Bob", &contracts.MsgInstantiate{CodeHash: hash[:], Cluster: cluster, Salt: []byte("s1"),
		Init: sealFor(t, cl.GetKeys()[0].GetEncryptionKeys(), envelope.XWing, id[:], bob, init), Encrypted: true, KeyGeneration: 1, GasLimit: 2_000_000_000}))
	n.settle()
	ct := n.contract(id[:])
	require.Equal(t, contracts.Contract_STATUS_ACTIVE, ct.GetStatus())
	require.Len(t, ct.GetKeys(), 1)
	for _, w := range []string{"w1", "w2"} {
		b, err := n.balanceOf(w, id[:], bob)
		require.NoError(t, err, w)
		require.Equal(t, uint64(1000), b, w)
	}
	_, err = n.balanceOf("w3", id[:], bob)
	require.ErrorIs(t, err, ErrNotServing, "w3 is not in the cluster")

	exec := func(from string, payload []byte, encrypted bool, gen uint32, gas uint64) uint64 {
		t.Helper()
		command := n.contract(id[:]).GetCommands()
		n.block(n.w.sign(from, &contracts.MsgExecute{Contract: id[:], Payload: payload, Encrypted: encrypted, KeyGeneration: gen, GasLimit: gas}))
		return command
	}
	transfer := func(to keys.AccountID, amt int) string {
		return fmt.Sprintf(`{"transfer":{"to":%q,"amount":%d}}`, hexAddr(to), amt)
	}
	keysOf := func() []*registry.EncryptionKey {
		k := n.contract(id[:]).GetKeys()
		return k[len(k)-1].GetEncryptionKeys()
	}

	// An encrypted transfer; its sender prepays the gas limit and gets back what was not used.
	before := accounts.Get(n.chainState(), bob).Balance
	c0 := exec("Bob", sealFor(t, keysOf(), envelope.X25519, id[:], bob, transfer(dave, 10)), true, 1, 1_000_000_000)
	n.settle()
	for _, w := range []string{"w1", "w2"} {
		b, err := n.balanceOf(w, id[:], bob)
		require.NoError(t, err)
		require.Equal(t, uint64(990), b, w)
		rc, _, err := n.rts[w].Receipt(id[:], c0)
		require.NoError(t, err)
		require.Equal(t, "ok", rc.GetOutcome())
		require.Equal(t, bob[:], rc.GetSender())
	}
	rc, _, err := n.rts["w1"].Receipt(id[:], c0)
	require.NoError(t, err)
	price := amount.FromUint64(100)
	gasCost, _ := price.MulUint64(rc.GetGasUsed())
	after := accounts.Get(n.chainState(), bob).Balance
	spent, _ := before.Sub(after)
	want, _ := amount.OnePHA.Add(gasCost)
	require.Equal(t, want, spent, "Bob paid the transaction fee and the gas used, not the limit")
	require.True(t, accounts.Get(n.chainState(), contracts.EscrowAccount()).Balance.IsZero())

	// Failures change no state and say why, to the sender only.
	tooMuch := exec("Bob", sealFor(t, keysOf(), envelope.X25519, id[:], bob, transfer(dave, 5000)), true, 1, 1_000_000_000)
	wrongKey := exec("Bob", sealFor(t, cl.GetKeys()[0].GetEncryptionKeys(), envelope.X25519, id[:], bob, transfer(dave, 1)), true, 1, 1_000_000_000)
	replayed := exec("Charlie", sealFor(t, keysOf(), envelope.X25519, id[:], bob, transfer(charlie, 1)), true, 1, 1_000_000_000)
	starved := exec("Bob", sealFor(t, keysOf(), envelope.X25519, id[:], bob, transfer(dave, 1)), true, 1, 300_000)
	n.settle()
	for command, want := range map[uint64]string{tooMuch: "contract_error", wrongKey: "decrypt", replayed: "decrypt", starved: "out_of_gas"} {
		for _, w := range []string{"w1", "w2"} {
			rc, _, err := n.rts[w].Receipt(id[:], command)
			require.NoError(t, err)
			require.Equal(t, want, rc.GetOutcome(), "command %d on %s", command, w)
			require.NotEmpty(t, rc.GetError())
		}
	}
	b, err := n.balanceOf("w1", id[:], bob)
	require.NoError(t, err)
	require.Equal(t, uint64(990), b, "failed commands changed nothing")

	// Plain commands are refused unless the deployer allowed them.
	n.w.chain.AllowFailures = true
	exec("Bob", []byte(transfer(dave, 1)), false, 0, 1_000_000)
	n.w.chain.AllowFailures = false
	require.Contains(t, n.w.chain.Results[0].GetLog(), contracts.ErrPlainRefused.Error())

	digest := func(w string) *api.ClusterDigestResponse {
		d, err := n.rts[w].ClusterDigest()
		require.NoError(t, err, w)
		return d
	}
	require.Equal(t, digest("w1").GetDigest(), digest("w2").GetDigest(), "the members hold the same state")
	require.Equal(t, contracts.GetQueue(n.chainState(), cluster).GetNext(), digest("w1").GetExecuted())
	_, err = n.rts["w3"].ClusterDigest()
	require.ErrorIs(t, err, ErrNotServing)

	// w3 joins: it replays the cluster's history and reaches the same state.
	n.govern(&registry.MsgAddClusterWorker{Cluster: cluster, Worker: n.id("w3")})
	n.settle()
	require.Equal(t, digest("w2").GetDigest(), digest("w3").GetDigest(), "the late joiner holds the same state")
	b, err = n.balanceOf("w3", id[:], bob)
	require.NoError(t, err)
	require.Equal(t, uint64(990), b)
	rc3, _, err := n.rts["w3"].Receipt(id[:], tooMuch)
	require.NoError(t, err)
	require.Equal(t, "contract_error", rc3.GetOutcome())

	// w1 leaves: the contract is rekeyed to the cluster's generation 2; commands must be sealed
	// to it, and w1 executes nothing more.
	n.govern(&registry.MsgRemoveClusterWorker{Cluster: cluster, Worker: n.id("w1")})
	n.settle()
	ct = n.contract(id[:])
	require.Len(t, ct.GetKeys(), 2)
	require.EqualValues(t, 2, ct.GetKeys()[1].GetClusterGeneration())
	n.w.chain.AllowFailures = true
	exec("Bob", sealFor(t, ct.GetKeys()[0].GetEncryptionKeys(), envelope.X25519, id[:], bob, transfer(dave, 1)), true, 1, 1_000_000_000)
	n.w.chain.AllowFailures = false
	require.Contains(t, n.w.chain.Results[0].GetLog(), contracts.ErrStaleKey.Error())
	last := exec("Bob", sealFor(t, keysOf(), envelope.XWing, id[:], bob, transfer(dave, 90)), true, 2, 1_000_000_000)
	n.settle()
	for _, w := range []string{"w2", "w3"} {
		b, err := n.balanceOf(w, id[:], bob)
		require.NoError(t, err)
		require.Equal(t, uint64(900), b, w)
	}
	_, _, err = n.rts["w1"].Receipt(id[:], last)
	require.ErrorIs(t, err, ErrNoReceipt, "the removed worker did not run it")
	_, ok := clusterSecret(n.rts["w1"].state.Working(), cluster, 2)
	require.False(t, ok, "and cannot: it lacks the key")
	require.Greater(t, n.compared, 5, "members' reports were compared")

	// Every member answered every request alike (checked as they were relayed), and the chain
	// settled them all.
	q := contracts.GetQueue(n.chainState(), cluster)
	require.Equal(t, q.GetNext(), q.GetDone())
}

var probeWasm = sync.OnceValues(func() ([]byte, error) {
	out, err := build.BuildWith(context.Background(), "../contract/vm/testdata/probe", build.Options{WasmOpt: "-"})
	if err != nil {
		return nil, err
	}
	return out.Wasm, nil
})

// deploy uploads code (once) and instantiates it with plain commands allowed.
// newProbeCluster is a network of gatekeeper g1 and worker w1, alone in cluster 1, and the
// probe contract's code.
func newProbeCluster(t testing.TB) (*keyNet, []byte) {
	wasm, err := probeWasm()
	require.NoError(t, err)
	n := newKeyNet(t)
	for _, name := range []string{"g1", "w1"} {
		n.open(name)
	}
	n.block()
	n.register("g1", "w1")
	n.govern(&registry.MsgRegisterGatekeeper{Worker: n.id("g1")})
	n.settle()
	n.govern(&registry.MsgCreateCluster{Workers: [][]byte{n.id("w1")}})
	n.settle()
	return n, wasm
}

func (n *keyNet) deploy(wasm []byte, cluster []byte, salt, init string) [32]byte {
	n.t.Helper()
	hash := contracts.CodeHash(wasm)
	if _, err := contracts.GetCode(n.chainState(), hash[:]); err != nil {
		enc, err := zstd.NewWriter(nil)
		require.NoError(n.t, err)
		n.block(n.w.signWithFee("Bob", uploadFee, &contracts.MsgUploadCode{Code: enc.EncodeAll(wasm, nil), Compression: contracts.CompressionZstd}))
	}
	n.block(n.w.sign("Bob", &contracts.MsgInstantiate{CodeHash: hash[:], Cluster: cluster, Salt: []byte(salt), Init: []byte(init),
		GasLimit: 2_000_000_000, AllowPlain: true}))
	n.settle()
	id := contracts.ContractID(account(n.t, "Bob"), hash[:], cluster, []byte(salt))
	require.Equal(n.t, contracts.Contract_STATUS_ACTIVE, n.contract(id[:]).GetStatus())
	return id
}

// run sends a plain command as Bob and returns its receipt on worker w.
func (n *keyNet) run(w string, id [32]byte, input string) *api.Receipt {
	n.t.Helper()
	command := n.contract(id[:]).GetCommands()
	n.block(n.w.sign("Bob", &contracts.MsgExecute{Contract: id[:], Payload: []byte(input), GasLimit: 5_000_000_000}))
	n.settle()
	rc, _, err := n.rts[w].Receipt(id[:], command)
	require.NoError(n.t, err)
	return rc
}

func (n *keyNet) get(w string, id [32]byte, key string) (string, error) {
	ans, err := n.rts[w].QueryContract(context.Background(), id[:], vm.Caller{}, []byte(fmt.Sprintf(`{"get":{"key":%q}}`, key)), 100_000_000)
	require.NoError(n.t, err)
	if ans.Result.Err != nil {
		return "", ans.Result.Err
	}
	var v string
	require.NoError(n.t, json.Unmarshal(ans.Result.Output, &v))
	return v, nil
}

func callInput(handler string, callee [32]byte, inner string) string {
	return fmt.Sprintf(`{%q:{"contract":"0x%x","input":%q,"gas":2000000000}}`, handler, callee[:], inner)
}

// TestSynchronousCalls: contracts of a cluster call each other atomically, within a depth limit,
// without reentrancy; calls from queries are read-only.
func TestSynchronousCalls(t *testing.T) {
	n, wasm := newProbeCluster(t)
	cluster := registry.ClusterID(1)
	a, b := n.deploy(wasm, cluster, "a", "{}"), n.deploy(wasm, cluster, "b", "{}")

	// A calls B: B's write lands, and B saw A as its caller.
	rc := n.run("w1", a, callInput("call", b, `{"set":{"key":"x","value":"1"}}`))
	require.Equal(t, "ok", rc.GetOutcome(), rc.GetError())
	v, err := n.get("w1", b, "x")
	require.NoError(t, err)
	require.Equal(t, "1", v)
	rc = n.run("w1", a, callInput("call", b, `{"env":{}}`))
	require.Equal(t, "ok", rc.GetOutcome(), rc.GetError())
	require.Contains(t, string(rc.GetOutput()), fmt.Sprintf("%x", a[:]), "the callee sees the calling contract as its caller")

	// Atomic: a callee that fails leaves nothing, and the caller decides (here it goes on).
	rc = n.run("w1", a, callInput("try_call", b, `{"fail_after_set":{"key":"x","value":"2"}}`))
	require.Equal(t, "ok", rc.GetOutcome(), rc.GetError())
	v, _ = n.get("w1", b, "x")
	require.Equal(t, "1", v, "the failed callee's write was discarded")
	tried, err := n.get("w1", a, "tried")
	require.NoError(t, err)
	require.Equal(t, "true", tried)
	// A caller that fails takes its callee's writes with it.
	rc = n.run("w1", a, callInput("call", b, `{"fail_after_set":{"key":"x","value":"3"}}`))
	require.Equal(t, "contract_error", rc.GetOutcome())
	v, _ = n.get("w1", b, "x")
	require.Equal(t, "1", v)

	// No reentrancy: B may not call A while A is calling B.
	rc = n.run("w1", a, callInput("call", b, callInput("call", a, `{"set":{"key":"y","value":"1"}}`)))
	require.Equal(t, "contract_error", rc.GetOutcome())
	require.Contains(t, rc.GetError(), "reentrant")

	// Depth: a chain of calls through MaxCallDepth+1 distinct contracts stops at the limit.
	chain := []([32]byte){a, b}
	for i := len(chain); i <= MaxCallDepth+1; i++ {
		chain = append(chain, n.deploy(wasm, cluster, fmt.Sprintf("c%d", i), "{}"))
	}
	input := `{"set":{"key":"deep","value":"1"}}`
	for i := len(chain) - 1; i >= 1; i-- {
		input = callInput("call", chain[i], input)
	}
	rc = n.run("w1", chain[0], input)
	require.Equal(t, "contract_error", rc.GetOutcome())
	require.Contains(t, rc.GetError(), "call depth limit")
	input = `{"set":{"key":"deep","value":"1"}}`
	for i := MaxCallDepth; i >= 1; i-- {
		input = callInput("call", chain[i], input)
	}
	rc = n.run("w1", chain[0], input)
	require.Equal(t, "ok", rc.GetOutcome(), "a chain of %d calls is allowed: %s", MaxCallDepth, rc.GetError())

	// From a query, calls are read-only: the callee runs its query entry, and writes fail.
	ans, err := n.rts["w1"].QueryContract(context.Background(), a[:], vm.Caller{}, []byte(callInput("qcall", b, `{"get":{"key":"x"}}`)), 1_000_000_000)
	require.NoError(t, err)
	require.NoError(t, ans.Result.Err)
	require.Contains(t, string(ans.Result.Output), "1")
	ans, err = n.rts["w1"].QueryContract(context.Background(), a[:], vm.Caller{}, []byte(callInput("qcall", b, `{"set":{"key":"x","value":"9"}}`)), 1_000_000_000)
	require.NoError(t, err)
	require.Error(t, ans.Result.Err)
	v, _ = n.get("w1", b, "x")
	require.Equal(t, "1", v)
}

func sendInput(to [32]byte, inner string, gas uint64) string {
	return fmt.Sprintf(`{"send":{"contract":"0x%x","input":%q,"gas":%d}}`, to[:], inner, gas)
}

// TestAsyncMessages: contracts in different clusters exchange messages through the chain, in
// order and exactly once (a worker restarting in flight included); undeliverable messages and
// short transfers bounce; deposits reach the contract or go back; replayed or tampered cluster
// reports are refused.
func TestAsyncMessages(t *testing.T) {
	wasm, err := probeWasm()
	require.NoError(t, err)
	n := newKeyNet(t)
	for _, name := range []string{"g1", "w1", "w2"} {
		n.open(name)
	}
	n.block()
	n.register("g1", "w1", "w2")
	n.govern(&registry.MsgRegisterGatekeeper{Worker: n.id("g1")})
	n.settle()
	n.govern(&registry.MsgCreateCluster{Workers: [][]byte{n.id("w1")}}, &registry.MsgCreateCluster{Workers: [][]byte{n.id("w2")}})
	n.settle()
	a := n.deploy(wasm, registry.ClusterID(1), "a", "{}")
	b := n.deploy(wasm, registry.ClusterID(2), "b", "{}")
	// A's account pays the gas of what it sends.
	fund, _ := amount.OnePHA.MulUint64(100)
	n.block(n.w.sign("Bob", &accounts.MsgTransfer{To: a[:], Amount: fund.String()}))

	// A message crosses clusters; the receiver sees the sender.
	rc := n.run("w1", a, sendInput(b, `{"whoami":{}}`, 100_000_000))
	require.Equal(t, "ok", rc.GetOutcome(), rc.GetError())
	n.settle()
	who, err := n.get("w2", b, "caller")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("contract:0x%x", a[:]), who)

	// Exactly once, in order, with the receiving worker restarting while messages are in flight.
	for range 3 {
		n.block(n.w.sign("Bob", &contracts.MsgExecute{Contract: a[:], Payload: []byte(sendInput(b, `{"count":{}}`, 100_000_000)), GasLimit: 1_000_000_000}))
	}
	n.block()
	require.NoError(t, n.rts["w2"].Close())
	n.open("w2")
	n.settle()
	count, err := n.get("w2", b, "count")
	require.NoError(t, err)
	require.Equal(t, "xxx", count, "three messages, each delivered once")

	// Undeliverable: no contract there; the receiver fails. Both bounce to A with their numbers.
	nowhere := [32]byte{0xde, 0xad}
	n.run("w1", a, sendInput(nowhere, `{"count":{}}`, 100_000_000))
	n.run("w1", a, sendInput(b, `{"fail_after_set":{"key":"z","value":"1"}}`, 100_000_000))
	n.settle()
	for _, key := range []string{"bounce:message:4:", "bounce:message:5:"} {
		reason, err := n.get("w1", a, key)
		require.NoError(t, err, key)
		require.NotEmpty(t, reason)
	}
	_, err = n.get("w2", b, "z")
	require.Error(t, err, "the failed receiver's write was discarded")

	// Transfers from the contract's account: one that fits, one that bounces.
	dave := account(t, "Dave")
	before := accounts.Get(n.chainState(), dave).Balance
	n.run("w1", a, `{"transfer":{"to":"`+hexAddr(dave)+`","amount":"1000"}}`)
	n.run("w1", a, `{"transfer":{"to":"`+hexAddr(dave)+`","amount":"999999999999999999999"}}`)
	n.settle()
	after := accounts.Get(n.chainState(), dave).Balance
	got, _ := after.Sub(before)
	require.Equal(t, amount.FromUint64(1000), got)
	_, err = n.get("w1", a, "bounce:transfer:0:999999999999999999999")
	require.NoError(t, err, "the short transfer bounced")

	// Deposits: accepted, then refused and given back.
	charlie := account(t, "Charlie")
	n.block(n.w.sign("Charlie", &contracts.MsgDeposit{Contract: a[:], Amount: "500", GasLimit: 100_000_000}))
	n.settle()
	dep, err := n.get("w1", a, "deposit:"+hexAddr(charlie))
	require.NoError(t, err)
	require.Equal(t, "500", dep)
	n.run("w1", a, `{"set":{"key":"refuse","value":"1"}}`)
	balA := accounts.Get(n.chainState(), keys.AccountID(a)).Balance
	n.block(n.w.sign("Charlie", &contracts.MsgDeposit{Contract: a[:], Amount: "700", GasLimit: 100_000_000}))
	n.settle()
	require.Equal(t, balA, accounts.Get(n.chainState(), keys.AccountID(a)).Balance, "the refused deposit went back")

	// What a report could not carry (one message too large, or too many sealed ones) fails the
	// call with "limit" rather than stopping the cluster: the messages after it still flow.
	for _, input := range []string{
		fmt.Sprintf(`{"send":{"contract":"0x%x","size":70000,"gas":1000}}`, b[:]),
		fmt.Sprintf(`{"send":{"contract":"0x%x","input":"{}","count":60,"gas":1000}}`, b[:]),
	} {
		rc := n.run("w1", a, input)
		require.Equal(t, "limit", rc.GetOutcome(), rc.GetError())
		require.Contains(t, rc.GetError(), "report of up to")
	}
	rc = n.run("w1", a, fmt.Sprintf(`{"send":{"contract":"0x%x","input":"{}","count":40,"gas":1000}}`, b[:]))
	require.Equal(t, "ok", rc.GetOutcome(), "40 small messages fit: %s", rc.GetError())

	// A cluster's report replayed, or tampered with, is refused by the chain.
	n.block(n.w.sign("Bob", &contracts.MsgExecute{Contract: a[:], Payload: []byte(sendInput(b, `{"count":{}}`, 100_000_000)), GasLimit: 1_000_000_000}))
	n.block()
	reports := n.egress()
	require.Len(t, reports, 1)
	report := reports[0]
	m, err := mq.DecodeMessage(report.GetMessage())
	require.NoError(t, err)
	require.Equal(t, mq.KindCluster, m.GetOrigin().Type())
	n.settle()
	tampered := &mq.SignedMessage{Message: append([]byte{}, report.GetMessage()...), Sequence: report.GetSequence() + 1, Signature: report.GetSignature()}
	n.w.chain.AllowFailures = true
	n.block(n.w.sign("Ferdie", &mq.MsgSyncOffchain{Message: report}), n.w.sign("Ferdie", &mq.MsgSyncOffchain{Message: tampered}))
	n.w.chain.AllowFailures = false
	require.Contains(t, n.w.chain.Results[0].GetLog(), mq.ErrStale.Error())
	require.Contains(t, n.w.chain.Results[1].GetLog(), mq.ErrBadSignature.Error())
	n.settle()
	count, _ = n.get("w2", b, "count")
	require.Equal(t, "xxxx", count, "delivered once")
}

// TestQueriesDuringBlocks: queries read snapshots while blocks are processed and committed
// (run under -race: the trees' writer must not mutate what a query reads).
func TestQueriesDuringBlocks(t *testing.T) {
	n, wasm := newProbeCluster(t)
	a := n.deploy(wasm, registry.ClusterID(1), "a", "{}")
	n.run("w1", a, `{"set":{"key":"x","value":"1"}}`)

	stop := make(chan struct{})
	errs := make(chan error, 1)
	var queries int
	go func() {
		defer close(errs)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ans, err := n.rts["w1"].QueryContract(context.Background(), a[:], vm.Caller{}, []byte(`{"get":{"key":"x"}}`), 100_000_000)
			if err == nil {
				err = ans.Result.Err
			}
			if err != nil {
				errs <- err
				return
			}
			queries++
		}
	}()
	for i := range 10 {
		n.block(n.w.sign("Bob", &contracts.MsgExecute{Contract: a[:], Payload: []byte(fmt.Sprintf(`{"set":{"key":"y","value":"%d"}}`, i)), GasLimit: 1_000_000_000}))
	}
	n.settle()
	close(stop)
	require.NoError(t, <-errs)
	require.Positive(t, queries)
}
