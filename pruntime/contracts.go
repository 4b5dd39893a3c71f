package pruntime

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/contract/vm"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/kdf"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/gatekeeper"
)

// Report limits: what a command publishes must fit one message.
const (
	maxPublicEventBytes = 16 << 10
)

var errHistory = errors.New("request not in the verified history")

func executedKey(cluster []byte) []byte { return append([]byte("contracts/executed/"), cluster...) }
func metaKey(id []byte) []byte          { return append(contractPrefix(id, 'm'), 'm') }
func receiptKey(id []byte, command uint64) []byte {
	return binary.BigEndian.AppendUint64(contractPrefix(id, 'r'), command)
}

// runContracts is a cluster member's work at a verified height: execute, in order, every request
// the chain set the cluster that this worker has not executed yet, and answer those whose report
// has not landed. Requests are read from the verified history (the block that set each one), so
// a worker that joins a cluster replays everything since the cluster began, and one that lacks a
// key generation stops until its share arrives.
func (r *Runtime) runContracts(w store.KV, chain store.Reader, b module.Block) error {
	me := r.keys.identity.Public().Key
	cluster, ok := registry.ClusterOf(chain, me[:])
	if !ok {
		return nil
	}
	q := contracts.GetQueue(chain, cluster)
	next := decodeU64(w.Get(executedKey(cluster)))
	if next >= q.GetNext() {
		return r.resignReports(w, chain, cluster)
	}
	hist := &requestHistory{r: r, current: chain, height: b.Height}
	landed := mq.NextSequence(chain, mq.ClusterOrigin(cluster))
	for seq := next; seq < q.GetNext(); seq++ {
		req, err := hist.request(cluster, seq)
		if err != nil {
			r.metrics.keys.WithLabelValues("contracts_stalled").Inc()
			r.log.Error("cannot execute cluster request: this worker's verified history does not reach back to it (sync from genesis or an older snapshot)",
				"cluster", registry.ClusterLabel(cluster), "seq", seq, "err", err)
			return nil
		}
		rep, ok, err := r.execute(w, chain, req)
		if err != nil {
			return fmt.Errorf("cluster %s request %d: %w", registry.ClusterLabel(cluster), seq, err)
		}
		if !ok {
			return nil // a key generation has not arrived yet
		}
		w.Set(executedKey(cluster), binary.BigEndian.AppendUint64(nil, seq+1))
		if seq >= landed {
			if err := r.sendReport(w, chain, cluster, rep); err != nil {
				return err
			}
		}
	}
	return r.resignReports(w, chain, cluster)
}

// requestHistory reads requests from the verified state of the block that set them.
type requestHistory struct {
	r       *Runtime
	current store.Reader
	height  int64
	// cached decoded requests of one height
	at   int64
	reqs []*contracts.Request
}

func (h *requestHistory) request(cluster []byte, seq uint64) (*contracts.Request, error) {
	height, ok := contracts.RequestHeight(h.current, cluster, seq)
	if !ok {
		return nil, fmt.Errorf("%w: no height recorded", errHistory)
	}
	if h.reqs == nil || h.at != height {
		state := h.current
		if height != h.height {
			snap, err := h.r.app.State(height)
			if err != nil {
				return nil, fmt.Errorf("%w: state at %d: %w", errHistory, height, err)
			}
			state = snap
		}
		msgs, err := mq.Outbound(state, height)
		if err != nil {
			return nil, err
		}
		h.at, h.reqs = height, nil
		for _, m := range msgs {
			if m.GetTopic() != contracts.TopicRequest || m.GetOrigin().GetModule() != contracts.Name {
				continue
			}
			var req contracts.Request
			if err := module.StrictUnmarshal(m.GetPayload(), &req); err != nil {
				return nil, err
			}
			h.reqs = append(h.reqs, &req)
		}
	}
	for _, req := range h.reqs {
		if bytes.Equal(req.GetCluster(), cluster) && req.GetSeq() == seq {
			return req, nil
		}
	}
	return nil, fmt.Errorf("%w: request %d not among the messages of block %d", errHistory, seq, height)
}

