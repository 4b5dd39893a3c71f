package keyring

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phala-go/phala/crypto/keys"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Backend selects how secrets are stored.
type Backend string

const (
	// BackendFile encrypts each secret under a passphrase.
	BackendFile Backend = "file"
	// BackendTest stores secrets UNENCRYPTED, for development only.
	BackendTest Backend = "test"
)

// Record is the public description of a stored key.
type Record struct {
	Name    string
	Public  keys.PublicKey
	Address string // SS58 with the Phala prefix (30)
}

// Keyring is a directory of named keys for one backend. Its methods may be
// called concurrently; the file system arbitrates between processes (a name
// is taken by exactly one Import or Generate).
type Keyring struct {
	dir        string
	backend    Backend
	passphrase func(confirm bool) ([]byte, error)
	kdf        kdfParams // for new files; tests lower it
}

// Open returns the keyring of backend in dir, creating <dir>/<backend> with
// mode 0700 if needed. passphrase is called by the file backend when a secret
// is stored (confirm=true: the caller should ask twice) or read
// (confirm=false); it may be nil for List, Get and Delete, and for the test
// backend. The keyring zeroes the returned slice after use.
func Open(dir string, backend Backend, passphrase func(confirm bool) ([]byte, error)) (*Keyring, error) {
	if backend != BackendFile && backend != BackendTest {
		return nil, fmt.Errorf("%w: %q", ErrUnknownBackend, backend)
	}
	if dir == "" {
		return nil, errors.New("keyring: empty directory")
	}
	sub := filepath.Join(dir, string(backend))
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return nil, fmt.Errorf("keyring: create %s: %w", sub, err)
	}
	// MkdirAll leaves an existing directory as it is; the backend directory
	// is ours, and its key names must not be listable by other users.
	if err := os.Chmod(sub, 0o700); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return &Keyring{dir: sub, backend: backend, passphrase: passphrase, kdf: defaultKDF}, nil
}

func checkName(name string) error {
	if len(name) < 1 || len(name) > 64 {
		return fmt.Errorf("%w (got %d characters)", ErrInvalidName, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("%w (character %d is not allowed)", ErrInvalidName, i+1)
		}
	}
	return nil
}

func (k *Keyring) path(name string) string { return filepath.Join(k.dir, name+".json") }

// Import stores the key derived from suri (see keys.FromURI) under name.
func (k *Keyring) Import(name string, t keys.Type, suri string) (Record, error) {
	if err := checkName(name); err != nil {
		return Record{}, err
	}
	if len(suri) > maxSecretURILen {
		return Record{}, fmt.Errorf("%w: longer than %d bytes", keys.ErrInvalidURI, maxSecretURILen)
	}
	if err := k.absent(name); err != nil {
		return Record{}, err
	}
	priv, err := keys.FromURI(t, suri)
	if err != nil {
		return Record{}, err
	}
	f := newKeyFile(name, k.backend, priv.Public())
	if k.backend == BackendTest {
		f.SecretURI = suri
	} else if f.Sealed, err = k.seal(f, suri); err != nil {
		return Record{}, err
	}
	if err := k.create(name, f); err != nil {
		return Record{}, err
	}
	return f.public(), nil
}

// Generate creates a key from a new random mnemonic of words words (12 or
// 24), stores it under name and returns the mnemonic for the user to back up.
func (k *Keyring) Generate(name string, t keys.Type, words int) (rec Record, mnemonic string, err error) {
	if err := checkName(name); err != nil {
		return Record{}, "", err
	}
	if err := k.absent(name); err != nil {
		return Record{}, "", err
	}
	mnemonic, err = keys.GenerateMnemonic(words)
	if err != nil {
		return Record{}, "", err
	}
	rec, err = k.Import(name, t, mnemonic)
	if err != nil {
		return Record{}, "", err
	}
	return rec, mnemonic, nil
}

// List returns every key, sorted by name. It needs no passphrase.
func (k *Keyring) List() ([]Record, error) {
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && e.Type().IsRegular() && checkName(name) == nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	recs := make([]Record, 0, len(names))
	for _, name := range names {
		f, err := k.load(name)
		if err != nil {
			return nil, err
		}
		recs = append(recs, f.public())
	}
	return recs, nil
}

// Get returns the record of one key. It needs no passphrase.
func (k *Keyring) Get(name string) (Record, error) {
	f, err := k.load(name)
	if err != nil {
		return Record{}, err
	}
	return f.public(), nil
}

// PrivateKey returns the signing key (the file backend asks the passphrase).
func (k *Keyring) PrivateKey(name string) (keys.PrivateKey, error) {
	f, suri, err := k.secret(name)
	if err != nil {
		return keys.PrivateKey{}, err
	}
	return derive(f, suri)
}

// Export returns the secret URI the key was created from, usually its
// mnemonic (the file backend asks the passphrase).
func (k *Keyring) Export(name string) (suri string, err error) {
	f, suri, err := k.secret(name)
	if err != nil {
		return "", err
	}
	if _, err := derive(f, suri); err != nil {
		return "", err
	}
	return suri, nil
}

