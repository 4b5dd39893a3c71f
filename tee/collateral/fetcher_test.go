package collateral_test

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	sevabi "github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	sevtrust "github.com/google/go-sev-guest/verify/trust"
	"github.com/google/go-tdx-guest/pcs"
	tdxtesting "github.com/google/go-tdx-guest/testing"
	tdxdata "github.com/google/go-tdx-guest/testing/testdata"
	"github.com/stretchr/testify/require"

	"github.com/phala-go/phala/tee"
	"github.com/phala-go/phala/tee/collateral"
	"github.com/phala-go/phala/tee/snp"
	"github.com/phala-go/phala/tee/teetest"
)

// vendor is a local HTTPS server standing in for Intel PCS and AMD KDS.
type vendor struct {
	mu     sync.Mutex
	routes map[string]route // by request URI (path and query)
	hits   map[string]int
	srv    *httptest.Server
}

type route struct {
	header map[string][]string
	body   []byte
	status int
}

func newVendor(t *testing.T) *vendor {
	v := &vendor{routes: map[string]route{}, hits: map[string]int{}}
	v.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		rt, ok := v.routes[r.URL.RequestURI()]
		v.hits[r.URL.RequestURI()]++
		v.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, vs := range rt.header {
			for _, s := range vs {
				w.Header().Add(k, s)
			}
		}
		if rt.status != 0 {
			w.WriteHeader(rt.status)
		}
		w.Write(rt.body)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vendor) set(uri string, rt route) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.routes[uri] = rt
}

func (v *vendor) totalHits() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, h := range v.hits {
		n += h
	}
	return n
}

// serveRecordedTDX serves go-tdx-guest's recorded PCS responses, headers included.
func (v *vendor) serveRecordedTDX() {
	v.set("/tdx/certification/v4/tcb?fmspc=50806f000000", route{header: tdxtesting.TcbInfoHeader, body: tdxdata.TcbInfoBody})
	v.set("/tdx/certification/v4/qe/identity", route{header: tdxtesting.QeIdentityHeader, body: tdxdata.QeIdentityBody})
	v.set("/sgx/certification/v4/pckcrl?ca=platform&encoding=der", route{header: tdxtesting.PckCrlHeader, body: tdxdata.PckCrlBody})
	v.set("/IntelSGXRootCA.der", route{body: tdxdata.RootCrlBody})
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func (v *vendor) fetcher(t *testing.T, c *clock) *collateral.Fetcher {
	return &collateral.Fetcher{
		Client:     v.srv.Client(),
		CacheDir:   filepath.Join(t.TempDir(), "cache"),
		IntelPCS:   v.srv.URL,
		IntelCerts: v.srv.URL,
		AMDKDS:     v.srv.URL,
		Now:        c.now,
	}
}

func TestFetchRecordedTDX(t *testing.T) {
	v := newVendor(t)
	v.serveRecordedTDX()
	c := &clock{teetest.RecordedTDXTime}
	f := v.fetcher(t, c)
	ev, want := teetest.RecordedTDX(t)
	ctx := context.Background()

	got, err := f.Fetch(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, want, got, "the fetcher returns exactly the recorded PCS responses")
	_, err = tee.Verify(ev, got, tee.Policy{}, c.t)
	teetest.RequireRefusal(t, err, tee.ErrTCBUnknown) // as for the recorded sample itself
	require.Equal(t, 4, v.totalHits())

	// Served from the cache while fresh.
	again, err := f.Fetch(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, want, again)
	require.Equal(t, 4, v.totalHits())

	// Within the refresh margin of the QE identity and PCK CRL (2023-07-08 07:24 and 07:27), the
	// fetcher asks again; the server has nothing newer, which is still valid, so it is used.
	c.t = time.Date(2023, 7, 8, 7, 0, 0, 0, time.UTC)
	_, err = f.Fetch(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, 6, v.totalHits())

	// Past their expiry the server's answer is stale: the fetcher says so instead of returning it.
	c.t = time.Date(2023, 7, 9, 0, 0, 0, 0, time.UTC)
	_, err = f.Fetch(ctx, ev)
	require.ErrorIs(t, err, tee.ErrCollateralExpired)

	// With the vendor unreachable, entries that have not expired are still served.
	c.t = time.Date(2023, 7, 8, 7, 0, 0, 0, time.UTC)
	v.srv.Close()
	got, err = f.Fetch(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, want, got)
	c.t = time.Date(2023, 7, 9, 0, 0, 0, 0, time.UTC)
	_, err = f.Fetch(ctx, ev)
	require.Error(t, err)
}

func TestFetchCacheSurvivesDamage(t *testing.T) {
	v := newVendor(t)
	v.serveRecordedTDX()
	c := &clock{teetest.RecordedTDXTime}
	f := v.fetcher(t, c)
	ev, want := teetest.RecordedTDX(t)
	_, err := f.Fetch(context.Background(), ev)
	require.NoError(t, err)

	entries, err := os.ReadDir(f.CacheDir)
	require.NoError(t, err)
	require.Len(t, entries, 4, "one file per URL, no temporary files left")
	for _, e := range entries {
		require.NoError(t, os.WriteFile(filepath.Join(f.CacheDir, e.Name()), []byte("{broken"), 0o644))
	}
	got, err := f.Fetch(context.Background(), ev)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, 8, v.totalHits(), "damaged entries are refetched")

	// A fetcher without a cache fetches every time.
	f.CacheDir = ""
	_, err = f.Fetch(context.Background(), ev)
	require.NoError(t, err)
	require.Equal(t, 12, v.totalHits())
}

