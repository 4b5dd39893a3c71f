package keys

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
	"golang.org/x/crypto/blake2b"
)

// junction is one derivation step: "//code" (hard) or "/code" (soft).
type junction struct {
	hard bool
	cc   [32]byte // chain code
}

// secretURI is a parsed "<phrase|0xseed>[//hard|/soft]*[///password]".
type secretURI struct {
	phrase      string
	password    string
	hasPassword bool
	junctions   []junction
}

func isPhraseChar(c byte) bool {
	return c == ' ' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// parseURI follows sp_core's AddressUri::parse (the same grammar as its older
// regex ^([a-zA-Z0-9 ]+)?((//?[^/]+)*)(///(.*))?$, the password excluding
// newlines), with one difference: an empty URI is refused instead of meaning
// the bare dev phrase. Errors never quote the input, which is secret.
func parseURI(suri string) (secretURI, error) {
	if suri == "" {
		return secretURI{}, fmt.Errorf("%w: empty (give a mnemonic, a 0x seed, or a path such as //Alice)", ErrInvalidURI)
	}
	var u secretURI
	i := 0
	for i < len(suri) && isPhraseChar(suri[i]) {
		i++
	}
	u.phrase = suri[:i]
	if u.phrase == "" {
		u.phrase = DevPhrase
	}
	rest := suri[i:]
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "///"):
			pw := rest[3:]
			if strings.ContainsRune(pw, '\n') {
				return secretURI{}, fmt.Errorf("%w: the password (after ///) must not contain a newline", ErrInvalidURI)
			}
			u.password, u.hasPassword = pw, true
			rest = ""
		case strings.HasPrefix(rest, "/"):
			hard := strings.HasPrefix(rest, "//")
			if hard {
				rest = rest[2:]
			} else {
				rest = rest[1:]
			}
			end := strings.IndexByte(rest, '/')
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return secretURI{}, fmt.Errorf("%w: empty derivation junction (a path segment between slashes)", ErrInvalidURI)
			}
			u.junctions = append(u.junctions, junction{hard: hard, cc: chainCode(rest[:end])})
			rest = rest[end:]
		default:
			return secretURI{}, fmt.Errorf("%w: the phrase may contain only ASCII letters, digits and spaces, then /junctions and ///password", ErrInvalidURI)
		}
	}
	return u, nil
}

// chainCode follows sp_core's DeriveJunction::from(&str): a code that parses
// as a u64 (Rust's str::parse: decimal digits, optional leading '+') is
// encoded as 8 little-endian bytes, anything else as a SCALE string (compact
// length, then the bytes). Encodings longer than 32 bytes are replaced by
// their blake2b-256 hash; shorter ones are zero-padded.
func chainCode(code string) [32]byte {
	var enc []byte
	if n, ok := parseRustU64(code); ok {
		enc = binary.LittleEndian.AppendUint64(nil, n)
	} else {
		enc = append(scaleCompact(uint64(len(code))), code...)
	}
	if len(enc) > 32 {
		return blake2b.Sum256(enc)
	}
	var cc [32]byte
	copy(cc[:], enc)
	return cc
}

