package tdx_test

import (
	"bytes"
	"testing"
	"time"

	tdxtesting "github.com/google/go-tdx-guest/testing"
	tdxdata "github.com/google/go-tdx-guest/testing/testdata"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/tdx"
	"github.com/phala-go/phala/tee/teetest"
)

var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newGuest(t *testing.T, source any) *tdx.Guest {
	t.Helper()
	g, err := tdx.New(source)
	require.NoError(t, err)
	return g
}

// TestConformance runs the suite against quotes freshly signed by a fake Intel chain, once as
// the sample platform (TEE_TCB_SVN[1] = 0) and once with a TDX module identity.
func TestConformance(t *testing.T) {
	for _, module := range []bool{false, true} {
		name := "Platform"
		if module {
			name = "ModuleIdentity"
		}
		t.Run(name, func(t *testing.T) {
			fake := teetest.NewFakeTDX(t, teetest.FakeTDXOptions{Now: now, ModuleIdentity: module})
			teetest.RunConformance(t, teetest.Backend{
				Guest:      newGuest(t, fake.QuoteProvider(false)),
				DebugGuest: newGuest(t, fake.QuoteProvider(true)),
				Collateral: fake.Collateral(t, teetest.TDXCollateralOptions{}),
				Now:        now,
				Verify:     fake.Verifier(t),
				Expires:    true,
				OutOfDate: func(tb testing.TB) (tee.Collateral, tee.Policy) {
					return fake.Collateral(tb, teetest.TDXCollateralOptions{PlatformStatus: tee.TCBOutOfDate, Advisories: []string{"INTEL-SA-00837"}}), tee.Policy{}
				},
			})
		})
	}
}

// TestRecordedQuoteThroughLibraryFakes drives the guest with go-tdx-guest's own fake quote
// provider and fake /dev/tdx_guest, answering with the real recorded quote.
func TestRecordedQuoteThroughLibraryFakes(t *testing.T) {
	rd := teetest.RecordedTDXReportData(t)
	want, col := teetest.RecordedTDX(t)
	var report [1024]byte
	copy(report[:], tdxdata.RawReport)
	cases := []tdxtesting.TestCase{{Name: "recorded", Input: rd, Report: report, Quote: tdxdata.RawQuote}}
	provider, err := tdxtesting.TcQuoteProvider(cases)
	require.NoError(t, err)
	device, err := tdxtesting.TcDevice(cases)
	require.NoError(t, err)
	require.NoError(t, device.Open(""))

	for name, source := range map[string]any{"QuoteProvider": provider, "Device": device} {
		t.Run(name, func(t *testing.T) {
			g := newGuest(t, source)
			ev, err := g.Evidence(rd)
			require.NoError(t, err)
			require.Equal(t, want, ev, "the guest strips the sample's appended test bytes")
			// The library fakes answer only the programmed report data, and Measurement asks with
			// zero report data.
			_, err = g.Measurement()
			require.ErrorIs(t, err, tee.ErrDevice)
			_, err = tee.Verify(ev, col, tee.Policy{}, teetest.RecordedTDXTime)
			teetest.RequireRefusal(t, err, tee.ErrTCBUnknown)
		})
	}

	// go-tdx-guest's default test case maps report data 00..01 to the same recorded quote, whose
	// report data is something else: the guest must notice.
	defaults, err := tdxtesting.TcQuoteProvider(tdxtesting.TestCases())
	require.NoError(t, err)
	_, err = newGuest(t, defaults).Evidence(tdxtesting.TestCases()[0].Input)
	require.ErrorIs(t, err, tee.ErrDevice)
	require.ErrorContains(t, err, "other report data")
}

func TestNoSealingKey(t *testing.T) {
	fake := teetest.NewFakeTDX(t, teetest.FakeTDXOptions{Now: now})
	k, err := newGuest(t, fake.QuoteProvider(false)).SealingKey()
	require.Nil(t, k)
	require.ErrorIs(t, err, tee.ErrNoSealingKey)
	require.ErrorContains(t, err, "gatekeepers")
}

func TestNewRejectsUnknownSource(t *testing.T) {
	_, err := tdx.New(bytes.NewReader(nil))
	require.Error(t, err)
}
