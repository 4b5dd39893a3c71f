package registry

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"github.com/phala-go/phala/chain/errcode"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/keys"
)

// Clusters: governed sets of workers sharing a cluster key that the gatekeepers derive from the
// master key and send to each member. A removal starts a new key generation.

// ClusterIDLen is the length of a cluster id: the cluster's number, big-endian, in the last
// eight bytes (0 is never a cluster).
const ClusterIDLen = 32

// ClusterID is the id of the n-th cluster.
func ClusterID(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, ClusterIDLen-8), n)
}

// ClusterLabel names a cluster id for events and logs: its number when it has the usual form.
func ClusterLabel(id []byte) string {
	if len(id) == ClusterIDLen && bytes.Equal(id[:ClusterIDLen-8], make([]byte, ClusterIDLen-8)) {
		return strconv.FormatUint(binary.BigEndian.Uint64(id[ClusterIDLen-8:]), 10)
	}
	return fmt.Sprintf("%X", id)
}

func clusterKey(id []byte) []byte     { return append(slices.Clone(prefixCluster), id...) }
func memberKey(worker []byte) []byte  { return append(slices.Clone(prefixMember), worker...) }
func clusterCount(r store.Reader) int { return int(decodeUint64(r.Get(keyClusterNext))) }

func decodeUint64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// GetCluster reads a cluster.
func GetCluster(r store.Reader, id []byte) (*Cluster, error) {
	b := r.Get(clusterKey(id))
	if b == nil {
		return nil, errcode.Wrapf(ErrClusterNotFound, "%s", ClusterLabel(id))
	}
	var c Cluster
	mustDecode(b, &c)
	return &c, nil
}

// ClusterOf returns the cluster a worker belongs to, if any.
func ClusterOf(r store.Reader, worker []byte) ([]byte, bool) {
	id := r.Get(memberKey(worker))
	return id, id != nil
}

// PublishedClusterKey returns a cluster's published key of a generation.
func PublishedClusterKey(c *Cluster, generation uint32) (*ClusterKey, bool) {
	for _, k := range c.GetKeys() {
		if k.GetGeneration() == generation {
			return k, true
		}
	}
	return nil, false
}

func putCluster(ctx *module.Context, c *Cluster) { ctx.Set(clusterKey(c.GetId()), module.Marshal(c)) }

// checkWorkerKeys checks a list of worker identity keys: well formed and distinct.
func checkWorkerKeys(ws [][]byte) error {
	for i, w := range ws {
		if err := checkWorkerKey(w); err != nil {
			return err
		}
		if slices.ContainsFunc(ws[:i], func(o []byte) bool { return bytes.Equal(o, w) }) {
			return errcode.Wrapf(ErrInvalidCluster, "worker %X is listed twice", w)
		}
	}
	return nil
}

func checkClusterID(id []byte) error {
	if len(id) != ClusterIDLen {
		return errcode.Wrapf(ErrInvalidCluster, "cluster id has %d bytes, want %d", len(id), ClusterIDLen)
	}
	return nil
}

func (m *MsgCreateCluster) ValidateBasic() error {
	if n := len(m.GetWorkers()); n == 0 || n > MaxClusterWorkers {
		return errcode.Wrapf(ErrInvalidCluster, "%d workers, want 1..%d", n, MaxClusterWorkers)
	}
	return checkWorkerKeys(m.GetWorkers())
}

func (m *MsgAddClusterWorker) ValidateBasic() error {
	if err := checkClusterID(m.GetCluster()); err != nil {
		return err
	}
	return checkWorkerKey(m.GetWorker())
}

func (m *MsgRemoveClusterWorker) ValidateBasic() error {
	return (&MsgAddClusterWorker{Cluster: m.GetCluster(), Worker: m.GetWorker()}).ValidateBasic()
}

// admit checks that a worker may join a cluster: active and in no cluster yet.
func admit(ctx *module.Context, worker []byte) error {
	if _, err := Active(ctx, worker, ctx.Block); err != nil {
		return err
	}
	if id, ok := ClusterOf(ctx, worker); ok {
		return errcode.Wrapf(ErrInvalidCluster, "worker %X already belongs to cluster %s: a worker serves one cluster", worker, ClusterLabel(id))
	}
	return nil
}

