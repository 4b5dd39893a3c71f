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
// the runtime's state (w); what they send goes to the outbox. Key management: see keyshares.go
// (receiving keys) and gatekeeping.go (the gatekeeper role).
func (r *Runtime) dispatch(w store.KV, chain store.Reader, b module.Block) error {
	msgs, err := mq.Outbound(chain, b.Height)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		var err error
		switch m.GetTopic() {
		case mq.TopicPing:
			err = r.handlePing(w, chain, b, m)
		case registry.TopicGatekeeper:
			err = r.handleGatekeeperMessage(w, chain, b, m)
		}
		if err != nil {
			return err
		}
	}
	// After taking this block's key shares, a gatekeeper answers the tasks they unblock and a
	// cluster member executes its cluster's requests.
	if err := r.answerTasks(w, chain, b); err != nil {
		return err
	}
	return r.runContracts(w, chain, b)
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
