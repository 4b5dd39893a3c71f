package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/phala-go/phala/sdk/internal/abi"
)

// handler decodes a message body and runs the contract's function; it returns the JSON output.
type handler func(ctx Context, body json.RawMessage) ([]byte, error)

// router holds the handlers registered by the contract's init functions.
var router = struct {
	init     handler
	commands map[string]handler
	queries  map[string]handler
}{commands: map[string]handler{}, queries: map[string]handler{}}

// Init registers the handler of the instantiate entry point, which runs once when the contract
// is created. The whole instantiate input is decoded into M (empty input decodes as JSON null).
// Without Init, instantiate accepts any input and does nothing.
func Init[M any](fn func(ctx Context, msg M) error) {
	if router.init != nil {
		panic("sdk: Init registered twice")
	}
	warm[M]()
	router.init = func(ctx Context, body json.RawMessage) ([]byte, error) {
		var m M
		if err := decodeStrict(body, &m); err != nil {
			return nil, fmt.Errorf("%w: instantiate: %v", ErrMalformedMessage, err)
		}
		return nil, fn(ctx, m)
	}
}

// Handle registers a command: the input {"<name>": <M as JSON>} runs fn. The command's writes
// are kept only if fn returns nil. The names "deposit" and "bounce" are the chain's: register
// them with HandleDeposit and HandleBounce.
func Handle[M any](name string, fn func(ctx Context, msg M) error) {
	warm[M]()
	reserved(name)
	register(router.commands, "command", name, func(ctx Context, body json.RawMessage) ([]byte, error) {
		var m M
		if err := decodeStrict(body, &m); err != nil {
			return nil, fmt.Errorf("%w: command %q: %v", ErrMalformedMessage, name, err)
		}
		return nil, fn(ctx, m)
	})
}

// HandleResult registers a command that also returns a result, encoded as JSON in the output
// (useful to a calling contract).
func HandleResult[M, R any](name string, fn func(ctx Context, msg M) (R, error)) {
	reserved(name)
	register(router.commands, "command", name, withResult("command", name, fn))
}

// HandleQuery registers a query: the input {"<name>": <M as JSON>} runs fn read-only and its
// result is the JSON output. Storage writes and events from a query trap.
func HandleQuery[M, R any](name string, fn func(ctx Context, msg M) (R, error)) {
	register(router.queries, "query", name, withResult("query", name, fn))
}

func withResult[M, R any](kind, name string, fn func(Context, M) (R, error)) handler {
	warm[M]()
	warm[R]()
	return func(ctx Context, body json.RawMessage) ([]byte, error) {
		var m M
		if err := decodeStrict(body, &m); err != nil {
			return nil, fmt.Errorf("%w: %s %q: %v", ErrMalformedMessage, kind, name, err)
		}
		r, err := fn(ctx, m)
		if err != nil {
			return nil, err
		}
		out, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("sdk: %s %q: encoding the result: %w", kind, name, err)
		}
		return out, nil
	}
}

// reserved panics for the command names only the chain sends: a plain handler under one of
// them would accept deposits and bounces faked by any account.
func reserved(name string) {
	if name == depositCommand || name == bounceCommand {
		panic(fmt.Sprintf("sdk: command %q is the chain's: register it with HandleDeposit or HandleBounce", name))
	}
}

func register(table map[string]handler, kind, name string, h handler) {
	if name == "" {
		panic("sdk: empty " + kind + " name")
	}
	if _, dup := table[name]; dup {
		panic(fmt.Sprintf("sdk: %s %q registered twice", kind, name))
	}
	table[name] = h
}

// dispatch runs entry point e on input and returns the output or the handler's error.
func dispatch(e abi.Entry, input []byte) ([]byte, error) {
	ctx := Context{call: &callInfo{entry: e}}
	switch e {
	case abi.Instantiate:
		if router.init == nil {
			return nil, nil
		}
		return router.init(ctx, input)
	case abi.Execute:
		return route(ctx, router.commands, "command", input)
	default:
		return route(ctx, router.queries, "query", input)
	}
}

func route(ctx Context, table map[string]handler, kind string, input []byte) ([]byte, error) {
	name, body, err := parseEnvelope(input)
	if err != nil {
		return nil, err
	}
	h, ok := table[name]
	if !ok {
		known := make([]string, 0, len(table))
		for k := range table {
			known = append(known, k)
		}
		slices.Sort(known)
		return nil, fmt.Errorf("%w: no %s %q (known: %s)", ErrUnknownMessage, kind, name, strings.Join(known, ", "))
	}
	return h(ctx, body)
}

// parseEnvelope splits {"<name>": <body>} into its name and body.
func parseEnvelope(input []byte) (string, json.RawMessage, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(input, &env); err != nil {
		return "", nil, fmt.Errorf("%w: want a JSON object {\"<name>\": {...}}: %v", ErrMalformedMessage, err)
	}
	if len(env) != 1 {
		return "", nil, fmt.Errorf("%w: want an object with exactly one key naming the message, got %d keys", ErrMalformedMessage, len(env))
	}
	var name string
	var body json.RawMessage
	for k, v := range env {
		name, body = k, v
	}
	return name, body, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields. Empty input is JSON null.
func decodeStrict(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		b = []byte("null")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// Message encodes {"<name>": body}, the input of a command or query of another contract.
func Message(name string, body any) ([]byte, error) {
	b, err := json.Marshal(map[string]any{name: body})
	if err != nil {
		return nil, fmt.Errorf("sdk: encoding message %q: %w", name, err)
	}
	return b, nil
}
