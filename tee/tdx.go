package tee

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"
	tdxverify "github.com/google/go-tdx-guest/verify"

	"github.com/phala-go/phala/tee/internal/trust"
)

const (
	tdxTeeType       = 0x81
	tdAttributeDebug = 1 // bit 0 of TD_ATTRIBUTES
)

// tdxQuote is a parsed, canonical TDX quote with its PCK chain.
type tdxQuote struct {
	pb    *tdxpb.QuoteV4
	chain *tdxverify.PCKCertificateChain
}

// parseTDXQuote accepts exactly the byte strings that go-tdx-guest parses as a TDX quote v4 and
// re-encodes identically (so no trailing or inconsistent bytes slip through).
func parseTDXQuote(raw []byte) (tdxQuote, error) {
	const check = "tdx/parse"
	const remedy = "submit the quote exactly as the TD produced it (tee/tdx does)"
	var anyQuote any
	err := guard(func() (err error) { anyQuote, err = abi.QuoteToProto(raw); return err })
	if err != nil {
		return tdxQuote{}, refuse(ErrMalformed, check, err.Error(), remedy)
	}
	q, ok := anyQuote.(*tdxpb.QuoteV4)
	if !ok {
		return tdxQuote{}, refuse(ErrMalformed, check, fmt.Sprintf("quote format %T, want a v4 quote", anyQuote), remedy)
	}
	if q.GetHeader().GetTeeType() != tdxTeeType {
		return tdxQuote{}, refuse(ErrMalformed, check, fmt.Sprintf("TEE type %#x, want TDX (%#x)", q.GetHeader().GetTeeType(), tdxTeeType), remedy)
	}
	if len(q.GetExtraBytes()) != 0 {
		return tdxQuote{}, refuse(ErrMalformed, check, fmt.Sprintf("%d bytes after the signed data", len(q.GetExtraBytes())), remedy)
	}
	re, err := abi.QuoteToAbiBytes(q)
	if err != nil || !bytes.Equal(re, raw) {
		return tdxQuote{}, refuse(ErrMalformed, check, "the quote does not re-encode to the same bytes (inconsistent size fields)", remedy)
	}
	chain, err := tdxverify.ExtractChainFromQuote(q)
	if err != nil {
		return tdxQuote{}, refuse(ErrMalformed, "tdx/pck-chain", err.Error(), remedy)
	}
	return tdxQuote{pb: q, chain: chain}, nil
}

// tdxCollateral is TDXCollateral parsed, not yet checked.
type tdxCollateral struct {
	tcbInfo         signedBody[pcs.TcbInfo]
	qeIdentity      signedBody[pcs.EnclaveIdentity]
	pckCRL, rootCRL *x509.RevocationList
}

func parseTDXCollateral(c TDXCollateral) (tdxCollateral, error) {
	names := []string{"TCB info", "TCB info issuer chain", "QE identity", "QE identity issuer chain", "PCK CRL", "root CA CRL"}
	for i, f := range c.fields() {
		if len(f) == 0 {
			return tdxCollateral{}, refuse(ErrCollateralMissing, "tdx/collateral", names[i]+" is empty",
				"fetch the complete TDX collateral from Intel PCS (tee/collateral.Fetcher does) and submit it with the quote")
		}
	}
	var out tdxCollateral
	var err error
	if out.tcbInfo, err = parseSignedBody[pcs.TcbInfo]("tdx/tcb-info", c.TCBInfo, "tcbInfo", c.TCBInfoIssuerChain); err != nil {
		return tdxCollateral{}, err
	}
	if out.qeIdentity, err = parseSignedBody[pcs.EnclaveIdentity]("tdx/qe-identity", c.QEIdentity, "enclaveIdentity", c.QEIdentityIssuerChain); err != nil {
		return tdxCollateral{}, err
	}
	if out.pckCRL, err = parseCRL("tdx/pck-crl", c.PCKCRL); err != nil {
		return tdxCollateral{}, err
	}
	if out.rootCRL, err = parseCRL("tdx/root-crl", c.RootCACRL); err != nil {
		return tdxCollateral{}, err
	}
	return out, nil
}