// Delete removes a key. It needs no passphrase: the CLI confirms first.
func (k *Keyring) Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.Remove(k.path(name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		return fmt.Errorf("keyring: %w", err)
	}
	return syncDir(k.dir)
}

// derive re-derives the key and checks it against the stored public key.
func derive(f *keyFile, suri string) (keys.PrivateKey, error) {
	priv, err := keys.FromURI(f.Type, suri)
	if err != nil {
		return keys.PrivateKey{}, corrupt("stored secret of %q is not a valid secret URI", f.Name)
	}
	if priv.Public() != f.public().Public {
		return keys.PrivateKey{}, corrupt("stored secret of %q does not give its public key", f.Name)
	}
	return priv, nil
}

func (k *Keyring) absent(name string) error {
	_, err := os.Lstat(k.path(name))
	switch {
	case err == nil:
		return fmt.Errorf("%w: %q", ErrExists, name)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("keyring: %w", err)
	}
}

func (k *Keyring) load(name string) (*keyFile, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	fh, err := os.Open(k.path(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		return nil, fmt.Errorf("keyring: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keyring: read %q: %w", name, err)
	}
	f, err := decodeKeyFile(data, name, k.backend)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	return f, nil
}

func (k *Keyring) secret(name string) (*keyFile, string, error) {
	f, err := k.load(name)
	if err != nil {
		return nil, "", err
	}
	if k.backend == BackendTest {
		return f, f.SecretURI, nil
	}
	suri, err := k.open(f)
	return f, suri, err
}

func (k *Keyring) askPassphrase(confirm bool) ([]byte, error) {
	if k.passphrase == nil {
		return nil, fmt.Errorf("%w: no passphrase callback", ErrPassphraseRequired)
	}
	p, err := k.passphrase(confirm)
	if err != nil {
		return nil, fmt.Errorf("keyring: read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("%w (use the test backend for unencrypted development keys)", ErrPassphraseRequired)
	}
	return p, nil
}

// stretch runs Argon2id and splits its output into the encryption key and
// the passphrase check value.
func stretch(pass, salt []byte, p kdfParams) (key, check []byte) {
	out := argon2.IDKey(pass, salt, p.Time, p.MemoryKiB, p.Threads, keyLen+checkLen)
	return out[:keyLen], out[keyLen:]
}

func (k *Keyring) seal(f *keyFile, suri string) (*sealed, error) {
	pass, err := k.askPassphrase(true)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	s := &sealed{KDF: kdfArgon2id, kdfParams: k.kdf, Cipher: cipherName,
		Salt: make([]byte, saltLen), Nonce: make([]byte, nonceLen)}
	if _, err := rand.Read(s.Salt); err != nil {
		return nil, fmt.Errorf("keyring: randomness: %w", err)
	}
	if _, err := rand.Read(s.Nonce); err != nil {
		return nil, fmt.Errorf("keyring: randomness: %w", err)
	}
	key, check := stretch(pass, s.Salt, s.kdfParams)
	defer clear(key)
	s.Check = check
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	f.Sealed = s
	plain := pad(suri)
	defer clear(plain)
	s.Ciphertext = aead.Seal(nil, s.Nonce, plain, associatedData(f))
	return s, nil
}

func (k *Keyring) open(f *keyFile) (string, error) {
	pass, err := k.askPassphrase(false)
	if err != nil {
		return "", err
	}
	defer clear(pass)
	s := f.Sealed
	key, check := stretch(pass, s.Salt, s.kdfParams)
	defer clear(key)
	if subtle.ConstantTimeCompare(check, s.Check) != 1 {
		return "", fmt.Errorf("%w for key %q", ErrWrongPassphrase, f.Name)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return "", fmt.Errorf("keyring: %w", err)
	}
	plain, err := aead.Open(nil, s.Nonce, s.Ciphertext, associatedData(f))
	if err != nil {
		return "", corrupt("key %q: the passphrase is right but the file was modified", f.Name)
	}
	defer clear(plain)
	suri, ok := unpad(plain)
	if !ok {
		return "", corrupt("key %q: bad padding", f.Name)
	}
	return suri, nil
}

// create writes the file of a new key atomically: a temporary file in the
// same directory is written and synced, then hard-linked to its final name
// (which fails if the name was taken meanwhile, so a key is never
// overwritten) or, where links are unsupported, renamed to it.
func (k *Keyring) create(name string, f *keyFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("keyring: encode: %w", err)
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(k.dir, ".tmp-*.partial") // mode 0600
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	err = os.Link(tmpName, k.path(name))
	switch {
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %q", ErrExists, name)
	case err != nil:
		// A file system without hard links: rename, after checking again
		// that the name is free (racy only against another process).
		if err := k.absent(name); err != nil {
			return err
		}
		if err := os.Rename(tmpName, k.path(name)); err != nil {
			return fmt.Errorf("keyring: %w", err)
		}
	}
	return syncDir(k.dir)
}

// syncDir makes a directory entry change durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("keyring: sync %s: %w", dir, err)
	}
	return nil
}
