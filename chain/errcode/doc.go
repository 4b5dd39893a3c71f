// Package errcode gives chain errors stable (codespace, code) identities that survive the trip
// through ABCI and RPC, so a client can test a remote failure with errors.Is against the same
// sentinel the state machine returned.
//
// Each module declares its sentinels with New in one var block. Codes are part of the protocol:
// never renumber or reuse one. This package imports only the standard library.
package errcode
