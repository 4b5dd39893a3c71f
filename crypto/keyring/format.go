package keyring

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/phala-go/phala/crypto/keys"
)

const (
	formatVersion = 1
	kdfArgon2id   = "argon2id"
	cipherName    = "xchacha20-poly1305"

	// maxFileSize bounds what is read from disk; real files are under 1 KiB.
	maxFileSize = 64 << 10
	// maxSecretURILen bounds the secret URIs the keyring stores.
	maxSecretURILen = 2048
	// padBlock: plaintexts are padded to a multiple of this so the ciphertext
	// length does not tell a 12-word phrase from a 24-word one or a dev path.
	padBlock = 256

	saltLen  = 16
	checkLen = 16
	keyLen   = 32
	nonceLen = 24 // XChaCha20-Poly1305
	tagLen   = 16
)

// kdfParams are the Argon2id cost parameters, stored in every file so that
// they can change without breaking old files.
type kdfParams struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

// defaultKDF is RFC 9106's second recommended Argon2id setting (section 4:
// t=3, m=64 MiB, p=4), meant for memory-constrained machines; about 0.1-0.2 s.
var defaultKDF = kdfParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// Bounds on parameters read from files, so that a planted file cannot make
// unlocking take minutes or exhaust memory (and argon2 never panics).
const (
	maxKDFTime    = 16
	maxKDFMemKiB  = 1 << 20 // 1 GiB
	maxKDFThreads = 16
)

func (p kdfParams) check() error {
	switch {
	case p.Time < 1 || p.Time > maxKDFTime:
		return fmt.Errorf("argon2id time %d outside 1..%d", p.Time, maxKDFTime)
	case p.Threads < 1 || p.Threads > maxKDFThreads:
		return fmt.Errorf("argon2id threads %d outside 1..%d", p.Threads, maxKDFThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemKiB:
		return fmt.Errorf("argon2id memory %d KiB outside %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxKDFMemKiB)
	}
	return nil
}

// sealed is the encrypted secret of a file-backend key.
type sealed struct {
	KDF string `json:"kdf"`
	kdfParams
	Salt []byte `json:"salt"`
	// Check is 16 bytes of the Argon2id output beyond the encryption key; it
	// tells a wrong passphrase from a modified file. It reveals nothing the
	// ciphertext does not: both let one test a passphrase guess at the cost
	// of one Argon2id run.
	Check      []byte `json:"check"`
	Cipher     string `json:"cipher"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// keyFile is the on-disk JSON document of one key.
type keyFile struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	Backend   Backend   `json:"backend"`
	Type      keys.Type `json:"type"`
	PublicKey string    `json:"public_key"`
	Address   string    `json:"address"`
	// SecretURI is set by the test backend only (in clear).
	SecretURI string `json:"secret_uri,omitempty"`
	// Sealed is set by the file backend only.
	Sealed *sealed `json:"sealed,omitempty"`
}

// public returns the record of the key; the file must have been validated.
func (f *keyFile) public() Record {
	var pub keys.PublicKey
	pub.Type = f.Type
	hex.Decode(pub.Key[:], []byte(strings.TrimPrefix(f.PublicKey, "0x")))
	return Record{Name: f.Name, Public: pub, Address: f.Address}
}

func newKeyFile(name string, b Backend, pub keys.PublicKey) *keyFile {
	return &keyFile{
		Version:   formatVersion,
		Name:      name,
		Backend:   b,
		Type:      pub.Type,
		PublicKey: pub.Hex(),
		Address:   pub.AccountID().String(),
	}
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// decodeKeyFile parses and validates a key file read from disk for the key
// name under backend b. It checks structure only; the secret is not touched.
func decodeKeyFile(data []byte, name string, b Backend) (*keyFile, error) {
	if len(data) > maxFileSize {
		return nil, corrupt("%d bytes, more than %d", len(data), maxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f keyFile
	if err := dec.Decode(&f); err != nil {
		return nil, corrupt("not a key file: %v", err)
	}
	if dec.More() {
		return nil, corrupt("trailing data after the JSON document")
	}
	switch {
	case f.Version != formatVersion:
		return nil, corrupt("format version %d, this build reads %d", f.Version, formatVersion)
	case f.Name != name:
		return nil, corrupt("file of key %q holds name %q (renamed file?)", name, f.Name)
	case f.Backend != b:
		return nil, corrupt("file in the %s backend says backend %q", b, f.Backend)
	case !f.Type.Valid():
		return nil, corrupt("unknown key type")
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(f.PublicKey, "0x"))
	if err != nil || len(raw) != 32 || !strings.HasPrefix(f.PublicKey, "0x") {
		return nil, corrupt("public_key must be 0x and 64 hex digits")
	}
	pub := keys.PublicKey{Type: f.Type, Key: [32]byte(raw)}
	if f.PublicKey != pub.Hex() || f.Address != pub.AccountID().String() {
		return nil, corrupt("public_key and address do not match")
	}
	switch b {
	case BackendTest:
		if f.Sealed != nil || f.SecretURI == "" || len(f.SecretURI) > maxSecretURILen {
			return nil, corrupt("a test-backend file needs secret_uri (and no sealed part)")
		}
	case BackendFile:
		if f.SecretURI != "" || f.Sealed == nil {
			return nil, corrupt("a file-backend file needs a sealed secret (and no clear secret_uri)")
		}
		s := f.Sealed
		if s.KDF != kdfArgon2id || s.Cipher != cipherName {
			return nil, corrupt("unsupported kdf %q or cipher %q", s.KDF, s.Cipher)
		}
		if err := s.kdfParams.check(); err != nil {
			return nil, corrupt("%v", err)
		}
		if len(s.Salt) != saltLen || len(s.Check) != checkLen || len(s.Nonce) != nonceLen {
			return nil, corrupt("salt, check or nonce has the wrong length")
		}
		if n := len(s.Ciphertext) - tagLen; n < padBlock || n%padBlock != 0 || n > maxSecretURILen+padBlock {
			return nil, corrupt("ciphertext length %d is not that of a padded secret", len(s.Ciphertext))
		}
	}
	return &f, nil
}

// associatedData binds every clear field of a file-backend key (except the
// nonce, the check and the ciphertext themselves) to its ciphertext: changing
// the name, type, public key or KDF parameters makes decryption fail.
func associatedData(f *keyFile) []byte {
	s := f.Sealed
	var b []byte
	field := func(v []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	field([]byte("phala-go keyring"))
	b = binary.BigEndian.AppendUint32(b, uint32(f.Version))
	field([]byte(f.Name))
	field([]byte(f.Backend))
	b = append(b, byte(f.Type))
	field([]byte(f.PublicKey))
	field([]byte(f.Address))
	field([]byte(s.KDF))
	b = binary.BigEndian.AppendUint32(b, s.Time)
	b = binary.BigEndian.AppendUint32(b, s.MemoryKiB)
	b = append(b, s.Threads)
	field(s.Salt)
	field([]byte(s.Cipher))
	return b
}

// pad prefixes the secret with its 2-byte length and zero-fills to a
// multiple of padBlock.
func pad(secret string) []byte {
	n := 2 + len(secret)
	out := make([]byte, (n+padBlock-1)/padBlock*padBlock)
	binary.BigEndian.PutUint16(out, uint16(len(secret)))
	copy(out[2:], secret)
	return out
}

func unpad(p []byte) (string, bool) {
	if len(p) < 2 {
		return "", false
	}
	n := int(binary.BigEndian.Uint16(p))
	if 2+n > len(p) {
		return "", false
	}
	return string(p[2 : 2+n]), true
}
