// Package bench runs whole-system benchmarks for `phala bench`. Each one measures the chain
// against a baseline in the same run, on the same machine, with the same client, and reports
// the ratio: absolute figures vary with the machine, ratios much less.
//
// It starts real nodes (in-process, on loopback) and may import anything the node and client
// import. It is not part of the state machine.
package bench
