// Package kdf is Phala-Go's key tree: every secret a worker or gatekeeper
// holds below the master key is derived here, with HKDF-SHA256 and
// unambiguous, length-prefixed labels:
//
//	master -> cluster key (cluster id) -> contract key (contract id)
//	contract key -> HPKE key pair, state key, randomness per block
//
// Everything is deterministic (no clock, no randomness, no I/O), so every
// replica and gatekeeper derives the same keys; the labels and test vectors
// are in docs/crypto-envelopes.md. The package imports the standard library
// and crypto/envelope.
package kdf
