package module

import (
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/phala-go/phala/chain/store"
)

// Block is what a state transition knows about the block it runs in. Time is the block time
// agreed by consensus: the only clock deterministic code may read.
type Block struct {
	ChainID string
	Height  int64
	Time    time.Time
	// Hash is the block's hash (empty during InitChain and in CheckTx).
	Hash []byte
}

// Context is the state and block a handler runs against, plus the events it emits.
type Context struct {
	store.KV
	Block
	events []abci.Event
}

// NewContext starts a context over kv.
func NewContext(kv store.KV, b Block) *Context {
	return &Context{KV: kv, Block: b}
}

// Emit records an event; it is kept only if the enclosing branch commits.
func (c *Context) Emit(typ string, attrs ...abci.EventAttribute) {
	c.events = append(c.events, abci.Event{Type: typ, Attributes: attrs})
}

// Attr builds an indexed event attribute, so transactions can be searched by it.
func Attr(key, value string) abci.EventAttribute {
	return abci.EventAttribute{Key: key, Value: value, Index: true}
}

// Events returns the events emitted so far.
func (c *Context) Events() []abci.Event { return c.events }

// Branch returns a child context whose writes and events reach c only when commit is called:
// the way to make a group of changes all-or-nothing.
func (c *Context) Branch() (child *Context, commit func()) {
	cache := store.NewCache(c.KV)
	child = &Context{KV: cache, Block: c.Block}
	return child, func() {
		cache.Write(c.KV)
		c.events = append(c.events, child.events...)
		child.events = nil
	}
}