func parseRustU64(s string) (uint64, bool) {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// scaleCompact is SCALE's compact encoding of an unsigned integer.
func scaleCompact(n uint64) []byte {
	switch {
	case n < 1<<6:
		return []byte{byte(n << 2)}
	case n < 1<<14:
		return binary.LittleEndian.AppendUint16(nil, uint16(n<<2|1))
	case n < 1<<30:
		return binary.LittleEndian.AppendUint32(nil, uint32(n<<2|2))
	default:
		b := binary.LittleEndian.AppendUint64(nil, n)
		for len(b) > 4 && b[len(b)-1] == 0 {
			b = b[:len(b)-1]
		}
		return append([]byte{byte(len(b)-4)<<2 | 3}, b...)
	}
}

// FromURI derives a key from a secret URI, exactly as subkey and polkadot.js
// do:
//
//	<phrase|0x<64 hex>>[//hard|/soft]*[///password]
//
// The phrase is an English BIP-39 mnemonic (the password is its BIP-39
// passphrase), or 0x and a 32-byte hex seed. A URI that starts with "/" uses
// DevPhrase, so "//Alice" is the well-known dev account. Numeric junctions are
// integers ("//0"), others strings. ed25519 supports only hard junctions.
//
// Differences from subkey, both refusals: an empty URI (subkey: the bare dev
// key) and a password after a hex seed (subkey silently ignores it).
func FromURI(t Type, suri string) (PrivateKey, error) {
	if !t.Valid() {
		return PrivateKey{}, fmt.Errorf("%w %d", ErrUnknownType, uint8(t))
	}
	u, err := parseURI(suri)
	if err != nil {
		return PrivateKey{}, err
	}
	seed, err := rootSeed(u)
	if err != nil {
		return PrivateKey{}, err
	}
	defer clear(seed[:])
	if t == Ed25519 {
		return deriveEd25519(seed, u.junctions)
	}
	return deriveSr25519(seed, u.junctions)
}

func rootSeed(u secretURI) ([32]byte, error) {
	hexSeed, isHex := strings.CutPrefix(u.phrase, "0x")
	if !isHex {
		return miniSecretFromMnemonic(u.phrase, u.password)
	}
	if u.hasPassword {
		return [32]byte{}, fmt.Errorf("%w: a ///password applies only to a mnemonic, not to a 0x seed", ErrInvalidURI)
	}
	var seed [32]byte
	if len(hexSeed) != 2*len(seed) {
		return [32]byte{}, fmt.Errorf("%w: a 0x seed must be 64 hex digits (32 bytes), got %d digits", ErrInvalidURI, len(hexSeed))
	}
	if _, err := hex.Decode(seed[:], []byte(hexSeed)); err != nil {
		return [32]byte{}, fmt.Errorf("%w: the 0x seed is not valid hex", ErrInvalidURI)
	}
	return seed, nil
}

// ed25519HDKDTag is the SCALE encoding of the &str "Ed25519HDKD" (compact
// length 11, then the bytes), the first element of the tuple sp_core hashes.
var ed25519HDKDTag = append(scaleCompact(11), "Ed25519HDKD"...)

// deriveEd25519 follows sp_core::ed25519::Pair::derive: for each hard
// junction, seed = blake2b-256(SCALE(("Ed25519HDKD", seed, chain code))).
func deriveEd25519(seed [32]byte, path []junction) (PrivateKey, error) {
	for _, j := range path {
		if !j.hard {
			return PrivateKey{}, fmt.Errorf("%w (Substrate refuses the same path)", ErrSoftDerivation)
		}
		buf := make([]byte, 0, len(ed25519HDKDTag)+64)
		buf = append(buf, ed25519HDKDTag...)
		buf = append(buf, seed[:]...)
		buf = append(buf, j.cc[:]...)
		seed = blake2b.Sum256(buf)
		clear(buf)
	}
	return newEd25519(seed), nil
}

// deriveSr25519 follows sp_core::sr25519::Pair: the root is the mini secret
// expanded in Ed25519 mode; a hard junction is schnorrkel's
// hard_derive_mini_secret_key(chain code, "") expanded in Ed25519 mode again;
// a soft junction is derived_key_simple(chain code, "").
func deriveSr25519(seed [32]byte, path []junction) (PrivateKey, error) {
	msk, err := schnorrkel.NewMiniSecretKeyFromRaw(seed)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("sr25519 mini secret: %w", err)
	}
	sk := msk.ExpandEd25519()
	for _, j := range path {
		if j.hard {
			child, _, err := sk.HardDeriveMiniSecretKey(nil, j.cc)
			if err != nil {
				return PrivateKey{}, fmt.Errorf("sr25519 hard derivation: %w", err)
			}
			sk = child.ExpandEd25519()
			continue
		}
		ek, err := schnorrkel.DeriveKeySimple(sk, nil, j.cc)
		if err != nil {
			return PrivateKey{}, fmt.Errorf("sr25519 soft derivation: %w", err)
		}
		if sk, err = ek.Secret(); err != nil {
			return PrivateKey{}, fmt.Errorf("sr25519 soft derivation: %w", err)
		}
	}
	return newSr25519(sk)
}