// contractKey derives a contract's key under a cluster key generation this worker holds.
func contractKey(w store.Reader, cluster, contract []byte, gen uint32) ([32]byte, bool) {
	ck, ok := clusterSecret(w, cluster, gen)
	if !ok {
		return [32]byte{}, false
	}
	return kdf.ContractKey(ck, [32]byte(contract)), true
}

// contractPublicKey is what the cluster publishes for a contract under a generation.
func contractPublicKey(key [32]byte, gen uint32) (*contracts.ContractKey, error) {
	out := &contracts.ContractKey{ClusterGeneration: gen}
	for _, kem := range []envelope.KEM{envelope.X25519, envelope.XWing} {
		k, err := kdf.ContractEnvelopeKey(key, kem)
		if err != nil {
			return nil, err
		}
		out.EncryptionKeys = append(out.EncryptionKeys, &registry.EncryptionKey{Kem: uint32(kem), PublicKey: k.Public().Key})
	}
	return out, nil
}

// openPayload opens a command or init envelope sealed to a key pair derived from key by derive.
func openPayload(key [32]byte, derive func([32]byte, envelope.KEM) (envelope.PrivateKey, error), contract, sender, payload []byte) ([]byte, error) {
	kem, err := envelope.KEMOf(payload)
	if err != nil {
		return nil, err
	}
	priv, err := derive(key, kem)
	if err != nil {
		return nil, err
	}
	return envelope.Open(priv, envelope.PurposeCommand, contract, sender, payload)
}

// outcome classifies a call's error as the cluster reports it; a host failure is not an
// outcome (it may differ between replicas) and is returned as an error.
func outcome(err error) (string, error) {
	switch {
	case err == nil:
		return "ok", nil
	case errors.Is(err, vm.ErrHost):
		return "", err
	case errors.Is(err, vm.ErrOutOfGas):
		return "out_of_gas", nil
	case errors.Is(err, vm.ErrContract):
		return "contract_error", nil
	case errors.Is(err, vm.ErrTrap):
		return "trap", nil
	case errors.Is(err, vm.ErrLimit):
		return "limit", nil
	case errors.Is(err, vm.ErrABI), errors.Is(err, vm.ErrReadOnly):
		return "abi", nil
	}
	return "invalid", nil
}

// code returns the compiled contract code, loading it on first use.
func (r *Runtime) code(chain store.Reader, hash []byte) (*vm.Code, error) {
	r.codesMu.Lock()
	defer r.codesMu.Unlock()
	if c, ok := r.codes[string(hash)]; ok {
		return c, nil
	}
	wasm, err := contracts.GetWasm(chain, hash)
	if err != nil {
		return nil, err
	}
	c, err := r.engine.Load(context.Background(), wasm)
	if err != nil {
		return nil, err
	}
	r.codes[string(hash)] = c
	return c, nil
}

// invocation is what a request asks of a contract's code.
type invocation struct {
	contract []byte
	caller   vm.Caller
	entry    vm.Entry
	// payload is the input, sealed (to the contract's key of keyGen, or for an instantiation
	// to the cluster's) when encrypted, bound to aad (the sender's id).
	payload   []byte
	encrypted bool
	keyGen    uint32
	aad       []byte
	gas       uint64
}