func parseCRL(check string, der []byte) (*x509.RevocationList, error) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, refuse(ErrMalformed, check, "not a DER CRL: "+err.Error(), "submit the CRL in DER form, unmodified")
	}
	return crl, nil
}

func verifyTDX(raw []byte, col TDXCollateral, pol Policy, now time.Time, roots *trust.Roots) (Report, error) {
	q, err := parseTDXQuote(raw)
	if err != nil {
		return Report{}, err
	}
	c, err := parseTDXCollateral(col)
	if err != nil {
		return Report{}, err
	}
	rootPool := x509.NewCertPool()
	rootPool.AddCert(roots.Intel)

	// 1. The PCK chain inside the quote leads to the Intel root and is valid now.
	if err := checkChain("tdx/pck-chain", q.chain.PCKCertificate, []*x509.Certificate{q.chain.IntermediateCertificate}, rootPool, now, ErrEvidenceExpired,
		"the TD platform's PCK certificate is not valid now: check the validator clock, or re-provision the platform's PCK certificate"); err != nil {
		return Report{}, err
	}
	// 2. Quote signature, QE report signature and QE report data, by go-tdx-guest.
	if err := tdxverify.TdxQuote(q.pb, &tdxverify.Options{TrustedRoots: rootPool, Now: tdxTimes(now)}); err != nil {
		detail := "QE report, attestation key or PCK certificate profile: " + err.Error()
		if errors.Is(err, tdxverify.ErrHashVerificationFail) {
			detail = "the attestation key's signature over the quote header and TD report does not verify"
		}
		return Report{}, refuse(ErrSignature, "tdx/quote-signature", detail,
			"the quote was altered or forged: produce a fresh quote in the TD")
	}
	ext, err := pcs.PckCertificateExtensions(q.chain.PCKCertificate)
	if err != nil {
		return Report{}, refuse(ErrMalformed, "tdx/pck-extensions", err.Error(), "the PCK certificate lacks Intel's SGX extensions: re-provision the platform")
	}
	// 3. Revocation of the PCK chain.
	if err := checkTDXRevocation(q, c, roots.Intel, now); err != nil {
		return Report{}, err
	}
	// 4. TCB info and QE identity: signed by Intel, current, for this platform.
	if err := c.tcbInfo.verify(roots.Intel, rootPool, c.rootCRL, now, pol.TDXMinTCBEvaluationDataNumber, tcbInfoMeta(c.tcbInfo.body)); err != nil {
		return Report{}, err
	}
	if err := c.qeIdentity.verify(roots.Intel, rootPool, c.rootCRL, now, pol.TDXMinTCBEvaluationDataNumber, qeIdentityMeta(c.qeIdentity.body)); err != nil {
		return Report{}, err
	}
	// 5. TCB levels of the platform, the TDX module and the QE.
	status, advisories, err := evaluateTDXTCB(c.tcbInfo.body, c.qeIdentity.body, q.pb, ext)
	if err != nil {
		return Report{}, err
	}
	// 6. Chain policy.
	return tdxReport(q.pb, status, advisories, pol)
}

func tdxTimes(now time.Time) *tdxverify.TimeSet {
	return &tdxverify.TimeSet{PckCertChain: now, TcbInfo: now, QeIdentity: now, PckCrl: now, RootCaCrl: now}
}

