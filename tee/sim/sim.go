package sim

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/phala-go/phala/tee"
)

// SecretSize is the size of the host secret file.
const SecretSize = 32

// Key-derivation labels; changing one changes every derived key.
const (
	platformKeyLabel = "phala-go/tee/sim/platform-key/v1"
	sealingKeyLabel  = "phala-go/tee/sim/sealing-key/v1"
)

// Guest is a simulated TEE guest. It is safe for concurrent use.
type Guest struct {
	secret      []byte
	platform    ed25519.PrivateKey
	measurement []byte
	debug       bool
}

var _ tee.Guest = (*Guest)(nil)

// Config configures a sim guest.
type Config struct {
	// SecretPath is the host secret file. It is created (32 random bytes, mode 0600) if absent,
	// and refused if it is readable by group or others or has the wrong size. By convention
	// <home>/sim-tee-secret.
	SecretPath string
	// Measurement is the runtime's measurement, normally MeasureFile of the pRuntime binary.
	Measurement []byte
	// Debug marks the evidence as coming from a debug guest.
	Debug bool
}

// Open loads (or creates) the host secret and returns a guest for the measurement.
func Open(cfg Config) (*Guest, error) {
	if len(cfg.Measurement) != tee.SimMeasurementSize {
		return nil, fmt.Errorf("sim: measurement of %d bytes, want %d (use sim.MeasureFile): %w", len(cfg.Measurement), tee.SimMeasurementSize, tee.ErrMalformed)
	}
	secret, err := loadOrCreateSecret(cfg.SecretPath)
	if err != nil {
		return nil, err
	}
	return &Guest{
		secret:      secret,
		platform:    platformKey(secret),
		measurement: append([]byte(nil), cfg.Measurement...),
		debug:       cfg.Debug,
	}, nil
}

// PlatformKey returns the platform public key of the host secret at path, creating the secret if
// absent. Development genesis tooling lists it in the chain's trusted sim platform keys.
func PlatformKey(secretPath string) (ed25519.PublicKey, error) {
	secret, err := loadOrCreateSecret(secretPath)
	if err != nil {
		return nil, err
	}
	return platformKey(secret).Public().(ed25519.PublicKey), nil
}

// MeasureFile returns the sim measurement of a runtime binary: the SHA-256 of its contents.
func MeasureFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sim: measure %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("sim: measure %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// Kind returns tee.KindSim.
func (g *Guest) Kind() tee.Kind { return tee.KindSim }

// Evidence signs the measurement, the debug flag and rd with the platform key.
func (g *Guest) Evidence(rd tee.ReportData) (tee.Evidence, error) {
	return tee.SignSimEvidence(g.platform, g.measurement, g.debug, rd)
}

// Measurement returns the measurement the guest was opened with.
func (g *Guest) Measurement() ([]byte, error) {
	return append([]byte(nil), g.measurement...), nil
}

// SealingKey returns HKDF-SHA256(host secret, label || measurement): the same binary on the same
// host always gets the same key; another binary or host gets another.
func (g *Guest) SealingKey() ([]byte, error) {
	return derive(g.secret, sealingKeyLabel, g.measurement), nil
}

// PlatformKey returns the guest's platform public key.
func (g *Guest) PlatformKey() ed25519.PublicKey {
	return g.platform.Public().(ed25519.PublicKey)
}

func platformKey(secret []byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(derive(secret, platformKeyLabel, nil))
}

// derive is HKDF-SHA256 with info = len(label) || label || len(context) || context (lengths as
// 4-byte big-endian), so that no two (label, context) pairs share an info string.
func derive(secret []byte, label string, context []byte) []byte {
	info := binary.BigEndian.AppendUint32(nil, uint32(len(label)))
	info = append(info, label...)
	info = binary.BigEndian.AppendUint32(info, uint32(len(context)))
	info = append(info, context...)
	key, err := hkdf.Key(sha256.New, secret, nil, string(info), 32)
	if err != nil {
		// HKDF-SHA256 fails only for outputs longer than 255*32 bytes.
		panic(err)
	}
	return key
}

func loadOrCreateSecret(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("sim: no host secret path configured")
	}
	secret, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := createSecret(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	// Read back, also when another process created the file first.
	return readSecret(path)
}

func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sim: host secret: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sim: host secret %s: %w", path, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("sim: host secret %s has mode %v, readable by others: run chmod 600 %s", path, info.Mode().Perm(), path)
	}
	secret := make([]byte, SecretSize+1)
	n, err := io.ReadFull(f, secret)
	if n != SecretSize || !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("sim: host secret %s is not %d bytes (damaged?): move it away to start a new simulated platform", path, SecretSize)
	}
	return secret[:SecretSize], nil
}

func createSecret(path string) error {
	// Write a complete temporary file, then hard-link it into place: the link either creates the
	// secret with its full contents or fails because the secret already exists.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sim-tee-secret-*")
	if err != nil {
		return fmt.Errorf("sim: create host secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	secret := make([]byte, SecretSize)
	rand.Read(secret)
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(secret)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("sim: create host secret %s: %w", path, err)
	}
	return nil
}
