package pruntime

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/phala-go/phala/crypto/envelope"
	"github.com/phala-go/phala/crypto/keys"
	"github.com/phala-go/phala/pruntime/seal"
)

// workerKeys are generated inside the TEE on first start and never leave it unsealed.
type workerKeys struct {
	seed     [32]byte // identity and envelope keys derive from it
	identity keys.PrivateKey
	x25519   envelope.PrivateKey
	xwing    envelope.PrivateKey
}

const keysFile = "keys.sealed"

func deriveWorkerKeys(seed [32]byte) (*workerKeys, error) {
	id := keys.Ed25519FromSeed(seedFor(seed, "identity"))
	x, err := envelope.DeriveKey(envelope.X25519, seedBytes(seed, "x25519"))
	if err != nil {
		return nil, err
	}
	xw, err := envelope.DeriveKey(envelope.XWing, seedBytes(seed, "xwing"))
	if err != nil {
		return nil, err
	}
	return &workerKeys{seed: seed, identity: id, x25519: x, xwing: xw}, nil
}

func seedFor(seed [32]byte, label string) [32]byte {
	k, _ := seal.Derive(seed[:], "worker-key/"+label)
	return k
}

func seedBytes(seed [32]byte, label string) []byte {
	k := seedFor(seed, label)
	return k[:]
}

// loadOrCreateKeys opens the sealed keys, or generates and seals new ones on first start.
func loadOrCreateKeys(dir string, key seal.Key) (*workerKeys, error) {
	path := filepath.Join(dir, keysFile)
	b, err := key.ReadFile(path, "worker-keys")
	if errors.Is(err, os.ErrNotExist) {
		var seed [32]byte
		if _, err := rand.Read(seed[:]); err != nil {
			return nil, err
		}
		if err := saveKeys(dir, key, seed); err != nil {
			return nil, err
		}
		return deriveWorkerKeys(seed)
	}
	if err != nil {
		return nil, fmt.Errorf("worker keys: %w (sealed by another runtime build? start this build on an empty --data-dir with --handover-from the old runtime's API)", err)
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("worker keys: %w", seal.ErrTampered)
	}
	return deriveWorkerKeys([32]byte(b))
}

// saveKeys seals the key seed into dir: on first start, and when a handover brings it.
func saveKeys(dir string, key seal.Key, seed [32]byte) error {
	if err := key.WriteFile(filepath.Join(dir, keysFile), "worker-keys", seed[:]); err != nil {
		return fmt.Errorf("seal worker keys: %w", err)
	}
	return nil
}