// execute runs one request; ok is false when this worker lacks a key the request needs.
func (r *Runtime) execute(w store.KV, chain store.Reader, req *contracts.Request) (*contracts.Report, bool, error) {
	cluster := req.GetCluster()
	rep := &contracts.Report{Seq: req.GetSeq(), Contract: req.Target()}
	receipt := &api.Receipt{Contract: req.Target(), Height: req.GetHeight(), Time: req.GetTime()}
	var inv invocation
	switch k := req.GetKind().(type) {
	case *contracts.Request_Instantiate:
		in := k.Instantiate
		receipt.Sender = in.GetDeployer()
		inv = invocation{contract: in.GetContract(), caller: accountCaller(in.GetDeployer()), entry: vm.EntryInstantiate, payload: in.GetInit(),
			encrypted: in.GetEncrypted(), keyGen: in.GetKeyGeneration(), aad: in.GetDeployer(), gas: in.GetGasLimit()}
		key, ok := contractKey(w, cluster, in.GetContract(), in.GetKeyGeneration())
		if !ok {
			return nil, false, nil
		}
		meta := &api.ContractMeta{CodeHash: in.GetCodeHash(), StateGeneration: in.GetKeyGeneration(), Instantiation: receipt}
		if ok, err := r.invoke(w, chain, cluster, meta, inv, rep, receipt); !ok || err != nil {
			return nil, ok, err
		}
		if rep.GetOutcome() == "ok" {
			pk, err := contractPublicKey(key, in.GetKeyGeneration())
			if err != nil {
				return nil, false, err
			}
			rep.Key = pk
		}
		w.Set(metaKey(in.GetContract()), module.Marshal(meta))
		return rep, true, nil

	case *contracts.Request_Rekey:
		key, ok := contractKey(w, cluster, k.Rekey.GetContract(), k.Rekey.GetClusterGeneration())
		if !ok {
			return nil, false, nil
		}
		pk, err := contractPublicKey(key, k.Rekey.GetClusterGeneration())
		if err != nil {
			return nil, false, err
		}
		rep.Outcome, rep.Key = "ok", pk
		return rep, true, nil

	case *contracts.Request_Command:
		c := k.Command
		receipt.Command, receipt.Sender = c.GetCommand(), c.GetSender()
		inv = invocation{contract: c.GetContract(), caller: accountCaller(c.GetSender()), entry: vm.EntryExecute, payload: c.GetPayload(),
			encrypted: c.GetEncrypted(), keyGen: c.GetKeyGeneration(), aad: c.GetSender(), gas: c.GetGasLimit()}
	case *contracts.Request_Message:
		mg := k.Message
		inv = invocation{contract: mg.GetTo(), caller: vm.Caller{Kind: vm.CallerContract, ID: [32]byte(mg.GetFrom())}, entry: vm.EntryExecute,
			payload: mg.GetPayload(), encrypted: true, keyGen: mg.GetKeyGeneration(), aad: mg.GetFrom(), gas: mg.GetGasLimit()}
	case *contracts.Request_Deposit:
		d := k.Deposit
		input, err := json.Marshal(map[string]any{"deposit": map[string]string{"from": hexAddress(d.GetFrom()), "amount": d.GetAmount()}})
		if err != nil {
			return nil, false, err
		}
		inv = invocation{contract: d.GetContract(), caller: vm.Caller{Kind: vm.CallerChain}, entry: vm.EntryExecute, payload: input, gas: d.GetGasLimit()}
	case *contracts.Request_Bounce:
		b := k.Bounce
		bounce := map[string]any{"kind": b.GetKind(), "to": hexAddress(b.GetTo()), "reason": b.GetReason()}
		if b.GetKind() == "message" {
			bounce["number"] = b.GetNumber()
		} else {
			bounce["amount"] = b.GetAmount()
		}
		input, err := json.Marshal(map[string]any{"bounce": bounce})
		if err != nil {
			return nil, false, err
		}
		inv = invocation{contract: b.GetContract(), caller: vm.Caller{Kind: vm.CallerChain}, entry: vm.EntryExecute, payload: input, gas: b.GetGasLimit()}
	default:
		return nil, false, fmt.Errorf("request %d of unknown kind", req.GetSeq())
	}
	meta, err := loadMeta(w, inv.contract)
	if err != nil {
		return nil, false, err
	}
	if ok, err := r.invoke(w, chain, cluster, meta, inv, rep, receipt); !ok || err != nil {
		return nil, ok, err
	}
	if c := req.GetCommand(); c != nil {
		w.Set(receiptKey(c.GetContract(), c.GetCommand()), module.Marshal(receipt))
	}
	return rep, true, nil
}

func accountCaller(id []byte) vm.Caller { return vm.Caller{Kind: vm.CallerAccount, ID: [32]byte(id)} }

