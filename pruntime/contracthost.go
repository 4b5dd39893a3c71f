package pruntime

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/contract/vm"
	"github.com/phala-go/phala/crypto/kdf"
	"github.com/phala-go/phala/pruntime/api"
)

// A contract's storage lives in the runtime's sealed state under contract/<id>/s/<key>, so keys
// and values are encrypted at rest by the sealed store; each value is also sealed with the
// contract's state key (AES-256-GCM, bound to the contract and the key), so a value moved under
// another key or contract does not open.
func contractPrefix(id []byte, kind byte) []byte {
	return append(append(append([]byte("contract/"), id...), '/'), kind, '/')
}

func storageKey(id, key []byte) []byte { return append(contractPrefix(id, 's'), key...) }

// errCorruptState reports a stored value that does not open: the sealed state was tampered with.
var errCorruptState = errors.New("contract state does not authenticate")

// MaxCallDepth bounds nested cross-contract calls (the outermost call is depth 0).
const MaxCallDepth = 8

// host is a contract's world during one call. Writes go to a cache the caller keeps only when
// the call succeeds.
type host struct {
	kv       store.KV
	aead     cipher.AEAD
	id       [32]byte
	caller   vm.Caller
	block    vm.Block
	random   [32]byte
	readOnly bool
	events   []*api.ContractEvent
	log      *slog.Logger
	// outbound are the messages and transfers the call made (message payloads in plaintext
	// until the report is sealed).
	outbound []*contracts.Outbound
	// calls is what nested calls need: shared by every host of one request or query.
	calls *callEnv
	// stack holds the contracts on the call stack below this one (reentrancy check).
	stack [][32]byte
}

// callEnv is how a host reaches other contracts of its cluster: their code (chain), their
// metadata and keys (the worker's state, as of the call).
type callEnv struct {
	rt      *Runtime
	chain   store.Reader
	cluster []byte
	ctx     context.Context
}

// newHost prepares the world of contract id, whose state key is key, over kv.
func (e *callEnv) newHost(kv store.KV, id [32]byte, key [32]byte, caller vm.Caller, block vm.Block, readOnly bool, stack [][32]byte) *host {
	return &host{kv: kv, aead: newStateAEAD(kdf.ContractStateKey(key)), id: id, caller: caller, block: block,
		random: kdf.Randomness(key, block.Height, nil), readOnly: readOnly, log: e.rt.log, calls: e, stack: stack}
}

func newStateAEAD(stateKey [32]byte) cipher.AEAD {
	b, _ := aes.NewCipher(stateKey[:]) // 32-byte key: never fails
	a, _ := cipher.NewGCM(b)
	return a
}

func (h *host) aad(key []byte) []byte { return append(slices.Clone(h.id[:]), key...) }

func (h *host) open(key, sealed []byte) ([]byte, error) {
	n := h.aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("%w: value of %d bytes", errCorruptState, len(sealed))
	}
	v, err := h.aead.Open(nil, sealed[:n], sealed[n:], h.aad(key))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorruptState, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (h *host) Get(key []byte) ([]byte, error) {
	b := h.kv.Get(storageKey(h.id[:], key))
	if b == nil {
		return nil, nil
	}
	return h.open(key, b)
}

