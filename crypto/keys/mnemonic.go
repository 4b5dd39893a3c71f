package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"strings"

	bip39 "github.com/cosmos/go-bip39"
	"golang.org/x/crypto/pbkdf2"
)

// DevPhrase is Substrate's public development mnemonic; "//Alice" and the
// other dev accounts are derived from it. Never hold value with it.
const DevPhrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"

// GenerateMnemonic returns a new random English BIP-39 mnemonic of 12 or 24
// words (128 or 256 bits of entropy from crypto/rand).
func GenerateMnemonic(words int) (string, error) {
	var n int
	switch words {
	case 12:
		n = 16
	case 24:
		n = 32
	default:
		return "", fmt.Errorf("%w: can generate 12 or 24 words, not %d", ErrInvalidMnemonic, words)
	}
	entropy := make([]byte, n)
	if _, err := rand.Read(entropy); err != nil {
		return "", fmt.Errorf("read randomness: %w", err)
	}
	defer clear(entropy)
	return entropyToMnemonic(entropy), nil
}

// ValidateMnemonic checks that phrase is an English BIP-39 mnemonic of 12, 15,
// 18, 21 or 24 words with a correct checksum. Words may be separated by any
// whitespace. Error messages name word positions, never the words.
func ValidateMnemonic(phrase string) error {
	e, err := mnemonicToEntropy(phrase)
	clear(e)
	return err
}

// entropyToMnemonic encodes 16..32 bytes (a multiple of 4) of entropy, followed
// by the first len/4 bits of its SHA-256, as 11-bit word indices.
func entropyToMnemonic(entropy []byte) string {
	sum := sha256.Sum256(entropy)
	bits := len(entropy)*8 + len(entropy)/4
	data := append(append([]byte(nil), entropy...), sum[0])
	defer clear(data)
	words := make([]string, bits/11)
	for i := range words {
		idx := 0
		for b := i * 11; b < i*11+11; b++ {
			idx = idx<<1 | int(data[b/8]>>(7-b%8)&1)
		}
		words[i] = bip39.WordList[idx]
	}
	return strings.Join(words, " ")
}

// mnemonicToEntropy is the inverse of entropyToMnemonic; it checks the word
// count, the words and the checksum.
func mnemonicToEntropy(phrase string) ([]byte, error) {
	words := strings.Fields(phrase)
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return nil, fmt.Errorf("%w: has %d words, want 12, 15, 18, 21 or 24", ErrInvalidMnemonic, len(words))
	}
	bits := len(words) * 11
	data := make([]byte, (bits+7)/8)
	for i, w := range words {
		idx, ok := bip39.ReverseWordMap[w]
		if !ok {
			clear(data)
			return nil, fmt.Errorf("%w: word %d is not in the BIP-39 English word list (lower case)", ErrInvalidMnemonic, i+1)
		}
		for j := 0; j < 11; j++ {
			if idx>>(10-j)&1 == 1 {
				b := i*11 + j
				data[b/8] |= 1 << (7 - b%8)
			}
		}
	}
	n := len(words) * 4 / 3 // entropy bytes: 11*words*32/33/8
	entropy := data[:n:n]
	sum := sha256.Sum256(entropy)
	csBits := uint(n / 4)
	got := data[n] >> (8 - csBits)
	want := sum[0] >> (8 - csBits)
	clear(data[n:])
	if got != want {
		clear(entropy)
		return nil, fmt.Errorf("%w: checksum does not match (a word is wrong or out of order)", ErrInvalidMnemonic)
	}
	return entropy, nil
}

// miniSecretFromMnemonic derives the 32-byte seed as substrate-bip39 does:
// PBKDF2-HMAC-SHA512 over the mnemonic's *entropy* (not the phrase, unlike
// BIP-39 proper) with salt "mnemonic"+password and 2048 rounds, keeping the
// first 32 of the 64 output bytes. sr25519 uses it as a schnorrkel mini secret
// key, ed25519 as its seed.
func miniSecretFromMnemonic(phrase, password string) ([32]byte, error) {
	entropy, err := mnemonicToEntropy(phrase)
	if err != nil {
		return [32]byte{}, err
	}
	defer clear(entropy)
	seed := pbkdf2.Key(entropy, []byte("mnemonic"+password), 2048, 64, sha512.New)
	defer clear(seed)
	return [32]byte(seed[:32]), nil
}
