package tee_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/teetest"
)

// Tests on the vendors' real recorded evidence, verified against the embedded production roots.

func TestRecordedTDX(t *testing.T) {
	ev, col := teetest.RecordedTDX(t)
	now := teetest.RecordedTDXTime

	// Every signature, chain, CRL and validity check passes; the recorded TCB info then lists no
	// level as old as this platform (see teetest.RecordedTDX).
	_, err := tee.Verify(ev, col, tee.Policy{}, now)
	teetest.RequireRefusal(t, err, tee.ErrTCBUnknown)

	t.Run("FlippedByte", func(t *testing.T) {
		// Header, TD report (incl. report data at 568), signature, attestation key, QE report,
		// QE report signature, QE auth data, PCK chain, last byte.
		for _, i := range []int{0, 10, 48, 300, 568, 600, 636, 700, 770, 1100, 1200, 1300, 2000, 3000, 4000, len(ev.Quote) - 1} {
			bad := tee.Evidence{Kind: ev.Kind, Quote: bytes.Clone(ev.Quote)}
			bad.Quote[i] ^= 0x01
			_, err := tee.Verify(bad, col, tee.Policy{}, now)
			require.Error(t, err, "byte %d", i)
			require.False(t, errors.Is(err, tee.ErrTCBUnknown), "byte %d flipped but verification got as far as the TCB level: %v", i, err)
		}
		// The report data is covered by the quote signature.
		bad := tee.Evidence{Kind: ev.Kind, Quote: bytes.Clone(ev.Quote)}
		bad.Quote[568] ^= 0x80
		_, err := tee.Verify(bad, col, tee.Policy{}, now)
		teetest.RequireRefusal(t, err, tee.ErrSignature)
	})

	t.Run("WrongReportData", func(t *testing.T) {
		rd := teetest.RecordedTDXReportData(t)
		// Report construction happens after the TCB stage, which the sample cannot pass; the
		// binding check itself is kind-independent and covered on fake-chain quotes. Here: the
		// quote's report data is what CheckReportData will compare.
		other := rd
		other[63] ^= 1
		teetest.RequireRefusal(t, tee.Report{ReportData: rd}.CheckReportData(other), tee.ErrReportDataMismatch)
	})

	t.Run("Truncated", func(t *testing.T) {
		for _, n := range []int{1, 48, 632, 1000, len(ev.Quote) - 1} {
			_, err := tee.Verify(tee.Evidence{Kind: ev.Kind, Quote: ev.Quote[:n]}, col, tee.Policy{}, now)
			teetest.RequireRefusal(t, err, tee.ErrMalformed)
		}
		// go-tdx-guest's sample as shipped, with its 39 appended bytes, is refused too.
		_, err := tee.Verify(tee.Evidence{Kind: ev.Kind, Quote: append(bytes.Clone(ev.Quote), "\nextra\n"...)}, col, tee.Policy{}, now)
		teetest.RequireRefusal(t, err, tee.ErrMalformed)
	})

	t.Run("ExpiredCollateral", func(t *testing.T) {
		// 2023-07-10: the QE identity and the PCK CRL expired on 2023-07-08.
		_, err := tee.Verify(ev, col, tee.Policy{}, time.Date(2023, 7, 10, 0, 0, 0, 0, time.UTC))
		teetest.RequireRefusal(t, err, tee.ErrCollateralExpired)
		// Before the collateral was issued.
		_, err = tee.Verify(ev, col, tee.Policy{}, time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC))
		teetest.RequireRefusal(t, err, tee.ErrCollateralExpired)
		// After the PCK certificate expired (2029-09-20).
		_, err = tee.Verify(ev, col, tee.Policy{}, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		teetest.RequireRefusal(t, err, tee.ErrEvidenceExpired)
		// Collateral older than the chain's TCB recovery (the sample's evaluation number is 15).
		_, err = tee.Verify(ev, col, tee.Policy{TDXMinTCBEvaluationDataNumber: 16}, now)
		teetest.RequireRefusal(t, err, tee.ErrCollateralExpired)
	})

	t.Run("TamperedCollateral", func(t *testing.T) {
		edit := func(f func(*tee.TDXCollateral)) tee.Collateral {
			c := col
			f(&c.TDX)
			return c
		}
		tests := []struct {
			name string
			col  tee.Collateral
			want error
		}{
			{"tcb info body", edit(func(c *tee.TDXCollateral) {
				c.TCBInfo = bytes.Replace(c.TCBInfo, []byte(`"tcbEvaluationDataNumber":15`), []byte(`"tcbEvaluationDataNumber":16`), 1)
			}), tee.ErrSignature},
			{"qe identity body", edit(func(c *tee.TDXCollateral) {
				c.QEIdentity = bytes.Replace(c.QEIdentity, []byte(`"isvprodid":2`), []byte(`"isvprodid":3`), 1)
			}), tee.ErrSignature},
			{"tcb info missing", edit(func(c *tee.TDXCollateral) { c.TCBInfo = nil }), tee.ErrCollateralMissing},
			{"root crl missing", edit(func(c *tee.TDXCollateral) { c.RootCACRL = nil }), tee.ErrCollateralMissing},
			{"crls swapped", edit(func(c *tee.TDXCollateral) { c.PCKCRL, c.RootCACRL = c.RootCACRL, c.PCKCRL }), tee.ErrCollateralMismatch},
			{"crl garbage", edit(func(c *tee.TDXCollateral) { c.PCKCRL = []byte("not a crl") }), tee.ErrMalformed},
			{"issuer chain truncated", edit(func(c *tee.TDXCollateral) { c.TCBInfoIssuerChain = c.TCBInfoIssuerChain[:len(c.TCBInfoIssuerChain)/2] }), tee.ErrMalformed},
			{"snp collateral", tee.Collateral{Kind: tee.KindSEVSNP}, tee.ErrCollateralMismatch},
			{"no collateral", tee.Collateral{}, tee.ErrCollateralMismatch},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := tee.Verify(ev, tc.col, tee.Policy{}, now)
				teetest.RequireRefusal(t, err, tc.want)
			})
		}
	})
}

