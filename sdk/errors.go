package sdk

import "errors"

var (
	// ErrMalformedMessage reports input that is not the JSON the handler expects.
	ErrMalformedMessage = errors.New("malformed message")
	// ErrUnknownMessage reports a command or query name no handler is registered for.
	ErrUnknownMessage = errors.New("unknown message")
	// ErrBadAddress reports text that is not an address.
	ErrBadAddress = errors.New("bad address")
	// ErrCallNotSupported reports a cross-contract call the host does not offer (yet).
	ErrCallNotSupported = errors.New("cross-contract calls are not supported by this host")
	// ErrCalleeOutOfGas reports a cross-contract call that ran out of gas.
	ErrCalleeOutOfGas = errors.New("called contract ran out of gas")
	// ErrCalleeTrapped reports a cross-contract call that trapped.
	ErrCalleeTrapped = errors.New("called contract trapped")
)

// CallError is the error a called contract returned, as its message.
type CallError struct{ Message string }

func (e *CallError) Error() string { return "called contract failed: " + e.Message }
