package registry

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/mq"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
)

// The chain only checks the shape of key shares (it cannot open them): any X-Wing envelope
// will do here. The end-to-end flow with real shares is tested in pruntime.

func sealedTo(t *testing.T, kem envelope.KEM) []byte {
	k, err := envelope.GenerateKey(kem)
	require.NoError(t, err)
	env, err := envelope.Seal(k.Public(), envelope.PurposeMasterKeyShare, nil, nil, []byte("secret"))
	require.NoError(t, err)
	return env
}

func shareFor(t *testing.T, recipient []byte) *KeyShare {
	return &KeyShare{Recipient: recipient, Envelope: sealedTo(t, envelope.XWing)}
}

// workerKey returns a worker's identity as a signing key.
func (e *env) identity(id []byte) keys.PrivateKey {
	return keys.Ed25519FromSeed([32]byte(e.privs[string(id)].Seed()))
}

// answer builds the gatekeeper origin's message carrying out, signed by sender.
func (e *env) answer(out *GatekeeperOutput, sender []byte) *mq.Message {
	out.Sender = sender
	gm, err := SignGatekeeperOutput(out, e.identity(sender))
	require.NoError(e.t, err)
	return &mq.Message{Origin: mq.GatekeeperOrigin(), Topic: TopicGatekeeper, Payload: module.Marshal(gm)}
}

// deliver runs a handler in a branch that commits only on success, as the app does.
func (e *env) deliver(h func(*module.Context, *mq.Message) error, m *mq.Message) error {
	ctx, commit := e.ctx().Branch()
	if err := h(ctx, m); err != nil {
		return err
	}
	commit()
	return nil
}

func (e *env) govern(h func(*module.Context) error) error {
	ctx, commit := e.ctx().Branch()
	if err := h(ctx); err != nil {
		return err
	}
	commit()
	return nil
}

func (e *env) registered() []byte {
	info := e.info()
	require.NoError(e.t, e.register(e.registration(info)))
	return info.IdentityKey
}

func masterKeyPub(t *testing.T) []byte {
	pub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	return pub
}

func clusterKeyOut(t *testing.T, cluster []byte, gen, masterGen uint32) *ClusterKey {
	x, err := envelope.GenerateKey(envelope.X25519)
	require.NoError(t, err)
	xw, err := envelope.GenerateKey(envelope.XWing)
	require.NoError(t, err)
	return &ClusterKey{Cluster: cluster, Generation: gen, MasterGeneration: masterGen, SigningKey: masterKeyPub(t),
		EncryptionKeys: []*EncryptionKey{{Kem: uint32(envelope.X25519), PublicKey: x.Public().Key}, {Kem: uint32(envelope.XWing), PublicKey: xw.Public().Key}}}
}

