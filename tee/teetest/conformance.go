package teetest

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/phala-go/phala/tee"
)

// Backend is one TEE implementation under test: a guest, the collateral and policy under which
// its evidence is accepted, and the verifier that trusts its roots.
type Backend struct {
	Guest tee.Guest
	// DebugGuest, if set, produces evidence flagged debug.
	DebugGuest tee.Guest
	// Collateral and Policy accept Guest's evidence at Now.
	Collateral tee.Collateral
	Policy     tee.Policy
	Now        time.Time
	// Verify is tee.Verify, or VerifierWithRoots for a fake chain. Nil means tee.Verify.
	Verify VerifyFunc
	// Expires says that the evidence or its collateral stops being valid after some time (TDX,
	// SEV-SNP; sim evidence never expires).
	Expires bool
	// Sealing says that Guest.SealingKey must work; otherwise it must fail with ErrNoSealingKey.
	Sealing bool
	// OutOfDate, if set, returns collateral and policy under which Guest's evidence has an
	// out-of-date TCB.
	OutOfDate func(tb testing.TB) (tee.Collateral, tee.Policy)
}

// RunConformance runs the checks every backend must pass.
func RunConformance(t *testing.T, b Backend) {
	if b.Verify == nil {
		b.Verify = tee.Verify
	}
	kind := b.Guest.Kind()
	rd := tee.ReportData{0x70, 0x68, 0x61, 0x6c, 0x61, 63: 0x01}
	ev, err := b.Guest.Evidence(rd)
	if err != nil {
		t.Fatalf("%s guest: Evidence: %v", kind, err)
	}
	accepted, err := b.Verify(ev, b.Collateral, b.Policy, b.Now)
	if err != nil {
		t.Fatalf("%s: evidence refused: %v", kind, err)
	}

	t.Run("Kind", func(t *testing.T) {
		if ev.Kind != kind || accepted.Kind != kind {
			t.Fatalf("guest kind %s, evidence kind %s, report kind %s", kind, ev.Kind, accepted.Kind)
		}
		if k, err := tee.ParseKind(string(kind)); err != nil || k != kind {
			t.Fatalf("ParseKind(%q) = %q, %v", kind, k, err)
		}
	})

	t.Run("Accepted", func(t *testing.T) {
		if accepted.ReportData != rd {
			t.Fatalf("report data %x, want %x", accepted.ReportData, rd)
		}
		if err := accepted.CheckReportData(rd); err != nil {
			t.Fatalf("CheckReportData: %v", err)
		}
		m, err := b.Guest.Measurement()
		if err != nil {
			t.Fatalf("Measurement: %v", err)
		}
		if !bytes.Equal(accepted.Measurement, m) || len(m) != tee.MeasurementSize(kind) {
			t.Fatalf("report measurement %x, guest says %x (want %d bytes)", accepted.Measurement, m, tee.MeasurementSize(kind))
		}
		if accepted.Confidence < tee.ConfidenceBest || accepted.Confidence > tee.ConfidenceWorst || accepted.Debug {
			t.Fatalf("confidence %d debug %v", accepted.Confidence, accepted.Debug)
		}
		if _, ok := accepted.TCBStatus.Confidence(); !ok {
			t.Fatalf("TCB status %q has no confidence", accepted.TCBStatus)
		}
	})

	t.Run("MeasurementFormat", func(t *testing.T) {
		s, err := tee.FormatMeasurement(kind, accepted.Measurement)
		if err != nil {
			t.Fatal(err)
		}
		k, m, err := tee.ParseMeasurement(s)
		if err != nil || k != kind || !bytes.Equal(m, accepted.Measurement) {
			t.Fatalf("ParseMeasurement(%q) = %s, %x, %v", s, k, m, err)
		}
		parts, err := tee.MeasurementParts(kind, m)
		if err != nil || len(parts) == 0 {
			t.Fatalf("MeasurementParts: %v, %v", parts, err)
		}
	})

	t.Run("Deterministic", func(t *testing.T) {
		evCopy, colBytes := cloneEvidence(ev), mustMarshal(t, b.Collateral)
		again, err := b.Verify(ev, b.Collateral, b.Policy, b.Now)
		if err != nil || !reflect.DeepEqual(again, accepted) {
			t.Fatalf("second verification differs: %+v, %v", again, err)
		}
		if !reflect.DeepEqual(ev, evCopy) || !bytes.Equal(mustMarshal(t, b.Collateral), colBytes) {
			t.Fatal("verification modified its inputs")
		}
		fresh, err := b.Guest.Evidence(rd)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := b.Verify(fresh, b.Collateral, b.Policy, b.Now); err != nil || r.ReportData != rd {
			t.Fatalf("fresh evidence: %v", err)
		}
	})

	t.Run("EncodingRoundTrip", func(t *testing.T) {
		var dec tee.Evidence
		if err := dec.UnmarshalBinary(mustMarshal(t, ev)); err != nil || !reflect.DeepEqual(dec, ev) {
			t.Fatalf("evidence round trip: %v", err)
		}
		var col tee.Collateral
		raw := mustMarshal(t, b.Collateral)
		if err := col.UnmarshalBinary(raw); err != nil || !bytes.Equal(mustMarshal(t, col), raw) {
			t.Fatalf("collateral round trip: %v", err)
		}
		if r, err := b.Verify(dec, col, b.Policy, b.Now); err != nil || !reflect.DeepEqual(r, accepted) {
			t.Fatalf("decoded inputs verify differently: %v", err)
		}
	})

	t.Run("ReplayRefused", func(t *testing.T) {
		other := rd
		other[0] ^= 0xff
		RequireRefusal(t, accepted.CheckReportData(other), tee.ErrReportDataMismatch)
	})

	t.Run("FlippedByteRefused", func(t *testing.T) {
		for _, i := range flipPositions(len(ev.Quote)) {
			bad := cloneEvidence(ev)
			bad.Quote[i] ^= 0x01
			r, err := b.Verify(bad, b.Collateral, b.Policy, b.Now)
			if err == nil {
				t.Fatalf("byte %d of %d flipped: accepted (%+v)", i, len(ev.Quote), r)
			}
			requireExplained(t, err)
		}
	})

	t.Run("TruncatedRefused", func(t *testing.T) {
		for _, n := range []int{0, 1, len(ev.Quote) / 2, len(ev.Quote) - 1} {
			bad := tee.Evidence{Kind: ev.Kind, Quote: append([]byte(nil), ev.Quote[:n]...)}
			_, err := b.Verify(bad, b.Collateral, b.Policy, b.Now)
			RequireRefusal(t, err, tee.ErrMalformed)
		}
		bad := tee.Evidence{Kind: ev.Kind, Quote: append(append([]byte(nil), ev.Quote...), 0)}
		_, err := b.Verify(bad, b.Collateral, b.Policy, b.Now)
		RequireRefusal(t, err, tee.ErrMalformed)
	})

	t.Run("WrongCollateralKindRefused", func(t *testing.T) {
		for _, k := range tee.Kinds() {
			if k != kind {
				_, err := b.Verify(ev, tee.Collateral{Kind: k}, b.Policy, b.Now)
				RequireRefusal(t, err, tee.ErrCollateralMismatch)
			}
		}
	})

	t.Run("ExpiryRefused", func(t *testing.T) {
		later := b.Now.AddDate(60, 0, 0)
		_, err := b.Verify(ev, b.Collateral, b.Policy, later)
		if !b.Expires {
			if err != nil {
				t.Fatalf("evidence of a kind that never expires refused in 60 years: %v", err)
			}
			return
		}
		if !errors.Is(err, tee.ErrCollateralExpired) && !errors.Is(err, tee.ErrEvidenceExpired) {
			t.Fatalf("60 years later: %v, want ErrCollateralExpired or ErrEvidenceExpired", err)
		}
		requireExplained(t, err)
	})

	t.Run("DebugRefused", func(t *testing.T) {
		if b.DebugGuest == nil {
			t.Log("backend has no debug guest")
			return
		}
		dev, err := b.DebugGuest.Evidence(rd)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Verify(dev, b.Collateral, b.Policy, b.Now)
		RequireRefusal(t, err, tee.ErrDebugNotAllowed)
		lax := b.Policy
		lax.AllowDebug = true
		r, err := b.Verify(dev, b.Collateral, lax, b.Now)
		if err != nil || !r.Debug {
			t.Fatalf("debug evidence with AllowDebug: %+v, %v", r, err)
		}
	})

	t.Run("ConfidencePolicy", func(t *testing.T) {
		strict := b.Policy
		strict.MaxConfidence = accepted.Confidence
		if _, err := b.Verify(ev, b.Collateral, strict, b.Now); err != nil {
			t.Fatalf("MaxConfidence = own confidence %d: %v", accepted.Confidence, err)
		}
		if b.OutOfDate == nil {
			t.Log("backend cannot produce an out-of-date TCB")
			return
		}
		col, pol := b.OutOfDate(t)
		r, err := b.Verify(ev, col, pol, b.Now)
		if err != nil || r.Confidence < 4 {
			t.Fatalf("out-of-date TCB: %+v, %v; want accepted with confidence 4 or 5", r, err)
		}
		pol.MaxConfidence = 3
		_, err = b.Verify(ev, col, pol, b.Now)
		RequireRefusal(t, err, tee.ErrTCBOutOfDate)
	})

	t.Run("InvalidPolicyRefused", func(t *testing.T) {
		bad := b.Policy
		bad.MaxConfidence = 6
		_, err := b.Verify(ev, b.Collateral, bad, b.Now)
		RequireRefusal(t, err, tee.ErrInvalidPolicy)
	})

	t.Run("SealingKey", func(t *testing.T) {
		k1, err := b.Guest.SealingKey()
		if !b.Sealing {
			if !errors.Is(err, tee.ErrNoSealingKey) || tee.Code(err) != tee.CodeNoSealingKey || k1 != nil {
				t.Fatalf("SealingKey: %v, want ErrNoSealingKey", err)
			}
			return
		}
		if err != nil || len(k1) != 32 {
			t.Fatalf("SealingKey: %d bytes, %v", len(k1), err)
		}
		k2, err := b.Guest.SealingKey()
		if err != nil || !bytes.Equal(k1, k2) {
			t.Fatalf("SealingKey is not stable: %v", err)
		}
	})
}

