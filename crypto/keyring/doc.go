// Package keyring is the named account-key store on disk behind
// `phala keys add|import|list|show|export`.
//
// Each key is one JSON file, <dir>/<backend>/<name>.json (mode 0600, in a
// 0700 directory), holding the key type, the public key and address in clear
// (so listing needs no passphrase) and the secret URI it was created from (so
// export can give the mnemonic back). The file backend encrypts the secret URI
// with XChaCha20-Poly1305 under a key stretched from a passphrase with
// Argon2id, binding the public fields as associated data; the test backend
// stores it in clear and is for development only. The two backends live in
// separate subdirectories so a test key is never taken for an encrypted one.
//
// The package imports the standard library, crypto/keys and
// golang.org/x/crypto (argon2, chacha20poly1305). It uses the file system and
// crypto/rand, so consensus code must not call it.
package keyring
