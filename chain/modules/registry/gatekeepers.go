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
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/tee"
)

// Key management: the chain sets gatekeepers numbered tasks and accepts their answers on the
// gatekeeper origin, answer n being that origin's message of sequence n. Every gatekeeper
// answers the same tasks in the same order from the same verified state, so whichever copy
// arrives first lands and the others are stale.

// Topics of key management.
const (
	// TopicGatekeeper carries the gatekeeper origin's answers (GatekeeperMessage). Workers see
	// them: key shares travel there, sealed to their recipient.
	TopicGatekeeper = "phala/gatekeeper/output"
	// TopicClusterDeployed carries a worker's ClusterDeployed report.
	TopicClusterDeployed = "^phala/cluster/deployed"
)

// GatekeeperSignContext is the domain of a gatekeeper's own signature on its answer.
const GatekeeperSignContext keys.Context = "phala/gatekeeper/output/v1"

// Limits.
const (
	// MaxGatekeepers bounds the set, so that a new master key generation shared with every
	// gatekeeper (an X-Wing envelope each) fits one message.
	MaxGatekeepers = 32
	// MaxClusterWorkers bounds a cluster; each member gets its own share task.
	MaxClusterWorkers = 256
)

var (
	keyMaster      = []byte(Name + "/master")
	keyTasks       = []byte(Name + "/tasks")
	prefixTask     = []byte(Name + "/task/")
	keyClusterNext = []byte(Name + "/cluster_next")
	prefixCluster  = []byte(Name + "/cluster/")
	prefixMember   = []byte(Name + "/member/")
)

func taskKey(id uint64) []byte { return binary.BigEndian.AppendUint64(slices.Clone(prefixTask), id) }

// GetMasterKeys reads the published master key generations, oldest first.
func GetMasterKeys(r store.Reader) *MasterKeys {
	var m MasterKeys
	mustDecode(r.Get(keyMaster), &m)
	return &m
}

// CurrentMasterKey is the newest published generation; ok is false before the first.
func CurrentMasterKey(r store.Reader) (k *MasterKey, ok bool) {
	g := GetMasterKeys(r).GetGenerations()
	if len(g) == 0 {
		return nil, false
	}
	return g[len(g)-1], true
}

// GetTasks reads the task queue: counters and pending tasks in order.
func GetTasks(r store.Reader) *GatekeeperTasks {
	var q GatekeeperTasks
	mustDecode(r.Get(keyTasks), &q)
	it := r.Iterator(prefixTask, store.PrefixEnd(prefixTask))
	defer it.Close()
	for ; it.Valid(); it.Next() {
		var t GatekeeperTask
		mustDecode(it.Value(), &t)
		q.Pending = append(q.Pending, &t)
	}
	return &q
}

func taskCounters(r store.Reader) *GatekeeperTasks {
	var q GatekeeperTasks
	mustDecode(r.Get(keyTasks), &q)
	return &q
}

// addTask appends a task to the queue.
func addTask(ctx *module.Context, t *GatekeeperTask) {
	q := taskCounters(ctx)
	t.Id, t.Height = q.GetNext(), ctx.Height
	ctx.Set(taskKey(t.Id), module.Marshal(t))
	q.Next++
	ctx.Set(keyTasks, module.Marshal(q))
	ctx.Emit("gatekeeper_task", module.Attr("task", strconv.FormatUint(t.Id, 10)), module.Attr("kind", TaskKind(t)))
}

// TaskKind names a task's kind for events and logs.
func TaskKind(t *GatekeeperTask) string {
	switch t.GetKind().(type) {
	case *GatekeeperTask_NewMasterKey:
		return "new_master_key"
	case *GatekeeperTask_ShareMasterKey:
		return "share_master_key"
	case *GatekeeperTask_PublishClusterKey:
		return "publish_cluster_key"
	case *GatekeeperTask_ShareClusterKey:
		return "share_cluster_key"
	}
	return "unknown"
}

// concerns reports whether a pending task names worker as a recipient.
func concerns(t *GatekeeperTask, worker []byte) bool {
	switch k := t.GetKind().(type) {
	case *GatekeeperTask_NewMasterKey:
		return slices.ContainsFunc(k.NewMasterKey.GetRecipients(), func(r []byte) bool { return bytes.Equal(r, worker) })
	case *GatekeeperTask_ShareMasterKey:
		return bytes.Equal(k.ShareMasterKey.GetRecipient(), worker)
	}
	return false
}

