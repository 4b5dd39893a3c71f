// Package gas parses contract Wasm binaries and injects deterministic gas metering and a
// stack-depth limit into them before they are compiled.
//
// Parse decodes a module strictly and checks that it only uses the feature set contracts may
// use: Wasm 1.0 plus sign-extension, non-trapping float-to-int conversion, bulk memory
// (memory.init/copy/fill, data.drop) and multi-value; SIMD, threads and everything else are
// refused. Instrument returns a metered copy of a module: gas lives in an exported mutable i64
// global (GasGlobalExport), charged in precomputed amounts at the start of metered regions and
// dynamically for memory.grow and the bulk-memory instructions; a depth global
// (DepthGlobalExport) bounds recursion. Meter is how a host sets the budget, reads what is left,
// charges from host functions and tells out-of-gas and stack-exhaustion traps from other traps.
// docs/gas.md gives the cost model and the determinism argument.
//
// Instrumentation is deterministic: it depends only on the input bytes and the Config, never on
// maps, time or randomness. The package imports only the standard library and wazero's api
// package (for Meter).
package gas
