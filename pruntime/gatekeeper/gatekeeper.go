// Package gatekeeper holds the key operations of the gatekeeper role and of the workers that
// receive keys: deriving the master key's and clusters' keys, sealing key shares to a worker's
// registered X-Wing key and opening them. It is pure: inputs are keys and verified chain
// records, outputs are registry messages; randomness is only drawn to create a master key
// generation (and by HPKE sealing). pRuntime decides when to call it.
//
// It may import chain/module, chain/modules/registry (message types), crypto/....
package gatekeeper

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/phala-go/phala/chain/module"
	"github.com/phala-go/phala/chain/modules/registry"
	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/kdf"
	"github.com/phala-go/phala/crypto/keys"
)

var (
	// ErrBadShare is returned for a key share that does not open or does not decode.
	ErrBadShare = errors.New("bad key share")
	// ErrKeyMismatch is returned when a received key does not derive the published public key.
	ErrKeyMismatch = errors.New("received key does not match the published key")
	// ErrNoEncryptionKey is returned for a recipient without a registered X-Wing key.
	ErrNoEncryptionKey = errors.New("recipient has no registered X-Wing key")
)

// Subkey purposes of the key tree (docs/crypto-envelopes.md).
const (
	purposeMasterSigning  = "phala/gatekeeper-signing/v1"
	purposeClusterSigning = "phala/cluster-signing/v1"
)

// NewMasterSecret draws a new master key generation.
func NewMasterSecret() ([32]byte, error) {
	var s [32]byte
	_, err := rand.Read(s[:])
	return s, err
}

// MasterSigningKey is the key that signs the gatekeeper origin under a master generation.
func MasterSigningKey(master [32]byte) keys.PrivateKey {
	return keys.Ed25519FromSeed(kdf.Subkey(master, purposeMasterSigning))
}

// ClusterSecret is generation g of a cluster's key.
func ClusterSecret(master [32]byte, cluster []byte, generation uint32) [32]byte {
	return kdf.ClusterKey(master, [32]byte(cluster), generation)
}

// ClusterSigningKey is the key that signs the cluster origin.
func ClusterSigningKey(clusterKey [32]byte) keys.PrivateKey {
	return keys.Ed25519FromSeed(kdf.Subkey(clusterKey, purposeClusterSigning))
}

// ClusterPublicKey is what the gatekeepers publish for a cluster key generation.
func ClusterPublicKey(cluster []byte, generation, masterGeneration uint32, clusterKey [32]byte) (*registry.ClusterKey, error) {
	sk := ClusterSigningKey(clusterKey).Public().Key
	k := &registry.ClusterKey{Cluster: cluster, Generation: generation, MasterGeneration: masterGeneration, SigningKey: sk[:]}
	for _, kem := range []envelope.KEM{envelope.X25519, envelope.XWing} {
		ek, err := kdf.ClusterEnvelopeKey(clusterKey, kem)
		if err != nil {
			return nil, err
		}
		k.EncryptionKeys = append(k.EncryptionKeys, &registry.EncryptionKey{Kem: uint32(kem), PublicKey: ek.Public().Key})
	}
	return k, nil
}

// xwingKey is a worker's registered X-Wing key.
func xwingKey(w *registry.Worker) (envelope.PublicKey, error) {
	for _, k := range w.GetInfo().GetEncryptionKeys() {
		if envelope.KEM(k.GetKem()) == envelope.XWing {
			pub := envelope.PublicKey{KEM: envelope.XWing, Key: k.GetPublicKey()}
			return pub, pub.Validate()
		}
	}
	return envelope.PublicKey{}, fmt.Errorf("%w: worker %X", ErrNoEncryptionKey, w.GetInfo().GetIdentityKey())
}

// The envelope bindings: a share opens only for its recipient, under its purpose, and a cluster
// share only for its cluster and generation.
func masterContext(recipient []byte) []byte { return recipient }

func clusterContext(cluster, recipient []byte) []byte {
	return append(slices.Clone(cluster), recipient...)
}

func clusterAAD(generation uint32) []byte { return binary.BigEndian.AppendUint32(nil, generation) }

func seal(to *registry.Worker, purpose envelope.Purpose, context, aad []byte, plaintext []byte) (*registry.KeyShare, error) {
	pub, err := xwingKey(to)
	if err != nil {
		return nil, err
	}
	env, err := envelope.Seal(pub, purpose, context, aad, plaintext)
	if err != nil {
		return nil, err
	}
	return &registry.KeyShare{Recipient: to.GetInfo().GetIdentityKey(), Envelope: env}, nil
}

// ShareMasterKeys seals master key generations to a gatekeeper.
func ShareMasterKeys(history []*registry.MasterKeySecret, to *registry.Worker) (*registry.KeyShare, error) {
	pt := module.Marshal(&registry.MasterKeyHistory{Keys: history})
	return seal(to, envelope.PurposeMasterKeyShare, masterContext(to.GetInfo().GetIdentityKey()), nil, pt)
}

// NewMasterKey answers a NewMasterKeyTask: the new generation's public key and a share of it
// for each recipient.
func NewMasterKey(generation uint32, secret [32]byte, recipients []*registry.Worker) (*registry.NewMasterKey, error) {
	pub := MasterSigningKey(secret).Public().Key
	out := &registry.NewMasterKey{Generation: generation, PublicKey: pub[:]}
	for _, w := range recipients {
		s, err := ShareMasterKeys([]*registry.MasterKeySecret{{Generation: generation, Secret: secret[:]}}, w)
		if err != nil {
			return nil, err
		}
		out.Shares = append(out.Shares, s)
	}
	return out, nil
}

