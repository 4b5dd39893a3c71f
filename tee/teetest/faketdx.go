package teetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/client"
	"github.com/google/go-tdx-guest/pcs"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"
	tdxtesting "github.com/google/go-tdx-guest/testing"
	tdxdata "github.com/google/go-tdx-guest/testing/testdata"
	tdxverify "github.com/google/go-tdx-guest/verify"
	"google.golang.org/protobuf/proto"

	"github.com/phala-go/phala/tee"
)

// FakeTDX is a fake Intel attestation infrastructure: an "Intel SGX Root CA", a PCK platform CA,
// a PCK certificate carrying the recorded platform's SGX extensions, a TCB signing certificate
// and a quoting-enclave attestation key. It signs fresh TDX quotes built from the recorded quote
// (same TD, same platform TCB) with any report data, and PCS collateral with any TCB status.
// go-tdx-guest verifies its quotes exactly as it verifies real ones, given the fake root.
type FakeTDX struct {
	now                    time.Time
	template               *tdxpb.QuoteV4
	ext                    *pcs.PckExtensions
	moduleIdentity         bool
	root, platformCA, pck  *x509.Certificate
	tcbSigner              *x509.Certificate
	rootKey, platformCAKey *ecdsa.PrivateKey
	pckKey, tcbKey, attKey *ecdsa.PrivateKey
	qeIdentity             json.RawMessage
}

// FakeTDXOptions configures NewFakeTDX.
type FakeTDXOptions struct {
	// Now centres the validity of certificates (years) and collateral (one day before to 30 days
	// after).
	Now time.Time
	// ModuleIdentity sets TEE_TCB_SVN[1] to 1 in the quotes, so that the TDX module is judged by
	// its own identity in the TCB info (TDX_01), as on current platforms.
	ModuleIdentity bool
}

// NewFakeTDX builds the fake infrastructure.
func NewFakeTDX(tb testing.TB, o FakeTDXOptions) *FakeTDX {
	tb.Helper()
	f := &FakeTDX{now: o.Now, template: recordedTDXProto(tb), moduleIdentity: o.ModuleIdentity}
	if o.ModuleIdentity {
		f.template.TdQuoteBody.TeeTcbSvn[1] = 1
	}
	real, err := tdxverify.ExtractChainFromQuote(f.template)
	if err != nil {
		tb.Fatalf("recorded PCK chain: %v", err)
	}
	if f.ext, err = pcs.PckCertificateExtensions(real.PCKCertificate); err != nil {
		tb.Fatalf("recorded PCK extensions: %v", err)
	}
	var sgxExt pkix.Extension
	for _, e := range real.PCKCertificate.Extensions {
		if e.Id.Equal(pcs.OidSgxExtension) {
			sgxExt = e
		}
	}
	signing, err := parsePEMCerts(issuerChain(tb, tdxtesting.TcbInfoHeader, pcs.TcbInfoIssuerChainPhrase))
	if err != nil {
		tb.Fatalf("recorded TCB signing chain: %v", err)
	}
	f.rootKey, f.platformCAKey, f.pckKey, f.tcbKey, f.attKey = newP256(tb), newP256(tb), newP256(tb), newP256(tb), newP256(tb)
	notBefore, notAfter := o.Now.AddDate(-5, 0, 0), o.Now.AddDate(5, 0, 0)
	f.root = makeCert(tb, &x509.Certificate{
		Subject: real.RootCertificate.Subject, NotBefore: notBefore, NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		CRLDistributionPoints: real.RootCertificate.CRLDistributionPoints,
	}, nil, f.rootKey, f.rootKey)
	f.platformCA = makeCert(tb, &x509.Certificate{
		Subject: real.IntermediateCertificate.Subject, NotBefore: notBefore, NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		CRLDistributionPoints: real.IntermediateCertificate.CRLDistributionPoints,
	}, f.root, f.platformCAKey, f.rootKey)
	f.pck = makeCert(tb, &x509.Certificate{
		Subject: real.PCKCertificate.Subject, NotBefore: notBefore, NotAfter: notAfter,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		SubjectKeyId: []byte("fake PCK certificate"), CRLDistributionPoints: real.PCKCertificate.CRLDistributionPoints,
		ExtraExtensions: []pkix.Extension{sgxExt},
	}, f.platformCA, f.pckKey, f.platformCAKey)
	f.tcbSigner = makeCert(tb, &x509.Certificate{
		Subject: signing[0].Subject, NotBefore: notBefore, NotAfter: notAfter,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		SubjectKeyId: []byte("fake TCB signing"),
	}, f.root, f.tcbKey, f.rootKey)
	var qe map[string]json.RawMessage
	if err := json.Unmarshal(tdxdata.QeIdentityBody, &qe); err != nil {
		tb.Fatalf("recorded QE identity: %v", err)
	}
	f.qeIdentity = qe["enclaveIdentity"]
	return f
}

