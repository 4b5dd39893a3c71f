package pruntime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/phala-go/phala/chain/app"
	"github.com/phala-go/phala/chain/store"
	"github.com/phala-go/phala/pruntime/api"
)

// importing is a snapshot being loaded across LoadSnapshot calls.
type importing struct {
	height   int64
	tree     *store.Tree
	importer *store.Importer
	decoder  store.ExportDecoder
}

// SyncHeaders verifies headers without replaying their blocks (fast sync's first half).
func (r *Runtime) SyncHeaders(req *api.SyncHeadersRequest) (*api.SyncHeadersResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.init == nil {
		return nil, ErrNotInitialized
	}
	for _, h := range req.GetHeaders() {
		if err := r.replica.SyncHeader(h.GetSignedHeader(), h.GetValidatorSet()); err != nil {
			return nil, err
		}
	}
	return &api.SyncHeadersResponse{HeaderHeight: r.replica.HeadHeight()}, nil
}

// LoadSnapshot streams a state snapshot in. The state must reproduce the AppHash that the
// verified header after its height commits to; otherwise it is refused and the runtime starts
// over from genesis.
func (r *Runtime) LoadSnapshot(req *api.LoadSnapshotRequest) (resp *api.LoadSnapshotResponse, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.treeMu.Lock() // writes the trees queries read (see treeMu)
	defer r.treeMu.Unlock()
	if r.init == nil {
		return nil, ErrNotInitialized
	}
	defer recoverStorage(&err)
	if r.importing == nil {
		if err := r.beginImport(req.GetHeight()); err != nil {
			return nil, err
		}
	}
	imp := r.importing
	if req.GetHeight() != imp.height {
		return nil, fmt.Errorf("snapshot chunk for height %d while loading height %d", req.GetHeight(), imp.height)
	}
	nodes, err := imp.decoder.Feed(req.GetChunk())
	if err != nil {
		return nil, errors.Join(err, r.abortImport())
	}
	for _, n := range nodes {
		if err := imp.importer.Add(n); err != nil {
			return nil, errors.Join(fmt.Errorf("snapshot node: %w", err), r.abortImport())
		}
	}
	if !req.GetLast() {
		return &api.LoadSnapshotResponse{}, nil
	}
	if err := r.finishImport(); err != nil {
		return nil, errors.Join(err, r.abortImport())
	}
	return &api.LoadSnapshotResponse{VerifiedHeight: r.replica.Height()}, nil
}

// beginImport replaces the (fresh) chain state with an empty tree to import into.
func (r *Runtime) beginImport(height int64) error {
	want, _, err := r.replica.SnapshotTarget()
	if err != nil {
		return err
	}
	if height != want {
		return fmt.Errorf("snapshot at height %d, but the verified headers reach %d: send headers up to the snapshot's height + 1", height, want+1)
	}
	rep := r.replica
	r.closeDB()
	if err := os.RemoveAll(filepath.Join(r.cfg.DataDir, stateDir)); err != nil {
		return err
	}
	if err := r.openDB(); err != nil {
		return err
	}
	tree, err := store.OpenTreeWith(r.chainDB(), nil, store.TreeOptions{NoFastIndex: true})
	if err != nil {
		return err
	}
	importer, err := tree.Import(height)
	if err != nil {
		return err
	}
	r.replica = rep // keeps the verified headers while the state is replaced
	r.importing = &importing{height: height, tree: tree, importer: importer}
	return nil
}

func (r *Runtime) finishImport() error {
	imp := r.importing
	if err := imp.decoder.Done(); err != nil {
		return err
	}
	if err := imp.importer.Commit(); err != nil {
		return fmt.Errorf("commit snapshot: %w", err)
	}
	imp.importer.Close()
	if err := imp.tree.Close(); err != nil {
		return err
	}
	a, err := app.New(app.Config{DB: r.chainDB(), Logger: r.log.With("module", "replica"), Store: store.TreeOptions{Version: imp.height, NoFastIndex: true}})
	if err != nil {
		return err
	}
	rep, err := r.replica.Installed(a)
	if err != nil {
		a.Close()
		return err
	}
	st, err := store.OpenTreeWith(r.runtimeDB(), nil, store.TreeOptions{NoFastIndex: true})
	if err != nil {
		return err
	}
	r.app, r.replica, r.state, r.importing, r.snapshotHeight = a, rep, st, nil, imp.height
	if err := r.onCommit(imp.height); err != nil {
		return err
	}
	r.log.Info("state snapshot installed", "height", imp.height)
	return r.writeCheckpoint()
}

// abortImport drops a failed import and starts over from genesis.
func (r *Runtime) abortImport() error {
	if r.importing != nil {
		r.importing.importer.Close()
		_ = r.importing.tree.Close()
		r.importing = nil
	}
	r.metrics.integrity.WithLabelValues("snapshot_refused").Inc()
	return r.reset("snapshot refused")
}
