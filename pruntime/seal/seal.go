package seal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/phala-go/phala/crypto/kdf"
)

// ErrTampered is returned for sealed data that does not authenticate: changed, moved, truncated
// or sealed by another runtime.
var ErrTampered = errors.New("sealed data was tampered with or belongs to another runtime")

// Key is a 32-byte sealing key.
type Key [32]byte

// Derive names a subkey of the TEE sealing key for one use ("db", "keys", "checkpoint").
func Derive(sealingKey []byte, purpose string) (Key, error) {
	if len(sealingKey) < 32 {
		return Key{}, fmt.Errorf("sealing key of %d bytes, want at least 32", len(sealingKey))
	}
	k, err := kdf.Derive(sealingKey, []byte("phala-go/pruntime/seal/v1"), []byte(purpose))
	return Key(k), err
}

// Seal encrypts plaintext bound to aad: nonce || ciphertext.
func (k Key) Seal(aad, plaintext []byte) []byte {
	aead, err := chacha20poly1305.NewX(k[:])
	if err != nil {
		panic(err) // the key size is fixed
	}
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		panic(err)
	}
	return aead.Seal(out, out, plaintext, aad)
}

// Open authenticates and decrypts what Seal produced with the same aad.
func (k Key) Open(aad, sealed []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(k[:])
	if err != nil {
		panic(err)
	}
	if len(sealed) < chacha20poly1305.NonceSizeX+aead.Overhead() {
		return nil, ErrTampered
	}
	pt, err := aead.Open(nil, sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:], aad)
	if err != nil {
		return nil, ErrTampered
	}
	return pt, nil
}

// WriteFile seals data bound to purpose and writes it atomically (temporary file, sync,
// rename), so a crash leaves the old file or the new one.
func (k Key) WriteFile(path, purpose string, data []byte) error {
	sealed := k.Seal([]byte(purpose), data)
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(sealed); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadFile reads and opens a sealed file; os.ErrNotExist when absent, ErrTampered when it does
// not authenticate.
func (k Key) ReadFile(path, purpose string) ([]byte, error) {
	sealed, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pt, err := k.Open([]byte(purpose), sealed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pt, nil
}