func createCluster(ctx *module.Context, _ module.Caller, msg *MsgCreateCluster) error {
	if _, ok := CurrentMasterKey(ctx); !ok {
		return errcode.Wrapf(ErrNoMasterKey, "clusters take their keys from the master key: register a gatekeeper and wait for it to publish one")
	}
	for _, w := range msg.GetWorkers() {
		if err := admit(ctx, w); err != nil {
			return err
		}
	}
	n := uint64(clusterCount(ctx)) + 1
	c := &Cluster{Id: ClusterID(n), Workers: slices.Clone(msg.GetWorkers()), Generation: 1, CreatedHeight: ctx.Height}
	ctx.Set(keyClusterNext, binary.BigEndian.AppendUint64(nil, n))
	for _, w := range c.GetWorkers() {
		ctx.Set(memberKey(w), c.GetId())
	}
	putCluster(ctx, c)
	ctx.Emit("cluster_created", module.Attr("cluster", ClusterLabel(c.GetId())), module.Attr("workers", strconv.Itoa(len(c.GetWorkers()))))
	rekey(ctx, c, c.GetWorkers())
	return nil
}

// rekey sets the tasks that publish the cluster's current key generation and share the key
// history with the given members.
func rekey(ctx *module.Context, c *Cluster, members [][]byte) {
	addTask(ctx, &GatekeeperTask{Kind: &GatekeeperTask_PublishClusterKey{PublishClusterKey: &PublishClusterKeyTask{Cluster: c.GetId(), Generation: c.GetGeneration()}}})
	share(ctx, c, members)
}

func share(ctx *module.Context, c *Cluster, members [][]byte) {
	for _, w := range members {
		addTask(ctx, &GatekeeperTask{Kind: &GatekeeperTask_ShareClusterKey{ShareClusterKey: &ShareClusterKeyTask{Cluster: c.GetId(), Generation: c.GetGeneration(), Recipient: w}}})
	}
}

func addClusterWorker(ctx *module.Context, _ module.Caller, msg *MsgAddClusterWorker) error {
	c, err := GetCluster(ctx, msg.GetCluster())
	if err != nil {
		return err
	}
	if len(c.GetWorkers()) >= MaxClusterWorkers {
		return errcode.Wrapf(ErrInvalidCluster, "cluster %s has %d workers, the most there may be", ClusterLabel(c.GetId()), MaxClusterWorkers)
	}
	if err := admit(ctx, msg.GetWorker()); err != nil {
		return err
	}
	c.Workers = append(c.Workers, msg.GetWorker())
	ctx.Set(memberKey(msg.GetWorker()), c.GetId())
	putCluster(ctx, c)
	ctx.Emit("cluster_worker_added", module.Attr("cluster", ClusterLabel(c.GetId())), module.Attr("worker", fmt.Sprintf("%X", msg.GetWorker())))
	share(ctx, c, [][]byte{msg.GetWorker()})
	return nil
}

func removeClusterWorker(ctx *module.Context, _ module.Caller, msg *MsgRemoveClusterWorker) error {
	c, err := GetCluster(ctx, msg.GetCluster())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(c.GetWorkers(), func(w []byte) bool { return bytes.Equal(w, msg.GetWorker()) })
	if i < 0 {
		return errcode.Wrapf(ErrNotMember, "worker %X is not in cluster %s", msg.GetWorker(), ClusterLabel(c.GetId()))
	}
	c.Workers = slices.Delete(c.Workers, i, i+1)
	c.Deployed = slices.DeleteFunc(c.Deployed, func(d *Deployment) bool { return bytes.Equal(d.GetWorker(), msg.GetWorker()) })
	c.Generation++
	ctx.Delete(memberKey(msg.GetWorker()))
	putCluster(ctx, c)
	ctx.Emit("cluster_worker_removed", module.Attr("cluster", ClusterLabel(c.GetId())), module.Attr("worker", fmt.Sprintf("%X", msg.GetWorker())),
		module.Attr("generation", strconv.Itoa(int(c.GetGeneration()))))
	// A new generation the removed worker never receives.
	rekey(ctx, c, c.GetWorkers())
	return nil
}

