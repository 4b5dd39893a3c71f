// Package client is the Go library for talking to a Phala-Go node: read state (optionally with a
// Merkle proof checked against a light-client-verified header), build, sign and submit
// transactions and wait for their inclusion. The CLI, the tests and integrators use it.
//
// Errors the chain returns keep their identity: errors.Is(err, accounts.ErrInsufficientBalance)
// works on a failure that came back over RPC.
//
// It may import chain/... (types and codes only), crypto/..., and CometBFT's RPC and light client.
package client
