package tee_test

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/teetest"
)

// BenchmarkVerify measures one verification per kind. Fake-chain cases run the complete
// successful path (the fake roots cost the same as the real ones: ECDSA P-256 for Intel, RSA-4096
// and ECDSA P-384 for AMD). Recorded cases use the real samples: TDX stops at the TCB-level match
// after every signature, chain and CRL check; SEV-SNP succeeds without a CRL.
func BenchmarkVerify(b *testing.B) {
	type input struct {
		ev     tee.Evidence
		col    tee.Collateral
		pol    tee.Policy
		verify teetest.VerifyFunc
		want   error
	}
	now := fakeNow
	seed := make([]byte, ed25519.SeedSize)
	platform := ed25519.NewKeyFromSeed(seed)
	simEv, err := tee.SignSimEvidence(platform, make([]byte, 32), false, tee.ReportData{1})
	if err != nil {
		b.Fatal(err)
	}
	ftdx := teetest.NewFakeTDX(b, teetest.FakeTDXOptions{Now: now})
	fsnp := teetest.NewFakeSNP(b, now)
	tdxEv, tdxCol := teetest.RecordedTDX(b)
	snpEv, snpCol := teetest.RecordedSNP(b)
	cases := []struct {
		name string
		in   input
	}{
		{name: "sim", in: input{simEv, tee.Collateral{}, tee.Policy{AllowSim: true, SimPlatformKeys: []ed25519.PublicKey{platform.Public().(ed25519.PublicKey)}}, tee.Verify, nil}},
		{name: "tdx", in: input{tee.Evidence{Kind: tee.KindTDX, Quote: ftdx.Quote(b, tee.ReportData{1}, false)}, ftdx.Collateral(b, teetest.TDXCollateralOptions{}), tee.Policy{}, ftdx.Verifier(b), nil}},
		{name: "tdx-recorded", in: input{tdxEv, tdxCol, tee.Policy{}, tee.Verify, tee.ErrTCBUnknown}},
		{name: "sev-snp", in: input{tee.Evidence{Kind: tee.KindSEVSNP, Quote: fsnp.Report(b, tee.ReportData{1}, teetest.SNPReportOptions{})}, fsnp.Collateral(b, teetest.SNPCollateralOptions{}), tee.Policy{}, fsnp.Verifier(b), nil}},
		{name: "sev-snp-recorded", in: input{snpEv, snpCol, tee.Policy{AllowDebug: true, SNPAllowMissingCRL: true}, tee.Verify, nil}},
	}
	for _, c := range cases {
		at := now
		if c.name == "tdx-recorded" {
			at = teetest.RecordedTDXTime
		}
		if c.name == "sev-snp-recorded" {
			at = teetest.RecordedSNPTime
		}
		b.Run(c.name, func(b *testing.B) {
			in := c.in
			for b.Loop() {
				if _, err := in.verify(in.ev, in.col, in.pol, at); !errors.Is(err, in.want) {
					b.Fatalf("got %v, want %v", err, in.want)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	ev, col := teetest.RecordedTDX(b)
	evBytes, err := ev.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	colBytes, err := col.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var e tee.Evidence
		var c tee.Collateral
		if e.UnmarshalBinary(evBytes) != nil || c.UnmarshalBinary(colBytes) != nil {
			b.Fatal("decode failed")
		}
	}
}
