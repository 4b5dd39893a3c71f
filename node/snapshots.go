package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phala-go/phala/chain/app"
	"github.com/phala-go/phala/chain/store"
)

// SnapshotChunkSize is how many bytes one /snapshot/chunk query returns.
const SnapshotChunkSize = 2 << 20

const snapshotSuffix = ".snapshot"

// snapshotter exports the state every interval blocks into the home, so workers can fast-sync
// from a recent state instead of replaying from genesis. It runs beside consensus and reads
// only committed versions.
type snapshotter struct {
	dir      string
	app      *app.App
	interval int64
	keep     int
	log      *slog.Logger
	mu       sync.Mutex // serialises exports with listing and pruning
}

func (s *snapshotter) path(h int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", h, snapshotSuffix))
}

// run checks once a second for a new multiple of the interval until ctx ends.
func (s *snapshotter) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		h := s.app.Height() / s.interval * s.interval
		if h == 0 {
			continue
		}
		if _, err := os.Stat(s.path(h)); err == nil {
			continue
		}
		if err := s.export(ctx, h); err != nil && ctx.Err() == nil {
			s.log.Error("state snapshot failed", "height", h, "err", err)
		}
	}
}

func (s *snapshotter) export(ctx context.Context, h int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := s.app.State(h)
	if err != nil {
		return err
	}
	exp, err := snap.Export()
	if err != nil {
		return err
	}
	defer exp.Close()
	tmp, err := os.CreateTemp(s.dir, ".snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	for ctx.Err() == nil {
		n, err := exp.Next()
		if errors.Is(err, store.ErrExportDone) {
			break
		}
		if err != nil {
			tmp.Close()
			return err
		}
		if _, err := tmp.Write(store.EncodeExportNode(n)); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := errors.Join(ctx.Err(), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.path(h)); err != nil {
		return err
	}
	s.log.Info("state snapshot written", "height", h)
	return s.prune()
}

// prune keeps the newest snapshots.
func (s *snapshotter) prune() error {
	list, err := s.heights()
	if err != nil {
		return err
	}
	for len(list) > s.keep {
		if err := os.Remove(s.path(list[0])); err != nil {
			return err
		}
		list = list[1:]
	}
	return nil
}

func (s *snapshotter) heights() ([]int64, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), snapshotSuffix)
		if !ok {
			continue
		}
		if h, err := strconv.ParseInt(name, 10, 64); err == nil {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (s *snapshotter) ListSnapshots() ([]app.SnapshotInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs, err := s.heights()
	if err != nil {
		return nil, err
	}
	out := make([]app.SnapshotInfo, 0, len(hs))
	for _, h := range hs {
		fi, err := os.Stat(s.path(h))
		if err != nil {
			return nil, err
		}
		chunks := uint32((fi.Size() + SnapshotChunkSize - 1) / SnapshotChunkSize)
		out = append(out, app.SnapshotInfo{Height: h, Size: fi.Size(), Chunks: max(chunks, 1), ChunkSize: SnapshotChunkSize})
	}
	return out, nil
}

func (s *snapshotter) LoadChunk(height int64, index uint32) ([]byte, error) {
	f, err := os.Open(s.path(height))
	if err != nil {
		return nil, fmt.Errorf("no snapshot at height %d", height)
	}
	defer f.Close()
	buf := make([]byte, SnapshotChunkSize)
	n, err := f.ReadAt(buf, int64(index)*SnapshotChunkSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

// LatestSnapshot is the height of the newest state snapshot on disk (0: none).
func (n *Node) LatestSnapshot() int64 {
	if n.snapshots == nil {
		return 0
	}
	list, err := n.snapshots.ListSnapshots()
	if err != nil || len(list) == 0 {
		return 0
	}
	return list[len(list)-1].Height
}
