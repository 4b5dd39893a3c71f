package pruntime

import (
	"bytes"
	"encoding/hex"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/contracts"
	"github.com/phala-go/phala/chain/modules/governance"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/kdf"
	"github.com/phala-go/phala/pruntime/api"
)

// keyNet is a chain with named runtimes that see every block, and a relayer that delivers
// their egress (the first copy of each sequence number, as the fastest relayer would).
type keyNet struct {
	t         testing.TB
	w         *world
	rts       map[string]*Runtime
	dirs      map[string]string
	regs      map[string]*prometheus.Registry
	proposals uint64
	logs      *lockedBuffer
	// blocks are all blocks produced, so a runtime (re)opened late can catch up.
	blocks []*api.Block
	// compared counts answers checked against another gatekeeper's copy.
	compared int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newKeyNet(t testing.TB) *keyNet {
	return &keyNet{t: t, w: newWorld(t), rts: map[string]*Runtime{}, dirs: map[string]string{}, regs: map[string]*prometheus.Registry{}, logs: &lockedBuffer{}}
}

// open starts (or restarts) the runtime name on its data directory, synced to the tip.
func (n *keyNet) open(name string) *Runtime {
	n.t.Helper()
	if n.dirs[name] == "" {
		n.dirs[name] = n.t.TempDir()
	}
	n.regs[name] = prometheus.NewRegistry()
	r, err := Open(Config{DataDir: n.dirs[name], Guest: n.w.guest(), CheckpointInterval: 5, Metrics: n.regs[name],
		Logger: slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("runtime", name)})
	require.NoError(n.t, err)
	n.t.Cleanup(func() { r.Close() })
	_, err = r.Init(n.w.chain.Genesis, operator(n.t))
	require.NoError(n.t, err)
	n.rts[name] = r
	n.catchUp(r)
	return r
}

func (n *keyNet) catchUp(r *Runtime) {
	n.t.Helper()
	for h := r.Info().NextHeight; h <= n.w.chain.Height(); h++ {
		_, err := r.SyncBlocks(&api.SyncBlocksRequest{Blocks: []*api.Block{n.blocks[h-1]}})
		require.NoError(n.t, err)
	}
}

func (n *keyNet) id(name string) []byte { return n.rts[name].Info().IdentityKey }

// block produces a block with txs and hands it to every runtime.
func (n *keyNet) block(txs ...[]byte) {
	n.t.Helper()
	b := n.w.chain.Next(txs...).Encode()
	n.blocks = append(n.blocks, b)
	for _, r := range n.rts {
		_, err := r.SyncBlocks(&api.SyncBlocksRequest{Blocks: []*api.Block{b}})
		require.NoError(n.t, err)
	}
}

func (n *keyNet) chainState() store.Reader {
	snap, err := n.w.chain.App.State(n.w.chain.Height())
	require.NoError(n.t, err)
	return snap
}

// egress gathers the runtimes' pending messages the chain would accept next, one copy per
// origin and sequence (the first runtime's, in name order).
func (n *keyNet) egress() []*mq.SignedMessage {
	state := n.chainState()
	type slot struct {
		origin string
		seq    uint64
	}
	first := map[slot]*mq.Message{}
	var out []*mq.SignedMessage
	for _, name := range slices.Sorted(maps.Keys(n.rts)) {
		msgs, err := n.rts[name].Egress()
		require.NoError(n.t, err)
		for _, sm := range msgs {
			m, err := mq.DecodeMessage(sm.Message)
			require.NoError(n.t, err)
			s := slot{string(module.Marshal(m.GetOrigin())), sm.Sequence}
			if sm.Sequence < mq.NextSequence(state, m.GetOrigin()) {
				continue
			}
			if prev, ok := first[s]; ok {
				n.samePlaintext(prev, m)
				continue
			}
			first[s] = m
			out = append(out, sm)
		}
	}
	return out
}

// samePlaintext checks two gatekeepers' answers to one task: the same plaintext (their
// envelopes differ), except a new master key generation, which is random.
func (n *keyNet) samePlaintext(a, b *mq.Message) {
	n.t.Helper()
	if a.GetOrigin().Type() == mq.KindCluster {
		// Reports are deterministic but for the envelopes of outbound messages (HPKE is
		// randomised): blank those, then every member's copy is the same.
		blank := func(m *mq.Message) []byte {
			var rep contracts.Report
			require.NoError(n.t, module.StrictUnmarshal(m.GetPayload(), &rep))
			for _, out := range rep.GetOutbound() {
				if msg := out.GetMessage(); msg != nil {
					require.Equal(n.t, len(msg.GetPayload()) > 0, msg.GetKeyGeneration() > 0)
					msg.Payload = nil
				}
			}
			return module.Marshal(&rep)
		}
		require.Equal(n.t, blank(a), blank(b), "two members reported a request differently")
		n.compared++
		return
	}
	if a.GetOrigin().Type() != mq.KindGatekeeper {
		return
	}
	plain := func(m *mq.Message) []byte {
		_, out, err := registry.DecodeGatekeeperMessage(m.GetPayload())
		require.NoError(n.t, err)
		out.Sender = nil
		switch k := out.GetKind().(type) {
		case *registry.GatekeeperOutput_NewMasterKey:
			return nil
		case *registry.GatekeeperOutput_MasterKeyShare:
			h, err := n.byIdentity(k.MasterKeyShare.GetRecipient()).recipient().OpenMasterShare(k.MasterKeyShare)
			require.NoError(n.t, err)
			return module.Marshal(&registry.MasterKeyHistory{Keys: h})
		case *registry.GatekeeperOutput_ClusterKeyShare:
			h, err := n.byIdentity(k.ClusterKeyShare.GetShare().GetRecipient()).recipient().OpenClusterShare(k.ClusterKeyShare)
			require.NoError(n.t, err)
			return module.Marshal(&registry.ClusterKeyHistory{Keys: h})
		}
		return module.Marshal(out)
	}
	require.Equal(n.t, plain(a), plain(b), "two gatekeepers answered a task differently")
	n.compared++
}

func (n *keyNet) byIdentity(id []byte) *Runtime {
	for _, r := range n.rts {
		if bytes.Equal(r.Info().IdentityKey, id) {
			return r
		}
	}
	n.t.Fatalf("no runtime with identity %X", id)
	return nil
}

// settle relays egress block after block until nothing is left to deliver and no task pends,
// and the runtimes verified the last block (which takes the block after it).
func (n *keyNet) settle() {
	n.t.Helper()
	quiet := 0
	for range 40 {
		msgs := n.egress()
		if len(msgs) == 0 && len(registry.GetTasks(n.chainState()).GetPending()) == 0 {
			if quiet++; quiet == 2 {
				return
			}
		} else {
			quiet = 0
		}
		var txs [][]byte
		for _, sm := range msgs {
			txs = append(txs, n.w.sign("Ferdie", &mq.MsgSyncOffchain{Message: sm}))
		}
		n.block(txs...)
	}
	n.t.Fatalf("key management did not settle: tasks %v", registry.GetTasks(n.chainState()).GetPending())
}

// govern has the council (Alice) run msgs.
func (n *keyNet) govern(msgs ...proto.Message) {
	n.t.Helper()
	var packed []*anypb.Any
	for _, m := range msgs {
		a, err := module.Pack(m)
		require.NoError(n.t, err)
		packed = append(packed, a)
	}
	n.proposals++
	n.block(n.w.sign("Alice", &governance.MsgPropose{Messages: packed}))
	n.block(n.w.sign("Alice", &governance.MsgExecute{ProposalId: n.proposals}))
}

func (n *keyNet) register(names ...string) {
	n.t.Helper()
	var txs [][]byte
	for _, name := range names {
		reg, err := n.rts[name].Registration(n.w.chain.Height(), n.w.chain.LastHash())
		require.NoError(n.t, err)
		txs = append(txs, n.w.sign("Alice", &registry.MsgRegisterWorker{Info: reg.Info, Evidence: reg.Evidence}))
	}
	n.block(txs...)
	n.block()
}

// master returns the master key generations a runtime holds.
func (n *keyNet) master(name string) [][32]byte {
	st := n.rts[name].state.Working()
	var out [][32]byte
	for g := uint32(1); ; g++ {
		s, ok := masterSecret(st, g)
		if !ok {
			return out
		}
		out = append(out, s)
	}
}

func (n *keyNet) clusterKey(name string, cluster []byte, gen uint32) ([32]byte, bool) {
	return clusterSecret(n.rts[name].state.Working(), cluster, gen)
}

// canRead reports whether the runtime can open a secret sent to the cluster's published X-Wing
// key of a generation.
func (n *keyNet) canRead(name string, cluster []byte, gen uint32) bool {
	n.t.Helper()
	c, err := registry.GetCluster(n.chainState(), cluster)
	require.NoError(n.t, err)
	pub, ok := registry.PublishedClusterKey(c, gen)
	require.True(n.t, ok)
	to := envelope.PublicKey{KEM: envelope.XWing, Key: pub.GetEncryptionKeys()[1].GetPublicKey()}
	env, err := envelope.Seal(to, envelope.PurposeCommand, cluster, nil, []byte("for the cluster only"))
	require.NoError(n.t, err)
	ck, ok := n.clusterKey(name, cluster, gen)
	if !ok {
		return false
	}
	priv, err := kdf.ClusterEnvelopeKey(ck, envelope.XWing)
	require.NoError(n.t, err)
	pt, err := envelope.Open(priv, envelope.PurposeCommand, cluster, nil, env)
	return err == nil && string(pt) == "for the cluster only"
}

func (n *keyNet) counter(name, event string) float64 {
	fams, err := n.regs[name].Gather()
	require.NoError(n.t, err)
	for _, f := range fams {
		if f.GetName() != "phala_pruntime_key_events_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelIs(m, "event", event) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labelIs(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestKeyLifecycle runs the key management of three gatekeepers and a cluster through every
// step: first key, new gatekeepers, a cluster and its members, rotation, removals, a restart
// and a lost seal.
func TestKeyLifecycle(t *testing.T) {
	n := newKeyNet(t)
	for _, name := range []string{"g1", "g2", "g3", "w1", "w2", "w3"} {
		n.open(name)
	}
	n.block()
	n.register("g1", "g2", "g3", "w1", "w2", "w3")

	// The first gatekeeper creates the master key; the next one receives it.
	n.govern(&registry.MsgRegisterGatekeeper{Worker: n.id("g1")})
	n.settle()
	require.Len(t, n.master("g1"), 1, n.logs.String())
	cur, ok := registry.CurrentMasterKey(n.chainState())
	require.True(t, ok)
	require.Equal(t, n.id("g1"), cur.GetSender())
	n.govern(&registry.MsgRegisterGatekeeper{Worker: n.id("g2")})
	n.settle()
	require.Equal(t, n.master("g1"), n.master("g2"))
	require.EqualValues(t, 1, n.rts["g2"].Info().MasterGeneration)
	require.Empty(t, n.master("w1"), "only gatekeepers hold the master key")

	// A cluster of w1 and w2: both get its key and can read what is sent to it; w3 cannot.
	n.govern(&registry.MsgCreateCluster{Workers: [][]byte{n.id("w1"), n.id("w2")}})
	n.settle()
	c1 := registry.ClusterID(1)
	require.True(t, n.canRead("w1", c1, 1))
	require.True(t, n.canRead("w2", c1, 1))
	require.False(t, n.canRead("w3", c1, 1))
	cl, err := registry.GetCluster(n.chainState(), c1)
	require.NoError(t, err)
	require.Len(t, cl.GetDeployed(), 2, "both members reported the key")
	require.Equal(t, []*api.ClusterKeys{{Cluster: c1, Generations: []uint32{1}}}, n.rts["w1"].Info().Clusters)

	// Add a third gatekeeper, then rotate: all three hold both generations, the same ones.
	n.govern(&registry.MsgRegisterGatekeeper{Worker: n.id("g3")})
	n.settle()
	n.govern(&registry.MsgRotateMasterKey{})
	n.settle()
	require.Len(t, n.master("g1"), 2)
	require.Equal(t, n.master("g1"), n.master("g2"))
	require.Equal(t, n.master("g1"), n.master("g3"))
	require.NotEqual(t, n.master("g1")[0], n.master("g1")[1])
	require.Len(t, registry.GetMasterKeys(n.chainState()).GetGenerations(), 2)

	// w3 joins and receives the history; w1 leaves: generation 2, from master generation 2,
	// which w1 never receives.
	n.govern(&registry.MsgAddClusterWorker{Cluster: c1, Worker: n.id("w3")})
	n.settle()
	require.True(t, n.canRead("w3", c1, 1))
	n.govern(&registry.MsgRemoveClusterWorker{Cluster: c1, Worker: n.id("w1")})
	n.settle()
	for _, name := range []string{"w2", "w3"} {
		require.True(t, n.canRead(name, c1, 2), name)
	}
	require.False(t, n.canRead("w1", c1, 2), "a removed worker cannot read what comes after")
	cl, _ = registry.GetCluster(n.chainState(), c1)
	require.EqualValues(t, 2, cl.GetKeys()[1].GetMasterGeneration())

	// Remove g1; the others carry on (w1 back in the cluster gets both generations).
	n.govern(&registry.MsgUnregisterGatekeeper{Worker: n.id("g1")})
	n.settle()
	answered := n.counter("g1", "task_share_cluster_key")
	n.govern(&registry.MsgAddClusterWorker{Cluster: c1, Worker: n.id("w1")})
	n.settle()
	require.True(t, n.canRead("w1", c1, 2))
	require.Equal(t, answered, n.counter("g1", "task_share_cluster_key"), "a former gatekeeper answers no more")

	// Restart g2: it resumes with its keys.
	require.NoError(t, n.rts["g2"].Close())
	n.open("g2")
	require.Len(t, n.master("g2"), 2)

	// g3 loses its seal: a fresh runtime (new identity) registers, becomes a gatekeeper in the
	// old one's place and receives the whole history from g2.
	oldG3 := n.id("g3")
	require.NoError(t, n.rts["g3"].Close())
	require.NoError(t, os.RemoveAll(n.dirs["g3"]))
	n.dirs["g3"] = ""
	n.open("g3")
	require.NotEqual(t, oldG3, n.id("g3"))
	require.Empty(t, n.master("g3"))
	n.register("g3")
	n.govern(&registry.MsgRegisterGatekeeper{Worker: n.id("g3")}, &registry.MsgUnregisterGatekeeper{Worker: oldG3})
	n.settle()
	require.Equal(t, n.master("g2"), n.master("g3"))

	// And the recovered set rotates again.
	n.govern(&registry.MsgRotateMasterKey{})
	n.settle()
	require.Len(t, n.master("g2"), 3)
	require.Equal(t, n.master("g2"), n.master("g3"))

	require.Greater(t, n.compared, 5, "gatekeepers' copies were compared")

	// No key ever appears in logs or in what the runtimes sent.
	var secrets [][]byte
	for _, s := range n.master("g2") {
		secrets = append(secrets, s[:])
	}
	for _, gen := range []uint32{1, 2} {
		ck, ok := n.clusterKey("w2", c1, gen)
		require.True(t, ok)
		secrets = append(secrets, ck[:])
	}
	logs := n.logs.String()
	for _, s := range secrets {
		require.NotContains(t, logs, hex.EncodeToString(s))
		require.NotContains(t, logs, string(s))
		for _, b := range n.blocks {
			for _, tx := range b.GetTxs() {
				require.False(t, bytes.Contains(tx, s), "a key in plaintext on chain")
			}
		}
	}
}

// TestForgedKeyMessages: key messages that did not come from a gatekeeper are refused by the
// chain, and a worker that is handed one ignores and reports it.
func TestForgedKeyMessages(t *testing.T) {
	n := newKeyNet(t)
	n.open("g1")
	n.open("w1")
	n.block()
	n.register("g1", "w1")
	n.govern(&registry.MsgRegisterGatekeeper{Worker: n.id("g1")})
	n.settle()
	n.govern(&registry.MsgCreateCluster{Workers: [][]byte{n.id("w1")}})
	n.settle()
	state := n.chainState()
	before := registry.GetTasks(state)

	// A worker's identity key is not the gatekeeper origin's key.
	w1 := n.rts["w1"]
	forgedOut := &registry.GatekeeperOutput{Task: before.GetNext(), Sender: n.id("w1"),
		Kind: &registry.GatekeeperOutput_MasterKeyShare{MasterKeyShare: &registry.KeyShare{Recipient: n.id("w1"), Envelope: []byte{1}}}}
	gm, err := registry.SignGatekeeperOutput(forgedOut, w1.keys.identity)
	require.NoError(t, err)
	forged := &mq.Message{Origin: mq.GatekeeperOrigin(), Topic: registry.TopicGatekeeper, Payload: module.Marshal(gm)}
	sm, err := mq.Sign(forged, mq.NextSequence(state, mq.GatekeeperOrigin()), w1.keys.identity)
	require.NoError(t, err)
	n.w.chain.AllowFailures = true
	n.block(n.w.sign("Bob", &mq.MsgSyncOffchain{Message: sm}), n.w.sign("Bob", &mq.MsgPush{Topic: registry.TopicGatekeeper, Payload: module.Marshal(gm)}))
	n.w.chain.AllowFailures = false
	res := n.w.chain.Results
	require.Len(t, res, 2)
	require.Contains(t, res[0].GetLog(), mq.ErrBadSignature.Error())
	require.Contains(t, res[1].GetLog(), registry.ErrNotGatekeeper.Error())
	require.Equal(t, before, registry.GetTasks(n.chainState()))

	// Handed directly to a worker (as a compromised chain could), each forgery is refused.
	st := store.NewCache(w1.state.Working())
	b := module.Block{Height: n.w.chain.Height()}
	cases := map[string]*mq.Message{
		"origin":    {Origin: mq.WorkerOrigin(n.id("w1")), Topic: registry.TopicGatekeeper, Payload: module.Marshal(gm)},
		"sender":    forged,
		"malformed": {Origin: mq.GatekeeperOrigin(), Topic: registry.TopicGatekeeper, Payload: []byte{0xff}},
	}
	for reason, m := range cases {
		require.NoError(t, w1.handleGatekeeperMessage(st, n.chainState(), b, m))
		require.EqualValues(t, 1, n.counter("w1", "refused_"+reason), reason)
	}
	// A share from a real gatekeeper that does not open for the worker.
	g1 := n.rts["g1"]
	bad := &registry.GatekeeperOutput{Task: 0, Sender: n.id("g1"), Kind: &registry.GatekeeperOutput_ClusterKeyShare{ClusterKeyShare: &registry.ClusterKeyShare{
		Cluster: registry.ClusterID(1), Generation: 1, Share: &registry.KeyShare{Recipient: n.id("w1"), Envelope: sealTo(t, envelope.XWing)}}}}
	gm, err = registry.SignGatekeeperOutput(bad, g1.keys.identity)
	require.NoError(t, err)
	require.NoError(t, w1.handleGatekeeperMessage(st, n.chainState(), b, &mq.Message{Origin: mq.GatekeeperOrigin(), Topic: registry.TopicGatekeeper, Payload: module.Marshal(gm)}))
	require.EqualValues(t, 1, n.counter("w1", "refused_cluster_share"))
}

func sealTo(t *testing.T, kem envelope.KEM) []byte {
	k, err := envelope.GenerateKey(kem)
	require.NoError(t, err)
	env, err := envelope.Seal(k.Public(), envelope.PurposeClusterKeyShare, nil, nil, []byte("x"))
	require.NoError(t, err)
	return env
}
