package kdf

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/phala-go/phala/crypto/envelope"
)

// Domain is the HKDF salt of every derivation: it names this tree and its
// version, so no other use of HKDF on the same secret collides with it.
const Domain = "phala-go/kdf/v1"

// MinSecretLen is the shortest secret Derive accepts.
const MinSecretLen = 32

// ErrShortSecret is returned by Derive for a secret shorter than
// MinSecretLen bytes.
var ErrShortSecret = errors.New("kdf secret too short")

// The first label of each named derivation. A derivation's labels never
// start with another's, so the named keys are independent of each other.
const (
	labelCluster     = "cluster-key"
	labelClusterEnv  = "cluster-envelope-key"
	labelContract    = "contract-key"
	labelEnvelopeKey = "contract-envelope-key"
	labelState       = "contract-state-key"
	labelRandomness  = "randomness"
	labelSubkey      = "subkey"
)

// Derive returns HKDF-SHA256(salt = Domain, ikm = secret, info, 32 bytes)
// where info is the concatenation of the labels, each preceded by its length
// as 8 bytes big-endian; so ("ab", "c"), ("a", "bc") and ("abc") all differ.
// secret must be a uniformly random key of at least MinSecretLen bytes.
func Derive(secret []byte, labels ...[]byte) ([32]byte, error) {
	if len(secret) < MinSecretLen {
		return [32]byte{}, fmt.Errorf("%w: %d bytes, want at least %d", ErrShortSecret, len(secret), MinSecretLen)
	}
	return derive(secret, labels...), nil
}

func derive(secret []byte, labels ...[]byte) [32]byte {
	n := 0
	for _, l := range labels {
		n += 8 + len(l)
	}
	info := make([]byte, 0, n)
	for _, l := range labels {
		info = binary.BigEndian.AppendUint64(info, uint64(len(l)))
		info = append(info, l...)
	}
	okm, err := hkdf.Key(sha256.New, secret, []byte(Domain), string(info), 32)
	if err != nil {
		// HKDF-SHA256 can output up to 8160 bytes; 32 never fails.
		panic("kdf: HKDF-SHA256 refused a 32-byte output: " + err.Error())
	}
	return [32]byte(okm)
}

// ClusterKey derives generation g of a cluster's key from the master key:
// Derive(master, "cluster-key", clusterID, uint32be(g)). A cluster starts at
// generation 1 and moves to the next when a worker leaves it, so the leaver
// cannot derive what follows.
func ClusterKey(master, clusterID [32]byte, generation uint32) [32]byte {
	return derive(master[:], []byte(labelCluster), clusterID[:], binary.BigEndian.AppendUint32(nil, generation))
}

// ClusterEnvelopeKey derives the cluster's HPKE key pair for kem, whose public
// half the gatekeepers publish so that secrets can be sent to the cluster:
// envelope.DeriveKey(kem, Derive(clusterKey, "cluster-envelope-key",
// uint16be(kem))).
func ClusterEnvelopeKey(clusterKey [32]byte, kem envelope.KEM) (envelope.PrivateKey, error) {
	return envelopeKey(clusterKey, labelClusterEnv, kem)
}

// ContractKey derives a contract's key from its cluster's key:
// Derive(cluster, "contract-key", contractID).
func ContractKey(cluster, contractID [32]byte) [32]byte {
	return derive(cluster[:], []byte(labelContract), contractID[:])
}

// ContractEnvelopeKey derives the contract's HPKE key pair for kem, whose
// public half the cluster publishes for commands to the contract:
// envelope.DeriveKey(kem, Derive(contractKey, "contract-envelope-key",
// uint16be(kem))).
func ContractEnvelopeKey(contractKey [32]byte, kem envelope.KEM) (envelope.PrivateKey, error) {
	return envelopeKey(contractKey, labelEnvelopeKey, kem)
}

func envelopeKey(parent [32]byte, label string, kem envelope.KEM) (envelope.PrivateKey, error) {
	if !kem.Valid() {
		return envelope.PrivateKey{}, fmt.Errorf("%s: %w %s", label, envelope.ErrUnknownKEM, kem)
	}
	ikm := derive(parent[:], []byte(label), binary.BigEndian.AppendUint16(nil, uint16(kem)))
	return envelope.DeriveKey(kem, ikm[:])
}

// ContractStateKey derives the key that encrypts a contract's state at rest:
// Derive(contractKey, "contract-state-key").
func ContractStateKey(contractKey [32]byte) [32]byte {
	return derive(contractKey[:], []byte(labelState))
}

// Randomness derives the contract's confidential random seed for a block:
// Derive(contractKey, "randomness", uint64be(height), extra). extra tells
// apart several draws in one block (a transaction index, a call counter). It
// is secret from everyone without the contract key, and the same on every
// replica; it is not unpredictable to the workers that hold the key.
func Randomness(contractKey [32]byte, height uint64, extra []byte) [32]byte {
	return derive(contractKey[:], []byte(labelRandomness), binary.BigEndian.AppendUint64(nil, height), extra)
}

// Subkey derives an independent key for one purpose from any tree key
// (sealing, handover, a contract's own derived keys):
// Derive(key, "subkey", purpose). Use a distinct, versioned purpose per use,
// e.g. "pruntime/checkpoint-seal/v1".
func Subkey(key [32]byte, purpose string) [32]byte {
	return derive(key[:], []byte(labelSubkey), []byte(purpose))
}
