package ss58

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/crypto/blake2b"
)

const (
	// PhalaPrefix is the SS58 network prefix of Phala and Khala accounts.
	PhalaPrefix = 30
	// GenericPrefix is the generic Substrate prefix ("5..." addresses) that
	// subkey and polkadot.js print by default.
	GenericPrefix = 42

	// MaxPrefix is the largest prefix the format can carry (14 bits).
	MaxPrefix = 16383

	idLen       = 32
	checksumLen = 2
)

var (
	// ErrInvalidAddress is returned by Decode for a string that is not a valid
	// SS58 address of a 32-byte account id.
	ErrInvalidAddress = errors.New("invalid SS58 address")
	// ErrInvalidPrefix is returned for a network prefix above MaxPrefix or
	// one of the reserved prefixes 46 and 47.
	ErrInvalidPrefix = errors.New("invalid SS58 network prefix")
	// ErrInvalidLength is returned by Encode for an id that is not 32 bytes.
	ErrInvalidLength = errors.New("SS58 account id must be 32 bytes")
)

var hashPrefix = []byte("SS58PRE")

// checkPrefix refuses what Substrate's Ss58AddressFormat::is_reserved refuses:
// prefixes that do not fit 14 bits, and 46 and 47, reserved by the SS58
// registry.
func checkPrefix(prefix uint16) error {
	if prefix > MaxPrefix {
		return fmt.Errorf("%w: %d is above the maximum %d", ErrInvalidPrefix, prefix, MaxPrefix)
	}
	if prefix == 46 || prefix == 47 {
		return fmt.Errorf("%w: %d is reserved by the SS58 registry", ErrInvalidPrefix, prefix)
	}
	return nil
}

func checksum(data []byte) []byte {
	h, _ := blake2b.New512(nil) // cannot fail without a key
	h.Write(hashPrefix)
	h.Write(data)
	return h.Sum(nil)[:checksumLen]
}

// Encode returns the SS58 address of a 32-byte account id under a network
// prefix (0..16383, except the reserved 46 and 47).
func Encode(pub []byte, prefix uint16) (string, error) {
	if len(pub) != idLen {
		return "", fmt.Errorf("%w, got %d", ErrInvalidLength, len(pub))
	}
	if err := checkPrefix(prefix); err != nil {
		return "", err
	}
	data := make([]byte, 0, 2+idLen+checksumLen)
	if prefix < 64 {
		data = append(data, byte(prefix))
	} else {
		// Two bytes 01aaaaaa bbcccccc carry the 14-bit prefix whose low byte is
		// aaaaaabb and high byte 00cccccc (Substrate's to_ss58check_with_version).
		data = append(data,
			0b01000000|byte((prefix&0b1111_1100)>>2),
			byte(prefix>>8)|byte(prefix&0b11)<<6)
	}
	data = append(data, pub...)
	data = append(data, checksum(data)...)
	return base58Encode(data), nil
}

// Decode parses an SS58 address of a 32-byte account id and returns the id and
// its network prefix. It verifies the checksum and refuses reserved prefixes
// and non-canonical prefix encodings (a prefix below 64 written in two bytes),
// so Encode(Decode(addr)) == addr for every accepted addr. All failures wrap
// ErrInvalidAddress.
func Decode(addr string) (pub []byte, prefix uint16, err error) {
	if len(addr) == 0 || len(addr) > maxEncodedLen {
		return nil, 0, fmt.Errorf("%w: length %d is not that of an SS58 account address", ErrInvalidAddress, len(addr))
	}
	data, ok := base58Decode(addr)
	if !ok {
		return nil, 0, fmt.Errorf("%w: not base58 (Bitcoin alphabet)", ErrInvalidAddress)
	}
	if len(data) < 2 {
		return nil, 0, fmt.Errorf("%w: too short", ErrInvalidAddress)
	}
	prefixLen := 1
	switch {
	case data[0] < 64:
		prefix = uint16(data[0])
	case data[0] < 128:
		prefixLen = 2
		lower := data[0]<<2 | data[1]>>6
		upper := data[1] & 0b0011_1111
		prefix = uint16(lower) | uint16(upper)<<8
		if prefix < 64 {
			return nil, 0, fmt.Errorf("%w: prefix %d written in the two-byte form", ErrInvalidAddress, prefix)
		}
	default:
		return nil, 0, fmt.Errorf("%w: first byte %#x is not an SS58 prefix", ErrInvalidAddress, data[0])
	}
	if len(data) != prefixLen+idLen+checksumLen {
		return nil, 0, fmt.Errorf("%w: decodes to %d bytes, want %d for a 32-byte account id",
			ErrInvalidAddress, len(data), prefixLen+idLen+checksumLen)
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalidAddress, err)
	}
	body := data[:prefixLen+idLen]
	if !bytes.Equal(checksum(body), data[prefixLen+idLen:]) {
		return nil, 0, fmt.Errorf("%w: checksum mismatch (mistyped address?)", ErrInvalidAddress)
	}
	return bytes.Clone(data[prefixLen:][:idLen]), prefix, nil
}