func TestMasterKeyLifecycle(t *testing.T) {
	e := newEnv(t, true, nil)
	a, b, c := e.registered(), e.registered(), e.registered()
	council := module.CouncilCaller()
	require.ErrorIs(t, e.govern(func(ctx *module.Context) error { return rotateMasterKey(ctx, council, &MsgRotateMasterKey{}) }), ErrNoMasterKey)
	require.ErrorIs(t, e.govern(func(ctx *module.Context) error {
		return createCluster(ctx, council, &MsgCreateCluster{Workers: [][]byte{c}})
	}), ErrNoMasterKey)

	// The first gatekeeper is asked to create the master key; it signs that answer with its
	// identity key, as no master key exists yet.
	require.NoError(t, e.govern(func(ctx *module.Context) error {
		return registerGatekeeper(ctx, council, &MsgRegisterGatekeeper{Worker: a})
	}))
	require.NoError(t, e.govern(func(ctx *module.Context) error {
		return registerGatekeeper(ctx, council, &MsgRegisterGatekeeper{Worker: b})
	}))
	q := GetTasks(e.kv)
	require.Equal(t, uint64(2), q.GetNext())
	require.Equal(t, a, q.GetPending()[0].GetNewMasterKey().GetRecipients()[0])
	require.Equal(t, b, q.GetPending()[1].GetShareMasterKey().GetRecipient())
	probe := &mq.Message{Origin: mq.GatekeeperOrigin(), Topic: TopicGatekeeper}
	pub, err := GatekeeperSigningKey(e.kv, probe)
	require.NoError(t, err)
	require.Equal(t, a, pub.Key[:])
	_, err = GatekeeperSigningKey(e.kv, &mq.Message{Origin: mq.GatekeeperOrigin(), Topic: "phala/other"})
	require.ErrorIs(t, err, ErrBadOutput, "the gatekeeper origin only answers tasks")

	gen1 := masterKeyPub(t)
	good := func() *GatekeeperOutput {
		return &GatekeeperOutput{Task: 0, Kind: &GatekeeperOutput_NewMasterKey{NewMasterKey: &NewMasterKey{Generation: 1, PublicKey: gen1, Shares: []*KeyShare{shareFor(t, a)}}}}
	}
	x25519Share := good()
	x25519Share.GetNewMasterKey().Shares[0].Envelope = sealedTo(t, envelope.X25519)
	forged := e.answer(good(), a)
	forgedGM, _, err := DecodeGatekeeperMessage(forged.GetPayload())
	require.NoError(t, err)
	forgedGM.Signature[0] ^= 1
	forged.Payload = module.Marshal(forgedGM)
	for name, tc := range map[string]struct {
		m    *mq.Message
		want error
	}{
		"wrong task":          {e.answer(&GatekeeperOutput{Task: 1, Kind: good().Kind}, a), ErrBadOutput},
		"wrong generation":    {e.answer(&GatekeeperOutput{Kind: &GatekeeperOutput_NewMasterKey{NewMasterKey: &NewMasterKey{Generation: 2, PublicKey: gen1, Shares: []*KeyShare{shareFor(t, a)}}}}, a), ErrBadOutput},
		"no share":            {e.answer(&GatekeeperOutput{Kind: &GatekeeperOutput_NewMasterKey{NewMasterKey: &NewMasterKey{Generation: 1, PublicKey: gen1}}}, a), ErrBadOutput},
		"share for another":   {e.answer(&GatekeeperOutput{Kind: &GatekeeperOutput_NewMasterKey{NewMasterKey: &NewMasterKey{Generation: 1, PublicKey: gen1, Shares: []*KeyShare{shareFor(t, b)}}}}, a), ErrBadOutput},
		"not post-quantum":    {e.answer(x25519Share, a), ErrBadOutput},
		"short public key":    {e.answer(&GatekeeperOutput{Kind: &GatekeeperOutput_NewMasterKey{NewMasterKey: &NewMasterKey{Generation: 1, PublicKey: gen1[:31], Shares: []*KeyShare{shareFor(t, a)}}}}, a), ErrBadOutput},
		"answer to no task":   {e.answer(&GatekeeperOutput{Task: 0, Kind: &GatekeeperOutput_MasterKeyShare{MasterKeyShare: shareFor(t, a)}}, a), ErrBadOutput},
		"sender not a gk":     {e.answer(good(), c), ErrNotGatekeeper},
		"forged signature":    {forged, ErrBadOutput},
		"from an account":     {&mq.Message{Origin: mq.AccountOrigin(keys.AccountID{1}), Topic: TopicGatekeeper, Payload: e.answer(good(), a).GetPayload()}, ErrNotGatekeeper},
		"garbage payload":     {&mq.Message{Origin: mq.GatekeeperOrigin(), Topic: TopicGatekeeper, Payload: []byte{0xff}}, ErrBadOutput},
		"output not a record": {&mq.Message{Origin: mq.GatekeeperOrigin(), Topic: TopicGatekeeper, Payload: module.Marshal(&GatekeeperMessage{Output: []byte{0xff}})}, ErrBadOutput},
	} {
		require.ErrorIs(t, e.deliver(HandleGatekeeperOutput, tc.m), tc.want, name)
		_, ok := CurrentMasterKey(e.kv)
		require.False(t, ok, name)
		require.Equal(t, uint64(0), GetTasks(e.kv).GetDone(), name)
	}
	require.NoError(t, e.deliver(HandleGatekeeperOutput, e.answer(good(), a)))
	cur, ok := CurrentMasterKey(e.kv)
	require.True(t, ok)
	require.Equal(t, uint32(1), cur.GetGeneration())
	require.Equal(t, a, cur.GetSender())
	pub, err = GatekeeperSigningKey(e.kv, probe)
	require.NoError(t, err)
	require.Equal(t, gen1, pub.Key[:], "from now on the master key signs")
	require.ErrorIs(t, e.deliver(HandleGatekeeperOutput, e.answer(good(), a)), ErrBadOutput, "a second copy does not fit the next task")

	// b receives the key (any gatekeeper may answer: here a).
	require.ErrorIs(t, e.deliver(HandleGatekeeperOutput, e.answer(&GatekeeperOutput{Task: 1, Kind: &GatekeeperOutput_MasterKeyShare{MasterKeyShare: shareFor(t, c)}}, a)), ErrBadOutput)
	require.NoError(t, e.deliver(HandleGatekeeperOutput, e.answer(&GatekeeperOutput{Task: 1, Kind: &GatekeeperOutput_MasterKeyShare{MasterKeyShare: shareFor(t, b)}}, a)))
	require.Empty(t, GetTasks(e.kv).GetPending())

	// Rotation: every gatekeeper gets the new generation, announced under the old key.
	require.NoError(t, e.govern(func(ctx *module.Context) error { return rotateMasterKey(ctx, council, &MsgRotateMasterKey{}) }))
	require.ErrorIs(t, e.govern(func(ctx *module.Context) error { return rotateMasterKey(ctx, council, &MsgRotateMasterKey{}) }), ErrRotationPending)
	require.ErrorIs(t, e.govern(func(ctx *module.Context) error {
		return unregisterGatekeeper(ctx, council, &MsgUnregisterGatekeeper{Worker: b})
	}), ErrTaskPending)
	gen2 := masterKeyPub(t)
	rot := func(shares ...*KeyShare) *GatekeeperOutput {
		return &GatekeeperOutput{Task: 2, Kind: &GatekeeperOutput_NewMasterKey{NewMasterKey: &NewMasterKey{Generation: 2, PublicKey: gen2, Shares: shares}}}
	}
	require.ErrorIs(t, e.deliver(HandleGatekeeperOutput, e.answer(rot(shareFor(t, a)), b)), ErrBadOutput, "no gatekeeper is left behind")
	require.ErrorIs(t, e.deliver(HandleGatekeeperOutput, e.answer(rot(shareFor(t, b), shareFor(t, a)), b)), ErrBadOutput, "shares in task order")
	require.NoError(t, e.deliver(HandleGatekeeperOutput, e.answer(rot(shareFor(t, a), shareFor(t, b)), b)))
	cur, _ = CurrentMasterKey(e.kv)
	require.Equal(t, uint32(2), cur.GetGeneration())
	require.Len(t, GetMasterKeys(e.kv).GetGenerations(), 2, "old generations stay published")
	require.NoError(t, e.govern(func(ctx *module.Context) error {
		return unregisterGatekeeper(ctx, council, &MsgUnregisterGatekeeper{Worker: b})
	}))
}

