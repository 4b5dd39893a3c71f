package tee_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/teetest"
)

// Tests on evidence freshly signed by fake vendor chains, verified with those fake roots: they
// reach the cases the recorded samples cannot (every TCB status, revocations, guest policies).

var fakeNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeTDXStatuses(t *testing.T) {
	rd := tee.ReportData{9}
	tests := []struct {
		name       string
		module     bool
		opts       teetest.TDXCollateralOptions
		want       tee.TCBStatus
		confidence uint8
	}{
		{"up to date", false, teetest.TDXCollateralOptions{}, tee.TCBUpToDate, 1},
		{"sw hardening", false, teetest.TDXCollateralOptions{PlatformStatus: tee.TCBSWHardeningNeeded, Advisories: []string{"INTEL-SA-00615"}}, tee.TCBSWHardeningNeeded, 2},
		{"configuration", false, teetest.TDXCollateralOptions{PlatformStatus: tee.TCBConfigurationNeeded}, tee.TCBConfigurationNeeded, 3},
		{"configuration and sw", false, teetest.TDXCollateralOptions{PlatformStatus: tee.TCBConfigurationAndSWHardeningNeeded}, tee.TCBConfigurationAndSWHardeningNeeded, 3},
		{"out of date", false, teetest.TDXCollateralOptions{PlatformStatus: tee.TCBOutOfDate}, tee.TCBOutOfDate, 4},
		{"out of date configuration", false, teetest.TDXCollateralOptions{PlatformStatus: tee.TCBOutOfDateConfigurationNeeded}, tee.TCBOutOfDateConfigurationNeeded, 5},
		{"qe out of date", false, teetest.TDXCollateralOptions{QEStatus: tee.TCBOutOfDate}, tee.TCBOutOfDate, 4},
		{"module out of date", true, teetest.TDXCollateralOptions{ModuleStatus: tee.TCBOutOfDate}, tee.TCBOutOfDate, 4},
		{"module up to date, platform config", true, teetest.TDXCollateralOptions{PlatformStatus: tee.TCBConfigurationNeeded}, tee.TCBConfigurationNeeded, 3},
		{"module out of date, platform config", true, teetest.TDXCollateralOptions{PlatformStatus: tee.TCBConfigurationNeeded, ModuleStatus: tee.TCBOutOfDate}, tee.TCBOutOfDateConfigurationNeeded, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := teetest.NewFakeTDX(t, teetest.FakeTDXOptions{Now: fakeNow, ModuleIdentity: tc.module})
			verify := fake.Verifier(t)
			ev := tee.Evidence{Kind: tee.KindTDX, Quote: fake.Quote(t, rd, false)}
			col := fake.Collateral(t, tc.opts)
			r, err := verify(ev, col, tee.Policy{}, fakeNow)
			require.NoError(t, err)
			require.Equal(t, tc.want, r.TCBStatus)
			require.Equal(t, tc.confidence, r.Confidence)
			require.Equal(t, tc.opts.Advisories, r.Advisories)
			require.Equal(t, rd, r.ReportData)

			_, err = verify(ev, col, tee.Policy{MaxConfidence: tc.confidence}, fakeNow)
			require.NoError(t, err)
			if tc.confidence > 1 {
				_, err = verify(ev, col, tee.Policy{MaxConfidence: tc.confidence - 1}, fakeNow)
				teetest.RequireRefusal(t, err, tee.ErrTCBOutOfDate)
			}
		})
	}
}

func TestFakeTDXRefusals(t *testing.T) {
	fake := teetest.NewFakeTDX(t, teetest.FakeTDXOptions{Now: fakeNow})
	verify := fake.Verifier(t)
	ev := tee.Evidence{Kind: tee.KindTDX, Quote: fake.Quote(t, tee.ReportData{1}, false)}
	good := fake.Collateral(t, teetest.TDXCollateralOptions{})
	other := teetest.NewFakeTDX(t, teetest.FakeTDXOptions{Now: fakeNow})

	tests := []struct {
		name string
		col  tee.Collateral
		pol  tee.Policy
		now  time.Time
		want error
	}{
		{"revoked PCK", fake.Collateral(t, teetest.TDXCollateralOptions{RevokePCK: true}), tee.Policy{}, fakeNow, tee.ErrRevoked},
		{"revoked platform CA", fake.Collateral(t, teetest.TDXCollateralOptions{RevokePlatformCA: true}), tee.Policy{}, fakeNow, tee.ErrRevoked},
		{"revoked TCB level", fake.Collateral(t, teetest.TDXCollateralOptions{PlatformStatus: tee.TCBRevoked}), tee.Policy{}, fakeNow, tee.ErrRevoked},
		{"old TCB evaluation", fake.Collateral(t, teetest.TDXCollateralOptions{EvaluationDataNumber: 16}), tee.Policy{TDXMinTCBEvaluationDataNumber: 17}, fakeNow, tee.ErrCollateralExpired},
		{"collateral expired", good, tee.Policy{}, fakeNow.AddDate(0, 0, 31), tee.ErrCollateralExpired},
		{"collateral not yet valid", good, tee.Policy{}, fakeNow.AddDate(0, 0, -2), tee.ErrCollateralExpired},
		{"PCK expired", good, tee.Policy{}, fakeNow.AddDate(6, 0, 0), tee.ErrEvidenceExpired},
		{"module not allowed", good, tee.Policy{TDXAllowedMRSEAMs: [][]byte{make([]byte, 48)}}, fakeNow, tee.ErrPolicyViolation},
		{"another infrastructure's collateral", other.Collateral(t, teetest.TDXCollateralOptions{}), tee.Policy{}, fakeNow, tee.ErrSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify(ev, tc.col, tc.pol, tc.now)
			teetest.RequireRefusal(t, err, tc.want)
		})
	}

	// Collateral of another fake infrastructure mixed in field by field.
	mixed := good
	mixed.TDX.PCKCRL = other.Collateral(t, teetest.TDXCollateralOptions{}).TDX.PCKCRL
	_, err := verify(ev, mixed, tee.Policy{}, fakeNow)
	teetest.RequireRefusal(t, err, tee.ErrSignature)

	// A quote signed by another infrastructure's keys but carrying this one's certificates.
	forged := tee.Evidence{Kind: tee.KindTDX, Quote: other.Quote(t, tee.ReportData{1}, false)}
	_, err = verify(forged, good, tee.Policy{}, fakeNow)
	teetest.RequireRefusal(t, err, tee.ErrCertChain)
}

