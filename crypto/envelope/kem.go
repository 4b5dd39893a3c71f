package envelope

import (
	"crypto/hpke"
	"crypto/mlkem"
	"fmt"
)

// KEM is an HPKE key encapsulation mechanism, identified by its RFC 9180 /
// IANA KEM id. The value is part of every encoded PublicKey and envelope.
type KEM uint16

const (
	// X25519 is DHKEM(X25519, HKDF-SHA256) from RFC 9180: small (32-byte keys
	// and encapsulations) and fast, but not post-quantum.
	X25519 KEM = 0x0020
	// XWing is the hybrid ML-KEM-768 + X25519 KEM (X-Wing,
	// MLKEM768-X25519): secret as long as either component holds, so
	// ciphertexts stored on a public chain stay secret against a future
	// quantum adversary. Keys are 1216 bytes and encapsulations 1120.
	XWing KEM = 0x647a
)

// x25519PointSize is the size of an X25519 public key, which is also the
// trailing component of an X-Wing public key and encapsulation.
const x25519PointSize = 32

// String returns "x25519", "xwing" or "unknown(0x....)".
func (k KEM) String() string {
	switch k {
	case X25519:
		return "x25519"
	case XWing:
		return "xwing"
	default:
		return fmt.Sprintf("unknown(0x%04x)", uint16(k))
	}
}

// Valid reports whether k is a supported KEM.
func (k KEM) Valid() bool { return k == X25519 || k == XWing }

// PublicKeySize is the length of the KEM's raw public key (PublicKey.Key):
// 32 for X25519, 1216 for XWing, 0 for an unknown KEM.
func (k KEM) PublicKeySize() int {
	switch k {
	case X25519:
		return x25519PointSize
	case XWing:
		return mlkem.EncapsulationKeySize768 + x25519PointSize
	default:
		return 0
	}
}

// Overhead is how many bytes an envelope adds to its plaintext: 55 for
// X25519, 1143 for XWing, 0 for an unknown KEM.
func (k KEM) Overhead() int {
	if !k.Valid() {
		return 0
	}
	return headerSize + k.encSize() + lengthSize + tagSize
}

// encSize is the length of the KEM's encapsulated key.
func (k KEM) encSize() int {
	switch k {
	case X25519:
		return x25519PointSize
	case XWing:
		return mlkem.CiphertextSize768 + x25519PointSize
	default:
		return 0
	}
}

func (k KEM) hpke() (hpke.KEM, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("%w %s: use envelope.X25519 or envelope.XWing", ErrUnknownKEM, k)
	}
	return hpke.NewKEM(uint16(k))
}
