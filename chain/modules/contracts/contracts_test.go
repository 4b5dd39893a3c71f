package contracts

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/accounts"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/contract/build"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
)

// tokenWasm is the example token contract, built once.
var tokenWasm []byte

func TestMain(m *testing.M) {
	out, err := build.BuildWith(context.Background(), "../../../examples/contracts/token", build.Options{WasmOpt: "-"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the token example:", err)
		os.Exit(1)
	}
	tokenWasm = out.Wasm
	os.Exit(m.Run())
}

func zstdOf(t testing.TB, b []byte) []byte {
	e, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	return e.EncodeAll(b, nil)
}

func gzipOf(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestDecompress(t *testing.T) {
	plain := bytes.Repeat([]byte("wasm"), 1000)
	for _, c := range []struct{ name, compression string }{{"zstd", CompressionZstd}, {"gzip", CompressionGzip}, {"none", CompressionNone}} {
		var data []byte
		switch c.compression {
		case CompressionZstd:
			data = zstdOf(t, plain)
		case CompressionGzip:
			data = gzipOf(t, plain)
		default:
			data = plain
		}
		out, err := Decompress(c.compression, data, uint64(len(plain)))
		require.NoError(t, err, c.name)
		require.Equal(t, plain, out, c.name)
		_, err = Decompress(c.compression, data, uint64(len(plain)-1))
		require.ErrorIs(t, err, ErrInvalidCode, "%s: one byte over the limit", c.name)
	}
	for _, n := range []int{1, 500, 1024, 1025} {
		tiny := bytes.Repeat([]byte{'w'}, n)
		out, err := Decompress(CompressionZstd, zstdOf(t, tiny), uint64(n))
		require.NoError(t, err, "%d bytes: a frame's minimum window is no reason to refuse", n)
		require.Equal(t, tiny, out)
	}
	bomb := make([]byte, 64<<20)
	for name, data := range map[string][]byte{
		"zstd bomb":     zstdOf(t, bomb),
		"gzip bomb":     gzipOf(t, bomb),
		"zstd garbage":  []byte("not zstd"),
		"gzip garbage":  []byte("not gzip"),
		"gzip trailing": append(gzipOf(t, plain), 0),
	} {
		compression := CompressionZstd
		if name[:4] == "gzip" {
			compression = CompressionGzip
		}
		_, err := Decompress(compression, data, 1<<20)
		require.ErrorIs(t, err, ErrInvalidCode, name)
	}
	_, err := Decompress("brotli", plain, 1<<20)
	require.ErrorIs(t, err, ErrInvalidCode)
}

// env is the module on a fresh state with funded accounts.
type env struct {
	t     testing.TB
	kv    *store.Cache
	m     *Module
	q     *mq.Module
	alice keys.AccountID
}

func newEnv(t testing.TB) *env {
	tr, err := store.OpenTree(dbm.NewMemDB(), nil)
	require.NoError(t, err)
	q := mq.New()
	e := &env{t: t, kv: store.NewCache(tr.Working()), q: q, m: New(q), alice: keys.AccountID{1}}
	require.NoError(t, e.m.InitGenesis(e.ctx(), nil))
	raw := []byte(fmt.Sprintf(`{"params":{"fee_per_byte":"0","fee_per_message":"0","max_tx_bytes":4194304},"balances":[{"address":%q,"balance":"1000000000000000"}]}`, e.alice.String()))
	require.NoError(t, accounts.New().InitGenesis(e.ctx(), raw))
	return e
}

func (e *env) ctx() *module.Context {
	return module.NewContext(e.kv, module.Block{ChainID: "test", Height: 10})
}

// run applies a handler in a branch kept only on success, as the app does.
func (e *env) run(f func(ctx *module.Context) error) error {
	ctx, commit := e.ctx().Branch()
	if err := f(ctx); err != nil {
		return err
	}
	commit()
	return nil
}

func (e *env) balance(id keys.AccountID) amount.Amount { return accounts.Get(e.kv, id).Balance }

func TestUpload(t *testing.T) {
	e := newEnv(t)
	caller := module.AccountCaller(e.alice)
	msg := &MsgUploadCode{Code: zstdOf(t, tokenWasm), Compression: CompressionZstd}
	require.NoError(t, msg.ValidateBasic())
	require.NoError(t, e.run(func(ctx *module.Context) error { return upload(ctx, caller, msg) }))
	hash := CodeHash(tokenWasm)
	c, err := GetCode(e.kv, hash[:])
	require.NoError(t, err)
	require.Equal(t, uint64(len(tokenWasm)), c.GetSize())
	wasm, err := GetWasm(e.kv, hash[:])
	require.NoError(t, err)
	require.Equal(t, tokenWasm, wasm)
	require.NoError(t, e.run(func(ctx *module.Context) error { return upload(ctx, caller, msg) }), "uploading again is harmless")

	notWasm := []byte("\x00asm\x01\x00\x00\x00garbage")
	noExports := []byte("\x00asm\x01\x00\x00\x00")
	for name, m := range map[string]*MsgUploadCode{
		"not wasm":        {Code: zstdOf(t, notWasm), Compression: CompressionZstd},
		"no exports":      {Code: noExports, Compression: CompressionNone},
		"bad compression": {Code: []byte("x"), Compression: "lz4"},
		"empty":           {Compression: CompressionNone},
		"not zstd":        {Code: []byte("definitely not zstd"), Compression: CompressionZstd},
	} {
		err := m.ValidateBasic()
		if err == nil {
			err = e.run(func(ctx *module.Context) error { return upload(ctx, caller, m) })
		}
		require.ErrorIs(t, err, ErrInvalidCode, name)
	}
	var codes Codes
	b, err := e.m.Query(e.kv, QueryCodes, nil)
	require.NoError(t, err)
	require.NoError(t, module.StrictUnmarshal(b, &codes))
	require.Len(t, codes.GetCodes(), 1, "refused uploads stored nothing")
}

func TestContractID(t *testing.T) {
	a := ContractID(keys.AccountID{1}, []byte("code"), registry.ClusterID(1), []byte("salt"))
	for name, b := range map[string][32]byte{
		"deployer": ContractID(keys.AccountID{2}, []byte("code"), registry.ClusterID(1), []byte("salt")),
		"code":     ContractID(keys.AccountID{1}, []byte("codf"), registry.ClusterID(1), []byte("salt")),
		"cluster":  ContractID(keys.AccountID{1}, []byte("code"), registry.ClusterID(2), []byte("salt")),
		"salt":     ContractID(keys.AccountID{1}, []byte("code"), registry.ClusterID(1), []byte("salu")),
		"shifted":  ContractID(keys.AccountID{1}, []byte("cod"), registry.ClusterID(1), []byte("esalt")),
	} {
		require.NotEqual(t, a, b, name)
	}
}

// pendingCommand sets up an active contract with one command pending, as execute would.
func (e *env) pendingCommand(cluster []byte, gasLimit uint64) *Contract {
	ct := &Contract{Id: bytes.Repeat([]byte{7}, 32), Cluster: cluster, Status: Contract_STATUS_ACTIVE,
		Keys: []*ContractKey{{ClusterGeneration: 1}}}
	require.NoError(e.t, e.run(func(ctx *module.Context) error {
		putContract(ctx, ct)
		esc, err := prepay(ctx, GetParams(ctx), e.alice, gasLimit, 10)
		if err != nil {
			return err
		}
		return e.m.request(ctx, cluster, esc, &Request{Kind: &Request_Command{Command: &CommandRequest{Contract: ct.GetId(), Sender: e.alice[:], Command: 0}}})
	}))
	return ct
}

func report(cluster []byte, r *Report) *mq.Message {
	return &mq.Message{Origin: mq.ClusterOrigin(cluster), Topic: TopicReport, Payload: module.Marshal(r)}
}

func TestReportSettlesGas(t *testing.T) {
	e := newEnv(t)
	cluster := registry.ClusterID(1)
	before := e.balance(e.alice)
	ct := e.pendingCommand(cluster, 1_000_000)
	price := amount.FromUint64(100)
	prepaid, _ := price.MulUint64(1_000_000)
	after, _ := before.Sub(prepaid)
	require.Equal(t, after, e.balance(e.alice), "the gas limit is prepaid")
	require.Equal(t, prepaid, e.balance(EscrowAccount()))

	for name, tc := range map[string]struct {
		m    *mq.Message
		want error
	}{
		"not a cluster":       {&mq.Message{Origin: mq.AccountOrigin(e.alice), Topic: TopicReport, Payload: module.Marshal(&Report{Contract: ct.GetId(), Outcome: "ok"})}, ErrBadReport},
		"another cluster":     {report(registry.ClusterID(2), &Report{Contract: ct.GetId(), Outcome: "ok"}), ErrBadReport},
		"wrong seq":           {report(cluster, &Report{Seq: 1, Contract: ct.GetId(), Outcome: "ok"}), ErrBadReport},
		"wrong contract":      {report(cluster, &Report{Contract: bytes.Repeat([]byte{8}, 32), Outcome: "ok"}), ErrBadReport},
		"unknown outcome":     {report(cluster, &Report{Contract: ct.GetId(), Outcome: "great"}), ErrBadReport},
		"more gas than limit": {report(cluster, &Report{Contract: ct.GetId(), Outcome: "ok", GasUsed: 1_000_001}), ErrBadReport},
		"private event":       {report(cluster, &Report{Contract: ct.GetId(), Outcome: "ok", Events: []*Event{{Topic: "balance"}}}), ErrBadReport},
		"garbage":             {&mq.Message{Origin: mq.ClusterOrigin(cluster), Topic: TopicReport, Payload: []byte{0xff}}, ErrBadReport},
	} {
		require.ErrorIs(t, e.run(func(ctx *module.Context) error { return e.m.HandleReport(ctx, tc.m) }), tc.want, name)
		require.Equal(t, after, e.balance(e.alice), name)
		require.Equal(t, uint64(0), GetQueue(e.kv, cluster).GetDone(), name)
	}
	require.NoError(t, e.run(func(ctx *module.Context) error {
		return e.m.HandleReport(ctx, report(cluster, &Report{Contract: ct.GetId(), Outcome: "ok", GasUsed: 250_000, Events: []*Event{{Topic: "public/transfer", Data: []byte("x")}}}))
	}))
	spent, _ := price.MulUint64(250_000)
	want, _ := before.Sub(spent)
	require.Equal(t, want, e.balance(e.alice), "the unused gas is refunded")
	require.True(t, e.balance(EscrowAccount()).IsZero())
	require.Equal(t, spent, e.balance(accounts.FeeCollector))
	require.Equal(t, uint64(1), GetQueue(e.kv, cluster).GetDone())
}

func TestExecuteChecks(t *testing.T) {
	e := newEnv(t)
	cluster := registry.ClusterID(1)
	ct := &Contract{Id: bytes.Repeat([]byte{7}, 32), Cluster: cluster, Status: Contract_STATUS_ACTIVE, Keys: []*ContractKey{{ClusterGeneration: 1}, {ClusterGeneration: 2}}}
	require.NoError(t, e.run(func(ctx *module.Context) error { putContract(ctx, ct); return nil }))
	pending := &Contract{Id: bytes.Repeat([]byte{9}, 32), Cluster: cluster, Status: Contract_STATUS_PENDING}
	require.NoError(t, e.run(func(ctx *module.Context) error { putContract(ctx, pending); return nil }))
	xw, err := envelope.GenerateKey(envelope.XWing)
	require.NoError(t, err)
	env, err := envelope.Seal(xw.Public(), envelope.PurposeCommand, ct.GetId(), e.alice[:], []byte(`{"x":{}}`))
	require.NoError(t, err)
	caller := module.AccountCaller(e.alice)
	before := e.balance(e.alice)
	for name, tc := range map[string]struct {
		msg  *MsgExecute
		want error
	}{
		"unknown contract": {&MsgExecute{Contract: bytes.Repeat([]byte{1}, 32), Payload: env, Encrypted: true, KeyGeneration: 2, GasLimit: 1}, ErrContractNotFound},
		"pending contract": {&MsgExecute{Contract: pending.GetId(), Payload: env, Encrypted: true, KeyGeneration: 2, GasLimit: 1}, ErrNotActive},
		"plain refused":    {&MsgExecute{Contract: ct.GetId(), Payload: []byte(`{"x":{}}`), GasLimit: 1}, ErrPlainRefused},
		"stale key":        {&MsgExecute{Contract: ct.GetId(), Payload: env, Encrypted: true, KeyGeneration: 1, GasLimit: 1}, ErrStaleKey},
		"too much gas":     {&MsgExecute{Contract: ct.GetId(), Payload: env, Encrypted: true, KeyGeneration: 2, GasLimit: 20_000_000_000}, ErrGasLimit},
		"far too much gas": {&MsgExecute{Contract: ct.GetId(), Payload: env, Encrypted: true, KeyGeneration: 2, GasLimit: 9_000_000_000_000_000_000}, ErrGasLimit},
	} {
		err := tc.msg.ValidateBasic()
		if err == nil {
			err = e.run(func(ctx *module.Context) error { return e.m.execute(ctx, caller, tc.msg) })
		}
		require.ErrorIs(t, err, tc.want, name)
		require.Equal(t, before, e.balance(e.alice), name)
	}
	require.ErrorIs(t, (&MsgExecute{Contract: ct.GetId(), Payload: []byte("not an envelope"), Encrypted: true, GasLimit: 1}).ValidateBasic(), ErrPayloadTooLarge)
	require.NoError(t, e.run(func(ctx *module.Context) error {
		return e.m.execute(ctx, caller, &MsgExecute{Contract: ct.GetId(), Payload: env, Encrypted: true, KeyGeneration: 2, GasLimit: 1000})
	}))
	got, err := GetContract(e.kv, ct.GetId())
	require.NoError(t, err)
	require.Equal(t, uint64(1), got.GetCommands())
	h, ok := RequestHeight(e.kv, cluster, 0)
	require.True(t, ok)
	require.Equal(t, int64(10), h)
	msgs, err := mq.Outbound(e.kv, 10)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	var r Request
	require.NoError(t, module.StrictUnmarshal(msgs[0].GetPayload(), &r))
	require.Equal(t, env, r.GetCommand().GetPayload())
}

func FuzzDecompress(f *testing.F) {
	f.Add(CompressionZstd, zstdOf(f, []byte("hello")))
	f.Add(CompressionGzip, gzipOf(f, []byte("hello")))
	f.Fuzz(func(t *testing.T, compression string, data []byte) {
		out, err := Decompress(compression, data, 1<<16)
		if err == nil && len(out) > 1<<16 {
			t.Fatalf("%d bytes out of a %d limit", len(out), 1<<16)
		}
	})
}

func FuzzReport(f *testing.F) {
	f.Add(module.Marshal(&Report{Contract: bytes.Repeat([]byte{7}, 32), Outcome: "ok", GasUsed: 5}))
	f.Fuzz(func(t *testing.T, payload []byte) {
		e := newEnv(t)
		cluster := registry.ClusterID(1)
		e.pendingCommand(cluster, 1000)
		_ = e.run(func(ctx *module.Context) error {
			return e.m.HandleReport(ctx, &mq.Message{Origin: mq.ClusterOrigin(cluster), Topic: TopicReport, Payload: payload})
		})
	})
}

// eventsOf runs a handler like run and returns the events it emitted.
func (e *env) eventsOf(f func(ctx *module.Context) error) ([]abci.Event, error) {
	ctx, commit := e.ctx().Branch()
	if err := f(ctx); err != nil {
		return nil, err
	}
	events := ctx.Events()
	commit()
	return events, nil
}

func attrs(ev abci.Event) map[string]string {
	m := map[string]string{}
	for _, a := range ev.Attributes {
		m[a.Key] = a.Value
	}
	return m
}

// TestReportRoutesMessages: a report's messages become requests of the receiver's cluster,
// numbered and announced (contract_message_sent), or bounce when they cannot be delivered; a
// report with a wrong message number changes nothing.
func TestReportRoutesMessages(t *testing.T) {
	e := newEnv(t)
	c1, c2 := registry.ClusterID(1), registry.ClusterID(2)
	sender := e.pendingCommand(c1, 1_000_000)
	receiver := &Contract{Id: bytes.Repeat([]byte{9}, 32), Cluster: c2, Status: Contract_STATUS_ACTIVE, Keys: []*ContractKey{{ClusterGeneration: 1}}}
	require.NoError(t, e.run(func(ctx *module.Context) error {
		putContract(ctx, receiver)
		return accounts.Transfer(ctx, e.alice, keys.AccountID(sender.GetId()), amount.FromUint64(1_000_000_000_000))
	}))
	xw, err := envelope.GenerateKey(envelope.XWing)
	require.NoError(t, err)
	env, err := envelope.Seal(xw.Public(), envelope.PurposeCommand, receiver.GetId(), sender.GetId(), []byte(`{"hello":{}}`))
	require.NoError(t, err)
	message := func(to []byte, number uint64) *Outbound {
		return &Outbound{From: sender.GetId(), Kind: &Outbound_Message{Message: &OutMessage{To: to, Number: number, Payload: env, KeyGeneration: 1, GasLimit: 1000}}}
	}
	nowhere := bytes.Repeat([]byte{5}, 32)

	bad := report(c1, &Report{Contract: sender.GetId(), Outcome: "ok", Outbound: []*Outbound{message(receiver.GetId(), 1)}})
	require.ErrorIs(t, e.run(func(ctx *module.Context) error { return e.m.HandleReport(ctx, bad) }), ErrBadReport)
	require.Equal(t, uint64(0), GetQueue(e.kv, c1).GetDone(), "the refused report changed nothing")
	require.Equal(t, uint64(0), GetQueue(e.kv, c2).GetNext())

	events, err := e.eventsOf(func(ctx *module.Context) error {
		return e.m.HandleReport(ctx, report(c1, &Report{Contract: sender.GetId(), Outcome: "ok",
			Outbound: []*Outbound{message(receiver.GetId(), 0), message(nowhere, 1)}}))
	})
	require.NoError(t, err)
	var sent, bounced []map[string]string
	for _, ev := range events {
		switch ev.Type {
		case "contract_message_sent":
			sent = append(sent, attrs(ev))
		case "contract_bounce":
			bounced = append(bounced, attrs(ev))
		}
	}
	from := hex.EncodeToString(sender.GetId())
	require.Equal(t, []map[string]string{
		{"from": from, "to": hex.EncodeToString(receiver.GetId()), "number": "0"},
		{"from": from, "to": hex.EncodeToString(nowhere), "number": "1"},
	}, sent)
	require.Len(t, bounced, 1)
	require.Equal(t, map[string]string{"contract": from, "kind": "message", "to": hex.EncodeToString(nowhere), "number": "1",
		"reason": "no active contract at the address"}, bounced[0])

	got, err := GetContract(e.kv, sender.GetId())
	require.NoError(t, err)
	require.Equal(t, uint64(2), got.GetMessagesSent())
	require.Equal(t, uint64(1), GetQueue(e.kv, c2).GetNext(), "the delivered message waits in cluster 2's queue")
	require.Equal(t, uint64(2), GetQueue(e.kv, c1).GetNext(), "the bounce goes back to the sender's cluster")
	msgs, err := mq.Outbound(e.kv, 10)
	require.NoError(t, err)
	var bounce *BounceRequest
	for _, m := range msgs {
		var r Request
		if m.GetTopic() == TopicRequest && module.StrictUnmarshal(m.GetPayload(), &r) == nil && r.GetBounce() != nil {
			bounce = r.GetBounce()
		}
	}
	require.NotNil(t, bounce)
	require.Equal(t, GetParams(e.kv).GetBounceGas(), bounce.GetGasLimit(), "the bounce carries the gas the chain prepaid")
}
