package pruntime

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/pruntime/gatekeeper"
)

// Keys this worker received, in its sealed state (committed with the verified height they
// arrived at, so a resumed or re-synced runtime holds exactly what the chain gave it):
//
//	keys/master/<generation u32be>         master key secret (gatekeepers)
//	keys/cluster/<cluster id>/<gen u32be>  ClusterKeySecret
var (
	prefixMaster  = []byte("keys/master/")
	prefixCluster = []byte("keys/cluster/")
)

func masterKeyKey(gen uint32) []byte {
	return binary.BigEndian.AppendUint32(slices.Clone(prefixMaster), gen)
}

func clusterKeyKey(cluster []byte, gen uint32) []byte {
	k := append(append(slices.Clone(prefixCluster), cluster...), '/')
	return binary.BigEndian.AppendUint32(k, gen)
}

// masterSecret returns the master key generation gen, if this worker holds it.
func masterSecret(r store.Reader, gen uint32) ([32]byte, bool) {
	b := r.Get(masterKeyKey(gen))
	if len(b) != 32 {
		return [32]byte{}, false
	}
	return [32]byte(b), true
}

// masterHistory returns generations 1..upTo, or ok=false if one is missing.
func masterHistory(r store.Reader, upTo uint32) (h []*registry.MasterKeySecret, ok bool) {
	for g := uint32(1); g <= upTo; g++ {
		s, ok := masterSecret(r, g)
		if !ok {
			return nil, false
		}
		h = append(h, &registry.MasterKeySecret{Generation: g, Secret: s[:]})
	}
	return h, true
}

// newestMaster is the newest master key generation held (0: none).
func newestMaster(r store.Reader) uint32 {
	it := r.Iterator(prefixMaster, store.PrefixEnd(prefixMaster))
	defer it.Close()
	var newest uint32
	for ; it.Valid(); it.Next() {
		newest = binary.BigEndian.Uint32(it.Key()[len(prefixMaster):])
	}
	return newest
}

// heldClusters lists the clusters whose keys this worker holds, with their generations.
func heldClusters(r store.Reader) map[string][]uint32 {
	it := r.Iterator(prefixCluster, store.PrefixEnd(prefixCluster))
	defer it.Close()
	out := map[string][]uint32{}
	for ; it.Valid(); it.Next() {
		k := it.Key()[len(prefixCluster):]
		id, gen := k[:registry.ClusterIDLen], binary.BigEndian.Uint32(k[registry.ClusterIDLen+1:])
		out[string(id)] = append(out[string(id)], gen)
	}
	return out
}

// clusterSecret returns a cluster key generation this worker holds.
func clusterSecret(r store.Reader, cluster []byte, gen uint32) ([32]byte, bool) {
	b := r.Get(clusterKeyKey(cluster, gen))
	if b == nil {
		return [32]byte{}, false
	}
	var s registry.ClusterKeySecret
	if err := module.StrictUnmarshal(b, &s); err != nil {
		panic(&store.FatalError{Err: err})
	}
	return [32]byte(s.GetSecret()), true
}

func (r *Runtime) recipient() gatekeeper.Recipient {
	id := r.keys.identity.Public().Key
	return gatekeeper.Recipient{Identity: id[:], Key: r.keys.xwing}
}

// refuseKeys counts and logs a key message this worker will not use. The reason never contains
// key material.
func (r *Runtime) refuseKeys(h int64, reason string, err error) {
	r.metrics.keys.WithLabelValues("refused_" + reason).Inc()
	r.log.Warn("key message refused", "height", h, "reason", reason, "err", err)
}

// handleGatekeeperMessage takes what is meant for this worker from a gatekeeper answer that
// landed at b: master key shares (for a gatekeeper) and cluster key shares (for a member). It
// trusts nothing it does not check against its verified state: the origin, the gatekeeper
// that produced the answer, the envelope, and the keys against their published public halves.
func (r *Runtime) handleGatekeeperMessage(w store.KV, chain store.Reader, b module.Block, m *mq.Message) error {
	if m.GetOrigin().Type() != mq.KindGatekeeper {
		r.refuseKeys(b.Height, "origin", nil)
		return nil
	}
	gm, out, err := registry.DecodeGatekeeperMessage(m.GetPayload())
	if err != nil {
		r.refuseKeys(b.Height, "malformed", err)
		return nil
	}
	if err := registry.CheckSender(chain, gm, out); err != nil {
		r.refuseKeys(b.Height, "sender", err)
		return nil
	}
	me := r.recipient()
	switch k := out.GetKind().(type) {
	case *registry.GatekeeperOutput_NewMasterKey:
		for _, s := range k.NewMasterKey.GetShares() {
			if bytes.Equal(s.GetRecipient(), me.Identity) {
				r.takeMasterShare(w, chain, b, me, s)
			}
		}
	case *registry.GatekeeperOutput_MasterKeyShare:
		if bytes.Equal(k.MasterKeyShare.GetRecipient(), me.Identity) {
			r.takeMasterShare(w, chain, b, me, k.MasterKeyShare)
		}
	case *registry.GatekeeperOutput_ClusterKeyShare:
		if bytes.Equal(k.ClusterKeyShare.GetShare().GetRecipient(), me.Identity) {
			return r.takeClusterShare(w, chain, b, me, k.ClusterKeyShare)
		}
	}
	return nil
}

func (r *Runtime) takeMasterShare(w store.KV, chain store.Reader, b module.Block, me gatekeeper.Recipient, s *registry.KeyShare) {
	history, err := me.OpenMasterShare(s)
	if err != nil {
		r.refuseKeys(b.Height, "master_share", err)
		return
	}
	if err := gatekeeper.CheckMasterKeys(registry.GetMasterKeys(chain), history); err != nil {
		r.refuseKeys(b.Height, "master_mismatch", err)
		return
	}
	for _, k := range history {
		w.Set(masterKeyKey(k.GetGeneration()), k.GetSecret())
	}
	r.metrics.keys.WithLabelValues("master_share").Inc()
	r.log.Info("master key received", "height", b.Height, "generations", len(history), "newest", history[len(history)-1].GetGeneration())
}

func (r *Runtime) takeClusterShare(w store.KV, chain store.Reader, b module.Block, me gatekeeper.Recipient, s *registry.ClusterKeyShare) error {
	history, err := me.OpenClusterShare(s)
	if err != nil {
		r.refuseKeys(b.Height, "cluster_share", err)
		return nil
	}
	c, err := registry.GetCluster(chain, s.GetCluster())
	if err == nil {
		err = gatekeeper.CheckClusterKeys(c, history)
	}
	if err != nil {
		r.refuseKeys(b.Height, "cluster_mismatch", err)
		return nil
	}
	for _, k := range history {
		w.Set(clusterKeyKey(s.GetCluster(), k.GetGeneration()), module.Marshal(k))
	}
	r.metrics.keys.WithLabelValues("cluster_share").Inc()
	r.log.Info("cluster key received", "height", b.Height, "cluster", registry.ClusterLabel(s.GetCluster()), "generation", s.GetGeneration())
	// Tell the chain, which shows operators which members hold which generation.
	id := r.keys.identity.Public().Key
	report := &mq.Message{Origin: mq.WorkerOrigin(id[:]), Topic: registry.TopicClusterDeployed,
		Payload: module.Marshal(&registry.ClusterDeployed{Cluster: s.GetCluster(), Generation: s.GetGeneration()})}
	return send(w, chain, report, r.keys.identity)
}