// Root returns the fake Intel SGX Root CA.
func (f *FakeTDX) Root() *x509.Certificate { return f.root }

// Verifier returns tee.Verify trusting the fake root.
func (f *FakeTDX) Verifier(tb testing.TB) VerifyFunc { return VerifierWithRoots(tb, f.root, nil) }

// Quote signs a quote for the recorded TD with report data rd and, if debug, TD_ATTRIBUTES.DEBUG.
func (f *FakeTDX) Quote(tb testing.TB, rd tee.ReportData, debug bool) []byte {
	tb.Helper()
	raw, err := f.quote(rd, debug)
	if err != nil {
		tb.Fatalf("fake TDX quote: %v", err)
	}
	return raw
}

func (f *FakeTDX) quote(rd tee.ReportData, debug bool) ([]byte, error) {
	q := proto.Clone(f.template).(*tdxpb.QuoteV4)
	body := q.GetTdQuoteBody()
	body.ReportData = append([]byte(nil), rd[:]...)
	if debug {
		body.TdAttributes[0] |= 1
	}
	att, err := f.attKey.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	signed := q.GetSignedData()
	signed.EcdsaAttestationKey = att.Bytes()[1:] // X || Y without the 0x04 prefix
	cert := signed.GetCertificationData()
	qeCert := cert.GetQeReportCertificationData()
	digest := sha256.Sum256(append(append([]byte(nil), signed.EcdsaAttestationKey...), qeCert.GetQeAuthData().GetData()...))
	qeCert.QeReport.ReportData = append(digest[:], make([]byte, 32)...)
	qeReport, err := abi.EnclaveReportToAbiBytes(qeCert.GetQeReport())
	if err != nil {
		return nil, err
	}
	if qeCert.QeReportSignature, err = rawSign(f.pckKey, qeReport); err != nil {
		return nil, err
	}
	chain := append(append(pemCert(f.pck), pemCert(f.platformCA)...), pemCert(f.root)...)
	qeCert.PckCertificateChainData.PckCertChain = chain
	qeCert.PckCertificateChainData.Size = uint32(len(chain))
	// QE report, its signature, auth data (size + data), chain data (type + size + chain).
	cert.Size = uint32(qeReportSize + 64 + 2 + len(qeCert.GetQeAuthData().GetData()) + 6 + len(chain))
	q.SignedDataSize = 64 + 64 + 6 + cert.Size
	header, err := abi.HeaderToAbiBytes(q.GetHeader())
	if err != nil {
		return nil, err
	}
	bodyBytes, err := abi.TdQuoteBodyToAbiBytes(body)
	if err != nil {
		return nil, err
	}
	if signed.Signature, err = rawSign(f.attKey, append(header, bodyBytes...)); err != nil {
		return nil, err
	}
	return abi.QuoteToAbiBytes(q)
}

// QuoteProvider returns a go-tdx-guest client.QuoteProvider that answers with fresh fake quotes.
func (f *FakeTDX) QuoteProvider(debug bool) client.QuoteProvider {
	return &fakeTDXProvider{f: f, debug: debug}
}

type fakeTDXProvider struct {
	f     *FakeTDX
	debug bool
}

func (p *fakeTDXProvider) IsSupported() error { return nil }

func (p *fakeTDXProvider) GetRawQuote(rd [64]byte) ([]byte, error) { return p.f.quote(rd, p.debug) }