func (h *host) Set(key, value []byte) error {
	nonce := make([]byte, h.aead.NonceSize(), h.aead.NonceSize()+len(value)+h.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	h.kv.Set(storageKey(h.id[:], key), h.aead.Seal(nonce, nonce, value, h.aad(key)))
	return nil
}

func (h *host) Remove(key []byte) error {
	h.kv.Delete(storageKey(h.id[:], key))
	return nil
}

func (h *host) Next(prefix, after []byte) ([]byte, []byte, bool, error) {
	base := contractPrefix(h.id[:], 's')
	start := append(slices.Clone(base), prefix...)
	if after != nil {
		start = append(append(slices.Clone(base), after...), 0) // the least key above after
	}
	it := h.kv.Iterator(start, store.PrefixEnd(append(slices.Clone(base), prefix...)))
	defer it.Close()
	if !it.Valid() {
		return nil, nil, false, nil
	}
	key := slices.Clone(it.Key()[len(base):])
	v, err := h.open(key, it.Value())
	if err != nil {
		return nil, nil, false, err
	}
	return key, v, true, nil
}

func (h *host) Caller() vm.Caller    { return h.caller }
func (h *host) Self() [32]byte       { return h.id }
func (h *host) Block() vm.Block      { return h.block }
func (h *host) Randomness() [32]byte { return h.random }
func (h *host) ReadOnly() bool       { return h.readOnly }
func (h *host) Log(msg string) {
	h.log.Debug("contract log", "contract", fmt.Sprintf("%X", h.id), "msg", msg)
}
func (h *host) Emit(topic string, data []byte) error {
	h.events = append(h.events, &api.ContractEvent{Topic: topic, Data: data, Contract: h.id[:]})
	return nil
}

// Call runs another contract of the same cluster synchronously: its command entry (its query
// entry when this call is read-only), with this contract as its caller, on a branch of this
// call's writes kept only if it succeeds; the caller decides what a failure means. A contract
// already on the call stack cannot be called again (no reentrancy), and calls nest at most
// MaxCallDepth deep. Refusals reach the caller as the callee's error.
func (h *host) Call(callee [32]byte, input []byte, gasLimit uint64) ([]byte, uint64, error) {
	stack := append(slices.Clone(h.stack), h.id)
	if len(stack) > MaxCallDepth {
		return nil, 0, &vm.ContractError{Message: fmt.Sprintf("call depth limit %d reached", MaxCallDepth)}
	}
	if slices.Contains(stack, callee) {
		return nil, 0, &vm.ContractError{Message: fmt.Sprintf("reentrant call to %X refused: it is already on the call stack", callee)}
	}
	e := h.calls
	meta, err := loadMeta(h.kv, callee[:])
	if err != nil || meta.GetInstantiation().GetOutcome() != "ok" {
		return nil, 0, &vm.ContractError{Message: fmt.Sprintf("contract %X is not active in this cluster", callee)}
	}
	key, ok := contractKey(h.kv, e.cluster, callee[:], meta.GetStateGeneration())
	if !ok {
		return nil, 0, fmt.Errorf("no key for contract %X", callee) // members hold every generation they execute under
	}
	code, err := e.rt.code(e.chain, meta.GetCodeHash())
	if err != nil {
		return nil, 0, err
	}
	branch := store.NewCache(h.kv)
	child := e.newHost(branch, callee, key, vm.Caller{Kind: vm.CallerContract, ID: h.id}, h.block, h.readOnly, stack)
	entry := vm.EntryExecute
	if h.readOnly {
		entry = vm.EntryQuery
	}
	res := code.Call(e.ctx, child, entry, input, gasLimit)
	if res.Err == nil {
		branch.Write(h.kv)
		h.events = append(h.events, child.events...)
		h.outbound = append(h.outbound, child.outbound...)
	}
	return res.Output, res.GasUsed, res.Err
}

// sentKey holds the number of the next message a contract sends.
func sentKey(id []byte) []byte { return append(contractPrefix(id, 'n'), 'n') }

// Send queues an asynchronous message; it leaves with the report if this call succeeds. Its
// number counts the contract's messages (in its state, so a failed call consumes none).
func (h *host) Send(to [32]byte, input []byte, gasLimit uint64) (uint64, error) {
	var n uint64
	if b := h.kv.Get(sentKey(h.id[:])); len(b) == 8 {
		n = binary.BigEndian.Uint64(b)
	}
	h.kv.Set(sentKey(h.id[:]), binary.BigEndian.AppendUint64(nil, n+1))
	h.outbound = append(h.outbound, &contracts.Outbound{From: h.id[:], Kind: &contracts.Outbound_Message{Message: &contracts.OutMessage{
		To: to[:], Number: n, Payload: input, GasLimit: gasLimit}}})
	return n, nil
}

// Transfer queues a transfer from the contract's on-chain account.
func (h *host) Transfer(to [32]byte, amount string) error {
	h.outbound = append(h.outbound, &contracts.Outbound{From: h.id[:], Kind: &contracts.Outbound_Transfer{Transfer: &contracts.OutTransfer{
		To: to[:], Amount: amount}}})
	return nil
}

func blockOf(height, unixNano int64) vm.Block {
	return vm.Block{Height: uint64(height), Time: time.Unix(0, unixNano).UTC()}
}
