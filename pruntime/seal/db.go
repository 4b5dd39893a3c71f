package seal

import (
	"fmt"

	dbm "github.com/cosmos/cosmos-db"
)

// dbDomain separates database values from every other use of the key.
const dbDomain = "phala-go/pruntime/db/v1\x00"

// DB seals every value of an inner database, bound to its key.
type DB struct {
	inner dbm.DB
	key   Key
}

var _ dbm.DB = (*DB)(nil)

// NewDB wraps inner.
func NewDB(inner dbm.DB, key Key) *DB { return &DB{inner: inner, key: key} }

func aad(key []byte) []byte { return append([]byte(dbDomain), key...) }

func (d *DB) open(key, sealed []byte) ([]byte, error) {
	if sealed == nil {
		return nil, nil
	}
	v, err := d.key.Open(aad(key), sealed)
	if err != nil {
		return nil, fmt.Errorf("database key %x: %w", key, err)
	}
	if v == nil {
		v = []byte{} // present but empty: nil would read as absent
	}
	return v, nil
}

func (d *DB) Get(key []byte) ([]byte, error) {
	sealed, err := d.inner.Get(key)
	if err != nil {
		return nil, err
	}
	return d.open(key, sealed)
}

func (d *DB) Has(key []byte) (bool, error) { return d.inner.Has(key) }
func (d *DB) Set(key, value []byte) error  { return d.inner.Set(key, d.key.Seal(aad(key), value)) }
func (d *DB) SetSync(key, value []byte) error {
	return d.inner.SetSync(key, d.key.Seal(aad(key), value))
}
func (d *DB) Delete(key []byte) error     { return d.inner.Delete(key) }
func (d *DB) DeleteSync(key []byte) error { return d.inner.DeleteSync(key) }
func (d *DB) Close() error                { return d.inner.Close() }
func (d *DB) Print() error                { return nil }
func (d *DB) Stats() map[string]string    { return d.inner.Stats() }
func (d *DB) NewBatch() dbm.Batch         { return &batch{inner: d.inner.NewBatch(), key: d.key} }
func (d *DB) NewBatchWithSize(n int) dbm.Batch {
	return &batch{inner: d.inner.NewBatchWithSize(n), key: d.key}
}

func (d *DB) Iterator(start, end []byte) (dbm.Iterator, error) {
	it, err := d.inner.Iterator(start, end)
	if err != nil {
		return nil, err
	}
	return &iterator{Iterator: it, db: d}, nil
}

func (d *DB) ReverseIterator(start, end []byte) (dbm.Iterator, error) {
	it, err := d.inner.ReverseIterator(start, end)
	if err != nil {
		return nil, err
	}
	return &iterator{Iterator: it, db: d}, nil
}

type batch struct {
	inner dbm.Batch
	key   Key
}

func (b *batch) Set(key, value []byte) error { return b.inner.Set(key, b.key.Seal(aad(key), value)) }
func (b *batch) Delete(key []byte) error     { return b.inner.Delete(key) }
func (b *batch) Write() error                { return b.inner.Write() }
func (b *batch) WriteSync() error            { return b.inner.WriteSync() }
func (b *batch) Close() error                { return b.inner.Close() }
func (b *batch) GetByteSize() (int, error)   { return b.inner.GetByteSize() }

// iterator opens values as it goes. An iterator cannot return an error from Value, so a value
// that does not authenticate ends the iteration and is reported by Error; callers that ignore
// Error still cannot read forged data.
type iterator struct {
	dbm.Iterator
	db    *DB
	value []byte
	err   error
}

func (it *iterator) Valid() bool {
	if it.err != nil || !it.Iterator.Valid() {
		return false
	}
	if it.value == nil {
		v, err := it.db.open(it.Iterator.Key(), it.Iterator.Value())
		if err != nil {
			it.err = err
			return false
		}
		it.value = v
	}
	return true
}

func (it *iterator) Next() {
	it.value = nil
	it.Iterator.Next()
}

func (it *iterator) Value() []byte {
	if !it.Valid() {
		panic("seal: Value on an invalid iterator")
	}
	return it.value
}

func (it *iterator) Error() error {
	if it.err != nil {
		return it.err
	}
	return it.Iterator.Error()
}
