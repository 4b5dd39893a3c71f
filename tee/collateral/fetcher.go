package collateral

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	sevabi "github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"
	tdxverify "github.com/google/go-tdx-guest/verify"

	"github.com/phala-go/phala/tee"
)

// Vendor service base URLs.
const (
	DefaultIntelPCS   = "https://api.trustedservices.intel.com"
	DefaultIntelCerts = "https://certificates.trustedservices.intel.com"
	DefaultAMDKDS     = "https://kdsintf.amd.com"
)

// Fetcher fetches the collateral for evidence from Intel PCS and AMD KDS, through an on-disk
// cache. The zero value fetches from the vendors without a cache.
type Fetcher struct {
	// Client defaults to an http.Client with a 30-second timeout.
	Client *http.Client
	// CacheDir holds cached responses, one file per URL; empty disables the cache.
	CacheDir string
	// IntelPCS, IntelCerts and AMDKDS override the vendor base URLs (tests use a local server).
	IntelPCS, IntelCerts, AMDKDS string
	// SNPProductLine names the product line ("Milan", "Genoa", "Turin") for version-2 SEV-SNP
	// reports, which do not carry it, when no certificate table tells either.
	SNPProductLine string
	// Now defaults to time.Now.
	Now func() time.Time
	// RefreshMargin refetches cached entries that expire within it; 0 means one hour.
	RefreshMargin time.Duration
}

// Fetch returns the collateral for ev: none for sim, FetchTDX for TDX, FetchSNP (without a
// certificate table) for SEV-SNP.
func (f *Fetcher) Fetch(ctx context.Context, ev tee.Evidence) (tee.Collateral, error) {
	switch ev.Kind {
	case tee.KindSim:
		return tee.Collateral{}, nil
	case tee.KindTDX:
		return f.FetchTDX(ctx, ev)
	case tee.KindSEVSNP:
		return f.FetchSNP(ctx, ev, nil)
	}
	return tee.Collateral{}, fmt.Errorf("collateral: evidence kind %q: %w", ev.Kind, tee.ErrUnsupportedKind)
}

// FetchTDX fetches, for the platform that produced the quote: the TDX TCB info for its FMSPC, the
// TDX QE identity, the CRL of the CA that issued its PCK certificate, and the Intel root CA CRL.
func (f *Fetcher) FetchTDX(ctx context.Context, ev tee.Evidence) (tee.Collateral, error) {
	anyQuote, err := abi.QuoteToProto(ev.Quote)
	if err != nil {
		return tee.Collateral{}, fmt.Errorf("collateral: parse TDX quote: %v: %w", err, tee.ErrMalformed)
	}
	q, ok := anyQuote.(*tdxpb.QuoteV4)
	if !ok {
		return tee.Collateral{}, fmt.Errorf("collateral: TDX quote format %T: %w", anyQuote, tee.ErrMalformed)
	}
	chain, err := tdxverify.ExtractChainFromQuote(q)
	if err != nil {
		return tee.Collateral{}, fmt.Errorf("collateral: PCK chain: %v: %w", err, tee.ErrMalformed)
	}
	ext, err := pcs.PckCertificateExtensions(chain.PCKCertificate)
	if err != nil {
		return tee.Collateral{}, fmt.Errorf("collateral: PCK extensions: %v: %w", err, tee.ErrMalformed)
	}
	ca, err := pckCA(chain.PCKCertificate)
	if err != nil {
		return tee.Collateral{}, err
	}
	pcsBase := orDefault(f.IntelPCS, DefaultIntelPCS)
	tcb, err := f.get(ctx, TCBInfoURL(pcsBase, ext.FMSPC), pcs.TcbInfoIssuerChainPhrase, pcsBodyExpiry("tcbInfo"))
	if err != nil {
		return tee.Collateral{}, err
	}
	qe, err := f.get(ctx, QEIdentityURL(pcsBase), pcs.SgxQeIdentityIssuerChainPhrase, pcsBodyExpiry("enclaveIdentity"))
	if err != nil {
		return tee.Collateral{}, err
	}
	pckCRL, err := f.get(ctx, PCKCRLURL(pcsBase, ca), "", crlExpiry)
	if err != nil {
		return tee.Collateral{}, err
	}
	rootCRL, err := f.get(ctx, IntelRootCRLURL(orDefault(f.IntelCerts, DefaultIntelCerts)), "", crlExpiry)
	if err != nil {
		return tee.Collateral{}, err
	}
	return tee.Collateral{Kind: tee.KindTDX, TDX: tee.TDXCollateral{
		TCBInfo:               tcb.Body,
		TCBInfoIssuerChain:    []byte(tcb.IssuerChain),
		QEIdentity:            qe.Body,
		QEIdentityIssuerChain: []byte(qe.IssuerChain),
		PCKCRL:                pckCRL.Body,
		RootCACRL:             rootCRL.Body,
	}}, nil
}

