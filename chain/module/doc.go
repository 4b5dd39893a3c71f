// Package module defines what a chain module is given and what it provides: the execution
// Context (state, block height and time, events, atomic branches), the Router that dispatches
// messages to their handlers by protobuf type, and the Module interface the application wires.
//
// Modules talk to each other through the router or narrow interfaces, never through each
// other's state. This package is deterministic: it may import chain/store, chain/errcode,
// crypto/keys, protobuf and CometBFT's ABCI types, nothing that does I/O.
package module
