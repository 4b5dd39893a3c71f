package snp_test

import (
	"testing"
	"time"

	sevabi "github.com/google/go-sev-guest/abi"
	sevtesting "github.com/google/go-sev-guest/testing"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/snp"
	"github.com/phala-go/phala/tee/teetest"
)

var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var deviceKey = [32]byte{1, 2, 3, 4}

// TestConformance runs the suite against reports freshly signed by go-sev-guest's fake AMD chain,
// with a VCEK and with a VLEK.
func TestConformance(t *testing.T) {
	fake := teetest.NewFakeSNP(t, now)
	for _, vlek := range []bool{false, true} {
		name := "VCEK"
		if vlek {
			name = "VLEK"
		}
		t.Run(name, func(t *testing.T) {
			dev := fake.Device(snp.DerivedKeyRequest(0), deviceKey)
			teetest.RunConformance(t, teetest.Backend{
				Guest:      snp.New(fake.QuoteProvider(teetest.SNPReportOptions{VLEK: vlek}), dev, snp.Config{}),
				DebugGuest: snp.New(fake.QuoteProvider(teetest.SNPReportOptions{VLEK: vlek, Debug: true}), dev, snp.Config{}),
				Collateral: fake.Collateral(t, teetest.SNPCollateralOptions{VLEK: vlek}),
				Now:        now,
				Verify:     fake.Verifier(t),
				Expires:    true,
				Sealing:    true,
				OutOfDate: func(tb testing.TB) (tee.Collateral, tee.Policy) {
					return fake.Collateral(tb, teetest.SNPCollateralOptions{VLEK: vlek}), tee.Policy{SNPMinTCB: 0x0100000000000000}
				},
			})
		})
	}
}

func TestEvidenceWithCertificates(t *testing.T) {
	fake := teetest.NewFakeSNP(t, now)
	g := snp.New(fake.QuoteProvider(teetest.SNPReportOptions{}), nil, snp.Config{})
	ev, certs, err := g.EvidenceWithCertificates(tee.ReportData{7})
	require.NoError(t, err)
	require.Len(t, ev.Quote, sevabi.ReportSize)
	table := new(sevabi.CertTable)
	require.NoError(t, table.Unmarshal(certs))
	vcek, err := table.GetByGUIDString(sevabi.VcekGUID)
	require.NoError(t, err)
	require.Equal(t, fake.Collateral(t, teetest.SNPCollateralOptions{}).SNP.EndorsementKey, vcek)
}

func TestSealingKey(t *testing.T) {
	fake := teetest.NewFakeSNP(t, now)
	reports := fake.QuoteProvider(teetest.SNPReportOptions{})

	// The fake device answers only the request that mixes in measurement and policy at VMPL 0.
	k, err := snp.New(reports, fake.Device(snp.DerivedKeyRequest(0), deviceKey), snp.Config{}).SealingKey()
	require.NoError(t, err)
	require.Len(t, k, 32)
	require.NotEqual(t, deviceKey[:], k, "the device key is separated by HKDF before use")

	other, err := snp.New(reports, fake.Device(snp.DerivedKeyRequest(0), [32]byte{9}), snp.Config{}).SealingKey()
	require.NoError(t, err)
	require.NotEqual(t, k, other)

	_, err = snp.New(reports, fake.Device(snp.DerivedKeyRequest(0), deviceKey), snp.Config{VMPL: 1}).SealingKey()
	require.ErrorIs(t, err, tee.ErrDevice)

	_, err = snp.New(reports, nil, snp.Config{}).SealingKey()
	require.ErrorIs(t, err, tee.ErrDevice)

	req := snp.DerivedKeyRequest(2)
	require.True(t, req.UseVCEK && req.GuestFieldSelect.Measurement && req.GuestFieldSelect.GuestPolicy)
	require.EqualValues(t, 2, req.Vmpl)
}

// TestLibraryQuoteProvider drives the guest with go-sev-guest's own fake quote provider, signing
// its canned reports (debug guests, zero measurement) with this package's fake chain.
func TestLibraryQuoteProvider(t *testing.T) {
	fake := teetest.NewFakeSNP(t, now)
	cases := sevtesting.TestCases()
	qp, err := sevtesting.TcQuoteProvider(cases, &sevtesting.DeviceOptions{Signer: fake.Signer(), Product: sevabi.DefaultSevProduct()})
	require.NoError(t, err)
	g := snp.New(qp, nil, snp.Config{})
	verify := fake.Verifier(t)
	for _, tc := range cases {
		if tc.WantErr != "" {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			ev, err := g.Evidence(tc.Input)
			require.NoError(t, err)
			col := fake.Collateral(t, teetest.SNPCollateralOptions{VLEK: tc.EK == sevtesting.KeyChoiceVlek})
			if tc.Name == "zeros genoa v3" {
				// The report says Genoa, the fake chain is Milan's: the Genoa root refuses it.
				_, err = verify(ev, col, tee.Policy{AllowDebug: true}, now)
				teetest.RequireRefusal(t, err, tee.ErrCertChain)
				return
			}
			_, err = verify(ev, col, tee.Policy{}, now)
			teetest.RequireRefusal(t, err, tee.ErrDebugNotAllowed)
			r, err := verify(ev, col, tee.Policy{AllowDebug: true}, now)
			require.NoError(t, err)
			require.True(t, r.Debug)
			require.Equal(t, tee.ReportData(tc.Input), r.ReportData)
		})
	}
	_, err = g.Evidence(tee.ReportData{0xee})
	require.ErrorIs(t, err, tee.ErrDevice)
}