func TestFakeSNPRefusals(t *testing.T) {
	fake := teetest.NewFakeSNP(t, fakeNow)
	verify := fake.Verifier(t)
	rd := tee.ReportData{5}
	report := func(o teetest.SNPReportOptions) tee.Evidence {
		return tee.Evidence{Kind: tee.KindSEVSNP, Quote: fake.Report(t, rd, o)}
	}
	vcek := fake.Collateral(t, teetest.SNPCollateralOptions{})
	vlek := fake.Collateral(t, teetest.SNPCollateralOptions{VLEK: true})

	tests := []struct {
		name string
		ev   tee.Evidence
		col  tee.Collateral
		pol  tee.Policy
		now  time.Time
		want error
	}{
		{"migration agent", report(teetest.SNPReportOptions{MigrationAgent: true}), vcek, tee.Policy{}, fakeNow, tee.ErrPolicyViolation},
		{"vmpl 1", report(teetest.SNPReportOptions{VMPL: 1}), vcek, tee.Policy{}, fakeNow, tee.ErrPolicyViolation},
		{"reported TCB is not the VCEK's", report(teetest.SNPReportOptions{ReportedTCB: 0x0100000000000001}), vcek, tee.Policy{}, fakeNow, tee.ErrCollateralMismatch},
		{"revoked ASK", report(teetest.SNPReportOptions{}), fake.Collateral(t, teetest.SNPCollateralOptions{RevokeIntermediate: true}), tee.Policy{}, fakeNow, tee.ErrRevoked},
		{"revoked ASVK", report(teetest.SNPReportOptions{VLEK: true}), fake.Collateral(t, teetest.SNPCollateralOptions{VLEK: true, RevokeIntermediate: true}), tee.Policy{}, fakeNow, tee.ErrRevoked},
		{"CRL expired", report(teetest.SNPReportOptions{}), vcek, tee.Policy{}, fakeNow.AddDate(0, 0, 31), tee.ErrCollateralExpired},
		{"CRL missing", report(teetest.SNPReportOptions{}), fake.Collateral(t, teetest.SNPCollateralOptions{NoCRL: true}), tee.Policy{}, fakeNow, tee.ErrCollateralMissing},
		{"VLEK report with VCEK collateral", report(teetest.SNPReportOptions{VLEK: true}), vcek, tee.Policy{}, fakeNow, tee.ErrCollateralMismatch},
		{"VCEK report with VLEK collateral", report(teetest.SNPReportOptions{}), vlek, tee.Policy{}, fakeNow, tee.ErrCollateralMismatch},
		{"ASVK as ASK", report(teetest.SNPReportOptions{}), tee.Collateral{Kind: tee.KindSEVSNP, SNP: tee.SNPCollateral{EndorsementKey: vcek.SNP.EndorsementKey, Intermediate: vlek.SNP.Intermediate, CRL: vcek.SNP.CRL}}, tee.Policy{}, fakeNow, tee.ErrCertChain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify(tc.ev, tc.col, tc.pol, tc.now)
			teetest.RequireRefusal(t, err, tc.want)
		})
	}

	accepted := []struct {
		name string
		ev   tee.Evidence
		col  tee.Collateral
		pol  tee.Policy
	}{
		{"migration agent allowed", report(teetest.SNPReportOptions{MigrationAgent: true}), vcek, tee.Policy{SNPAllowMigrationAgent: true}},
		{"vmpl 1 allowed", report(teetest.SNPReportOptions{VMPL: 1}), vcek, tee.Policy{SNPMaxVMPL: 1}},
		{"CRL missing allowed", report(teetest.SNPReportOptions{}), fake.Collateral(t, teetest.SNPCollateralOptions{NoCRL: true}), tee.Policy{SNPAllowMissingCRL: true}},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			r, err := verify(tc.ev, tc.col, tc.pol, fakeNow)
			require.NoError(t, err)
			require.Equal(t, rd, r.ReportData)
			require.Equal(t, fake.Measurement(), r.Measurement)
		})
	}
}
