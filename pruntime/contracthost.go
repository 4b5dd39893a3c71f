package pruntime

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/contract/vm"
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
	h.events = append(h.events, &api.ContractEvent{Topic: topic, Data: data})
	return nil
}

// Call is not offered yet: cross-contract calls come with their own rules (atomicity, depth,
// reentrancy).
func (h *host) Call([32]byte, []byte, uint64) ([]byte, uint64, error) {
	return nil, 0, vm.ErrNotSupported
}

func blockOf(height, unixNano int64) vm.Block {
	return vm.Block{Height: uint64(height), Time: time.Unix(0, unixNano).UTC()}
}