func TestRecordedSNP(t *testing.T) {
	ev, col := teetest.RecordedSNP(t)
	now := teetest.RecordedSNPTime
	// The recorded guest runs with DEBUG set, and no AMD CRL was recorded.
	lax := tee.Policy{AllowDebug: true, SNPAllowMissingCRL: true}

	r, err := tee.Verify(ev, col, lax, now)
	require.NoError(t, err)
	require.Equal(t, tee.KindSEVSNP, r.Kind)
	require.True(t, r.Debug)
	require.Equal(t, tee.TCBUpToDate, r.TCBStatus)
	require.EqualValues(t, 1, r.Confidence)
	require.Len(t, r.Measurement, tee.SNPMeasurementSize)
	require.Equal(t, tee.ReportData{1, 2, 3, 4, 5}, r.ReportData)
	require.NoError(t, r.CheckReportData(tee.ReportData{1, 2, 3, 4, 5}))
	teetest.RequireRefusal(t, r.CheckReportData(tee.ReportData{1, 2, 3, 4, 6}), tee.ErrReportDataMismatch)

	t.Run("DebugRefused", func(t *testing.T) {
		_, err := tee.Verify(ev, col, tee.Policy{SNPAllowMissingCRL: true}, now)
		teetest.RequireRefusal(t, err, tee.ErrDebugNotAllowed)
	})

	t.Run("CRLRequired", func(t *testing.T) {
		_, err := tee.Verify(ev, col, tee.Policy{AllowDebug: true}, now)
		teetest.RequireRefusal(t, err, tee.ErrCollateralMissing)
	})

	t.Run("EveryFlippedByteRefused", func(t *testing.T) {
		for i := range ev.Quote {
			bad := tee.Evidence{Kind: ev.Kind, Quote: bytes.Clone(ev.Quote)}
			bad.Quote[i] ^= 0x01
			_, err := tee.Verify(bad, col, lax, now)
			require.Error(t, err, "byte %#x", i)
		}
		bad := tee.Evidence{Kind: ev.Kind, Quote: bytes.Clone(ev.Quote)}
		bad.Quote[0x50] ^= 0x01 // REPORT_DATA
		_, err := tee.Verify(bad, col, lax, now)
		teetest.RequireRefusal(t, err, tee.ErrSignature)
	})

	t.Run("Expired", func(t *testing.T) {
		// The VCEK expires on 2029-09-24.
		_, err := tee.Verify(ev, col, lax, time.Date(2029, 10, 1, 0, 0, 0, 0, time.UTC))
		teetest.RequireRefusal(t, err, tee.ErrCollateralExpired)
	})

	t.Run("OutOfDateTCB", func(t *testing.T) {
		// REPORTED_TCB is 0x4405000000000002: microcode 0x44, SNP 5, bootloader 2.
		pol := lax
		pol.SNPMinTCB = 0x4405000000000003
		r, err := tee.Verify(ev, col, pol, now)
		require.NoError(t, err)
		require.Equal(t, tee.TCBOutOfDate, r.TCBStatus)
		require.EqualValues(t, 4, r.Confidence)
		require.NotEmpty(t, r.Advisories)
		pol.MaxConfidence = 2
		_, err = tee.Verify(ev, col, pol, now)
		teetest.RequireRefusal(t, err, tee.ErrTCBOutOfDate)
		pol.SNPMinTCB = 0x4405000000000002
		_, err = tee.Verify(ev, col, pol, now)
		require.NoError(t, err)
	})

	t.Run("WrongCertificates", func(t *testing.T) {
		fake := teetest.NewFakeSNP(t, now)
		fc := fake.Collateral(t, teetest.SNPCollateralOptions{})
		tests := []struct {
			name string
			col  tee.SNPCollateral
			want error
		}{
			{"another chip's VCEK", tee.SNPCollateral{EndorsementKey: fc.SNP.EndorsementKey, Intermediate: fc.SNP.Intermediate}, tee.ErrCertChain},
			{"fake ASK", tee.SNPCollateral{EndorsementKey: col.SNP.EndorsementKey, Intermediate: fc.SNP.Intermediate}, tee.ErrCertChain},
			{"ASK as VCEK", tee.SNPCollateral{EndorsementKey: col.SNP.Intermediate, Intermediate: col.SNP.Intermediate}, tee.ErrCollateralMismatch},
			{"no VCEK", tee.SNPCollateral{Intermediate: col.SNP.Intermediate}, tee.ErrCollateralMissing},
			{"garbage VCEK", tee.SNPCollateral{EndorsementKey: []byte{0x30, 0}, Intermediate: col.SNP.Intermediate}, tee.ErrMalformed},
			{"CRL garbage", tee.SNPCollateral{EndorsementKey: col.SNP.EndorsementKey, Intermediate: col.SNP.Intermediate, CRL: []byte{1}}, tee.ErrMalformed},
			{"CRL from the fake ARK", tee.SNPCollateral{EndorsementKey: col.SNP.EndorsementKey, Intermediate: col.SNP.Intermediate, CRL: fc.SNP.CRL}, tee.ErrCollateralMismatch},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := tee.Verify(ev, tee.Collateral{Kind: tee.KindSEVSNP, SNP: tc.col}, lax, now)
				teetest.RequireRefusal(t, err, tc.want)
			})
		}
	})
}

// TestProductionRootsRefuseFakes checks that the embedded roots do not accept the fake chains that
// the other tests trust explicitly.
func TestProductionRootsRefuseFakes(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ftdx := teetest.NewFakeTDX(t, teetest.FakeTDXOptions{Now: now})
	_, err := tee.Verify(tee.Evidence{Kind: tee.KindTDX, Quote: ftdx.Quote(t, tee.ReportData{}, false)}, ftdx.Collateral(t, teetest.TDXCollateralOptions{}), tee.Policy{}, now)
	teetest.RequireRefusal(t, err, tee.ErrCertChain)

	fsnp := teetest.NewFakeSNP(t, now)
	_, err = tee.Verify(tee.Evidence{Kind: tee.KindSEVSNP, Quote: fsnp.Report(t, tee.ReportData{}, teetest.SNPReportOptions{})}, fsnp.Collateral(t, teetest.SNPCollateralOptions{}), tee.Policy{}, now)
	teetest.RequireRefusal(t, err, tee.ErrCertChain)
}
