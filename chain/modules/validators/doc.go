// Package validators keeps the consensus validator set in state and lets the council change it.
// Genesis validators come from CometBFT's InitChain; each change becomes a validator update in
// FinalizeBlock's response, which CometBFT applies two blocks later (and which light clients,
// pRuntime among them, follow through the headers' validator hashes).
//
// Deterministic: imports chain/module, chain/store, chain/errcode and CometBFT's ABCI types.
package validators
