package pruntime

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/chain/amount"
	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/chain/tx"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/node"
	"github.com/phala-go/phala/pruntime/api"
	"github.com/phala-go/phala/pruntime/chaintest"
	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/sim"
)

var measurement = bytes.Repeat([]byte{0x42}, tee.SimMeasurementSize)

// world is a generated chain that allows the test's sim platform, plus helpers to submit
// transactions into its next block.
type world struct {
	t      testing.TB
	chain  *chaintest.Chain
	secret string
	nonces map[string]uint64
}

func newWorld(t testing.TB) *world {
	secret := filepath.Join(t.TempDir(), "sim-secret")
	key, err := sim.PlatformKey(secret)
	require.NoError(t, err)
	g, err := node.DevGenesis("chaintest", time.Unix(0, 0), key)
	require.NoError(t, err)
	g.State.Registry.Runtimes = append(g.State.Registry.Runtimes, registry.GenesisRuntime{Measurement: "sim:" + hexOf(measurement), Version: Version})
	return &world{t: t, chain: chaintest.New(t, 1, g.State), secret: secret, nonces: map[string]uint64{}}
}

func (w *world) guest() tee.Guest {
	g, err := sim.Open(sim.Config{SecretPath: w.secret, Measurement: measurement})
	require.NoError(w.t, err)
	return g
}

func (w *world) sign(name string, msgs ...proto.Message) []byte {
	return w.signWithFee(name, amount.OnePHA, msgs...)
}

func (w *world) signWithFee(name string, fee amount.Amount, msgs ...proto.Message) []byte {
	k, err := keys.FromURI(keys.Sr25519, "//"+name)
	require.NoError(w.t, err)
	raw, err := tx.Build(tx.Unsigned{ChainID: w.chain.ChainID, Nonce: w.nonces[name], Fee: fee, Msgs: msgs}, k)
	require.NoError(w.t, err)
	w.nonces[name]++
	return raw
}

// runtimeAt opens a runtime in dir.
func (w *world) runtimeAt(dir string) *Runtime {
	r, err := Open(Config{DataDir: dir, Guest: w.guest(), CheckpointInterval: 5})
	require.NoError(w.t, err)
	return r
}

// feed produces blocks and hands every new one to the runtimes.
func (w *world) feed(rts []*Runtime, blocks ...*chaintest.Block) {
	w.t.Helper()
	for _, b := range blocks {
		for _, r := range rts {
			_, err := r.SyncBlocks(&api.SyncBlocksRequest{Blocks: []*api.Block{b.Encode()}})
			require.NoError(w.t, err)
		}
	}
}

// register produces the blocks that register r on chain.
func (w *world) register(r *Runtime, feedTo ...*Runtime) {
	w.t.Helper()
	reg, err := r.Registration(w.chain.Height(), w.chain.LastHash())
	require.NoError(w.t, err)
	w.feed(feedTo, w.chain.Next(w.sign("Alice", &registry.MsgRegisterWorker{Info: reg.Info, Evidence: reg.Evidence})), w.chain.Next())
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func operator(t testing.TB) []byte {
	k, err := keys.FromURI(keys.Sr25519, "//Eve")
	require.NoError(t, err)
	id := k.Public().AccountID()
	return id[:]
}

func TestRuntimeEndToEnd(t *testing.T) {
	w := newWorld(t)
	r := w.runtimeAt(t.TempDir())
	defer r.Close()
	require.False(t, r.Info().Initialized)
	_, err := r.SyncBlocks(&api.SyncBlocksRequest{})
	require.ErrorIs(t, err, ErrNotInitialized)

	init, err := r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	_, err = r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err, "Init is idempotent")
	_, err = r.Init(append([]byte(" "), w.chain.Genesis...), operator(t))
	require.ErrorIs(t, err, ErrOtherChain)

	rts := []*Runtime{r}
	w.feed(rts, w.chain.Next(), w.chain.Next())
	w.register(r, rts...)
	info := r.Info()
	require.True(t, info.Registered)
	require.Equal(t, init.IdentityKey, info.IdentityKey)

	// A ping reaches the worker, which answers with signed egress.
	w.feed(rts, w.chain.Next(w.sign("Alice", &mq.MsgPush{Topic: mq.TopicPing, Payload: module.Marshal(&mq.Ping{Nonce: []byte("hi")})})), w.chain.Next())
	out, err := r.Egress()
	require.NoError(t, err)
	require.Len(t, out, 1)
	m, err := mq.DecodeMessage(out[0].Message)
	require.NoError(t, err)
	require.Equal(t, mq.TopicPong, m.Topic)
	require.Equal(t, init.IdentityKey, m.Origin.ID())

	// A relayer delivers it; once the worker sees the chain accept it, it leaves the outbox.
	w.feed(rts, w.chain.Next(w.sign("Bob", &mq.MsgSyncOffchain{Message: out[0]})), w.chain.Next())
	out, err = r.Egress()
	require.NoError(t, err)
	require.Empty(t, out)
	st, err := w.chain.App.State(w.chain.Height())
	require.NoError(t, err)
	wk, err := registry.GetWorker(st, init.IdentityKey)
	require.NoError(t, err)
	require.NotZero(t, wk.LastPongHeight)
}