// TDXCollateralOptions chooses what the fake PCS says.
type TDXCollateralOptions struct {
	// PlatformStatus, ModuleStatus (used with FakeTDXOptions.ModuleIdentity) and QEStatus are the
	// statuses of the TCB levels the quote matches; "" means UpToDate.
	PlatformStatus, ModuleStatus, QEStatus tee.TCBStatus
	// Advisories are listed on the matching platform level.
	Advisories []string
	// EvaluationDataNumber of TCB info and QE identity; 0 means 17.
	EvaluationDataNumber int
	// RevokePCK and RevokePlatformCA put those certificates on the CRLs.
	RevokePCK, RevokePlatformCA bool
}

// Collateral signs TCB info, QE identity and both CRLs, valid from a day before to 30 days after
// the fake's Now.
func (f *FakeTDX) Collateral(tb testing.TB, o TDXCollateralOptions) tee.Collateral {
	tb.Helper()
	status := func(s tee.TCBStatus) string {
		if s == "" {
			return string(tee.TCBUpToDate)
		}
		return string(s)
	}
	eval := o.EvaluationDataNumber
	if eval == 0 {
		eval = 17
	}
	issue, next := f.now.AddDate(0, 0, -1), f.now.AddDate(0, 0, 30)
	body := f.template.GetTdQuoteBody()
	svn := body.GetTeeTcbSvn()
	exact := fakeTCB{SGX: components(f.ext.TCB.CPUSvnComponents), PCESVN: f.ext.TCB.PCESvn, TDX: components(svn)}
	newer := fakeTCB{SGX: exact.SGX, PCESVN: exact.PCESVN, TDX: components(svn)}
	newer.TDX[2].SVN++ // a level above the platform, which matching must skip
	info := fakeTCBInfo{
		ID: "TDX", Version: 3, IssueDate: issue.Format(time.RFC3339), NextUpdate: next.Format(time.RFC3339),
		FMSPC: f.ext.FMSPC, PCEID: f.ext.PCEID, TCBEvaluationDataNumber: eval,
		TDXModule: fakeModule{MRSigner: hex.EncodeToString(body.GetMrSignerSeam()), Attributes: "0000000000000000", AttributesMask: "FFFFFFFFFFFFFFFF"},
		TCBLevels: []fakeTCBLevel{
			{TCB: newer, TCBDate: "2024-03-13T00:00:00Z", TCBStatus: string(tee.TCBUpToDate)},
			{TCB: exact, TCBDate: "2023-02-15T00:00:00Z", TCBStatus: status(o.PlatformStatus), AdvisoryIDs: o.Advisories},
		},
	}
	if f.moduleIdentity {
		info.TDXModuleIdentities = []fakeModuleIdentity{{
			ID: "TDX_01", MRSigner: info.TDXModule.MRSigner, Attributes: info.TDXModule.Attributes, AttributesMask: info.TDXModule.AttributesMask,
			TCBLevels: []fakeModuleLevel{{TCB: fakeISVSVN{ISVSVN: int(svn[0])}, TCBDate: "2023-02-15T00:00:00Z", TCBStatus: status(o.ModuleStatus)}},
		}}
	}
	var qe map[string]any
	if err := json.Unmarshal(f.qeIdentity, &qe); err != nil {
		tb.Fatalf("QE identity: %v", err)
	}
	qe["issueDate"], qe["nextUpdate"], qe["tcbEvaluationDataNumber"] = issue.Format(time.RFC3339), next.Format(time.RFC3339), eval
	qe["tcbLevels"] = []fakeModuleLevel{{TCB: fakeISVSVN{ISVSVN: 4}, TCBDate: "2023-02-15T00:00:00Z", TCBStatus: status(o.QEStatus)}}

	signingChain := append(pemCert(f.tcbSigner), pemCert(f.root)...)
	var rootRevoked, pckRevoked []*x509.Certificate
	if o.RevokePlatformCA {
		rootRevoked = append(rootRevoked, f.platformCA)
	}
	if o.RevokePCK {
		pckRevoked = append(pckRevoked, f.pck)
	}
	return tee.Collateral{Kind: tee.KindTDX, TDX: tee.TDXCollateral{
		TCBInfo:               f.signedBody(tb, "tcbInfo", info),
		TCBInfoIssuerChain:    signingChain,
		QEIdentity:            f.signedBody(tb, "enclaveIdentity", qe),
		QEIdentityIssuerChain: signingChain,
		PCKCRL:                makeCRL(tb, f.platformCA, f.platformCAKey, issue, next, pckRevoked...),
		RootCACRL:             makeCRL(tb, f.root, f.rootKey, issue, next, rootRevoked...),
	}}
}