// hexAddress is an account or contract id as contracts write addresses (the SDK's form).
func hexAddress(id []byte) string { return "0x" + hex.EncodeToString(id) }

// invoke opens the invocation's payload, runs the code on a branch of w kept only if the call
// succeeds and what it publishes fits a report, and fills the report and the receipt; ok is
// false when a key is missing here.
func (r *Runtime) invoke(w store.KV, chain store.Reader, cluster []byte, meta *api.ContractMeta, inv invocation, rep *contracts.Report, receipt *api.Receipt) (bool, error) {
	stateKey, ok := contractKey(w, cluster, inv.contract, meta.GetStateGeneration())
	if !ok {
		return false, nil
	}
	input := inv.payload
	if inv.encrypted {
		var err error
		if inv.entry == vm.EntryInstantiate {
			ck, _ := clusterSecret(w, cluster, inv.keyGen) // held: stateKey derived from it
			input, err = openPayload(ck, kdf.ClusterEnvelopeKey, inv.contract, inv.aad, inv.payload)
		} else {
			key, ok := contractKey(w, cluster, inv.contract, inv.keyGen)
			if !ok {
				return false, nil
			}
			input, err = openPayload(key, kdf.ContractEnvelopeKey, inv.contract, inv.aad, inv.payload)
		}
		if err != nil {
			rep.Outcome, receipt.Outcome, receipt.Error = "decrypt", "decrypt", "the payload does not open with the contract's key: "+err.Error()
			return true, nil
		}
	}
	code, err := r.code(chain, meta.GetCodeHash())
	if err != nil {
		rep.Outcome, receipt.Outcome, receipt.Error = "invalid", "invalid", "the code does not load: "+err.Error()
		return true, nil
	}
	branch := store.NewCache(w)
	env := &callEnv{rt: r, chain: chain, cluster: cluster, ctx: context.Background()}
	h := env.newHost(branch, [32]byte(inv.contract), stateKey, inv.caller, blockOf(receipt.GetHeight(), receipt.GetTime()), false, nil)
	res := code.Call(env.ctx, h, inv.entry, input, inv.gas)
	out, err := outcome(res.Err)
	if err != nil {
		return false, err
	}
	if out == "ok" && !publishable(h.events) {
		out, res.Err = "limit", fmt.Errorf("%w: more than %d public events or %d bytes of them", vm.ErrLimit, contracts.MaxReportEvents, maxPublicEventBytes)
	}
	if out == "ok" && len(h.outbound) > contracts.MaxReportOutbound {
		out, res.Err = "limit", fmt.Errorf("%w: more than %d messages and transfers", vm.ErrLimit, contracts.MaxReportOutbound)
	}
	full := &contracts.Report{Seq: rep.GetSeq(), Contract: rep.GetContract(), Outcome: out, GasUsed: res.GasUsed, Events: publicEvents(h.events), Outbound: h.outbound}
	if size := sealedSize(full); out == "ok" && size > mq.MaxPayload {
		out, res.Err = "limit", fmt.Errorf("%w: the messages and public events make a report of up to %d bytes, over the %d a cluster may send",
			vm.ErrLimit, size, mq.MaxPayload)
	}
	rep.Outcome, rep.GasUsed = out, res.GasUsed
	receipt.Outcome, receipt.GasUsed = out, res.GasUsed
	if out != "ok" {
		receipt.Error = res.Err.Error()
		return true, nil
	}
	branch.Write(w)
	receipt.Output, receipt.Events = res.Output, h.events
	rep.Events, rep.Outbound = full.Events, full.Outbound
	return true, nil
}

func publicEvents(events []*api.ContractEvent) []*contracts.Event {
	var pub []*contracts.Event
	for _, e := range events {
		if strings.HasPrefix(e.GetTopic(), contracts.PublicEventPrefix) {
			pub = append(pub, &contracts.Event{Topic: e.GetTopic(), Data: e.GetData(), Contract: e.GetContract()})
		}
	}
	return pub
}