func pckCA(pck *x509.Certificate) (string, error) {
	switch pck.Issuer.CommonName {
	case "Intel SGX PCK Platform CA":
		return "platform", nil
	case "Intel SGX PCK Processor CA":
		return "processor", nil
	}
	return "", fmt.Errorf("collateral: PCK certificate issued by %q, not an Intel PCK CA: %w", pck.Issuer.CommonName, tee.ErrCertChain)
}

// FetchSNP fetches the endorsement key, its intermediate and the product line's CRL for an
// SEV-SNP report. certTable is the certificate table the guest got with the report (tee/snp's
// EvidenceWithCertificates); certificates found there are used as they are, which is the only way
// to obtain a VLEK. It may be nil for a VCEK-signed report.
func (f *Fetcher) FetchSNP(ctx context.Context, ev tee.Evidence, certTable []byte) (tee.Collateral, error) {
	if len(ev.Quote) != sevabi.ReportSize {
		return tee.Collateral{}, fmt.Errorf("collateral: SEV-SNP report of %d bytes, want %d: %w", len(ev.Quote), sevabi.ReportSize, tee.ErrMalformed)
	}
	report, err := sevabi.ReportToProto(ev.Quote)
	if err != nil {
		return tee.Collateral{}, fmt.Errorf("collateral: parse SEV-SNP report: %v: %w", err, tee.ErrMalformed)
	}
	info, err := sevabi.ParseSignerInfo(report.GetSignerInfo())
	if err != nil {
		return tee.Collateral{}, fmt.Errorf("collateral: %v: %w", err, tee.ErrMalformed)
	}
	table := new(sevabi.CertTable)
	if len(certTable) > 0 {
		if err := table.Unmarshal(certTable); err != nil {
			return tee.Collateral{}, fmt.Errorf("collateral: certificate table: %v: %w", err, tee.ErrMalformed)
		}
	}
	line, err := f.snpProductLine(report.GetCpuid1EaxFms(), table)
	if err != nil {
		return tee.Collateral{}, err
	}
	kdsBase := orDefault(f.AMDKDS, DefaultAMDKDS)
	var out tee.SNPCollateral
	switch info.SigningKey {
	case sevabi.VcekReportSigner:
		if out.EndorsementKey, err = table.GetByGUIDString(sevabi.VcekGUID); err != nil || len(out.EndorsementKey) == 0 {
			vcek, err := f.get(ctx, VCEKURL(kdsBase, line, report.GetChipId(), report.GetReportedTcb()), "", certExpiry)
			if err != nil {
				return tee.Collateral{}, err
			}
			out.EndorsementKey = vcek.Body
		}
	case sevabi.VlekReportSigner:
		if out.EndorsementKey, err = table.GetByGUIDString(sevabi.VlekGUID); err != nil || len(out.EndorsementKey) == 0 {
			return tee.Collateral{}, fmt.Errorf("collateral: the report is signed by a VLEK, which AMD KDS does not serve; pass the certificate table the host attached to the report: %w", tee.ErrCollateralMissing)
		}
	default:
		return tee.Collateral{}, fmt.Errorf("collateral: report signed by %v: %w", info.SigningKey, tee.ErrMalformed)
	}
	if out.Intermediate = tableIntermediate(table, info.SigningKey, line); out.Intermediate == nil {
		chain, err := f.get(ctx, CertChainURL(kdsBase, info.SigningKey, line), "", certExpiry)
		if err != nil {
			return tee.Collateral{}, err
		}
		if out.Intermediate, _, err = kds.ParseProductCertChain(chain.Body); err != nil {
			return tee.Collateral{}, fmt.Errorf("collateral: %s: %v: %w", CertChainURL(kdsBase, info.SigningKey, line), err, tee.ErrMalformed)
		}
	}
	crl, err := f.get(ctx, CRLURL(kdsBase, info.SigningKey, line), "", crlExpiry)
	if err != nil {
		return tee.Collateral{}, err
	}
	out.CRL = crl.Body
	return tee.Collateral{Kind: tee.KindSEVSNP, SNP: out}, nil
}

