// Package store holds the chain state: a versioned IAVL Merkle tree on disk whose root is the
// AppHash, and Cache, a write buffer that makes a block, a transaction or a message atomic.
//
// State-machine code reads and writes through KV. A Cache flushes its writes to its parent in
// sorted key order, because the shape (and so the root hash) of an AVL tree depends on insertion
// order: every replica must insert in the same order. I/O failures of the tree are not input
// errors: they panic with a *FatalError, which the application turns into a halt.
//
// It may import iavl, cosmos-db, ics23 and the standard library; never network or clock code.
package store