// sealedSize bounds the encoded size of rep once its messages are sealed (sealOutbound): each
// payload grows by at most the larger KEM's envelope overhead, plus the key generation and
// longer length prefixes. Every member computes the same bound, so all refuse the same calls.
func sealedSize(rep *contracts.Report) int {
	n := len(module.Marshal(rep))
	for _, out := range rep.GetOutbound() {
		if out.GetMessage() != nil {
			n += max(envelope.X25519.Overhead(), envelope.XWing.Overhead()) + 16
		}
	}
	return n
}

func loadMeta(r store.Reader, id []byte) (*api.ContractMeta, error) {
	b := r.Get(metaKey(id))
	if b == nil {
		return nil, fmt.Errorf("contract %X was never instantiated here", id)
	}
	var m api.ContractMeta
	if err := module.StrictUnmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func publishable(events []*api.ContractEvent) bool {
	n, size := 0, 0
	for _, e := range events {
		if strings.HasPrefix(e.GetTopic(), contracts.PublicEventPrefix) {
			n, size = n+1, size+len(e.GetTopic())+len(e.GetData())
		}
	}
	return n <= contracts.MaxReportEvents && size <= maxPublicEventBytes
}

// clusterSigner is the key of the cluster's newest published generation, if this worker holds
// it: the key the chain checks the cluster's reports against.
func clusterSigner(w, chain store.Reader, cluster []byte) (keys.PrivateKey, bool) {
	c, err := registry.GetCluster(chain, cluster)
	if err != nil || len(c.GetKeys()) == 0 {
		return keys.PrivateKey{}, false
	}
	gen := c.GetKeys()[len(c.GetKeys())-1].GetGeneration()
	ck, ok := clusterSecret(w, cluster, gen)
	if !ok {
		return keys.PrivateKey{}, false
	}
	return gatekeeper.ClusterSigningKey(ck), true
}

func (r *Runtime) sendReport(w store.KV, chain store.Reader, cluster []byte, rep *contracts.Report) error {
	s, ok := clusterSigner(w, chain, cluster)
	if !ok {
		return nil // another member answers
	}
	if err := sealOutbound(chain, rep); err != nil {
		return err
	}
	m := &mq.Message{Origin: mq.ClusterOrigin(cluster), Topic: contracts.TopicReport, Payload: module.Marshal(rep)}
	return sendAt(w, m, rep.GetSeq(), s)
}

// resignReports signs again the reports still waiting in the outbox when the cluster has moved
// to a newer key generation than the one they were signed with: the chain checks them against
// the newest.
func (r *Runtime) resignReports(w store.KV, chain store.Reader, cluster []byte) error {
	s, ok := clusterSigner(w, chain, cluster)
	if !ok {
		return nil
	}
	origin := mq.ClusterOrigin(cluster)
	o := module.Marshal(origin)
	start := append(append(slices.Clone(prefixOutbox), o...), '/')
	it := w.Iterator(outboxKey(o, mq.NextSequence(chain, origin)), store.PrefixEnd(start))
	var stale []*mq.SignedMessage
	pub := s.Public()
	for ; it.Valid(); it.Next() {
		var sm mq.SignedMessage
		if err := module.StrictUnmarshal(it.Value(), &sm); err != nil {
			it.Close()
			return err
		}
		if pub.Verify(mq.SignContext, mq.SignBytes(sm.GetMessage(), sm.GetSequence()), sm.GetSignature()) != nil {
			stale = append(stale, &sm)
		}
	}
	it.Close()
	for _, sm := range stale {
		m, err := mq.DecodeMessage(sm.GetMessage())
		if err != nil {
			return err
		}
		if err := sendAt(w, m, sm.GetSequence(), s); err != nil {
			return err
		}
	}
	return nil
}

// Query errors.
var (
	// ErrNotServing is returned for a contract this worker does not run: not instantiated here
	// (another cluster's, or not yet executed).
	ErrNotServing = errors.New("this worker does not serve the contract")
	// ErrNoReceipt is returned for a command this worker has no receipt of (yet).
	ErrNoReceipt = errors.New("no receipt for that command")
)

// ContractAnswer is a query's outcome and the verified height whose state it read.
type ContractAnswer struct {
	Height int64
	Result vm.Result
}

// queryView is a read-only view of the latest committed state for a query: release it when done.
type queryView struct {
	st      store.Reader
	chain   store.Reader
	meta    *api.ContractMeta
	key     [32]byte
	height  int64
	release func()
}

// view takes a view for a query of contract, holding treeMu for reading until released (so no
// block is processed meanwhile). A failed instantiation still has its receipt: then both a view
// and an error are returned.
func (r *Runtime) view(contract []byte) (*queryView, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, meta, key, h, err := r.queryState(contract)
	if meta == nil {
		return nil, err
	}
	chain, cerr := r.app.State(h)
	if cerr != nil {
		return nil, cerr
	}
	r.treeMu.RLock()
	return &queryView{st: st, chain: chain, meta: meta, key: key, height: h, release: sync.OnceFunc(r.treeMu.RUnlock)}, err
}

// queryState reads what a query of contract needs; the caller holds mu.
func (r *Runtime) queryState(contract []byte) (store.Reader, *api.ContractMeta, [32]byte, int64, error) {
	if r.init == nil || r.replica == nil {
		return nil, nil, [32]byte{}, 0, ErrNotInitialized
	}
	h := r.state.Version()
	if h == 0 {
		return nil, nil, [32]byte{}, 0, ErrNotSynced
	}
	st, err := r.state.Snapshot(h)
	if err != nil {
		return nil, nil, [32]byte{}, 0, err
	}
	meta, err := loadMeta(st, contract)
	if err != nil {
		return nil, nil, [32]byte{}, 0, fmt.Errorf("%w: %X", ErrNotServing, contract)
	}
	chain, err := r.app.State(h)
	if err != nil {
		return nil, nil, [32]byte{}, 0, err
	}
	ct, err := contracts.GetContract(chain, contract)
	if err != nil {
		return nil, nil, [32]byte{}, 0, err
	}
	if ct.GetStatus() == contracts.Contract_STATUS_FAILED {
		err = fmt.Errorf("%w: its instantiation failed (%s)", ErrNotServing, ct.GetError())
	}
	key, ok := contractKey(st, ct.GetCluster(), contract, meta.GetStateGeneration())
	if !ok {
		return nil, nil, [32]byte{}, 0, fmt.Errorf("%w: %X", ErrNotServing, contract)
	}
	// A failed instantiation still has its receipt: err is returned alongside.
	return st, meta, key, h, err
}

// QueryContract runs a contract's query entry point for caller on the latest verified state,
// read-only, concurrently with block processing and other queries.
func (r *Runtime) QueryContract(ctx context.Context, contract []byte, caller vm.Caller, input []byte, gasLimit uint64) (*ContractAnswer, error) {
	v, err := r.view(contract)
	if v != nil {
		defer v.release()
	}
	if err != nil {
		return nil, err
	}
	st, meta, key, h, chain := v.st, v.meta, v.key, v.height, v.chain
	code, err := r.code(chain, meta.GetCodeHash())
	if err != nil {
		return nil, err
	}
	var last module.Block
	if hash, t, ok := module.RecentBlock(chain, h); ok {
		last = module.Block{Height: h, Time: t, Hash: hash}
	}
	ct, err := contracts.GetContract(chain, contract)
	if err != nil {
		return nil, err
	}
	env := &callEnv{rt: r, chain: chain, cluster: ct.GetCluster(), ctx: ctx}
	hst := env.newHost(store.NewCache(st), [32]byte(contract), key, caller, vm.Block{Height: uint64(h), Time: last.Time}, true, nil)
	res := code.Call(ctx, hst, vm.EntryQuery, input, gasLimit)
	return &ContractAnswer{Height: h, Result: res}, nil
}

// Receipt returns a command's receipt (command = ^0: the instantiation's) from the latest
// verified state, with the height it reflects. Callers check that the asker is its sender.
func (r *Runtime) Receipt(contract []byte, command uint64) (*api.Receipt, int64, error) {
	v, err := r.view(contract)
	if v != nil {
		defer v.release()
	}
	if err != nil && (v == nil || command != InstantiationReceipt) {
		return nil, 0, err
	}
	st, meta, h := v.st, v.meta, v.height
	if command == InstantiationReceipt && meta != nil {
		return meta.GetInstantiation(), h, nil
	}
	b := st.Get(receiptKey(contract, command))
	if b == nil {
		return nil, h, fmt.Errorf("%w: command %d of %X at height %d", ErrNoReceipt, command, contract, h)
	}
	var rc api.Receipt
	if err := module.StrictUnmarshal(b, &rc); err != nil {
		return nil, h, err
	}
	return &rc, h, nil
}

// InstantiationReceipt names the instantiation in Receipt.
const InstantiationReceipt = ^uint64(0)

// sealOutbound seals each message of a report to its receiver's newest key (X-Wing preferred),
// context the receiver's id, associated data the sender's id. A receiver without a key gets an
// empty payload: the chain bounces the message.
func sealOutbound(chain store.Reader, rep *contracts.Report) error {
	for _, out := range rep.GetOutbound() {
		m := out.GetMessage()
		if m == nil {
			continue
		}
		plain := m.GetPayload()
		m.Payload, m.KeyGeneration = nil, 0
		to, err := contracts.GetContract(chain, m.GetTo())
		if err != nil || to.GetStatus() != contracts.Contract_STATUS_ACTIVE {
			continue
		}
		newest := to.GetKeys()[len(to.GetKeys())-1]
		for _, k := range slices.Backward(newest.GetEncryptionKeys()) {
			env, err := envelope.Seal(envelope.PublicKey{KEM: envelope.KEM(k.GetKem()), Key: k.GetPublicKey()}, envelope.PurposeCommand, m.GetTo(), out.GetFrom(), plain)
			if err != nil {
				return err
			}
			m.Payload, m.KeyGeneration = env, newest.GetClusterGeneration()
			break
		}
	}
	return nil
}

// ClusterDigest describes this worker's copy of its cluster's contracts so that operators can
// compare members: the requests executed and an HMAC (keyed from the cluster's key, so a host
// cannot test guesses of small states against it) over every contract's plaintext storage.
func (r *Runtime) ClusterDigest() (*api.ClusterDigestResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.init == nil || r.replica == nil {
		return nil, ErrNotInitialized
	}
	h := r.replica.Height()
	if h == 0 {
		return nil, ErrNotSynced
	}
	chain, err := r.app.State(h)
	if err != nil {
		return nil, err
	}
	st := r.state.Working()
	me := r.keys.identity.Public().Key
	cluster, ok := registry.ClusterOf(chain, me[:])
	if !ok {
		return nil, fmt.Errorf("%w: this worker is in no cluster", ErrNotServing)
	}
	first, ok := clusterSecret(st, cluster, 1)
	if !ok {
		return nil, fmt.Errorf("%w: no key of cluster %s yet", ErrNotServing, registry.ClusterLabel(cluster))
	}
	key := kdf.Subkey(first, "phala/cluster-digest/v1")
	mac := hmac.New(sha256.New, key[:])
	write := func(b []byte) {
		mac.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		mac.Write(b)
	}
	for _, id := range contracts.ClusterContracts(chain, cluster) {
		meta, err := loadMeta(st, id)
		if err != nil {
			continue // not instantiated yet
		}
		sk, ok := contractKey(st, cluster, id, meta.GetStateGeneration())
		if !ok {
			continue
		}
		write(id)
		h := &host{kv: store.NewCache(st), aead: newStateAEAD(kdf.ContractStateKey(sk)), id: [32]byte(id)}
		var after []byte
		for {
			k, v, ok, err := h.Next(nil, after)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			write(k)
			write(v)
			after = k
		}
	}
	return &api.ClusterDigestResponse{Cluster: cluster, Executed: decodeU64(st.Get(executedKey(cluster))), Height: h, Digest: mac.Sum(nil)}, nil
}
