// Package pruntime is the confidential worker runtime: a verifying replica of the chain that
// acts only on what it verified itself, and whose output (signed egress) lands on chain exactly
// once.
//
// The host (pherry) feeds it blocks through the API; replica verifies and replays them. For
// every committed height the runtime reads the messages the chain routed to workers from its
// own verified state and dispatches them to its handlers (the system handler now; gatekeeper
// and contracts later), which append signed messages to per-origin outboxes. Outboxes are
// pruned as the chain's ingress counters (read from verified state) pass them.
//
// Everything on disk is sealed (package seal) under keys bound to the TEE measurement. The
// runtime's own state is a versioned Merkle tree committed in lockstep with the chain replica;
// a sealed checkpoint manifest names the height and both roots, so a tampered, mixed or
// rolled-back store is detected on load and the runtime falls back to a verified re-sync.
// Egress is a deterministic function of the verified chain, so a crash loses nothing: replay
// re-derives it.
//
// It may import chain/..., crypto/..., tee, pruntime/..., CometBFT types, cosmos-db, wazero
// (contracts, later) and prometheus. It must build without cgo.
package pruntime
