// Package keys holds Phala-Go account keys: sr25519 (schnorrkel, the
// Substrate default) and ed25519, their 32-byte account ids and SS58
// addresses, domain-separated signatures, and Substrate-compatible key
// derivation from secret URIs ("<mnemonic>//hard/soft///password", "//Alice"),
// byte-for-byte like subkey and polkadot.js.
//
// Signatures are always domain-separated: the bytes signed are
// byte(len(ctx)) || ctx || msg for a Context ctx such as "phala/tx/v1", so a
// signature made for one purpose is never valid for another.
//
// Verification is deterministic and safe to call from consensus code; key
// generation and signing use crypto/rand. The package imports the standard
// library, crypto/ss58, github.com/ChainSafe/go-schnorrkel,
// github.com/cosmos/go-bip39 (its English word list only) and
// golang.org/x/crypto (blake2b, pbkdf2).
package keys
