package gatekeeper

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/envelope"
)

// member is a worker as the chain records it, with the private key it opens shares with.
type member struct {
	worker *registry.Worker
	me     Recipient
}

func newMember(t testing.TB) member {
	id, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	xw, err := envelope.GenerateKey(envelope.XWing)
	require.NoError(t, err)
	x, err := envelope.GenerateKey(envelope.X25519)
	require.NoError(t, err)
	w := &registry.Worker{Info: &registry.WorkerInfo{IdentityKey: id, EncryptionKeys: []*registry.EncryptionKey{
		{Kem: uint32(envelope.X25519), PublicKey: x.Public().Key}, {Kem: uint32(envelope.XWing), PublicKey: xw.Public().Key}}}}
	return member{worker: w, me: Recipient{Identity: id, Key: xw}}
}

func secret(b byte) [32]byte { return [32]byte(bytes.Repeat([]byte{b}, 32)) }

func TestMasterKeyShares(t *testing.T) {
	a, b := newMember(t), newMember(t)
	nk, err := NewMasterKey(1, secret(1), []*registry.Worker{a.worker, b.worker})
	require.NoError(t, err)
	pub := MasterSigningKey(secret(1)).Public().Key
	require.Equal(t, pub[:], nk.GetPublicKey())
	published := &registry.MasterKeys{Generations: []*registry.MasterKey{{Generation: 1, PublicKey: nk.GetPublicKey()}}}
	for i, m := range []member{a, b} {
		h, err := m.me.OpenMasterShare(nk.GetShares()[i])
		require.NoError(t, err)
		require.Equal(t, secret(1), [32]byte(h[0].GetSecret()))
		require.NoError(t, CheckMasterKeys(published, h))
	}
	// A share is useless to anyone but its recipient, even with the recipient's id swapped in.
	_, err = b.me.OpenMasterShare(nk.GetShares()[0])
	require.ErrorIs(t, err, ErrBadShare)
	stolen := &registry.KeyShare{Recipient: b.me.Identity, Envelope: nk.GetShares()[0].GetEnvelope()}
	_, err = b.me.OpenMasterShare(stolen)
	require.ErrorIs(t, err, ErrBadShare)
	// A key that does not derive the published public key is refused.
	wrong := []*registry.MasterKeySecret{{Generation: 1, Secret: bytes.Repeat([]byte{2}, 32)}}
	require.ErrorIs(t, CheckMasterKeys(published, wrong), ErrKeyMismatch)
	require.ErrorIs(t, CheckMasterKeys(published, []*registry.MasterKeySecret{{Generation: 2, Secret: bytes.Repeat([]byte{1}, 32)}}), ErrKeyMismatch)
}

func TestClusterKeyShares(t *testing.T) {
	w, other := newMember(t), newMember(t)
	cluster := registry.ClusterID(7)
	c := &registry.Cluster{Id: cluster, Generation: 2}
	var history []*registry.ClusterKeySecret
	// Generation 1 derives from master generation 1, generation 2 from master generation 3.
	for g, mg := range []uint32{1, 3} {
		gen := uint32(g + 1)
		ck := ClusterSecret(secret(byte(mg)), cluster, gen)
		pub, err := ClusterPublicKey(cluster, gen, mg, ck)
		require.NoError(t, err)
		c.Keys = append(c.Keys, pub)
		history = append(history, &registry.ClusterKeySecret{Generation: gen, MasterGeneration: mg, Secret: ck[:]})
	}
	s, err := ShareClusterKeys(cluster, 2, history, w.worker)
	require.NoError(t, err)
	got, err := w.me.OpenClusterShare(s)
	require.NoError(t, err)
	require.NoError(t, CheckClusterKeys(c, got))
	require.Equal(t, module.Marshal(&registry.ClusterKeyHistory{Keys: history}), module.Marshal(&registry.ClusterKeyHistory{Keys: got}))

	for name, mutate := range map[string]func(s *registry.ClusterKeyShare){
		"other cluster":    func(s *registry.ClusterKeyShare) { s.Cluster = registry.ClusterID(8) },
		"other generation": func(s *registry.ClusterKeyShare) { s.Generation = 1 },
		"other recipient":  func(s *registry.ClusterKeyShare) { s.Share.Recipient = other.me.Identity },
		"truncated":        func(s *registry.ClusterKeyShare) { s.Share.Envelope = s.Share.Envelope[:40] },
	} {
		cp := &registry.ClusterKeyShare{Cluster: s.GetCluster(), Generation: s.GetGeneration(), Share: &registry.KeyShare{Recipient: s.GetShare().GetRecipient(), Envelope: s.GetShare().GetEnvelope()}}
		mutate(cp)
		_, err := w.me.OpenClusterShare(cp)
		require.ErrorIs(t, err, ErrBadShare, name)
	}
	_, err = other.me.OpenClusterShare(s)
	require.ErrorIs(t, err, ErrBadShare)

	// Keys that do not derive what the chain published are refused.
	forged := []*registry.ClusterKeySecret{{Generation: 1, MasterGeneration: 1, Secret: bytes.Repeat([]byte{9}, 32)}}
	require.ErrorIs(t, CheckClusterKeys(c, forged), ErrKeyMismatch)
	require.ErrorIs(t, CheckClusterKeys(&registry.Cluster{Id: cluster}, history), ErrKeyMismatch)

	// A worker without an X-Wing key gets no share.
	w.worker.Info.EncryptionKeys = w.worker.Info.EncryptionKeys[:1]
	_, err = ShareClusterKeys(cluster, 2, history, w.worker)
	require.ErrorIs(t, err, ErrNoEncryptionKey)
}