// tableIntermediate returns the ASK (for a VCEK) or ASVK (for a VLEK) from the certificate
// table, or nil. Hosts file the ASVK under the ASK's GUID or under the ASVK's provisional one.
func tableIntermediate(table *sevabi.CertTable, signer sevabi.ReportSigner, line string) []byte {
	want, guids := "SEV-"+line, []string{sevabi.AskGUID}
	if signer == sevabi.VlekReportSigner {
		want, guids = "SEV-VLEK-"+line, []string{sevabi.AsvkGUID, sevabi.AskGUID}
	}
	for _, g := range guids {
		der, err := table.GetByGUIDString(g)
		if err != nil {
			continue
		}
		if c, err := x509.ParseCertificate(der); err == nil && c.Subject.CommonName == want {
			return der
		}
	}
	return nil
}

func (f *Fetcher) snpProductLine(fms uint32, table *sevabi.CertTable) (string, error) {
	if fms != 0 {
		return kds.ProductLineFromFms(fms), nil
	}
	if blob, err := table.GetByGUIDString(sevabi.ExtraPlatformInfoGUID); err == nil {
		if info, err := sevabi.ParseExtraPlatformInfo(blob); err == nil {
			if line := kds.ProductLine(sevabi.SevProductFromCpuid1Eax(info.Cpuid1Eax)); line != "Unknown" {
				return line, nil
			}
		}
	}
	// The endorsement key certificates in the table name the product too.
	for _, e := range []struct {
		guid   string
		signer sevabi.ReportSigner
	}{{sevabi.VcekGUID, sevabi.VcekReportSigner}, {sevabi.VlekGUID, sevabi.VlekReportSigner}} {
		der, err := table.GetByGUIDString(e.guid)
		if err != nil {
			continue
		}
		if cert, err := x509.ParseCertificate(der); err == nil {
			if exts, err := kds.CertificateExtensions(cert, e.signer); err == nil {
				if product, err := kds.ParseProductName(exts.ProductName, e.signer); err == nil {
					return kds.ProductLine(product), nil
				}
			}
		}
	}
	if f.SNPProductLine != "" {
		return f.SNPProductLine, nil
	}
	return "", fmt.Errorf("collateral: the version-2 report does not name its product line and no certificate table does: set Fetcher.SNPProductLine (Milan, Genoa or Turin): %w", tee.ErrCollateralMissing)
}

// URL builders; with the default bases they give the URLs of go-tdx-guest's pcs and
// go-sev-guest's kds packages.

// TCBInfoURL is the Intel PCS v4 TDX TCB info of an FMSPC.
func TCBInfoURL(base, fmspc string) string {
	return base + "/tdx/certification/v4/tcb?fmspc=" + fmspc
}

// QEIdentityURL is the Intel PCS v4 TDX QE identity.
func QEIdentityURL(base string) string { return base + "/tdx/certification/v4/qe/identity" }

// PCKCRLURL is the DER CRL of the "platform" or "processor" PCK CA.
func PCKCRLURL(base, ca string) string {
	return base + "/sgx/certification/v4/pckcrl?ca=" + ca + "&encoding=der"
}

// IntelRootCRLURL is the CRL distribution point of the Intel SGX Root CA.
func IntelRootCRLURL(base string) string { return base + "/IntelSGXRootCA.der" }

// VCEKURL is the AMD KDS VCEK of a chip at a reported TCB.
func VCEKURL(base, line string, chipID []byte, tcb uint64) string {
	p := kds.DecomposeTCBVersion(kds.TCBVersion(tcb))
	return fmt.Sprintf("%s/vcek/v1/%s/%s?blSPL=%d&teeSPL=%d&snpSPL=%d&ucodeSPL=%d", base, line, hex.EncodeToString(chipID), p.BlSpl, p.TeeSpl, p.SnpSpl, p.UcodeSpl)
}

// CertChainURL is the ASK (VCEK) or ASVK (VLEK) and ARK bundle of a product line.
func CertChainURL(base string, signer sevabi.ReportSigner, line string) string {
	return fmt.Sprintf("%s/%s/v1/%s/cert_chain", base, kdsPath(signer), line)
}

// CRLURL is the ARK's CRL of a product line.
func CRLURL(base string, signer sevabi.ReportSigner, line string) string {
	return fmt.Sprintf("%s/%s/v1/%s/crl", base, kdsPath(signer), line)
}

