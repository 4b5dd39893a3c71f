package sdk

import (
	"encoding/json"
	"fmt"
)

// The contract's storage is a private, ordered key-value store: only this contract reads it,
// and the host encrypts it at rest. Keys are 1 to 1024 bytes, values at most 64 KiB by default
// (the VM's configuration); a write beyond a limit traps, and so does any write from a query.

// Get returns the value stored at key, or ok == false.
func Get(key []byte) (value []byte, ok bool) { return hostGet(key) }

// Set stores value at key.
func Set(key, value []byte) { hostSet(key, value) }

// Remove deletes key; removing an absent key is not an error.
func Remove(key []byte) { hostRemove(key) }

// Iterate calls fn for each key starting with prefix, in ascending byte order, until fn
// returns false. fn may write to storage; iteration continues after the last key it saw.
func Iterate(prefix []byte, fn func(key, value []byte) bool) {
	var after []byte
	for {
		k, v, ok := hostNext(prefix, after)
		if !ok || !fn(k, v) {
			return
		}
		after = k
	}
}

// Item is one JSON-encoded value stored under a fixed key.
type Item[V any] struct{ key []byte }

// NewItem returns the item stored at key.
func NewItem[V any](key string) Item[V] {
	if key == "" {
		panic("sdk: empty item key")
	}
	warm[V]()
	return Item[V]{key: []byte(key)}
}

// Get returns the value, or the zero value and false when it was never set. A stored value
// that does not decode as V panics (the contract's own state is corrupt).
func (i Item[V]) Get() (V, bool) { return load[V](i.key) }

// GetOr returns the value, or def when it was never set.
func (i Item[V]) GetOr(def V) V {
	if v, ok := i.Get(); ok {
		return v
	}
	return def
}

// Set stores v (panics if v cannot be encoded as JSON).
func (i Item[V]) Set(v V) { store(i.key, v) }

// Remove deletes the value.
func (i Item[V]) Remove() { hostRemove(i.key) }

// Map is a set of JSON-encoded values whose keys share a prefix. Give each map a prefix that
// no other key or map prefix starts with, for instance one ending in "/".
type Map[V any] struct{ prefix string }

// NewMap returns the map stored under prefix.
func NewMap[V any](prefix string) Map[V] {
	if prefix == "" {
		panic("sdk: empty map prefix")
	}
	warm[V]()
	return Map[V]{prefix: prefix}
}

func (m Map[V]) key(k string) []byte { return []byte(m.prefix + k) }

// Get returns the value at k, or the zero value and false.
func (m Map[V]) Get(k string) (V, bool) { return load[V](m.key(k)) }

// GetOr returns the value at k, or def.
func (m Map[V]) GetOr(k string, def V) V {
	if v, ok := m.Get(k); ok {
		return v
	}
	return def
}

// Has reports whether k is present.
func (m Map[V]) Has(k string) bool {
	_, ok := hostGet(m.key(k))
	return ok
}

// Set stores v at k.
func (m Map[V]) Set(k string, v V) { store(m.key(k), v) }

// Remove deletes k.
func (m Map[V]) Remove(k string) { hostRemove(m.key(k)) }

// Each calls fn for every entry in ascending key order until fn returns false.
func (m Map[V]) Each(fn func(k string, v V) bool) {
	Iterate([]byte(m.prefix), func(key, raw []byte) bool {
		return fn(string(key[len(m.prefix):]), decode[V](raw))
	})
}

func load[V any](key []byte) (V, bool) {
	raw, ok := hostGet(key)
	if !ok {
		var zero V
		return zero, false
	}
	return decode[V](raw), true
}

func decode[V any](raw []byte) V {
	var v V
	if err := json.Unmarshal(raw, &v); err != nil {
		panic(fmt.Sprintf("sdk: a stored value does not decode as %T: %v", v, err))
	}
	return v
}

func store(key []byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sdk: encoding a %T for storage: %v", v, err))
	}
	hostSet(key, b)
}