func TestDerivationsAreDistinct(t *testing.T) {
	m := secret(1)
	c := registry.ClusterID(1)
	seen := map[string]string{}
	add := func(name string, b []byte) {
		if prev, dup := seen[string(b)]; dup {
			t.Fatalf("%s equals %s", name, prev)
		}
		seen[string(b)] = name
	}
	mk := MasterSigningKey(m).Public().Key
	add("master signing", mk[:])
	ck := ClusterSecret(m, c, 1)
	add("cluster 1", ck[:])
	ck2 := ClusterSecret(m, c, 2)
	add("cluster 1 generation 2", ck2[:])
	ck3 := ClusterSecret(secret(2), c, 1)
	add("cluster 1 other master", ck3[:])
	cs := ClusterSigningKey(ck).Public().Key
	add("cluster signing", cs[:])
	pub, err := ClusterPublicKey(c, 1, 1, ck)
	require.NoError(t, err)
	for _, k := range pub.GetEncryptionKeys() {
		add("cluster envelope key", k.GetPublicKey())
	}
}

func FuzzDecodeMasterKeyHistory(f *testing.F) {
	f.Add(module.Marshal(&registry.MasterKeyHistory{Keys: []*registry.MasterKeySecret{{Generation: 1, Secret: make([]byte, 32)}}}))
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeMasterKeyHistory(b)
		if err != nil {
			return
		}
		for i, k := range h {
			if len(k.GetSecret()) != 32 || i > 0 && k.GetGeneration() <= h[i-1].GetGeneration() {
				t.Fatalf("accepted %v", h)
			}
		}
	})
}

func FuzzDecodeClusterKeyHistory(f *testing.F) {
	f.Add(module.Marshal(&registry.ClusterKeyHistory{Keys: []*registry.ClusterKeySecret{{Generation: 1, MasterGeneration: 1, Secret: make([]byte, 32)}}}))
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeClusterKeyHistory(b)
		if err != nil {
			return
		}
		for i, k := range h {
			if len(k.GetSecret()) != 32 || k.GetGeneration() != uint32(i+1) {
				t.Fatalf("accepted %v", h)
			}
		}
	})
}

// BenchmarkDerive: the gatekeeper's derivations for one cluster key generation and its
// published keys.
func BenchmarkDerive(b *testing.B) {
	c := registry.ClusterID(1)
	b.Run("cluster_key", func(b *testing.B) {
		for b.Loop() {
			ClusterSecret(secret(1), c, 1)
		}
	})
	b.Run("cluster_public_keys", func(b *testing.B) {
		ck := ClusterSecret(secret(1), c, 1)
		for b.Loop() {
			if _, err := ClusterPublicKey(c, 1, 1, ck); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("master_signing_key", func(b *testing.B) {
		for b.Loop() {
			MasterSigningKey(secret(1))
		}
	})
}

// BenchmarkDistribution: key distribution per worker, both ends.
func BenchmarkDistribution(b *testing.B) {
	w := newMember(b)
	c := registry.ClusterID(1)
	ck := ClusterSecret(secret(1), c, 1)
	history := []*registry.ClusterKeySecret{{Generation: 1, MasterGeneration: 1, Secret: ck[:]}}
	b.Run("share_cluster_key", func(b *testing.B) {
		for b.Loop() {
			if _, err := ShareClusterKeys(c, 1, history, w.worker); err != nil {
				b.Fatal(err)
			}
		}
	})
	s, err := ShareClusterKeys(c, 1, history, w.worker)
	require.NoError(b, err)
	b.Run("open_cluster_share", func(b *testing.B) {
		for b.Loop() {
			if _, err := w.me.OpenClusterShare(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	pub, err := ClusterPublicKey(c, 1, 1, ck)
	require.NoError(b, err)
	cl := &registry.Cluster{Id: c, Keys: []*registry.ClusterKey{pub}}
	b.Run("check_cluster_key", func(b *testing.B) {
		for b.Loop() {
			if err := CheckClusterKeys(cl, history); err != nil {
				b.Fatal(err)
			}
		}
	})
	gks := []*registry.Worker{w.worker, newMember(b).worker, newMember(b).worker}
	b.Run("new_master_key_3_gatekeepers", func(b *testing.B) {
		for b.Loop() {
			if _, err := NewMasterKey(2, secret(2), gks); err != nil {
				b.Fatal(err)
			}
		}
	})
}
