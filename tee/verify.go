package tee

import (
	"fmt"
	"time"

	"github.com/phala-go/phala/tee/internal/trust"
)

func init() {
	trust.VerifyWithRoots = verifyWithRoots
}

// Verify checks evidence and its collateral against the policy at time now (consensus passes the
// block time) and returns what the evidence proves. It is pure and deterministic: the same inputs
// give the same report or the same error, on every machine. It trusts only the vendor roots
// compiled into the binary.
//
// Verify does not compare the report data with anything: the caller must call
// Report.CheckReportData with the value it expects. On refusal the error is a *Refusal wrapping
// one sentinel (see Code).
func Verify(ev Evidence, col Collateral, pol Policy, now time.Time) (Report, error) {
	return verifyWithRoots(ev, col, pol, now, trust.Embedded())
}

func verifyWithRoots(ev Evidence, col Collateral, pol Policy, now time.Time, roots *trust.Roots) (r Report, err error) {
	// Backstop for library panics on hostile input (go-tdx-guest's quote parser has panicked on a
	// fuzzed size field): the same input panics on every validator, so refusing it is as
	// deterministic as any other refusal, and the chain does not halt.
	defer func() {
		if p := recover(); p != nil {
			r, err = Report{}, refuse(ErrMalformed, string(ev.Kind)+"/panic", fmt.Sprintf("verification failed on this input: %v", p),
				"submit evidence and collateral exactly as the guest and the vendor produced them")
		}
	}()
	if err := pol.Validate(); err != nil {
		return Report{}, err
	}
	// Refuse sim evidence before looking at anything else, so that a production chain's answer to
	// any sim evidence is this one.
	if ev.Kind == KindSim && !pol.AllowSim {
		return Report{}, refuse(ErrSimNotAllowed, "sim/allowed", "this chain's genesis does not allow simulated TEEs",
			"register from real TDX or SEV-SNP hardware; sim workers only join development chains whose genesis sets allow_sim")
	}
	if err := ev.checkShape(); err != nil {
		return Report{}, err
	}
	if _, err := col.MarshalBinary(); err != nil {
		return Report{}, err
	}
	if ev.Kind == KindSim {
		if col.Kind != "" && col.Kind != KindSim {
			return Report{}, collateralKindMismatch(ev.Kind, col.Kind)
		}
		return verifySim(ev.Quote, pol)
	}
	if col.Kind != ev.Kind {
		return Report{}, collateralKindMismatch(ev.Kind, col.Kind)
	}
	switch ev.Kind {
	case KindTDX:
		return verifyTDX(ev.Quote, col.TDX, pol, now, roots)
	default:
		return verifySNP(ev.Quote, col.SNP, pol, now, roots)
	}
}

func collateralKindMismatch(ev, col Kind) error {
	return refuse(ErrCollateralMismatch, "collateral/kind", fmt.Sprintf("%s evidence with %q collateral", ev, col),
		"fetch collateral for this evidence's kind (tee/collateral.Fetcher does)")
}

// guard runs a vendor-library parser, turning a panic into an error.
func guard(parse func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parser panicked: %v", p)
		}
	}()
	return parse()
}
