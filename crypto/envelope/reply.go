package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// Exporter contexts of the reply key and base nonce (RFC 9180 section 9.8,
// "bidirectional encryption"). The exporter secret already depends on the
// KEM, the version, the purpose and the context through the HPKE key
// schedule, so these labels only separate the reply direction's values.
const (
	replyKeyLabel   = infoDomain + " reply key"
	replyNonceLabel = infoDomain + " reply nonce"
)

// replyChannel is one direction of AES-256-GCM keyed from an HPKE exporter,
// with HPKE's nonce schedule: base nonce XOR a big-endian sequence number.
type replyChannel struct {
	aead  cipher.AEAD
	nonce []byte
	seq   uint64
}

func newReplyChannel(export func(string, int) ([]byte, error)) (replyChannel, error) {
	key, err := export(replyKeyLabel, 32)
	if err != nil {
		return replyChannel{}, fmt.Errorf("derive reply key: %w", err)
	}
	nonce, err := export(replyNonceLabel, 12)
	if err != nil {
		return replyChannel{}, fmt.Errorf("derive reply nonce: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return replyChannel{}, fmt.Errorf("reply cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return replyChannel{}, fmt.Errorf("reply cipher: %w", err)
	}
	return replyChannel{aead: aead, nonce: nonce}, nil
}

func (c *replyChannel) nextNonce() []byte {
	n := make([]byte, len(c.nonce))
	binary.BigEndian.PutUint64(n[len(n)-8:], c.seq)
	for i := range n {
		n[i] ^= c.nonce[i]
	}
	return n
}

// ReplySealer encrypts answers to the sender of an envelope; only
// OpenWithReply makes one. Replies are numbered: the sender must open them
// in the order they were sealed. Not safe for concurrent use.
type ReplySealer struct{ ch replyChannel }

// Seal encrypts the next reply, authenticating aad. A reply is
// len(plaintext) + 16 bytes, at most MaxSize.
func (s *ReplySealer) Seal(aad, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxSize-tagSize {
		return nil, fmt.Errorf("%w: a %d-byte reply is over %d bytes", ErrTooLarge, len(plaintext), MaxSize)
	}
	ct := s.ch.aead.Seal(nil, s.ch.nextNonce(), plaintext, aad)
	s.ch.seq++
	return ct, nil
}

// ReplyOpener decrypts the answers to an envelope, in the order they were
// sealed; only SealWithReply makes one. Not safe for concurrent use.
type ReplyOpener struct{ ch replyChannel }

// Open decrypts the next reply with the same aad it was sealed with. Every
// reply that does not authenticate (wrong envelope, aad or order, altered or
// truncated bytes) gives ErrDecrypt and does not advance the sequence.
func (o *ReplyOpener) Open(aad, reply []byte) ([]byte, error) {
	if len(reply) > MaxSize {
		return nil, fmt.Errorf("%w: %w: reply has %d bytes, limit %d", ErrMalformed, ErrTooLarge, len(reply), MaxSize)
	}
	pt, err := o.ch.aead.Open(nil, o.ch.nextNonce(), reply, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	o.ch.seq++
	return pt, nil
}
