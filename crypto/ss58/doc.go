// Package ss58 encodes and decodes 32-byte account ids in the SS58 address
// format used by Substrate chains (Polkadot, Kusama, Phala, ...), so the
// addresses Phala-Go prints are the ones every Polkadot wallet shows.
//
// Format: base58(prefix || id || checksum), where prefix is one byte for
// network prefixes 0..63 and two bytes for 64..16383, and checksum is the first
// two bytes of blake2b-512("SS58PRE" || prefix || id).
//
// The package is pure and deterministic. It imports only the standard library
// and golang.org/x/crypto/blake2b.
package ss58
