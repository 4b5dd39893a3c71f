// Package seal protects what pRuntime writes to the untrusted disk of its host. The host can
// read, change, delete or roll back any file; everything here is encrypted and authenticated
// under keys derived from the TEE's sealing key, which is bound to the runtime's measurement:
//
//   - DB wraps a key-value database: every value is sealed with AEAD bound to its key, so a
//     value cannot be read, altered, or moved to another key without detection (the keys stay
//     in clear: the chain replica's are public, and ordering must survive for iteration);
//   - File seals small files (worker keys, checkpoint manifests) bound to a purpose.
//
// Detection of whole-database rollback is the checkpoint manifest's job (package pruntime).
// It may import the standard library, x/crypto, cosmos-db and crypto/kdf.
package seal
