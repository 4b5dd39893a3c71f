// Package envelope encrypts a message to a public key with HPKE (RFC 9180,
// Go's crypto/hpke): commands to a contract, queries to a worker and their
// answers, and key distribution from gatekeepers to workers.
//
// A suite is a KEM (DHKEM(X25519), or the post-quantum hybrid X-Wing,
// ML-KEM-768 + X25519) with the KDF (HKDF-SHA256) and AEAD (AES-256-GCM)
// fixed by the envelope format version. The KEM is part of every PublicKey
// and every envelope. Every envelope is bound to a Purpose and a caller
// context through the HPKE info, so a ciphertext made for one purpose or
// context never opens under another. A recipient can answer the sender
// without a key of its own (OpenWithReply / SealWithReply).
//
// Opening is deterministic given its inputs; sealing and key generation use
// crypto/rand. The package imports only the standard library. The wire
// format is documented in docs/crypto-envelopes.md.
package envelope