// RequireRefusal fails unless err is a *tee.Refusal wrapping sentinel, naming its check, detail
// and remedy, with the sentinel's code.
func RequireRefusal(tb testing.TB, err, sentinel error) {
	tb.Helper()
	if !errors.Is(err, sentinel) {
		tb.Fatalf("got %v, want %v", err, sentinel)
	}
	requireExplained(tb, err)
	if tee.Code(err) != tee.Code(sentinel) {
		tb.Fatalf("code %d, want %d", tee.Code(err), tee.Code(sentinel))
	}
}

func requireExplained(tb testing.TB, err error) {
	tb.Helper()
	var r *tee.Refusal
	if !errors.As(err, &r) || r.Check == "" || r.Detail == "" || r.Remedy == "" {
		tb.Fatalf("refusal %q does not name its check, detail and remedy", err)
	}
	if c := tee.Code(err); c == tee.CodeOK || c == tee.CodeUnknown {
		tb.Fatalf("refusal %q has code %d", err, c)
	}
}

// flipPositions returns every position of short quotes and about 600 spread positions of long
// ones (a TDX quote is about 5 KB and each verification costs about a millisecond).
func flipPositions(n int) []int {
	step := 1
	if n > 1500 {
		step = n / 600
	}
	var out []int
	for i := 0; i < n; i += step {
		out = append(out, i)
	}
	if out[len(out)-1] != n-1 {
		out = append(out, n-1)
	}
	return out
}

func cloneEvidence(ev tee.Evidence) tee.Evidence {
	return tee.Evidence{Kind: ev.Kind, Quote: append([]byte(nil), ev.Quote...)}
}

func mustMarshal(tb testing.TB, v interface{ MarshalBinary() ([]byte, error) }) []byte {
	tb.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		tb.Fatalf("MarshalBinary: %v", err)
	}
	return b
}
