package store

import (
	"bytes"
	"fmt"
)

// Reader reads state.
type Reader interface {
	// Get returns the value under key, or nil when there is none.
	Get(key []byte) []byte
	// Iterator walks the keys in [start, end) in ascending order; a nil end means no upper bound.
	// The caller must Close it, and must not write to the store while it is open.
	Iterator(start, end []byte) Iterator
}

// KV reads and writes state.
type KV interface {
	Reader
	// Set stores value under key. Keys must not be empty; a nil value is stored as empty.
	Set(key, value []byte)
	Delete(key []byte)
}

// Iterator walks a range of keys.
type Iterator interface {
	Valid() bool
	Next()
	Key() []byte
	Value() []byte
	Close()
}

// FatalError reports a failure of the storage itself (disk, corruption). State-machine code
// cannot recover from it; it is raised as a panic and turned into a halt at the ABCI boundary.
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return "state storage failed: " + e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

func fatal(op string, err error) {
	panic(&FatalError{Err: fmt.Errorf("%s: %w", op, err)})
}

// PrefixEnd returns the smallest key greater than every key with the prefix, for iteration
// bounds; nil when no such key exists (the prefix is all 0xff).
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func checkKey(key []byte) {
	if len(key) == 0 {
		panic("store: empty key")
	}
}
