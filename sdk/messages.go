package sdk

import (
	"encoding/json"
	"fmt"
)

// Asynchronous messages, transfers of the contract's funds, and what the chain delivers back:
// deposits and bounces. docs/contracts.md ("Messages, funds and bounces") gives the semantics.

// Send queues an asynchronous message to contract, in any cluster: msg encoded as JSON is its
// input, so pass a command envelope such as map[string]T{"transfer": t} (use SendBytes for
// input that is already encoded). The chain delivers it after this call succeeds (nothing is
// sent if the call fails), in order and exactly once, as a command of the receiver whose
// caller is this contract (CallerContract). It runs with at most gasLimit gas, paid by this
// contract's on-chain account when it is delivered. Send returns the message's number (the
// messages a contract sends are numbered from 0 over its life): a Bounce names it if the
// message fails. Sending from a query traps, like a storage write.
func (c Context) Send(contract Address, msg any, gasLimit uint64) (uint64, error) {
	input, err := json.Marshal(msg)
	if err != nil {
		return 0, fmt.Errorf("sdk: encoding the message: %w", err)
	}
	return c.SendBytes(contract, input, gasLimit)
}

// SendBytes is Send with the input as is.
func (c Context) SendBytes(contract Address, input []byte, gasLimit uint64) (uint64, error) {
	if gasLimit == 0 {
		return 0, ErrBadGasLimit
	}
	return hostSend(contract, input, gasLimit), nil
}

// Transfer queues a transfer of amount (a positive decimal integer in the chain currency's
// smallest unit, as "1500") from this contract's on-chain account, whose id is the contract's
// address, to account to. It happens after this call succeeds; if the account's balance is
// short the chain bounces it back to this contract (HandleBounce). Transferring from a query
// traps, like a storage write.
func (c Context) Transfer(to Address, amount string) error {
	if !validAmount(amount) {
		return fmt.Errorf("%w: %q: want a positive decimal integer below 2^128, without sign or leading zeros", ErrBadAmount, amount)
	}
	hostTransfer(to, amount)
	return nil
}

// maxAmount is 2^128-1, the largest amount the chain holds.
const maxAmount = "340282366920938463463374607431768211455"

// validAmount reports whether a is the canonical decimal form of an integer in [1, 2^128-1],
// the rule the VM enforces.
func validAmount(a string) bool {
	if len(a) == 0 || len(a) > len(maxAmount) || a[0] == '0' {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] < '0' || a[i] > '9' {
			return false
		}
	}
	return len(a) < len(maxAmount) || a <= maxAmount
}

// The command names the chain uses; only HandleDeposit and HandleBounce may register them.
const (
	depositCommand = "deposit"
	bounceCommand  = "bounce"
)

// HandleDeposit registers what happens when an account deposits funds into this contract's
// on-chain account: the chain delivers the command {"deposit": {"from": "0x..", "amount":
// ".."}} with the caller kind CallerChain. The handler runs only for the chain: from anyone
// else the command fails with ErrNotFromChain, so nobody can fake a deposit. If fn fails, or
// the contract registers no deposit handler, the chain refunds the deposit.
func HandleDeposit(fn func(ctx Context, d Deposit) error) {
	warm[Deposit]()
	register(router.commands, "command", depositCommand, func(ctx Context, body json.RawMessage) ([]byte, error) {
		var d Deposit
		if err := chainBody(ctx, depositCommand, body, &d); err != nil {
			return nil, err
		}
		return nil, fn(ctx, d)
	})
}

// HandleBounce registers what happens when a message or a transfer this contract sent fails:
// the chain delivers {"bounce": {"kind": "message", "to": "0x..", "number": 3, "reason": ".."}}
// or {"bounce": {"kind": "transfer", "to": "0x..", "amount": "..", "reason": ".."}} with the
// caller kind CallerChain; from anyone else the command fails with ErrNotFromChain. Restore
// whatever the contract recorded as sent. A bounce handler that fails is not retried and
// bounces nothing.
func HandleBounce(fn func(ctx Context, b Bounce) error) {
	warm[Bounce]()
	register(router.commands, "command", bounceCommand, func(ctx Context, body json.RawMessage) ([]byte, error) {
		var b Bounce
		if err := chainBody(ctx, bounceCommand, body, &b); err != nil {
			return nil, err
		}
		if b.Kind != BounceMessage && b.Kind != BounceTransfer {
			return nil, fmt.Errorf("%w: %q", ErrBadBounce, b.Kind)
		}
		return nil, fn(ctx, b)
	})
}

// chainBody checks that the chain sent the command, then decodes its body. Unlike a message
// from an account, it ignores fields it does not know: a later chain may add some, and
// contracts built with this SDK must keep accepting its deposits and bounces.
func chainBody(ctx Context, name string, body json.RawMessage, v any) error {
	if c := ctx.Caller(); c.Kind != CallerChain {
		return fmt.Errorf("%w: %q from a caller of kind %s", ErrNotFromChain, name, c.Kind)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: command %q: %v", ErrMalformedMessage, name, err)
	}
	return nil
}