// checkChain verifies leaf -> intermediates -> roots at now. An otherwise valid chain that is
// outside its validity period gives expired (with its remedy); anything else ErrCertChain.
func checkChain(check string, leaf *x509.Certificate, intermediates []*x509.Certificate, roots *x509.CertPool, now time.Time, expired error, expiredRemedy string) error {
	ipool := x509.NewCertPool()
	for _, c := range intermediates {
		ipool.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: ipool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	_, err := leaf.Verify(opts)
	if err == nil {
		return nil
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		return refuse(expired, check, err.Error(), expiredRemedy)
	}
	return refuse(ErrCertChain, check, fmt.Sprintf("%q does not chain to the embedded vendor root: %v", leaf.Subject.CommonName, err),
		"the certificates were not issued by the vendor: submit genuine evidence and collateral")
}

// checkCRL verifies that crl was issued by issuer, is current at now, and revokes none of certs.
func checkCRL(check string, crl *x509.RevocationList, issuer *x509.Certificate, now time.Time, certs ...*x509.Certificate) error {
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return refuse(ErrCollateralMismatch, check, fmt.Sprintf("CRL issued by %q, want %q", crl.Issuer.String(), issuer.Subject.String()),
			"fetch the CRL of the CA that issued the certificate (tee/collateral.Fetcher picks the right one)")
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return refuse(ErrSignature, check, fmt.Sprintf("CRL signature by %q: %v", issuer.Subject.CommonName, err),
			"the CRL was altered or forged: fetch it again from the vendor")
	}
	if now.Before(crl.ThisUpdate) || crl.NextUpdate.IsZero() || now.After(crl.NextUpdate) {
		return refuse(ErrCollateralExpired, check, fmt.Sprintf("CRL valid %s to %s, now is %s", crl.ThisUpdate.UTC().Format(time.RFC3339), crl.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)),
			"fetch a current CRL (tee/collateral.Fetcher refreshes expired cache entries) and submit again")
	}
	for _, r := range crl.RevokedCertificateEntries {
		for _, c := range certs {
			if r.SerialNumber.Cmp(c.SerialNumber) == 0 {
				return refuse(ErrRevoked, check, fmt.Sprintf("certificate %q (serial %s) revoked on %s", c.Subject.CommonName, c.SerialNumber, r.RevocationTime.UTC().Format(time.RFC3339)),
					"the vendor revoked this certificate: the platform cannot attest until it is re-provisioned")
			}
		}
	}
	return nil
}

func checkTDXRevocation(q tdxQuote, c tdxCollateral, root *x509.Certificate, now time.Time) error {
	if err := checkCRL("tdx/root-crl", c.rootCRL, root, now, q.chain.IntermediateCertificate); err != nil {
		return err
	}
	return checkCRL("tdx/pck-crl", c.pckCRL, q.chain.IntermediateCertificate, now, q.chain.PCKCertificate)
}

func tdxReport(q *tdxpb.QuoteV4, status TCBStatus, advisories []string, pol Policy) (Report, error) {
	body := q.GetTdQuoteBody()
	if len(pol.TDXAllowedMRSEAMs) > 0 && !containsBytes(pol.TDXAllowedMRSEAMs, body.GetMrSeam()) {
		return Report{}, refuse(ErrPolicyViolation, "tdx/module", fmt.Sprintf("TDX module MRSEAM %s is not on the chain's list", hex.EncodeToString(body.GetMrSeam())),
			"run the TD on a host with an allowed TDX module version, or ask governance to allow this one")
	}
	debug := body.GetTdAttributes()[0]&tdAttributeDebug != 0
	if debug && !pol.AllowDebug {
		return Report{}, refuse(ErrDebugNotAllowed, "tdx/debug", "TD_ATTRIBUTES.DEBUG is set: the host can read the TD's memory",
			"launch the TD without debug (for QEMU: no debug=on in the tdx-guest object)")
	}
	r := Report{
		Kind:       KindTDX,
		TCBStatus:  status,
		Debug:      debug,
		Advisories: advisories,
	}
	r.Measurement = make([]byte, 0, TDXMeasurementSize)
	r.Measurement = append(r.Measurement, body.GetMrTd()...)
	for _, rtmr := range body.GetRtmrs() {
		r.Measurement = append(r.Measurement, rtmr...)
	}
	copy(r.ReportData[:], body.GetReportData())
	if err := r.checkConfidence(pol, "tdx/tcb-status"); err != nil {
		return Report{}, err
	}
	return r, nil
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}
