package errcode

import (
	"errors"
	"fmt"
)

// OK is the ABCI code of success; every Error has a code above it.
const OK uint32 = 0

// Error is a sentinel with a stable identity: its codespace (the module name) and code.
type Error struct {
	codespace string
	code      uint32
	desc      string
}

// New declares a sentinel. It panics on code 0, which ABCI reserves for success: that is a
// programming error caught by any test that loads the declaring package.
func New(codespace string, code uint32, desc string) *Error {
	if code == OK {
		panic(fmt.Sprintf("errcode: %s: code 0 is reserved for success", codespace))
	}
	return &Error{codespace: codespace, code: code, desc: desc}
}

func (e *Error) Error() string     { return e.codespace + ": " + e.desc }
func (e *Error) Codespace() string { return e.codespace }
func (e *Error) Code() uint32      { return e.code }

// Is matches on identity, so an Error rebuilt from an ABCI response matches its sentinel.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.codespace == e.codespace && t.code == e.code
}

// Wrapf adds context to a sentinel, keeping it matchable with errors.Is.
func Wrapf(e *Error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", e, fmt.Sprintf(format, args...))
}

// Internal is what an error without a code maps to: a bug or an I/O failure, never bad input.
var Internal = New("internal", 1, "internal error")

// ABCI returns the codespace, code and log line that report err in an ABCI response.
func ABCI(err error) (codespace string, code uint32, log string) {
	var e *Error
	if !errors.As(err, &e) {
		e = Internal
	}
	return e.codespace, e.code, err.Error()
}

// Remote is an error received from a node: it carries the node's message and matches the
// sentinel with the same codespace and code.
type Remote struct {
	Err *Error
	Log string
}

func (r *Remote) Error() string { return r.Log }
func (r *Remote) Unwrap() error { return r.Err }

// FromABCI rebuilds the error of an ABCI response; it returns nil for code 0.
func FromABCI(codespace string, code uint32, log string) error {
	if code == OK {
		return nil
	}
	return &Remote{Err: &Error{codespace: codespace, code: code, desc: fmt.Sprintf("code %d", code)}, Log: log}
}
