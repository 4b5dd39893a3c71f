// Package devnet runs the whole network on one machine for development: a validator with
// funded dev accounts, pRuntimes with the simulated TEE (child processes) each with its relayer
// (pherry, in process), the first runtimes made gatekeepers (they create and share the master
// key) and the others put in a cluster (they receive its key) and serving signed queries on a
// port of their own next to their API, which their relayers publish. Optionally it deploys the
// token example (examples/contracts/token, built with the Go toolchain from the repository
// checkout) in cluster 1. `phala dev` is a thin command over it.
//
// Home layout, besides the node's own files (config/, data/, sim-tee-secret):
//
//	pruntime/gk1 .. pruntime/gkM          data directories of the gatekeeper runtimes
//	pruntime/worker1 .. pruntime/workerN  data directories of the cluster workers
//	pruntime/devnet.json                  what the key bootstrap did (identity keys) and the
//	                                      token example's contract id once deployed
//	pruntime-gk1.log, pruntime-worker1.log ...  each runtime's output
//
// A resumed home runs every runtime it has plus new ones up to the counts asked; it never
// removes one. The key bootstrap is idempotent and does not undo governance: a runtime the
// council removed from the gatekeepers or from its cluster stays removed. The token example is
// deployed once per home. Listen ports are picked at every start; a worker's relayer publishes
// its query URL again when it changed.
//
// It may import node, pherry, client, the chain's module types, pruntime (constants and API),
// tee and contract/build. It is not used by the chain, the runtime or any production path.
package devnet
