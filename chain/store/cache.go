package store

import (
	"bytes"
	"slices"
)

// Cache buffers writes over a parent store. Reads see the buffered writes first. Write applies
// them to the parent in sorted key order; dropping the Cache discards them.
type Cache struct {
	parent Reader
	dirty  map[string]entry
}

type entry struct {
	value   []byte
	deleted bool
}

// NewCache returns an empty write buffer over parent.
func NewCache(parent Reader) *Cache {
	return &Cache{parent: parent, dirty: make(map[string]entry)}
}

func (c *Cache) Get(key []byte) []byte {
	if e, ok := c.dirty[string(key)]; ok {
		if e.deleted {
			return nil
		}
		return e.value
	}
	return c.parent.Get(key)
}

func (c *Cache) Set(key, value []byte) {
	checkKey(key)
	if value == nil {
		value = []byte{}
	}
	c.dirty[string(key)] = entry{value: value}
}

func (c *Cache) Delete(key []byte) {
	checkKey(key)
	c.dirty[string(key)] = entry{deleted: true}
}

// Len is the number of buffered writes.
func (c *Cache) Len() int { return len(c.dirty) }

// Write applies the buffered writes to parent in sorted key order and empties the buffer.
func (c *Cache) Write(parent KV) {
	for _, k := range c.sortedKeys(nil, nil) {
		e := c.dirty[k]
		if e.deleted {
			parent.Delete([]byte(k))
		} else {
			parent.Set([]byte(k), e.value)
		}
	}
	clear(c.dirty)
}

func (c *Cache) sortedKeys(start, end []byte) []string {
	keys := make([]string, 0, len(c.dirty))
	for k := range c.dirty {
		if inRange([]byte(k), start, end) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func inRange(key, start, end []byte) bool {
	return bytes.Compare(key, start) >= 0 && (end == nil || bytes.Compare(key, end) < 0)
}

// Iterator merges the buffered writes with the parent's keys in [start, end).
func (c *Cache) Iterator(start, end []byte) Iterator {
	it := &mergedIterator{parent: c.parent.Iterator(start, end), cache: c, keys: c.sortedKeys(start, end)}
	it.settle()
	return it
}

// mergedIterator walks the parent's keys and the cache's sorted keys together; on equal keys
// the cache wins, and deleted entries are skipped.
type mergedIterator struct {
	parent Iterator
	cache  *Cache
	keys   []string
	key    []byte
	value  []byte
	valid  bool
}

// settle moves to the next visible key at or after the current positions.
func (it *mergedIterator) settle() {
	for {
		parentOK, cacheOK := it.parent.Valid(), len(it.keys) > 0
		if !parentOK && !cacheOK {
			it.valid = false
			return
		}
		var cmp int
		switch {
		case !parentOK:
			cmp = 1
		case !cacheOK:
			cmp = -1
		default:
			cmp = bytes.Compare(it.parent.Key(), []byte(it.keys[0]))
		}
		if cmp < 0 {
			it.key, it.value, it.valid = it.parent.Key(), it.parent.Value(), true
			return
		}
		if cmp == 0 {
			it.parent.Next()
		}
		k := it.keys[0]
		if e := it.cache.dirty[k]; !e.deleted {
			it.key, it.value, it.valid = []byte(k), e.value, true
			return
		}
		it.keys = it.keys[1:]
	}
}

func (it *mergedIterator) Valid() bool { return it.valid }

func (it *mergedIterator) Next() {
	if !it.valid {
		panic("store: Next on an exhausted iterator")
	}
	// The current key came from the cache iff it is the cache's head key.
	if len(it.keys) > 0 && it.keys[0] == string(it.key) {
		it.keys = it.keys[1:]
	} else {
		it.parent.Next()
	}
	it.settle()
}

func (it *mergedIterator) Key() []byte   { return it.key }
func (it *mergedIterator) Value() []byte { return it.value }
func (it *mergedIterator) Close()        { it.parent.Close() }