func TestClusters(t *testing.T) {
	e := newEnv(t, true, nil)
	gk, w1, w2, w3 := e.registered(), e.registered(), e.registered(), e.registered()
	council := module.CouncilCaller()
	require.NoError(t, e.govern(func(ctx *module.Context) error {
		return registerGatekeeper(ctx, council, &MsgRegisterGatekeeper{Worker: gk})
	}))
	require.NoError(t, e.deliver(HandleGatekeeperOutput, e.answer(&GatekeeperOutput{Kind: &GatekeeperOutput_NewMasterKey{NewMasterKey: &NewMasterKey{Generation: 1, PublicKey: masterKeyPub(t), Shares: []*KeyShare{shareFor(t, gk)}}}}, gk)))

	for name, tc := range map[string]struct {
		msg  *MsgCreateCluster
		want error
	}{
		"empty":     {&MsgCreateCluster{}, ErrInvalidCluster},
		"twice":     {&MsgCreateCluster{Workers: [][]byte{w1, w1}}, ErrInvalidCluster},
		"short key": {&MsgCreateCluster{Workers: [][]byte{w1[:31]}}, ErrMalformedInfo},
		"too many":  {&MsgCreateCluster{Workers: make([][]byte, MaxClusterWorkers+1)}, ErrInvalidCluster},
	} {
		require.ErrorIs(t, tc.msg.ValidateBasic(), tc.want, name)
	}
	require.ErrorIs(t, e.govern(func(ctx *module.Context) error {
		return createCluster(ctx, council, &MsgCreateCluster{Workers: [][]byte{bytes.Repeat([]byte{9}, 32)}})
	}), ErrWorkerNotFound)
	require.NoError(t, e.govern(func(ctx *module.Context) error {
		return createCluster(ctx, council, &MsgCreateCluster{Workers: [][]byte{w1, w2}})
	}))
	id := ClusterID(1)
	require.ErrorIs(t, e.govern(func(ctx *module.Context) error {
		return createCluster(ctx, council, &MsgCreateCluster{Workers: [][]byte{w2}})
	}), ErrInvalidCluster, "one cluster per worker")
	cl, err := GetCluster(e.kv, id)
	require.NoError(t, err)
	require.Equal(t, uint32(1), cl.GetGeneration())
	tasks := GetTasks(e.kv).GetPending()
	require.Len(t, tasks, 3)
	require.Equal(t, id, tasks[0].GetPublishClusterKey().GetCluster())
	require.Equal(t, w1, tasks[1].GetShareClusterKey().GetRecipient())
	require.Equal(t, w2, tasks[2].GetShareClusterKey().GetRecipient())
	_, err = ClusterSigningKey(e.kv, &mq.Message{Origin: mq.ClusterOrigin(id)})
	require.ErrorIs(t, err, ErrNoMasterKey, "no key published yet")

	publish := func(task uint64, k *ClusterKey) error {
		return e.deliver(HandleGatekeeperOutput, e.answer(&GatekeeperOutput{Task: task, Kind: &GatekeeperOutput_ClusterKey{ClusterKey: k}}, gk))
	}
	badKEM := clusterKeyOut(t, id, 1, 1)
	badKEM.EncryptionKeys = badKEM.EncryptionKeys[:1]
	for name, k := range map[string]*ClusterKey{
		"old master generation": clusterKeyOut(t, id, 1, 2),
		"wrong generation":      clusterKeyOut(t, id, 2, 1),
		"wrong cluster":         clusterKeyOut(t, ClusterID(2), 1, 1),
		"one encryption key":    badKEM,
	} {
		require.ErrorIs(t, publish(1, k), ErrBadOutput, name)
	}
	k1 := clusterKeyOut(t, id, 1, 1)
	require.NoError(t, publish(1, k1))
	pub, err := ClusterSigningKey(e.kv, &mq.Message{Origin: mq.ClusterOrigin(id)})
	require.NoError(t, err)
	require.Equal(t, k1.GetSigningKey(), pub.Key[:])

	shareCluster := func(task uint64, to []byte, gen uint32) error {
		return e.deliver(HandleGatekeeperOutput, e.answer(&GatekeeperOutput{Task: task, Kind: &GatekeeperOutput_ClusterKeyShare{ClusterKeyShare: &ClusterKeyShare{Cluster: id, Generation: gen, Share: shareFor(t, to)}}}, gk))
	}
	require.ErrorIs(t, shareCluster(2, w2, 1), ErrBadOutput, "task 2 is w1's")
	require.ErrorIs(t, shareCluster(2, w1, 2), ErrBadOutput)
	require.NoError(t, shareCluster(2, w1, 1))
	require.NoError(t, shareCluster(3, w2, 1))

	report := func(from []byte, gen uint32) error {
		return e.deliver(HandleClusterDeployed, &mq.Message{Origin: mq.WorkerOrigin(from), Topic: TopicClusterDeployed, Payload: module.Marshal(&ClusterDeployed{Cluster: id, Generation: gen})})
	}
	require.NoError(t, report(w3, 1), "a report that no longer fits is ignored, not refused")
	require.NoError(t, report(w1, 2))
	cl, _ = GetCluster(e.kv, id)
	require.Empty(t, cl.GetDeployed())
	require.NoError(t, report(w1, 1))
	cl, _ = GetCluster(e.kv, id)
	require.Len(t, cl.GetDeployed(), 1)
	require.ErrorIs(t, e.deliver(HandleClusterDeployed, &mq.Message{Origin: mq.AccountOrigin(keys.AccountID{1}), Topic: TopicClusterDeployed}), ErrNotMember)

	// Adding a worker shares the history; removing one starts a generation it never gets.
	require.NoError(t, e.govern(func(ctx *module.Context) error {
		return addClusterWorker(ctx, council, &MsgAddClusterWorker{Cluster: id, Worker: w3})
	}))
	require.NoError(t, e.govern(func(ctx *module.Context) error {
		return removeClusterWorker(ctx, council, &MsgRemoveClusterWorker{Cluster: id, Worker: w1})
	}))
	require.ErrorIs(t, e.govern(func(ctx *module.Context) error {
		return removeClusterWorker(ctx, council, &MsgRemoveClusterWorker{Cluster: id, Worker: w1})
	}), ErrNotMember)
	cl, _ = GetCluster(e.kv, id)
	require.Equal(t, uint32(2), cl.GetGeneration())
	require.Empty(t, cl.GetDeployed(), "the removed worker's report goes with it")
	_, member := ClusterOf(e.kv, w1)
	require.False(t, member)
	var kinds []string
	var recipients [][]byte
	for _, task := range GetTasks(e.kv).GetPending() {
		kinds = append(kinds, TaskKind(task))
		if s := task.GetShareClusterKey(); s != nil {
			recipients = append(recipients, s.GetRecipient())
		}
	}
	require.Equal(t, []string{"share_cluster_key", "publish_cluster_key", "share_cluster_key", "share_cluster_key"}, kinds)
	require.Equal(t, [][]byte{w3, w2, w3}, recipients)
	require.NoError(t, report(w1, 1))
	cl, _ = GetCluster(e.kv, id)
	require.Empty(t, cl.GetDeployed(), "a removed worker's report is ignored")
}

// FuzzDecodeGatekeeperMessage: gatekeeper payloads come from off-chain egress.
func FuzzDecodeGatekeeperMessage(f *testing.F) {
	f.Add(module.Marshal(&GatekeeperMessage{Output: module.Marshal(&GatekeeperOutput{Task: 3, Sender: make([]byte, 32)}), Signature: make([]byte, 64)}))
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		gm, out, err := DecodeGatekeeperMessage(b)
		if err != nil {
			return
		}
		if len(out.GetSender()) != 32 || len(gm.GetSignature()) != 64 {
			t.Fatal("accepted a malformed sender or signature")
		}
	})
}