// masterKeyRequested reports whether a new generation is pending.
func masterKeyRequested(r store.Reader) bool {
	for _, t := range GetTasks(r).GetPending() {
		if t.GetNewMasterKey() != nil {
			return true
		}
	}
	return false
}

func registerGatekeeper(ctx *module.Context, _ module.Caller, msg *MsgRegisterGatekeeper) error {
	w, err := Active(ctx, msg.GetWorker(), ctx.Block)
	if err != nil {
		return err
	}
	// Sim workers are exempt from the confidence rule only where genesis allows sim at all.
	simExempt := w.GetTeeKind() == string(tee.KindSim) && GetTEESettings(ctx).GetAllowSim()
	if limit := GetParams(ctx).GetGatekeeperMaxConfidence(); !simExempt && w.GetConfidence() > limit {
		return errcode.Wrapf(ErrConfidenceTooLow, "worker has confidence %d, gatekeepers need %d or better", w.GetConfidence(), limit)
	}
	gks := GetGatekeepers(ctx)
	if slices.ContainsFunc(gks.GetWorkers(), func(k []byte) bool { return bytes.Equal(k, msg.GetWorker()) }) {
		return errcode.Wrapf(ErrAlreadyGatekeeper, "%X", msg.GetWorker())
	}
	if len(gks.GetWorkers()) >= MaxGatekeepers {
		return errcode.Wrapf(ErrTooManyGatekeepers, "the set has %d, the most there may be", MaxGatekeepers)
	}
	gks.Workers = append(gks.Workers, msg.GetWorker())
	ctx.Set(keyGatekeepers, module.Marshal(gks))
	ctx.Emit("gatekeeper_registered", module.Attr("worker", fmt.Sprintf("%X", msg.GetWorker())))
	// The first gatekeeper creates the master key; every later one receives it.
	if taskCounters(ctx).GetNext() == 0 {
		addTask(ctx, &GatekeeperTask{Kind: &GatekeeperTask_NewMasterKey{NewMasterKey: &NewMasterKeyTask{Generation: 1, Recipients: [][]byte{msg.GetWorker()}}}})
	} else {
		addTask(ctx, &GatekeeperTask{Kind: &GatekeeperTask_ShareMasterKey{ShareMasterKey: &ShareMasterKeyTask{Recipient: msg.GetWorker()}}})
	}
	return nil
}

func unregisterGatekeeper(ctx *module.Context, _ module.Caller, msg *MsgUnregisterGatekeeper) error {
	gks := GetGatekeepers(ctx)
	i := slices.IndexFunc(gks.GetWorkers(), func(k []byte) bool { return bytes.Equal(k, msg.GetWorker()) })
	if i < 0 {
		return errcode.Wrapf(ErrNotGatekeeper, "%X", msg.GetWorker())
	}
	if len(gks.GetWorkers()) == 1 {
		return errcode.Wrapf(ErrLastGatekeeper, "register another gatekeeper first, or the master key would be lost")
	}
	// A pending task would still hand it keys (or, for the first generation, only it can answer).
	for _, t := range GetTasks(ctx).GetPending() {
		if concerns(t, msg.GetWorker()) {
			return errcode.Wrapf(ErrTaskPending, "task %d (%s) concerns this gatekeeper: unregister it once the task is answered", t.GetId(), TaskKind(t))
		}
	}
	gks.Workers = slices.Delete(gks.Workers, i, i+1)
	ctx.Set(keyGatekeepers, module.Marshal(gks))
	ctx.Emit("gatekeeper_unregistered", module.Attr("worker", fmt.Sprintf("%X", msg.GetWorker())))
	return nil
}

func (*MsgRotateMasterKey) ValidateBasic() error { return nil }

func rotateMasterKey(ctx *module.Context, _ module.Caller, _ *MsgRotateMasterKey) error {
	cur, ok := CurrentMasterKey(ctx)
	if !ok {
		return errcode.Wrapf(ErrNoMasterKey, "there is no master key to rotate yet: register a gatekeeper and wait for it to publish one")
	}
	if masterKeyRequested(ctx) {
		return errcode.Wrapf(ErrRotationPending, "a new master key generation is already on its way")
	}
	recipients := slices.Clone(GetGatekeepers(ctx).GetWorkers())
	addTask(ctx, &GatekeeperTask{Kind: &GatekeeperTask_NewMasterKey{NewMasterKey: &NewMasterKeyTask{Generation: cur.GetGeneration() + 1, Recipients: recipients}}})
	return nil
}

