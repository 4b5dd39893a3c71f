// Package sdk is the Phala-Go contract SDK: it turns a plain Go main package into a confidential
// contract compiled with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
//
// The SDK defines the three Wasm exports the VM calls (instantiate, execute, query) and dispatches
// them to handlers the contract registers in an init function:
//
//	func init() {
//		sdk.Init(func(ctx sdk.Context, msg InitMsg) error { ... })
//		sdk.Handle("transfer", func(ctx sdk.Context, msg Transfer) error { ... })
//		sdk.HandleQuery("balance", func(ctx sdk.Context, _ struct{}) (Balance, error) { ... })
//	}
//
// Commands and queries are JSON objects with one key naming the handler: {"transfer": {...}}.
// Storage (Get, Set, Item, Map), the Context (caller, own address, block, events, randomness,
// synchronous cross-contract calls, asynchronous messages, transfers of the contract's funds)
// and the crypto helpers (SHA256, SHA3_256, VerifyEd25519, VerifySr25519) are answered by the
// VM's host functions; docs/contract-abi.md in the Phala-Go repository specifies them. The chain
// itself delivers deposits and bounces, which HandleDeposit and HandleBounce receive.
//
// Compiled natively (any GOOS other than wasip1), the same contract runs against the in-memory
// host of package sdktest, so contracts are unit-tested with plain go test.
//
// Errors a handler returns abort the call: the VM discards every write the call made and returns
// the error's message to the caller. Host-side violations (writing from a query, an oversized
// value, a malformed event topic) and panics trap, with the same effect. The package imports only
// the standard library.
package sdk
