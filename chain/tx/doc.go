// Package tx defines the chain's transactions: their protobuf encoding (generated, from
// proto/phala/tx/v1), strict decoding with stateless checks, the domain-separated signature over
// the exact body bytes, and Build for clients.
//
// A transaction is {body bytes, signature}: the signature covers the body bytes as transmitted,
// so checking it never depends on re-encoding. Decoding is deterministic and imports no I/O.
package tx
