package module

import (
	"encoding/binary"
	"time"

	"github.com/phala-go/phala/chain/store"
)

// RecentBlocks is how many past blocks' hash and time the state remembers, so that evidence and
// signatures can name a recent block to prove they are fresh.
const RecentBlocks = 1024

var (
	prefixRecent   = []byte("app/recent/")
	keyGenesisHash = []byte("app/genesis_hash")
)

func recentKey(height int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{}, prefixRecent...), uint64(height))
}

// RecordBlock remembers the current block's hash and time and forgets the block RecentBlocks
// before it.
func RecordBlock(kv store.KV, b Block) {
	v := binary.BigEndian.AppendUint64(append([]byte{}, b.Hash...), uint64(b.Time.UnixNano()))
	kv.Set(recentKey(b.Height), v)
	if old := b.Height - RecentBlocks; old > 0 {
		kv.Delete(recentKey(old))
	}
}

// RecentBlock returns the hash and time of a block among the last RecentBlocks.
func RecentBlock(r store.Reader, height int64) (hash []byte, t time.Time, ok bool) {
	v := r.Get(recentKey(height))
	if len(v) < 8 {
		return nil, time.Time{}, false
	}
	n := len(v) - 8
	return v[:n], time.Unix(0, int64(binary.BigEndian.Uint64(v[n:]))).UTC(), true
}

// SetGenesisHash records the chain's genesis hash: the AppHash after InitChain, which is also
// the AppHash in the header of the initial height, so anyone can check it.
func SetGenesisHash(kv store.KV, h []byte) { kv.Set(keyGenesisHash, h) }

// GenesisHash returns the chain's genesis hash (nil before the first block).
func GenesisHash(r store.Reader) []byte { return r.Get(keyGenesisHash) }