// GatekeeperSigningKey is the message queue's key resolver for the gatekeeper origin: the
// current master key generation's public key or, before the first generation exists, the
// identity key of the gatekeeper set to create it. The origin may only answer tasks.
func GatekeeperSigningKey(r store.Reader, m *mq.Message) (keys.PublicKey, error) {
	if m.GetTopic() != TopicGatekeeper {
		return keys.PublicKey{}, errcode.Wrapf(ErrBadOutput, "the gatekeeper origin only sends on %s, not %s", TopicGatekeeper, m.GetTopic())
	}
	if cur, ok := CurrentMasterKey(r); ok {
		return keys.PublicKey{Type: keys.Ed25519, Key: [32]byte(cur.GetPublicKey())}, nil
	}
	if q := GetTasks(r).GetPending(); len(q) > 0 && q[0].GetNewMasterKey().GetGeneration() == 1 {
		return keys.PublicKey{Type: keys.Ed25519, Key: [32]byte(q[0].GetNewMasterKey().GetRecipients()[0])}, nil
	}
	return keys.PublicKey{}, errcode.Wrapf(ErrNoMasterKey, "no master key is published or requested")
}

// DecodeGatekeeperMessage parses a gatekeeper message's payload and the output it signs. It
// checks shape only; the signature and the task are checked against state by the handler.
func DecodeGatekeeperMessage(payload []byte) (*GatekeeperMessage, *GatekeeperOutput, error) {
	var gm GatekeeperMessage
	if err := module.StrictUnmarshal(payload, &gm); err != nil {
		return nil, nil, errcode.Wrapf(ErrBadOutput, "%v", err)
	}
	var out GatekeeperOutput
	if err := module.StrictUnmarshal(gm.GetOutput(), &out); err != nil {
		return nil, nil, errcode.Wrapf(ErrBadOutput, "output: %v", err)
	}
	if len(out.GetSender()) != ed25519.PublicKeySize || len(gm.GetSignature()) != keys.SignatureLen {
		return nil, nil, errcode.Wrapf(ErrBadOutput, "sender key of %d bytes and signature of %d bytes, want %d and %d",
			len(out.GetSender()), len(gm.GetSignature()), ed25519.PublicKeySize, keys.SignatureLen)
	}
	return &gm, &out, nil
}

// SignGatekeeperOutput is how a gatekeeper signs its answer with its identity key.
func SignGatekeeperOutput(out *GatekeeperOutput, identity keys.PrivateKey) (*GatekeeperMessage, error) {
	b := module.Marshal(out)
	sig, err := identity.Sign(GatekeeperSignContext, b)
	if err != nil {
		return nil, err
	}
	return &GatekeeperMessage{Output: b, Signature: sig}, nil
}

// CheckSender verifies that the answer was produced by an on-chain gatekeeper: the sender is in
// the set and signed the output. Workers run the same check on what they receive.
func CheckSender(r store.Reader, gm *GatekeeperMessage, out *GatekeeperOutput) error {
	if !IsGatekeeper(r, out.GetSender()) {
		return errcode.Wrapf(ErrNotGatekeeper, "sender %X is not in the gatekeeper set", out.GetSender())
	}
	pub := keys.PublicKey{Type: keys.Ed25519, Key: [32]byte(out.GetSender())}
	if err := pub.Verify(GatekeeperSignContext, gm.GetOutput(), gm.GetSignature()); err != nil {
		return errcode.Wrapf(ErrBadOutput, "sender signature: %v", err)
	}
	return nil
}

// HandleGatekeeperOutput applies the answer to the oldest pending task.
func HandleGatekeeperOutput(ctx *module.Context, m *mq.Message) error {
	if m.GetOrigin().Type() != mq.KindGatekeeper {
		return errcode.Wrapf(ErrNotGatekeeper, "%s may not send on %s: only the gatekeeper origin does", m.GetOrigin().Label(), TopicGatekeeper)
	}
	gm, out, err := DecodeGatekeeperMessage(m.GetPayload())
	if err != nil {
		return err
	}
	if err := CheckSender(ctx, gm, out); err != nil {
		return err
	}
	q := taskCounters(ctx)
	b := ctx.Get(taskKey(q.GetDone()))
	if b == nil || out.GetTask() != q.GetDone() {
		return errcode.Wrapf(ErrBadOutput, "answers task %d, the oldest pending task is %d of %d", out.GetTask(), q.GetDone(), q.GetNext())
	}
	var t GatekeeperTask
	mustDecode(b, &t)
	if err := applyOutput(ctx, &t, out); err != nil {
		return err
	}
	ctx.Delete(taskKey(t.GetId()))
	q.Done++
	ctx.Set(keyTasks, module.Marshal(q))
	ctx.Emit("gatekeeper_task_done", module.Attr("task", strconv.FormatUint(t.GetId(), 10)), module.Attr("kind", TaskKind(&t)),
		module.Attr("sender", fmt.Sprintf("%X", out.GetSender())))
	return nil
}

