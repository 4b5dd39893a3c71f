package store

import (
	"errors"
	"fmt"
	"log/slog"

	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"
	ics23 "github.com/cosmos/ics23/go"
)

// nodeCacheSize is how many IAVL nodes stay in memory (about 100 bytes each plus key and value).
const nodeCacheSize = 200_000

// ErrVersionNotFound is returned for a state version that was never committed or was pruned.
var ErrVersionNotFound = errors.New("state version not found")

// Tree is the versioned Merkle state. Writes go to a working version that Commit saves; the
// working version's root hash is available before the commit, as ABCI++ FinalizeBlock needs.
type Tree struct {
	tree *iavl.MutableTree
}

// OpenTree loads the latest committed version stored in db (none for a new database). A nil
// logger discards the tree's logs.
func OpenTree(db dbm.DB, logger *slog.Logger) (*Tree, error) {
	return OpenTreeWith(db, logger, TreeOptions{})
}

// TreeOptions adjust how a tree is opened.
type TreeOptions struct {
	// Version loads this committed version and deletes any later one (0: the latest). A replica
	// resuming from a checkpoint uses it.
	Version int64
	// NoFastIndex reads only through the Merkle nodes. IAVL's fast index holds one overwritable
	// entry per key, which a host controlling the disk could roll back individually; tree nodes
	// are written once per version, so on untrusted disk (pRuntime) only they are read.
	NoFastIndex bool
}

// OpenTreeWith opens a tree with options.
func OpenTreeWith(db dbm.DB, logger *slog.Logger, o TreeOptions) (*Tree, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := iavl.NewMutableTree(idb.NewWrapper(db), nodeCacheSize, o.NoFastIndex, logger, iavl.SyncOption(true))
	if o.Version > 0 {
		if err := t.LoadVersionForOverwriting(o.Version); err != nil {
			return nil, fmt.Errorf("%w: load state version %d: %v", ErrVersionNotFound, o.Version, err)
		}
		if t.Version() != o.Version {
			return nil, fmt.Errorf("%w: asked for state version %d, the database has %d", ErrVersionNotFound, o.Version, t.Version())
		}
		return &Tree{tree: t}, nil
	}
	if _, err := t.Load(); err != nil {
		return nil, fmt.Errorf("load state tree: %w", err)
	}
	return &Tree{tree: t}, nil
}

// SetInitialVersion makes the first Commit save this version (the chain's initial height).
func (t *Tree) SetInitialVersion(v int64) { t.tree.SetInitialVersion(uint64(v)) }

// Version is the last committed version (0 before the first commit).
func (t *Tree) Version() int64 { return t.tree.Version() }

// Hash is the root hash of the last committed version.
func (t *Tree) Hash() []byte { return t.tree.Hash() }

// WorkingHash is the root hash of the working version, with every write so far.
func (t *Tree) WorkingHash() []byte { return t.tree.WorkingHash() }

// Commit saves the working version and returns its hash and number.
func (t *Tree) Commit() ([]byte, int64, error) {
	hash, version, err := t.tree.SaveVersion()
	if err != nil {
		return nil, 0, fmt.Errorf("commit state version: %w", err)
	}
	return hash, version, nil
}

// Rollback discards the working version's writes.
func (t *Tree) Rollback() { t.tree.Rollback() }

// Working gives read and write access to the working version.
func (t *Tree) Working() KV { return working{t.tree} }

// Close releases the tree; the caller closes the database.
func (t *Tree) Close() error { return t.tree.Close() }

type working struct{ t *iavl.MutableTree }

func (w working) Get(key []byte) []byte {
	v, err := w.t.Get(key)
	if err != nil {
		fatal("get", err)
	}
	return v
}

func (w working) Set(key, value []byte) {
	checkKey(key)
	if value == nil {
		value = []byte{}
	}
	if _, err := w.t.Set(key, value); err != nil {
		fatal("set", err)
	}
}

func (w working) Delete(key []byte) {
	if _, _, err := w.t.Remove(key); err != nil {
		fatal("delete", err)
	}
}

func (w working) Iterator(start, end []byte) Iterator {
	it, err := w.t.Iterator(start, end, true)
	if err != nil {
		fatal("iterate", err)
	}
	return dbIterator{it}
}

// Snapshot is a read-only view of one committed version, able to prove what it holds.
type Snapshot struct {
	tree *iavl.ImmutableTree
}

// Snapshot opens a committed version for reading.
func (t *Tree) Snapshot(version int64) (*Snapshot, error) {
	if !t.tree.VersionExists(version) {
		return nil, fmt.Errorf("%w: %d (latest is %d)", ErrVersionNotFound, version, t.tree.Version())
	}
	it, err := t.tree.GetImmutable(version)
	if err != nil {
		return nil, fmt.Errorf("open state version %d: %w", version, err)
	}
	return &Snapshot{tree: it}, nil
}

// Version is the snapshot's version.
func (s *Snapshot) Version() int64 { return s.tree.Version() }

// Hash is the snapshot's root hash: the AppHash of its version.
func (s *Snapshot) Hash() []byte { return s.tree.Hash() }

func (s *Snapshot) Get(key []byte) []byte {
	v, err := s.tree.Get(key)
	if err != nil {
		fatal("get", err)
	}
	return v
}

func (s *Snapshot) Iterator(start, end []byte) Iterator {
	it, err := s.tree.Iterator(start, end, true)
	if err != nil {
		fatal("iterate", err)
	}
	return dbIterator{it}
}

// Prove returns the value under key (nil if absent) and an ICS-23 proof of its presence or
// absence against Hash.
func (s *Snapshot) Prove(key []byte) ([]byte, *ics23.CommitmentProof, error) {
	value := s.Get(key)
	var (
		proof *ics23.CommitmentProof
		err   error
	)
	if value != nil {
		proof, err = s.tree.GetMembershipProof(key)
	} else {
		proof, err = s.tree.GetNonMembershipProof(key)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("prove key %x at version %d: %w", key, s.Version(), err)
	}
	return value, proof, nil
}

// Exporter streams a committed version's nodes, for snapshots that reproduce the tree (and so
// its root hash) exactly.
type Exporter = iavl.Exporter

// ExportNode is one node of an export.
type ExportNode = iavl.ExportNode

// ErrExportDone ends an export.
var ErrExportDone = iavl.ErrorExportDone

// Export starts exporting a committed version.
func (s *Snapshot) Export() (*Exporter, error) { return s.tree.Export() }

// Importer rebuilds a tree from an export.
type Importer = iavl.Importer

// Import starts rebuilding an empty tree as the given version.
func (t *Tree) Import(version int64) (*Importer, error) { return t.tree.Import(version) }

type dbIterator struct{ it dbm.Iterator }

func (d dbIterator) Valid() bool   { return d.it.Valid() }
func (d dbIterator) Next()         { d.it.Next() }
func (d dbIterator) Key() []byte   { return d.it.Key() }
func (d dbIterator) Value() []byte { return d.it.Value() }
func (d dbIterator) Close() {
	if err := d.it.Close(); err != nil {
		fatal("close iterator", err)
	}
}
