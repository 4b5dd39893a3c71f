// Package app is the chain's state machine as an ABCI++ application. CometBFT runs it in-process
// (node package); pRuntime runs the very same code over verified blocks and must reach the same
// AppHash, so everything here is a pure function of (state, block).
//
// FinalizeBlock stages a block's writes in a cache and returns the working root hash; Commit
// persists them (the kvstore discipline), so a crash between the two replays the block. Info
// reports the last committed height and hash for CometBFT's handshake after a restart.
//
// One exception to "no goroutines", made on purpose: the signatures of a block's transactions
// are verified in parallel before execution. Verification is a pure function of the bytes and
// its results are used in block order, so replicas cannot diverge through it.
//
// It may import chain/..., crypto/keys, CometBFT's ABCI types, cosmos-db, prometheus.
package app
