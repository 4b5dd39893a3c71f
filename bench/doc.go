// Package bench runs whole-system benchmarks for `phala bench`. Each one measures the chain
// against a baseline in the same run, on the same machine, with the same client, and reports
// the ratio: absolute figures vary with the machine, ratios much less.
//
// It starts real nodes, pRuntimes and relayers (in-process, on loopback) and builds example
// contracts (contract/build), so it may import the node, the client, pRuntime, pherry and the
// contract VM. It is not part of the state machine.
package bench
