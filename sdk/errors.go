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
	// ErrBadAmount reports a transfer amount that is not a positive decimal integer below
	// 2^128 without sign or leading zeros.
	ErrBadAmount = errors.New("bad amount")
	// ErrBadGasLimit reports a message sent with a zero gas limit.
	ErrBadGasLimit = errors.New("a message needs a positive gas limit")
	// ErrNotFromChain reports a deposit or a bounce that the chain did not send: an account or
	// a contract tried to fake one.
	ErrNotFromChain = errors.New("only the chain delivers deposits and bounces")
	// ErrBadBounce reports a bounce of an unknown kind.
	ErrBadBounce = errors.New("bounce of an unknown kind")
)

// CallError is the error a called contract returned, as its message.
type CallError struct{ Message string }

func (e *CallError) Error() string { return "called contract failed: " + e.Message }
