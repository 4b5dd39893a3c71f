package pruntime

import (
	"crypto/sha256"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/store"
)

// dispatch hands the messages the chain routed to workers at a verified height to the
// runtime's handlers, in block order. Handlers read only verified state (chain) and write only
// the runtime's state (w); what they send goes to the outbox.
func (r *Runtime) dispatch(w store.KV, chain store.Reader, b module.Block) error {
	msgs, err := mq.Outbound(chain, b.Height)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		switch m.GetTopic() {
		case mq.TopicPing:
			if err := r.handlePing(w, chain, b, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// handlePing answers a ping when this worker is registered and active at the ping's height, so
// an operator can see that the worker follows the chain.
func (r *Runtime) handlePing(w store.KV, chain store.Reader, b module.Block, m *mq.Message) error {
	id := r.keys.identity.Public().Key
	if _, err := registry.Active(chain, id[:], b); err != nil {
		return nil
	}
	hash := sha256.Sum256(module.Marshal(m))
	pong := &mq.Message{Origin: mq.WorkerOrigin(id[:]), Topic: mq.TopicPong, Payload: module.Marshal(&mq.Pong{PingHeight: b.Height, PingHash: hash[:]})}
	return send(w, chain, pong, r.keys.identity)
}
