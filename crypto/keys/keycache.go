package keys

import (
	lru "github.com/hashicorp/golang-lru/v2"
	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	voisr "github.com/oasisprotocol/curve25519-voi/primitives/sr25519"
)

// KeyCache keeps public keys decoded for verification. Decoding costs a third of an sr25519
// verification (a Ristretto point decompression), and the same accounts sign again and again.
// It changes no outcome, only the time. Safe for concurrent use.
type KeyCache struct {
	sr *lru.Cache[[32]byte, *voisr.PublicKey]
	ed *lru.Cache[[32]byte, *voied.ExpandedPublicKey]
}

// NewKeyCache keeps up to size keys of each type.
func NewKeyCache(size int) *KeyCache {
	sr, err := lru.New[[32]byte, *voisr.PublicKey](size)
	if err != nil {
		panic(err) // only for size <= 0
	}
	ed, err := lru.New[[32]byte, *voied.ExpandedPublicKey](size)
	if err != nil {
		panic(err)
	}
	return &KeyCache{sr: sr, ed: ed}
}

// srKey decodes an sr25519 key, through the cache when there is one.
func (c *KeyCache) srKey(key [32]byte) (*voisr.PublicKey, error) {
	if c != nil {
		if pk, ok := c.sr.Get(key); ok {
			return pk, nil
		}
	}
	pk, err := voisr.NewPublicKeyFromBytes(key[:])
	if err == nil && c != nil {
		c.sr.Add(key, pk)
	}
	return pk, err
}

// edKey expands an ed25519 key (precomputation that speeds up verification), through the cache.
func (c *KeyCache) edKey(key [32]byte) (*voied.ExpandedPublicKey, error) {
	if c != nil {
		if pk, ok := c.ed.Get(key); ok {
			return pk, nil
		}
	}
	pk, err := voied.NewExpandedPublicKey(key[:])
	if err == nil && c != nil {
		c.ed.Add(key, pk)
	}
	return pk, err
}