func kdsPath(signer sevabi.ReportSigner) string {
	if signer == sevabi.VlekReportSigner {
		return "vlek"
	}
	return "vcek"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return strings.TrimSuffix(s, "/")
}

// response is a fetched (or cached) vendor response.
type response struct {
	URL         string    `json:"url"`
	IssuerChain string    `json:"issuer_chain,omitempty"` // URL-decoded PEM from the response header
	Body        []byte    `json:"body"`
	Expires     time.Time `json:"expires"`
}

// expiryFunc returns when a response body stops being valid, refusing bodies it cannot parse.
type expiryFunc func(body []byte) (time.Time, error)

func pcsBodyExpiry(field string) expiryFunc {
	return func(body []byte) (time.Time, error) {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(body, &doc); err != nil {
			return time.Time{}, err
		}
		var v struct {
			NextUpdate time.Time `json:"nextUpdate"`
		}
		if raw, ok := doc[field]; !ok || json.Unmarshal(raw, &v) != nil || v.NextUpdate.IsZero() {
			return time.Time{}, fmt.Errorf("no %s.nextUpdate", field)
		}
		return v.NextUpdate, nil
	}
}

func crlExpiry(body []byte) (time.Time, error) {
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		return time.Time{}, err
	}
	return crl.NextUpdate, nil
}

// certExpiry accepts one DER certificate or a PEM bundle and returns the earliest NotAfter.
func certExpiry(body []byte) (time.Time, error) {
	if c, err := x509.ParseCertificate(body); err == nil {
		return c.NotAfter, nil
	}
	ask, ark, err := kds.ParseProductCertChain(body)
	if err != nil {
		return time.Time{}, err
	}
	var earliest time.Time
	for _, der := range [][]byte{ask, ark} {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return time.Time{}, err
		}
		if earliest.IsZero() || c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	return earliest, nil
}

// get returns a fresh cached response for rawURL, or fetches and caches it. If fetching fails, a
// cached response that has not yet expired is still returned.
func (f *Fetcher) get(ctx context.Context, rawURL, issuerHeader string, expiry expiryFunc) (response, error) {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	margin := f.RefreshMargin
	if margin == 0 {
		margin = time.Hour
	}
	t := now()
	cached, haveCache := f.cacheLoad(rawURL)
	if haveCache && t.Add(margin).Before(cached.Expires) {
		return cached, nil
	}
	r, err := f.fetch(ctx, rawURL, issuerHeader, expiry)
	if err == nil {
		if !t.Before(r.Expires) {
			return response{}, fmt.Errorf("collateral: %s served a response that expired at %s: %w", rawURL, r.Expires.UTC().Format(time.RFC3339), tee.ErrCollateralExpired)
		}
		if err := f.cacheStore(r); err != nil {
			return response{}, err
		}
		return r, nil
	}
	if haveCache && t.Before(cached.Expires) {
		return cached, nil
	}
	return response{}, err
}

func (f *Fetcher) fetch(ctx context.Context, rawURL, issuerHeader string, expiry expiryFunc) (response, error) {
	client := f.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return response{}, fmt.Errorf("collateral: %s: %w", rawURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("collateral: fetch %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, tee.MaxCollateralFieldSize+1))
	if err != nil {
		return response{}, fmt.Errorf("collateral: read %s: %w", rawURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusTooManyRequests {
			hint = " (rate limited: retry after " + resp.Header.Get("Retry-After") + " seconds)"
		}
		return response{}, fmt.Errorf("collateral: %s answered %s%s", rawURL, resp.Status, hint)
	}
	if len(body) > tee.MaxCollateralFieldSize {
		return response{}, fmt.Errorf("collateral: %s: response larger than %d bytes: %w", rawURL, tee.MaxCollateralFieldSize, tee.ErrMalformed)
	}
	r := response{URL: rawURL, Body: body}
	if issuerHeader != "" {
		chain := resp.Header.Get(issuerHeader)
		if chain == "" {
			return response{}, fmt.Errorf("collateral: %s: no %s header: %w", rawURL, issuerHeader, tee.ErrCollateralMissing)
		}
		if r.IssuerChain, err = url.QueryUnescape(chain); err != nil {
			return response{}, fmt.Errorf("collateral: %s: %s header: %v: %w", rawURL, issuerHeader, err, tee.ErrMalformed)
		}
	}
	if r.Expires, err = expiry(body); err != nil {
		return response{}, fmt.Errorf("collateral: %s: unexpected response: %v: %w", rawURL, err, tee.ErrMalformed)
	}
	return r, nil
}
