// Package registry decides which workers the chain trusts: the governed runtime allowlist
// (measurements of allowed pRuntime builds), worker registration with TEE evidence verified at
// block time, and the gatekeeper set.
//
// A registration binds the worker's keys: the evidence's report data must be SHA-512 of the
// exact WorkerInfo bytes in the transaction, which name this chain, its genesis and a recent
// block. A worker counts as registered (Active) only while its attestation is unexpired and its
// measurement is still allowed; re-registration refreshes it.
//
// Deterministic: imports chain/module, chain/store, tee (the pure verifier), crypto/keys and
// crypto/hpke (public-key validation).
package registry