func (f *FakeTDX) signedBody(tb testing.TB, field string, v any) []byte {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("marshal %s: %v", field, err)
	}
	sig, err := rawSign(f.tcbKey, raw)
	if err != nil {
		tb.Fatalf("sign %s: %v", field, err)
	}
	return []byte(fmt.Sprintf(`{"%s":%s,"signature":"%s"}`, field, raw, hex.EncodeToString(sig)))
}

type fakeComponent struct {
	SVN byte `json:"svn"`
}

type fakeTCB struct {
	SGX    []fakeComponent `json:"sgxtcbcomponents"`
	PCESVN uint16          `json:"pcesvn"`
	TDX    []fakeComponent `json:"tdxtcbcomponents"`
}

type fakeTCBLevel struct {
	TCB         fakeTCB  `json:"tcb"`
	TCBDate     string   `json:"tcbDate"`
	TCBStatus   string   `json:"tcbStatus"`
	AdvisoryIDs []string `json:"advisoryIDs,omitempty"`
}

type fakeISVSVN struct {
	ISVSVN int `json:"isvsvn"`
}

type fakeModuleLevel struct {
	TCB       fakeISVSVN `json:"tcb"`
	TCBDate   string     `json:"tcbDate"`
	TCBStatus string     `json:"tcbStatus"`
}

type fakeModule struct {
	MRSigner       string `json:"mrsigner"`
	Attributes     string `json:"attributes"`
	AttributesMask string `json:"attributesMask"`
}

type fakeModuleIdentity struct {
	ID             string            `json:"id"`
	MRSigner       string            `json:"mrsigner"`
	Attributes     string            `json:"attributes"`
	AttributesMask string            `json:"attributesMask"`
	TCBLevels      []fakeModuleLevel `json:"tcbLevels"`
}

type fakeTCBInfo struct {
	ID                      string               `json:"id"`
	Version                 int                  `json:"version"`
	IssueDate               string               `json:"issueDate"`
	NextUpdate              string               `json:"nextUpdate"`
	FMSPC                   string               `json:"fmspc"`
	PCEID                   string               `json:"pceId"`
	TCBType                 int                  `json:"tcbType"`
	TCBEvaluationDataNumber int                  `json:"tcbEvaluationDataNumber"`
	TDXModule               fakeModule           `json:"tdxModule"`
	TDXModuleIdentities     []fakeModuleIdentity `json:"tdxModuleIdentities,omitempty"`
	TCBLevels               []fakeTCBLevel       `json:"tcbLevels"`
}

func components(svns []byte) []fakeComponent {
	out := make([]fakeComponent, len(svns))
	for i, s := range svns {
		out[i] = fakeComponent{SVN: s}
	}
	return out
}

func newP256(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generate key: %v", err)
	}
	return k
}

// makeCert signs template with signerKey; parent nil means self-signed.
func makeCert(tb testing.TB, template, parent *x509.Certificate, key, signerKey *ecdsa.PrivateKey) *x509.Certificate {
	tb.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		tb.Fatalf("serial: %v", err)
	}
	template.SerialNumber = serial
	if parent == nil {
		parent = template
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, signerKey)
	if err != nil {
		tb.Fatalf("create certificate %q: %v", template.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parse certificate: %v", err)
	}
	return c
}

// qeReportSize is the size of an SGX enclave report (the QE report) in a quote.
const qeReportSize = 384

// makeCRL returns a DER CRL issued by issuer, valid from thisUpdate to nextUpdate.
func makeCRL(tb testing.TB, issuer *x509.Certificate, key crypto.Signer, thisUpdate, nextUpdate time.Time, revoked ...*x509.Certificate) []byte {
	tb.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer, key)
	if err != nil {
		tb.Fatalf("create CRL: %v", err)
	}
	return der
}

// rawSign returns the ECDSA P-256 signature of SHA-256(msg) as r || s, 32 bytes each, the
// encoding Intel uses in quotes and PCS bodies.
func rawSign(key *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func parsePEMCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out, nil
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}