// ShareClusterKeys seals a cluster's key history to a member.
func ShareClusterKeys(cluster []byte, generation uint32, history []*registry.ClusterKeySecret, to *registry.Worker) (*registry.ClusterKeyShare, error) {
	pt := module.Marshal(&registry.ClusterKeyHistory{Keys: history})
	s, err := seal(to, envelope.PurposeClusterKeyShare, clusterContext(cluster, to.GetInfo().GetIdentityKey()), clusterAAD(generation), pt)
	if err != nil {
		return nil, err
	}
	return &registry.ClusterKeyShare{Cluster: cluster, Generation: generation, Share: s}, nil
}

// Recipient is a worker's side of key distribution: its identity and X-Wing private key.
type Recipient struct {
	Identity []byte
	Key      envelope.PrivateKey
}

// OpenMasterShare opens a master key share meant for r.
func (r Recipient) OpenMasterShare(s *registry.KeyShare) ([]*registry.MasterKeySecret, error) {
	if !bytes.Equal(s.GetRecipient(), r.Identity) {
		return nil, fmt.Errorf("%w: meant for %X", ErrBadShare, s.GetRecipient())
	}
	pt, err := envelope.Open(r.Key, envelope.PurposeMasterKeyShare, masterContext(r.Identity), nil, s.GetEnvelope())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadShare, err)
	}
	return DecodeMasterKeyHistory(pt)
}

// OpenClusterShare opens a cluster key share meant for r.
func (r Recipient) OpenClusterShare(s *registry.ClusterKeyShare) ([]*registry.ClusterKeySecret, error) {
	if !bytes.Equal(s.GetShare().GetRecipient(), r.Identity) {
		return nil, fmt.Errorf("%w: meant for %X", ErrBadShare, s.GetShare().GetRecipient())
	}
	pt, err := envelope.Open(r.Key, envelope.PurposeClusterKeyShare, clusterContext(s.GetCluster(), r.Identity), clusterAAD(s.GetGeneration()), s.GetShare().GetEnvelope())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadShare, err)
	}
	h, err := DecodeClusterKeyHistory(pt)
	if err != nil {
		return nil, err
	}
	if h[len(h)-1].GetGeneration() != s.GetGeneration() {
		return nil, fmt.Errorf("%w: history ends at generation %d, the share is for %d", ErrBadShare, h[len(h)-1].GetGeneration(), s.GetGeneration())
	}
	return h, nil
}

// DecodeMasterKeyHistory parses the plaintext of a master key share: one or more generations
// in increasing order, each a 32-byte secret.
func DecodeMasterKeyHistory(b []byte) ([]*registry.MasterKeySecret, error) {
	var h registry.MasterKeyHistory
	if err := module.StrictUnmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadShare, err)
	}
	if len(h.GetKeys()) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrBadShare)
	}
	for i, k := range h.GetKeys() {
		if len(k.GetSecret()) != 32 || k.GetGeneration() == 0 || i > 0 && k.GetGeneration() <= h.GetKeys()[i-1].GetGeneration() {
			return nil, fmt.Errorf("%w: key %d: want increasing generations from 1 and 32-byte secrets", ErrBadShare, i)
		}
	}
	return h.GetKeys(), nil
}

// DecodeClusterKeyHistory parses the plaintext of a cluster key share: generations 1..n in
// order, each a 32-byte secret naming the master generation it derives from.
func DecodeClusterKeyHistory(b []byte) ([]*registry.ClusterKeySecret, error) {
	var h registry.ClusterKeyHistory
	if err := module.StrictUnmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadShare, err)
	}
	if len(h.GetKeys()) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrBadShare)
	}
	for i, k := range h.GetKeys() {
		if len(k.GetSecret()) != 32 || k.GetGeneration() != uint32(i+1) || k.GetMasterGeneration() == 0 {
			return nil, fmt.Errorf("%w: key %d: want generations 1..n in order, their master generations and 32-byte secrets", ErrBadShare, i)
		}
	}
	return h.GetKeys(), nil
}

// CheckClusterKeys verifies received cluster keys against the published ones: each generation
// must derive the published signing and encryption keys.
func CheckClusterKeys(c *registry.Cluster, history []*registry.ClusterKeySecret) error {
	for _, k := range history {
		pub, ok := registry.PublishedClusterKey(c, k.GetGeneration())
		if !ok {
			return fmt.Errorf("%w: cluster %s has no published generation %d", ErrKeyMismatch, registry.ClusterLabel(c.GetId()), k.GetGeneration())
		}
		want, err := ClusterPublicKey(c.GetId(), k.GetGeneration(), k.GetMasterGeneration(), [32]byte(k.GetSecret()))
		if err != nil {
			return err
		}
		want.Height = pub.GetHeight()
		if string(module.Marshal(want)) != string(module.Marshal(pub)) {
			return fmt.Errorf("%w: cluster %s generation %d", ErrKeyMismatch, registry.ClusterLabel(c.GetId()), k.GetGeneration())
		}
	}
	return nil
}

// CheckMasterKeys verifies received master key generations against the published public keys.
// A share lands in the same block as the generation it carries is published, so every
// generation received must be published.
func CheckMasterKeys(published *registry.MasterKeys, history []*registry.MasterKeySecret) error {
	for _, k := range history {
		i := slices.IndexFunc(published.GetGenerations(), func(p *registry.MasterKey) bool { return p.GetGeneration() == k.GetGeneration() })
		if i < 0 {
			return fmt.Errorf("%w: master generation %d is not published", ErrKeyMismatch, k.GetGeneration())
		}
		pub := MasterSigningKey([32]byte(k.GetSecret())).Public().Key
		if !bytes.Equal(pub[:], published.GetGenerations()[i].GetPublicKey()) {
			return fmt.Errorf("%w: master generation %d", ErrKeyMismatch, k.GetGeneration())
		}
	}
	return nil
}
