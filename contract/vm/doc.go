// Package vm runs confidential contracts: WebAssembly modules (Go built with GOOS=wasip1
// GOARCH=wasm -buildmode=c-shared) executed by wazero with deterministic gas metering.
//
// Validate checks an upload; Engine.Load instruments a module (package gas), compiles it (cached
// on disk), runs its _initialize export once and keeps the post-initialisation memory image and
// globals. Every Code.Call starts from that snapshot, restored in place, so all replicas, a
// freshly restarted one included, run every command and query from the same state and use the
// same gas. The contract reaches its host (storage, caller, block, events, randomness, hashing,
// signatures, cross-contract calls, asynchronous messages, transfers of its funds) through the
// imports of module "phala", and Go's runtime reaches the deterministic answers of module
// "wasi_snapshot_preview1": no wall clock, no ambient randomness, no filesystem.
// docs/contract-abi.md specifies both, with the gas of each.
//
// A failed call (Result.Err != nil: trap, out of gas, contract error, limit) must have its
// writes, messages and transfers discarded by the Host; the instance is restored before its
// next use, so the worker keeps serving. Queries run concurrently on a bounded pool of
// instances per Code.
//
// Everything that influences the result or the gas of a call (the module, Config.Gas,
// Config.Costs, the limits and MaxMemoryPages, and the Host's answers) is consensus-relevant;
// the engine kind (compiler or interpreter) and the cache are not. The package imports the
// standard library, wazero, contract/gas and crypto/keys (signature verification).
package vm