func TestFetchTDXErrors(t *testing.T) {
	ev, _ := teetest.RecordedTDX(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(v *vendor)
		want  string
	}{
		{"not found", func(v *vendor) {}, "404"},
		{"rate limited", func(v *vendor) {
			v.set("/tdx/certification/v4/tcb?fmspc=50806f000000", route{status: http.StatusTooManyRequests, header: map[string][]string{"Retry-After": {"30"}}})
		}, "retry after 30"},
		{"no issuer chain", func(v *vendor) {
			v.set("/tdx/certification/v4/tcb?fmspc=50806f000000", route{body: tdxdata.TcbInfoBody})
		}, "Issuer-Chain header"},
		{"not a TCB info", func(v *vendor) {
			v.set("/tdx/certification/v4/tcb?fmspc=50806f000000", route{header: tdxtesting.TcbInfoHeader, body: []byte("<html>")})
		}, "unexpected response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newVendor(t)
			tc.setup(v)
			_, err := v.fetcher(t, &clock{teetest.RecordedTDXTime}).Fetch(ctx, ev)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := (&collateral.Fetcher{}).Fetch(ctx, tee.Evidence{Kind: tee.KindTDX, Quote: []byte{1, 2, 3}})
	require.ErrorIs(t, err, tee.ErrMalformed)
	col, err := (&collateral.Fetcher{}).Fetch(ctx, tee.Evidence{Kind: tee.KindSim})
	require.NoError(t, err)
	require.Equal(t, tee.Collateral{}, col)
}

// TestFetchFakeTDXEndToEnd serves a fake Intel infrastructure's collateral and verifies what the
// fetcher returns with that infrastructure's root.
func TestFetchFakeTDXEndToEnd(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fake := teetest.NewFakeTDX(t, teetest.FakeTDXOptions{Now: now})
	col := fake.Collateral(t, teetest.TDXCollateralOptions{PlatformStatus: tee.TCBSWHardeningNeeded}).TDX
	v := newVendor(t)
	chainHeader := func(name string, pemChain []byte) map[string][]string {
		return map[string][]string{name: {url.QueryEscape(string(pemChain))}}
	}
	v.set("/tdx/certification/v4/tcb?fmspc=50806f000000", route{header: chainHeader(pcs.TcbInfoIssuerChainPhrase, col.TCBInfoIssuerChain), body: col.TCBInfo})
	v.set("/tdx/certification/v4/qe/identity", route{header: chainHeader(pcs.SgxQeIdentityIssuerChainPhrase, col.QEIdentityIssuerChain), body: col.QEIdentity})
	v.set("/sgx/certification/v4/pckcrl?ca=platform&encoding=der", route{body: col.PCKCRL})
	v.set("/IntelSGXRootCA.der", route{body: col.RootCACRL})

	ev := tee.Evidence{Kind: tee.KindTDX, Quote: fake.Quote(t, tee.ReportData{3}, false)}
	got, err := v.fetcher(t, &clock{now}).Fetch(context.Background(), ev)
	require.NoError(t, err)
	r, err := fake.Verifier(t)(ev, got, tee.Policy{}, now)
	require.NoError(t, err)
	require.Equal(t, tee.TCBSWHardeningNeeded, r.TCBStatus)
}

func TestFetchSNP(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fake := teetest.NewFakeSNP(t, now)
	fc := fake.Collateral(t, teetest.SNPCollateralOptions{}).SNP
	v := newVendor(t)
	zeroChip := make([]byte, 64)
	v.set("/vcek/v1/Milan/"+hex.EncodeToString(zeroChip)+"?blSPL=0&teeSPL=0&snpSPL=0&ucodeSPL=0", route{body: fc.EndorsementKey})
	v.set("/vcek/v1/Milan/cert_chain", route{body: append(pemCert(fc.Intermediate), pemCert(fake.ARK().Raw)...)})
	v.set("/vcek/v1/Milan/crl", route{body: fc.CRL})
	v.set("/vlek/v1/Milan/crl", route{body: fc.CRL})
	c := &clock{now}
	f := v.fetcher(t, c)
	ctx := context.Background()
	verify := fake.Verifier(t)

	// From KDS alone: a version-2 report names no product line, so the fetcher must be told.
	ev := tee.Evidence{Kind: tee.KindSEVSNP, Quote: fake.Report(t, tee.ReportData{4}, teetest.SNPReportOptions{})}
	_, err := f.FetchSNP(ctx, ev, nil)
	require.ErrorIs(t, err, tee.ErrCollateralMissing)
	require.ErrorContains(t, err, "SNPProductLine")
	f.SNPProductLine = "Milan"
	got, err := f.Fetch(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, fc, got.SNP)
	_, err = verify(ev, got, tee.Policy{}, now)
	require.NoError(t, err)

	// From the guest's certificate table (which also names the product line), VCEK and VLEK.
	f.SNPProductLine = ""
	for _, vlek := range []bool{false, true} {
		g := snp.New(fake.QuoteProvider(teetest.SNPReportOptions{VLEK: vlek}), nil, snp.Config{})
		ev, table, err := g.EvidenceWithCertificates(tee.ReportData{5})
		require.NoError(t, err)
		got, err := f.FetchSNP(ctx, ev, table)
		require.NoError(t, err)
		_, err = verify(ev, got, tee.Policy{}, now)
		require.NoError(t, err, "vlek=%v", vlek)
		if vlek {
			_, err = f.FetchSNP(ctx, ev, nil)
			require.ErrorIs(t, err, tee.ErrCollateralMissing)
		}
	}

	_, err = f.FetchSNP(ctx, tee.Evidence{Kind: tee.KindSEVSNP, Quote: make([]byte, 10)}, nil)
	require.ErrorIs(t, err, tee.ErrMalformed)
	_, err = f.FetchSNP(ctx, ev, []byte{1, 2, 3})
	require.ErrorIs(t, err, tee.ErrMalformed)
}

// TestFetchRecordedSNP serves go-sev-guest's recorded VCEK and the Milan bundle AMD KDS serves.
// No AMD CRL was recorded; the server offers a fake one, which verification with the real roots
// refuses, so the end-to-end check drops it and allows a missing CRL.
func TestFetchRecordedSNP(t *testing.T) {
	ev, want := teetest.RecordedSNP(t)
	report, err := sevabi.ReportToProto(ev.Quote)
	require.NoError(t, err)
	fake := teetest.NewFakeSNP(t, teetest.RecordedSNPTime)
	v := newVendor(t)
	vcekURI := mustURI(t, collateral.VCEKURL(v.srv.URL, "Milan", report.GetChipId(), report.GetReportedTcb()))
	v.set(vcekURI, route{body: want.SNP.EndorsementKey})
	v.set("/vcek/v1/Milan/cert_chain", route{body: sevtrust.AskArkMilanVcekBytes})
	v.set("/vcek/v1/Milan/crl", route{body: fake.Collateral(t, teetest.SNPCollateralOptions{}).SNP.CRL})
	f := v.fetcher(t, &clock{teetest.RecordedSNPTime})
	f.SNPProductLine = "Milan"

	got, err := f.Fetch(context.Background(), ev)
	require.NoError(t, err)
	require.Equal(t, want.SNP.EndorsementKey, got.SNP.EndorsementKey)
	require.Equal(t, want.SNP.Intermediate, got.SNP.Intermediate)
	lax := tee.Policy{AllowDebug: true, SNPAllowMissingCRL: true}
	_, err = tee.Verify(ev, got, lax, teetest.RecordedSNPTime)
	teetest.RequireRefusal(t, err, tee.ErrCollateralMismatch)
	got.SNP.CRL = nil
	_, err = tee.Verify(ev, got, lax, teetest.RecordedSNPTime)
	require.NoError(t, err)
}

// TestURLsMatchLibraries checks the URL builders against go-tdx-guest's and go-sev-guest's.
func TestURLsMatchLibraries(t *testing.T) {
	require.Equal(t, pcs.TcbInfoURL("50806f000000"), collateral.TCBInfoURL(collateral.DefaultIntelPCS, "50806f000000"))
	require.Equal(t, pcs.QeIdentityURL(), collateral.QEIdentityURL(collateral.DefaultIntelPCS))
	require.Equal(t, pcs.PckCrlURL("processor"), collateral.PCKCRLURL(collateral.DefaultIntelPCS, "processor"))
	require.Equal(t, "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der", collateral.IntelRootCRLURL(collateral.DefaultIntelCerts))
	chip := []byte{0x3a, 0xc3, 0xfe}
	require.Equal(t, kds.VCEKCertURL("Milan", chip, 0x4405000000000002), collateral.VCEKURL(collateral.DefaultAMDKDS, "Milan", chip, 0x4405000000000002))
	for _, s := range []sevabi.ReportSigner{sevabi.VcekReportSigner, sevabi.VlekReportSigner} {
		require.Equal(t, kds.ProductCertChainURL(s, "Genoa"), collateral.CertChainURL(collateral.DefaultAMDKDS, s, "Genoa"))
		require.Equal(t, kds.CrlLinkByKey("Genoa", s), collateral.CRLURL(collateral.DefaultAMDKDS, s, "Genoa"))
	}
}

func mustURI(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.RequestURI()
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
