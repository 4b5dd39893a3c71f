package module

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/phala-go/phala/chain/store"
)

// Module is one part of the chain: its messages, its genesis and its queries.
type Module interface {
	// Name is the module's key in the genesis and its query path prefix.
	Name() string
	// Register adds the module's message handlers.
	Register(r *Router)
	// InitGenesis writes the module's initial state from its genesis section.
	InitGenesis(ctx *Context, raw json.RawMessage) error
	// Query answers a read at path (without the module prefix) from committed state.
	Query(state store.Reader, path string, data []byte) ([]byte, error)
}

// EndBlocker is implemented by modules that act at the end of every block.
type EndBlocker interface {
	EndBlock(ctx *Context) error
}

// DecodeGenesis reads a module's genesis section strictly: unknown fields are refused, so a
// misspelt key is an error rather than a silently ignored setting.
func DecodeGenesis(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return errors.New("section missing")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the section")
	}
	return nil
}
