// Package registry decides which workers the chain trusts and which keys they hold: the
// governed runtime allowlist (measurements of allowed pRuntime builds), worker registration
// with TEE evidence verified at block time, the gatekeeper set, the master key's published
// generations, the tasks the chain sets gatekeepers (create, share and rotate the master key;
// publish and share cluster keys) and governed clusters of workers.
//
// A registration binds the worker's keys: the evidence's report data must be SHA-512 of the
// exact WorkerInfo bytes in the transaction, which name this chain, its genesis and a recent
// block. A worker counts as registered (Active) only while its attestation is unexpired and its
// measurement is still allowed; re-registration refreshes it.
//
// Gatekeepers answer task n with the gatekeeper origin's message of sequence n on
// TopicGatekeeper, signed by the current master key (by the chosen gatekeeper's identity key
// for the first generation) and by the producing gatekeeper's identity key; the chain checks
// that each answer fits its task before applying it. Key material only ever travels in
// envelopes sealed to the recipient's registered X-Wing key (docs/gatekeepers.md).
//
// Deterministic: imports chain/module, chain/store, chain/modules/mq (types and resolvers), tee
// (the pure verifier), crypto/keys, crypto/envelope (envelope headers) and crypto/hpke
// (public-key validation).
package registry
