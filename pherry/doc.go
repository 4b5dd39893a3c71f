// Package pherry is the relayer between a chain node and a pRuntime. It is untrusted: nothing
// it does can make pRuntime accept a false input, so its job is only to keep the worker fed and
// its output delivered. On start it initialises the runtime with the chain's genesis and
// registers the worker (re-registering before the attestation expires); then it loops: fetch
// blocks (batched, prefetched), hand them to the runtime, and submit every egress message the
// chain has not accepted yet. Errors back off and retry, so node and runtime restarts are
// survived; the relayer account's nonce always comes from the node's mempool view, so it never
// sticks or skips across restarts and rejected transactions.
//
// It may import client, chain types, pruntime/api, tee/collateral and CometBFT's RPC client.
package pherry