// TestWorkersAgree: two workers given the same blocks reach identical chain state; a second
// instance of the same worker (its sealed keys copied) reaches identical outboxes, byte for byte.
func TestWorkersAgree(t *testing.T) {
	w := newWorld(t)
	dirA, dirB, dirTwin := t.TempDir(), t.TempDir(), t.TempDir()
	a, b := w.runtimeAt(dirA), w.runtimeAt(dirB)
	keysA, err := os.ReadFile(filepath.Join(dirA, keysFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dirTwin, keysFile), keysA, 0o600))
	twin := w.runtimeAt(dirTwin)
	rts := []*Runtime{a, b, twin}
	for _, r := range rts {
		defer r.Close()
		_, err := r.Init(w.chain.Genesis, operator(t))
		require.NoError(t, err)
	}
	w.feed(rts, w.chain.Next())
	w.register(a, rts...)
	w.register(b, rts...)
	for i := 0; i < 3; i++ {
		w.feed(rts, w.chain.Next(w.sign("Alice", &mq.MsgPush{Topic: mq.TopicPing, Payload: []byte{byte(i)}})))
	}
	w.feed(rts, w.chain.Next())

	h := a.Info().VerifiedHeight
	for _, r := range rts[1:] {
		require.Equal(t, h, r.Info().VerifiedHeight)
		sa, err := a.app.State(h)
		require.NoError(t, err)
		sr, err := r.app.State(h)
		require.NoError(t, err)
		require.Equal(t, sa.Hash(), sr.Hash(), "identical chain state")
	}
	outA, err := a.Egress()
	require.NoError(t, err)
	outTwin, err := twin.Egress()
	require.NoError(t, err)
	require.Len(t, outA, 3)
	for i := range outA {
		require.True(t, proto.Equal(outA[i], outTwin[i]), "same worker, same outbox")
	}
	outB, err := b.Egress()
	require.NoError(t, err)
	require.Len(t, outB, 3, "another worker answers the same pings under its own origin")
}

func syncTo(t *testing.T, w *world, r *Runtime, blocks []*chaintest.Block) {
	for _, b := range blocks {
		if b.Header.Height < r.Info().NextHeight {
			continue
		}
		_, err := r.SyncBlocks(&api.SyncBlocksRequest{Blocks: []*api.Block{b.Encode()}})
		require.NoError(t, err)
	}
}

// history makes a chain with a registered worker and n pings.
func history(t *testing.T, w *world, r *Runtime, n int) []*chaintest.Block {
	var blocks []*chaintest.Block
	next := func(txs ...[]byte) { blocks = append(blocks, w.chain.Next(txs...)) }
	next()
	reg, err := r.Registration(w.chain.Height(), w.chain.LastHash())
	require.NoError(t, err)
	next(w.sign("Alice", &registry.MsgRegisterWorker{Info: reg.Info, Evidence: reg.Evidence}))
	for i := 0; i < n; i++ {
		next(w.sign("Alice", &mq.MsgPush{Topic: mq.TopicPing, Payload: []byte{byte(i)}}))
	}
	next()
	return blocks
}

