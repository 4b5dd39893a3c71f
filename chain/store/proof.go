package store

import (
	"errors"
	"fmt"

	ics23 "github.com/cosmos/ics23/go"
)

// ErrBadProof means a proof does not show what it claims against the given root.
var ErrBadProof = errors.New("state proof does not verify")

// VerifyProof checks that root commits to value under key, or, for a nil value, that key is
// absent. This is what a client runs against the AppHash of a header it verified.
func VerifyProof(root []byte, proof *ics23.CommitmentProof, key, value []byte) error {
	if proof == nil {
		return fmt.Errorf("%w: no proof", ErrBadProof)
	}
	if value == nil {
		if !ics23.VerifyNonMembership(ics23.IavlSpec, root, proof, key) {
			return fmt.Errorf("%w: absence of key %x", ErrBadProof, key)
		}
		return nil
	}
	if !ics23.VerifyMembership(ics23.IavlSpec, root, proof, key, value) {
		return fmt.Errorf("%w: value of key %x", ErrBadProof, key)
	}
	return nil
}