func applyClusterKey(ctx *module.Context, task *PublishClusterKeyTask, out *GatekeeperOutput) error {
	k := out.GetClusterKey()
	if k == nil || !bytes.Equal(k.GetCluster(), task.GetCluster()) || k.GetGeneration() != task.GetGeneration() {
		return errcode.Wrapf(ErrBadOutput, "the task wants the key of cluster %s generation %d", ClusterLabel(task.GetCluster()), task.GetGeneration())
	}
	cur, _ := CurrentMasterKey(ctx) // clusters exist only once a master key does
	if k.GetMasterGeneration() != cur.GetGeneration() {
		return errcode.Wrapf(ErrBadOutput, "cluster key from master generation %d, the current one is %d", k.GetMasterGeneration(), cur.GetGeneration())
	}
	if len(k.GetSigningKey()) != ed25519.PublicKeySize {
		return errcode.Wrapf(ErrBadOutput, "cluster signing key of %d bytes", len(k.GetSigningKey()))
	}
	if err := ValidateEncryptionKeys(k.GetEncryptionKeys()); err != nil {
		return errcode.Wrapf(ErrBadOutput, "cluster key: %v", err)
	}
	c, err := GetCluster(ctx, task.GetCluster())
	if err != nil {
		return err
	}
	k.Height = ctx.Height
	c.Keys = append(c.Keys, k)
	putCluster(ctx, c)
	ctx.Emit("cluster_key_published", module.Attr("cluster", ClusterLabel(c.GetId())), module.Attr("generation", strconv.Itoa(int(k.GetGeneration()))))
	return nil
}

// HandleClusterDeployed records a member's report that it holds a published key generation.
// A report that no longer fits (the worker left the cluster while it was on its way) is
// accepted and ignored: refusing it would stall the worker's message stream for good.
func HandleClusterDeployed(ctx *module.Context, m *mq.Message) error {
	if m.GetOrigin().Type() != mq.KindWorker {
		return errcode.Wrapf(ErrNotMember, "deployment reports come from workers, not %s", m.GetOrigin().Label())
	}
	var d ClusterDeployed
	if err := module.StrictUnmarshal(m.GetPayload(), &d); err != nil {
		return errcode.Wrapf(ErrInvalidCluster, "deployment report: %v", err)
	}
	c, err := GetCluster(ctx, d.GetCluster())
	if err != nil {
		return err
	}
	worker := m.GetOrigin().ID()
	_, published := PublishedClusterKey(c, d.GetGeneration())
	if !published || !slices.ContainsFunc(c.GetWorkers(), func(w []byte) bool { return bytes.Equal(w, worker) }) {
		ctx.Emit("cluster_report_ignored", module.Attr("cluster", ClusterLabel(c.GetId())), module.Attr("worker", fmt.Sprintf("%X", worker)),
			module.Attr("generation", strconv.Itoa(int(d.GetGeneration()))))
		return nil
	}
	i := slices.IndexFunc(c.GetDeployed(), func(x *Deployment) bool { return bytes.Equal(x.GetWorker(), worker) })
	if i < 0 {
		c.Deployed = append(c.Deployed, &Deployment{Worker: worker, Generation: d.GetGeneration()})
	} else {
		c.Deployed[i].Generation = max(c.Deployed[i].GetGeneration(), d.GetGeneration())
	}
	putCluster(ctx, c)
	ctx.Emit("cluster_deployed", module.Attr("cluster", ClusterLabel(c.GetId())), module.Attr("worker", fmt.Sprintf("%X", worker)),
		module.Attr("generation", strconv.Itoa(int(d.GetGeneration()))))
	return nil
}

// ClusterSigningKey is the message queue's key resolver for cluster origins: the signing key of
// the cluster's newest published generation.
func ClusterSigningKey(r store.Reader, m *mq.Message) (keys.PublicKey, error) {
	c, err := GetCluster(r, m.GetOrigin().ID())
	if err != nil {
		return keys.PublicKey{}, err
	}
	if len(c.GetKeys()) == 0 {
		return keys.PublicKey{}, errcode.Wrapf(ErrNoMasterKey, "cluster %s has no published key yet", ClusterLabel(c.GetId()))
	}
	return keys.PublicKey{Type: keys.Ed25519, Key: [32]byte(c.GetKeys()[len(c.GetKeys())-1].GetSigningKey())}, nil
}