// TestCrashLosesNothing: a runtime that dies without a checkpoint resumes from the last one,
// replays, and ends with exactly the outbox of one that never stopped.
func TestCrashLosesNothing(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	r := w.runtimeAt(dir)
	_, err := r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	blocks := history(t, w, r, 12)
	syncTo(t, w, r, blocks[:9])
	r.closeDB() // kill -9: no checkpoint at exit

	r = w.runtimeAt(dir)
	defer r.Close()
	require.Equal(t, int64(5), r.Info().VerifiedHeight, "resumed from the checkpoint at height 5")
	syncTo(t, w, r, blocks)

	// A reference instance of the same worker that never stopped.
	keys, err := os.ReadFile(filepath.Join(dir, keysFile))
	require.NoError(t, err)
	refDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(refDir, keysFile), keys, 0o600))
	ref := w.runtimeAt(refDir)
	defer ref.Close()
	_, err = ref.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	syncTo(t, w, ref, blocks)

	got, err := r.Egress()
	require.NoError(t, err)
	want, err := ref.Egress()
	require.NoError(t, err)
	require.Len(t, got, 12)
	require.Equal(t, len(want), len(got))
	for i := range want {
		require.True(t, proto.Equal(want[i], got[i]))
	}
}

func TestCleanRestartResumes(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	r := w.runtimeAt(dir)
	_, err := r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	blocks := history(t, w, r, 4)
	syncTo(t, w, r, blocks[:6])
	h := r.Info().VerifiedHeight
	require.NoError(t, r.Close())
	r = w.runtimeAt(dir)
	defer r.Close()
	require.Equal(t, h, r.Info().VerifiedHeight, "a clean shutdown checkpoints the latest height")
	require.True(t, r.Info().Initialized)
	syncTo(t, w, r, blocks)
	require.Equal(t, blocks[len(blocks)-2].Header.Height, r.Info().VerifiedHeight)
}

func TestTamperedCheckpointIsDetected(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	r := w.runtimeAt(dir)
	_, err := r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	blocks := history(t, w, r, 4)
	syncTo(t, w, r, blocks)
	require.NoError(t, r.Close())

	path := filepath.Join(dir, checkpointFile)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 1
	require.NoError(t, os.WriteFile(path, b, 0o600))

	r = w.runtimeAt(dir)
	defer r.Close()
	require.Equal(t, 1.0, counter(r.metrics.integrity.WithLabelValues("checkpoint_tampered")))
	require.Equal(t, int64(1), r.Info().NextHeight, "verified re-sync from genesis")
	syncTo(t, w, r, blocks)
	require.Equal(t, blocks[len(blocks)-2].Header.Height, r.Info().VerifiedHeight)
}

func TestRolledBackCheckpointIsDetected(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	r := w.runtimeAt(dir)
	_, err := r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	blocks := history(t, w, r, 20)
	syncTo(t, w, r, blocks[:6])
	old, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	require.NoError(t, err)
	syncTo(t, w, r, blocks)
	require.NoError(t, r.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, checkpointFile), old, 0o600))

	r = w.runtimeAt(dir)
	defer r.Close()
	require.Equal(t, 1.0, counter(r.metrics.integrity.WithLabelValues("checkpoint_rolled_back")))
	require.Equal(t, int64(5), r.Info().VerifiedHeight, "resumes from the old but valid checkpoint")
	syncTo(t, w, r, blocks)
	require.Equal(t, blocks[len(blocks)-2].Header.Height, r.Info().VerifiedHeight)
}

func TestTamperedStateIsDetected(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	r := w.runtimeAt(dir)
	_, err := r.Init(w.chain.Genesis, operator(t))
	require.NoError(t, err)
	blocks := history(t, w, r, 4)
	syncTo(t, w, r, blocks)
	require.NoError(t, r.Close())

	// Flip a byte in every stored value: whatever the runtime reads first is forged.
	db, err := dbm.NewGoLevelDB("state", filepath.Join(dir, stateDir), nil)
	require.NoError(t, err)
	it, err := db.Iterator(nil, nil)
	require.NoError(t, err)
	var ks, vs [][]byte
	for ; it.Valid(); it.Next() {
		v := bytes.Clone(it.Value())
		v[len(v)-1] ^= 1
		ks, vs = append(ks, bytes.Clone(it.Key())), append(vs, v)
	}
	require.NoError(t, it.Close())
	for i := range ks {
		require.NoError(t, db.Set(ks[i], vs[i]))
	}
	require.NoError(t, db.Close())

	r = w.runtimeAt(dir)
	defer r.Close()
	require.Equal(t, 1.0, counter(r.metrics.integrity.WithLabelValues("state_mismatch")))
	require.Equal(t, int64(1), r.Info().NextHeight)
	syncTo(t, w, r, blocks)
	require.Equal(t, blocks[len(blocks)-2].Header.Height, r.Info().VerifiedHeight)
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
