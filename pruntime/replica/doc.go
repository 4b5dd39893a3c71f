// Package replica makes pRuntime a verifying replica of the chain: it accepts a block only
// after CometBFT's light-client verification of its signed header (from the genesis validator
// set pinned at init, following every validator-set change through the headers), checks the
// transactions against the header's data hash, replays them through the chain's own state
// machine (chain/app, the same code validators run), and commits the resulting state only when
// the next verified header commits to the same AppHash and results hash.
//
// Everything pRuntime then reads from chain state is therefore verified. Any failed check
// names the height and the check, and nothing advances.
//
// It may import chain/..., CometBFT's light, types and ABCI packages.
package replica
