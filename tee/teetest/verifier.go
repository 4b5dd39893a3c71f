package teetest

import (
	"crypto/x509"
	"maps"
	"testing"
	"time"

	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/internal/trust"
)

// VerifyFunc has the signature of tee.Verify.
type VerifyFunc func(tee.Evidence, tee.Collateral, tee.Policy, time.Time) (tee.Report, error)

// VerifierWithRoots returns tee.Verify with the embedded vendor roots replaced: intel (if non-nil)
// replaces the Intel SGX Root CA, and each entry of amd replaces that product line's ARK. This is
// the only way to trust a fake root, and it needs a testing.TB.
func VerifierWithRoots(tb testing.TB, intel *x509.Certificate, amd map[string]*x509.Certificate) VerifyFunc {
	tb.Helper()
	emb := trust.Embedded()
	roots := &trust.Roots{Intel: emb.Intel, AMD: maps.Clone(emb.AMD)}
	if intel != nil {
		roots.Intel = intel
	}
	maps.Copy(roots.AMD, amd)
	verify, ok := trust.VerifyWithRoots.(func(tee.Evidence, tee.Collateral, tee.Policy, time.Time, *trust.Roots) (tee.Report, error))
	if !ok {
		tb.Fatalf("tee did not register its verifier hook (got %T)", trust.VerifyWithRoots)
	}
	return func(ev tee.Evidence, col tee.Collateral, pol tee.Policy, now time.Time) (tee.Report, error) {
		return verify(ev, col, pol, now, roots)
	}
}
