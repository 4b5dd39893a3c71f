package pruntime

import (
	"encoding/binary"
	"fmt"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime/gatekeeper"
)

// keyAnswered is the next task id this gatekeeper has not answered yet.
var keyAnswered = []byte("gatekeeper/answered")

// answerTasks is the gatekeeper role at a verified height: answer, in order, the pending tasks
// it has not answered yet, each as the gatekeeper origin's message of sequence = task id. It
// stops at the first task it cannot answer yet (it lacks a key) and after a new master key
// generation, whose outcome later answers depend on: only once it lands (whichever
// gatekeeper's copy that is) do the tasks after it get answered.
func (r *Runtime) answerTasks(w store.KV, chain store.Reader, b module.Block) error {
	me := r.keys.identity.Public().Key
	if !registry.IsGatekeeper(chain, me[:]) {
		return nil
	}
	q := registry.GetTasks(chain)
	next := max(q.GetDone(), decodeU64(w.Get(keyAnswered)))
	for _, t := range q.GetPending() {
		if t.GetId() < next {
			if t.GetNewMasterKey() != nil {
				return nil // answered, not landed yet
			}
			continue
		}
		out, signer, err := r.answer(w, chain, t)
		if err != nil {
			// Not a reason to stop following the chain: another gatekeeper may answer, and this
			// one retries at the next block.
			r.metrics.keys.WithLabelValues("task_failed").Inc()
			r.log.Error("gatekeeper task failed", "height", b.Height, "task", t.GetId(), "kind", registry.TaskKind(t), "err", err)
			return nil
		}
		if out == nil {
			return nil
		}
		out.Task, out.Sender = t.GetId(), me[:]
		gm, err := registry.SignGatekeeperOutput(out, r.keys.identity)
		if err != nil {
			return err
		}
		m := &mq.Message{Origin: mq.GatekeeperOrigin(), Topic: registry.TopicGatekeeper, Payload: module.Marshal(gm)}
		if err := sendAt(w, m, t.GetId(), signer); err != nil {
			return err
		}
		w.Set(keyAnswered, binary.BigEndian.AppendUint64(nil, t.GetId()+1))
		r.metrics.keys.WithLabelValues("task_" + registry.TaskKind(t)).Inc()
		r.log.Info("gatekeeper task answered", "height", b.Height, "task", t.GetId(), "kind", registry.TaskKind(t))
		if t.GetNewMasterKey() != nil {
			return nil
		}
	}
	return nil
}

func decodeU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// answer computes the answer to a task and the key that signs it for the gatekeeper origin, or
// nil when this gatekeeper lacks a key the answer needs.
func (r *Runtime) answer(w store.KV, chain store.Reader, t *registry.GatekeeperTask) (*registry.GatekeeperOutput, keys.PrivateKey, error) {
	cur, published := registry.CurrentMasterKey(chain)
	var signer keys.PrivateKey
	if published {
		s, ok := masterSecret(w, cur.GetGeneration())
		if !ok {
			return nil, signer, nil
		}
		signer = gatekeeper.MasterSigningKey(s)
	} else if t.GetNewMasterKey() == nil {
		return nil, signer, nil // only the first generation comes before a master key
	}
	switch task := t.GetKind().(type) {
	case *registry.GatekeeperTask_NewMasterKey:
		nt := task.NewMasterKey
		if !published {
			// Only the gatekeeper chosen for the first generation can sign its announcement.
			me := r.keys.identity.Public().Key
			if string(nt.GetRecipients()[0]) != string(me[:]) {
				return nil, signer, nil
			}
			signer = r.keys.identity
		}
		workers, err := workers(chain, nt.GetRecipients())
		if err != nil {
			return nil, signer, err
		}
		secret, err := gatekeeper.NewMasterSecret()
		if err != nil {
			return nil, signer, err
		}
		nk, err := gatekeeper.NewMasterKey(nt.GetGeneration(), secret, workers)
		if err != nil {
			return nil, signer, err
		}
		return &registry.GatekeeperOutput{Kind: &registry.GatekeeperOutput_NewMasterKey{NewMasterKey: nk}}, signer, nil
	case *registry.GatekeeperTask_ShareMasterKey:
		history, ok := masterHistory(w, cur.GetGeneration())
		if !ok || !published {
			return nil, signer, nil
		}
		to, err := workers(chain, [][]byte{task.ShareMasterKey.GetRecipient()})
		if err != nil {
			return nil, signer, err
		}
		s, err := gatekeeper.ShareMasterKeys(history, to[0])
		if err != nil {
			return nil, signer, err
		}
		return &registry.GatekeeperOutput{Kind: &registry.GatekeeperOutput_MasterKeyShare{MasterKeyShare: s}}, signer, nil
	case *registry.GatekeeperTask_PublishClusterKey:
		pt := task.PublishClusterKey
		master, _ := masterSecret(w, cur.GetGeneration()) // held: signer was derived from it
		ck := gatekeeper.ClusterSecret(master, pt.GetCluster(), pt.GetGeneration())
		k, err := gatekeeper.ClusterPublicKey(pt.GetCluster(), pt.GetGeneration(), cur.GetGeneration(), ck)
		if err != nil {
			return nil, signer, err
		}
		return &registry.GatekeeperOutput{Kind: &registry.GatekeeperOutput_ClusterKey{ClusterKey: k}}, signer, nil
	case *registry.GatekeeperTask_ShareClusterKey:
		st := task.ShareClusterKey
		c, err := registry.GetCluster(chain, st.GetCluster())
		if err != nil {
			return nil, signer, err
		}
		var history []*registry.ClusterKeySecret
		for g := uint32(1); g <= st.GetGeneration(); g++ {
			// A generation whose publication is still on its way (an earlier task, answered
			// but not landed) derives from the current master generation, as its answer did.
			mg := cur.GetGeneration()
			if pub, ok := registry.PublishedClusterKey(c, g); ok {
				mg = pub.GetMasterGeneration()
			} else if g != c.GetGeneration() {
				return nil, signer, fmt.Errorf("cluster %s generation %d is neither published nor current", registry.ClusterLabel(c.GetId()), g)
			}
			master, ok := masterSecret(w, mg)
			if !ok {
				return nil, signer, nil
			}
			ck := gatekeeper.ClusterSecret(master, c.GetId(), g)
			history = append(history, &registry.ClusterKeySecret{Generation: g, MasterGeneration: mg, Secret: ck[:]})
		}
		to, err := workers(chain, [][]byte{st.GetRecipient()})
		if err != nil {
			return nil, signer, err
		}
		s, err := gatekeeper.ShareClusterKeys(c.GetId(), st.GetGeneration(), history, to[0])
		if err != nil {
			return nil, signer, err
		}
		return &registry.GatekeeperOutput{Kind: &registry.GatekeeperOutput_ClusterKeyShare{ClusterKeyShare: s}}, signer, nil
	}
	return nil, signer, fmt.Errorf("task of unknown kind")
}

func workers(chain store.Reader, ids [][]byte) ([]*registry.Worker, error) {
	out := make([]*registry.Worker, len(ids))
	for i, id := range ids {
		w, err := registry.GetWorker(chain, id)
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}