func applyOutput(ctx *module.Context, t *GatekeeperTask, out *GatekeeperOutput) error {
	switch task := t.GetKind().(type) {
	case *GatekeeperTask_NewMasterKey:
		return applyNewMasterKey(ctx, task.NewMasterKey, out)
	case *GatekeeperTask_ShareMasterKey:
		s := out.GetMasterKeyShare()
		if err := checkShare(s, task.ShareMasterKey.GetRecipient()); err != nil {
			return err
		}
		ctx.Emit("master_key_shared", module.Attr("recipient", fmt.Sprintf("%X", s.GetRecipient())))
		return nil
	case *GatekeeperTask_PublishClusterKey:
		return applyClusterKey(ctx, task.PublishClusterKey, out)
	case *GatekeeperTask_ShareClusterKey:
		s := out.GetClusterKeyShare()
		if s == nil || !bytes.Equal(s.GetCluster(), task.ShareClusterKey.GetCluster()) || s.GetGeneration() != task.ShareClusterKey.GetGeneration() {
			return errcode.Wrapf(ErrBadOutput, "task %d wants the key share of cluster %X generation %d", t.GetId(), task.ShareClusterKey.GetCluster(), task.ShareClusterKey.GetGeneration())
		}
		if err := checkShare(s.GetShare(), task.ShareClusterKey.GetRecipient()); err != nil {
			return err
		}
		ctx.Emit("cluster_key_shared", module.Attr("cluster", ClusterLabel(s.GetCluster())), module.Attr("generation", strconv.Itoa(int(s.GetGeneration()))),
			module.Attr("worker", fmt.Sprintf("%X", s.GetShare().GetRecipient())))
		return nil
	}
	return errcode.Wrapf(ErrBadOutput, "task %d has no kind", t.GetId())
}

// checkShare checks a key share's recipient and that it is an X-Wing envelope: shares sit on a
// public chain forever, so they are sealed with the post-quantum hybrid KEM.
func checkShare(s *KeyShare, recipient []byte) error {
	if s == nil || !bytes.Equal(s.GetRecipient(), recipient) {
		return errcode.Wrapf(ErrBadOutput, "the task wants a key share for %X", recipient)
	}
	if kem, err := envelope.KEMOf(s.GetEnvelope()); err != nil || kem != envelope.XWing {
		return errcode.Wrapf(ErrBadOutput, "key share for %X is not an X-Wing envelope", recipient)
	}
	return nil
}

func applyNewMasterKey(ctx *module.Context, task *NewMasterKeyTask, out *GatekeeperOutput) error {
	nk := out.GetNewMasterKey()
	if nk == nil || nk.GetGeneration() != task.GetGeneration() {
		return errcode.Wrapf(ErrBadOutput, "the task wants master key generation %d", task.GetGeneration())
	}
	if len(nk.GetPublicKey()) != ed25519.PublicKeySize {
		return errcode.Wrapf(ErrBadOutput, "master public key of %d bytes", len(nk.GetPublicKey()))
	}
	if len(nk.GetShares()) != len(task.GetRecipients()) {
		return errcode.Wrapf(ErrBadOutput, "%d shares for %d gatekeepers: every gatekeeper gets the new key", len(nk.GetShares()), len(task.GetRecipients()))
	}
	for i, s := range nk.GetShares() {
		if err := checkShare(s, task.GetRecipients()[i]); err != nil {
			return err
		}
	}
	mk := GetMasterKeys(ctx)
	mk.Generations = append(mk.Generations, &MasterKey{Generation: nk.GetGeneration(), PublicKey: nk.GetPublicKey(), Height: ctx.Height, Sender: out.GetSender()})
	ctx.Set(keyMaster, module.Marshal(mk))
	ctx.Emit("master_key_published", module.Attr("generation", strconv.Itoa(int(nk.GetGeneration()))), module.Attr("sender", fmt.Sprintf("%X", out.GetSender())))
	return nil
}
