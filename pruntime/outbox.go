package pruntime

import (
	"encoding/binary"
	"slices"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
)

// The outbox keeps, per origin, the signed messages the chain has not accepted yet:
//
//	outbox/<origin>/<sequence>  SignedMessage
//	outbox_next/<origin>        the next sequence to assign
var (
	prefixOutbox     = []byte("outbox/")
	prefixOutboxNext = []byte("outbox_next/")
)

func outboxKey(origin []byte, seq uint64) []byte {
	k := append(append(slices.Clone(prefixOutbox), origin...), '/')
	return binary.BigEndian.AppendUint64(k, seq)
}

func outboxNextKey(origin []byte) []byte { return append(slices.Clone(prefixOutboxNext), origin...) }

// send appends a message to its origin's outbox, signed with key. Sequence numbers continue
// from the chain's counter for the origin, so a runtime that starts late (fast sync) joins the
// stream where it is.
func send(w store.KV, chain store.Reader, m *mq.Message, key keys.PrivateKey) error {
	seq := mq.NextSequence(chain, m.GetOrigin())
	if b := w.Get(outboxNextKey(module.Marshal(m.GetOrigin()))); len(b) == 8 {
		seq = max(seq, binary.BigEndian.Uint64(b))
	}
	return sendAt(w, m, seq, key)
}

// sendAt appends a message with a sequence number the chain assigned beforehand (a shared
// origin answering numbered tasks).
func sendAt(w store.KV, m *mq.Message, seq uint64, key keys.PrivateKey) error {
	origin := module.Marshal(m.GetOrigin())
	sm, err := mq.Sign(m, seq, key)
	if err != nil {
		return err
	}
	w.Set(outboxKey(origin, seq), module.Marshal(sm))
	w.Set(outboxNextKey(origin), binary.BigEndian.AppendUint64(nil, seq+1))
	return nil
}

// pruneOutbox drops the messages the chain has accepted, as its verified state shows.
func (r *Runtime) pruneOutbox(w store.KV, chain store.Reader) {
	it := w.Iterator(prefixOutboxNext, store.PrefixEnd(prefixOutboxNext))
	var origins [][]byte
	for ; it.Valid(); it.Next() {
		origins = append(origins, slices.Clone(it.Key()[len(prefixOutboxNext):]))
	}
	it.Close()
	for _, o := range origins {
		var origin mq.Origin
		if err := module.StrictUnmarshal(o, &origin); err != nil {
			panic(&store.FatalError{Err: err})
		}
		accepted := mq.NextSequence(chain, &origin)
		start := append(append(slices.Clone(prefixOutbox), o...), '/')
		it := w.Iterator(start, outboxKey(o, accepted))
		var done [][]byte
		for ; it.Valid(); it.Next() {
			done = append(done, slices.Clone(it.Key()))
		}
		it.Close()
		for _, k := range done {
			w.Delete(k)
		}
	}
}

// outbox lists the pending signed messages, grouped by origin in sequence order.
func (r *Runtime) outbox(rd store.Reader) ([]*mq.SignedMessage, error) {
	it := rd.Iterator(prefixOutbox, store.PrefixEnd(prefixOutbox))
	defer it.Close()
	var out []*mq.SignedMessage
	for ; it.Valid(); it.Next() {
		var sm mq.SignedMessage
		if err := module.StrictUnmarshal(it.Value(), &sm); err != nil {
			return nil, err
		}
		out = append(out, &sm)
	}
	return out, nil
}
