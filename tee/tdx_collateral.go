package tee

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"
)

const tcbSigningCommonName = "Intel SGX TCB Signing"

// signedBody is an Intel PCS JSON response: a body signed by the TCB signing certificate, whose
// issuer chain came in a response header.
type signedBody[T any] struct {
	check     string
	raw       []byte // the exact bytes of the signed JSON value
	signature []byte // r || s, 64 bytes
	body      T
	signer    *x509.Certificate
	root      *x509.Certificate
}

// parseSignedBody parses {"<field>":{...},"signature":"<hex>"} and its PEM issuer chain.
func parseSignedBody[T any](check string, doc []byte, field string, issuerChain []byte) (signedBody[T], error) {
	const remedy = "submit the Intel PCS response body and issuer-chain header unmodified"
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return signedBody[T]{}, refuse(ErrMalformed, check, "not a JSON object: "+err.Error(), remedy)
	}
	raw, ok := top[field]
	sigField, sigOK := top["signature"]
	if !ok || !sigOK || len(top) != 2 {
		return signedBody[T]{}, refuse(ErrMalformed, check, fmt.Sprintf("want exactly the fields %q and \"signature\"", field), remedy)
	}
	var sigHex string
	if err := json.Unmarshal(sigField, &sigHex); err != nil {
		return signedBody[T]{}, refuse(ErrMalformed, check, "signature is not a string", remedy)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != 64 {
		return signedBody[T]{}, refuse(ErrMalformed, check, "signature is not 64 hex-encoded bytes", remedy)
	}
	out := signedBody[T]{check: check, raw: raw, signature: sig}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		return signedBody[T]{}, refuse(ErrMalformed, check, fmt.Sprintf("%s: %v", field, err), remedy)
	}
	certs, err := parsePEMChain(issuerChain, 2)
	if err != nil {
		return signedBody[T]{}, refuse(ErrMalformed, check+"-issuer-chain", err.Error(), remedy)
	}
	out.signer, out.root = certs[0], certs[1]
	return out, nil
}

// parsePEMChain parses exactly n CERTIFICATE blocks (surrounding whitespace allowed).
func parsePEMChain(data []byte, n int) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for len(certs) < n {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("found %d PEM certificates, want %d", len(certs), n)
		}
		if block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
			return nil, fmt.Errorf("PEM block %d is %q with %d headers, want a plain CERTIFICATE", len(certs), block.Type, len(block.Headers))
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(certs), err)
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%d bytes after the %d certificates", len(rest), n)
	}
	return certs, nil
}

// signedBodyMeta is what every PCS body carries about itself.
type signedBodyMeta struct {
	id, wantID           string
	version, wantVersion byte
	issue, next          time.Time
	evaluationNumber     int
}

// verify checks the signing certificate, its revocation, the signature and the body's identity
// and validity period. minEvaluation of 0 means no minimum.
func (s signedBody[T]) verify(root *x509.Certificate, rootPool *x509.CertPool, rootCRL *x509.RevocationList, now time.Time, minEvaluation uint32, m signedBodyMeta) error {
	if !bytes.Equal(s.root.Raw, root.Raw) {
		return refuse(ErrCertChain, s.check+"-issuer-chain", fmt.Sprintf("issuer chain ends in %q, not the Intel SGX Root CA", s.root.Subject.CommonName),
			"submit the issuer chain Intel PCS returned")
	}
	if s.signer.Subject.CommonName != tcbSigningCommonName {
		return refuse(ErrCertChain, s.check+"-issuer-chain", fmt.Sprintf("signed by %q, want %q", s.signer.Subject.CommonName, tcbSigningCommonName),
			"submit the issuer chain Intel PCS returned")
	}
	if err := checkChain(s.check+"-issuer-chain", s.signer, nil, rootPool, now, ErrCollateralExpired,
		"Intel's TCB signing certificate is not valid now: fetch current collateral from Intel PCS"); err != nil {
		return err
	}
	for _, r := range rootCRL.RevokedCertificateEntries {
		if r.SerialNumber.Cmp(s.signer.SerialNumber) == 0 {
			return refuse(ErrRevoked, s.check+"-issuer-chain", "Intel revoked the TCB signing certificate", "fetch current collateral from Intel PCS")
		}
	}
	der, err := abi.SignatureToDER(s.signature)
	if err != nil {
		return refuse(ErrMalformed, s.check, err.Error(), "submit the Intel PCS response unmodified")
	}
	if err := s.signer.CheckSignature(x509.ECDSAWithSHA256, s.raw, der); err != nil {
		return refuse(ErrSignature, s.check+"-signature", "Intel's signature over the body does not verify: "+err.Error(),
			"the collateral was altered: fetch it again from Intel PCS")
	}
	if m.id != m.wantID || m.version != m.wantVersion {
		return refuse(ErrCollateralMismatch, s.check, fmt.Sprintf("id %q version %d, want id %q version %d", m.id, m.version, m.wantID, m.wantVersion),
			"fetch the TDX (v4 API) collateral, not the SGX one")
	}
	if now.Before(m.issue) || now.After(m.next) {
		return refuse(ErrCollateralExpired, s.check, fmt.Sprintf("valid %s to %s, now is %s", m.issue.UTC().Format(time.RFC3339), m.next.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)),
			"fetch current collateral from Intel PCS (tee/collateral.Fetcher refreshes expired cache entries) and submit again")
	}
	if m.evaluationNumber < int(minEvaluation) {
		return refuse(ErrCollateralExpired, s.check, fmt.Sprintf("TCB evaluation data number %d, the chain requires at least %d", m.evaluationNumber, minEvaluation),
			"fetch current collateral from Intel PCS; if it is still older, wait for Intel's TCB recovery to be published")
	}
	return nil
}

func tcbInfoMeta(t pcs.TcbInfo) signedBodyMeta {
	return signedBodyMeta{id: t.ID, wantID: "TDX", version: t.Version, wantVersion: 3, issue: t.IssueDate, next: t.NextUpdate, evaluationNumber: t.TcbEvaluationDataNumber}
}

func qeIdentityMeta(e pcs.EnclaveIdentity) signedBodyMeta {
	return signedBodyMeta{id: e.ID, wantID: "TD_QE", version: e.Version, wantVersion: 2, issue: e.IssueDate, next: e.NextUpdate, evaluationNumber: e.TcbEvaluationDataNumber}
}

// evaluateTDXTCB matches the quote against the TCB info and the QE identity (Intel's algorithm,
// as go-tdx-guest implements it) and combines the statuses of the platform, the TDX module and
// the quoting enclave.
func evaluateTDXTCB(info pcs.TcbInfo, qe pcs.EnclaveIdentity, q *tdxpb.QuoteV4, ext *pcs.PckExtensions) (TCBStatus, []string, error) {
	const check = "tdx/tcb-info"
	body := q.GetTdQuoteBody()
	if !strings.EqualFold(info.Fmspc, ext.FMSPC) || !strings.EqualFold(info.PceID, ext.PCEID) {
		return "", nil, refuse(ErrCollateralMismatch, check, fmt.Sprintf("TCB info is for FMSPC %s PCEID %s, the PCK certificate says FMSPC %s PCEID %s", info.Fmspc, info.PceID, ext.FMSPC, ext.PCEID),
			"fetch the TCB info for this platform's FMSPC (tee/collateral.Fetcher reads it from the quote)")
	}
	if err := checkSEAM(check, info.TdxModule.Mrsigner.Bytes, info.TdxModule.Attributes.Bytes, info.TdxModule.AttributesMask.Bytes, body); err != nil {
		return "", nil, err
	}
	platform, ok := matchPlatformLevel(info.TcbLevels, body.GetTeeTcbSvn(), ext)
	if !ok {
		return "", nil, refuse(ErrTCBUnknown, check+"-level", fmt.Sprintf("no TCB level of FMSPC %s covers CPUSVN %v, PCESVN %d, TEE_TCB_SVN %x", ext.FMSPC, ext.TCB.CPUSvnComponents, ext.TCB.PCESvn, body.GetTeeTcbSvn()),
			"the platform is older than every TCB level Intel lists: update BIOS, microcode and the TDX module, then fetch fresh collateral")
	}
	levels := []pcs.TcbLevel{platform}
	if svn := body.GetTeeTcbSvn(); svn[1] > 0 {
		module, err := matchModuleLevel(info.TdxModuleIdentities, svn, body)
		if err != nil {
			return "", nil, err
		}
		levels = append(levels, module)
	}
	qeLevel, err := matchQELevel(qe, q)
	if err != nil {
		return "", nil, err
	}
	levels = append(levels, qeLevel)

	statuses := make([]TCBStatus, len(levels))
	var advisories []string
	for i, l := range levels {
		statuses[i] = TCBStatus(l.TcbStatus)
		for _, a := range l.AdvisoryIDs {
			if !containsString(advisories, a) {
				advisories = append(advisories, a)
			}
		}
	}
	return combineStatus(statuses...), advisories, nil
}

func checkSEAM(check string, mrsigner, attributes, mask []byte, body *tdxpb.TDQuoteBody) error {
	if !bytes.Equal(mrsigner, body.GetMrSignerSeam()) {
		return refuse(ErrCollateralMismatch, check+"-module", fmt.Sprintf("MRSIGNERSEAM %x, Intel's TCB info requires %x", body.GetMrSignerSeam(), mrsigner),
			"run the TD on a host whose TDX module Intel signed")
	}
	seam := body.GetSeamAttributes()
	if len(mask) != len(seam) || len(attributes) != len(seam) {
		return refuse(ErrCollateralMismatch, check+"-module", fmt.Sprintf("SEAM attributes mask of %d bytes for %d attribute bytes", len(mask), len(seam)),
			"submit the TCB info Intel PCS returned for this platform")
	}
	for i := range seam {
		if seam[i]&mask[i] != attributes[i] {
			return refuse(ErrCollateralMismatch, check+"-module", fmt.Sprintf("SEAM attributes %x under mask %x, Intel requires %x", seam, mask, attributes),
				"run the TD on a host with a production TDX module configuration")
		}
	}
	return nil
}

// matchPlatformLevel returns the first TCB level (Intel sorts them newest first) whose SGX
// components, PCESVN and TDX components the platform meets.
func matchPlatformLevel(levels []pcs.TcbLevel, teeTcbSvn []byte, ext *pcs.PckExtensions) (pcs.TcbLevel, bool) {
	for _, l := range levels {
		if svnsAtLeast(ext.TCB.CPUSvnComponents, l.Tcb.SgxTcbcomponents, 0) &&
			ext.TCB.PCESvn >= l.Tcb.Pcesvn &&
			svnsAtLeast(teeTcbSvn, l.Tcb.TdxTcbcomponents, tdxComponentStart(teeTcbSvn)) {
			return l, true
		}
	}
	return pcs.TcbLevel{}, false
}

// tdxComponentStart skips the TDX module's SVNs (indexes 0 and 1) when the module has its own
// identity in the TCB info, which is the case when TEE_TCB_SVN[1] is non-zero.
func tdxComponentStart(teeTcbSvn []byte) int {
	if teeTcbSvn[1] > 0 {
		return 2
	}
	return 0
}

func svnsAtLeast(have []byte, want []pcs.TcbComponent, start int) bool {
	if len(have) != len(want) {
		return false
	}
	for i := start; i < len(have); i++ {
		if have[i] < want[i].Svn {
			return false
		}
	}
	return true
}

func matchModuleLevel(ids []pcs.TdxModuleIdentity, teeTcbSvn []byte, body *tdxpb.TDQuoteBody) (pcs.TcbLevel, error) {
	const check = "tdx/tcb-info-module"
	id := fmt.Sprintf("TDX_%02X", teeTcbSvn[1])
	for _, m := range ids {
		if !strings.EqualFold(m.ID, id) {
			continue
		}
		if err := checkSEAM("tdx/tcb-info", m.Mrsigner.Bytes, m.Attributes.Bytes, m.AttributesMask.Bytes, body); err != nil {
			return pcs.TcbLevel{}, err
		}
		for _, l := range m.TcbLevels {
			if uint32(teeTcbSvn[0]) >= l.Tcb.Isvsvn {
				return l, nil
			}
		}
		return pcs.TcbLevel{}, refuse(ErrTCBUnknown, check, fmt.Sprintf("TDX module %s SVN %d is below every level Intel lists", id, teeTcbSvn[0]),
			"update the host's TDX module, then fetch fresh collateral")
	}
	return pcs.TcbLevel{}, refuse(ErrTCBUnknown, check, fmt.Sprintf("TCB info has no identity for TDX module %s", id),
		"fetch current TCB info; if Intel does not list this module version, update the host's TDX module")
}

func matchQELevel(qe pcs.EnclaveIdentity, q *tdxpb.QuoteV4) (pcs.TcbLevel, error) {
	const check = "tdx/qe-identity"
	const remedy = "the quoting enclave is not Intel's TDX QE: use Intel's DCAP quote generation on the host"
	report := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetQeReport()
	if len(qe.MiscselectMask.Bytes) != 4 || len(qe.Miscselect.Bytes) != 4 {
		return pcs.TcbLevel{}, refuse(ErrMalformed, check, "MISCSELECT fields are not 4 bytes", "submit the QE identity Intel PCS returned")
	}
	mask := binary.LittleEndian.Uint32(qe.MiscselectMask.Bytes)
	if report.GetMiscSelect()&mask != binary.LittleEndian.Uint32(qe.Miscselect.Bytes) {
		return pcs.TcbLevel{}, refuse(ErrCollateralMismatch, check, fmt.Sprintf("QE MISCSELECT %#x does not match Intel's identity", report.GetMiscSelect()), remedy)
	}
	attrs := report.GetAttributes()
	if len(qe.AttributesMask.Bytes) != len(attrs) || len(qe.Attributes.Bytes) != len(attrs) {
		return pcs.TcbLevel{}, refuse(ErrMalformed, check, "ATTRIBUTES fields have the wrong size", "submit the QE identity Intel PCS returned")
	}
	for i := range attrs {
		if attrs[i]&qe.AttributesMask.Bytes[i] != qe.Attributes.Bytes[i] {
			return pcs.TcbLevel{}, refuse(ErrCollateralMismatch, check, fmt.Sprintf("QE ATTRIBUTES %x do not match Intel's identity", attrs), remedy)
		}
	}
	if !bytes.Equal(report.GetMrSigner(), qe.Mrsigner.Bytes) || report.GetIsvProdId() != uint32(qe.IsvProdID) {
		return pcs.TcbLevel{}, refuse(ErrCollateralMismatch, check, fmt.Sprintf("QE MRSIGNER %x ISVPRODID %d, Intel's identity says %x %d", report.GetMrSigner(), report.GetIsvProdId(), qe.Mrsigner.Bytes, qe.IsvProdID), remedy)
	}
	for _, l := range qe.TcbLevels {
		if l.Tcb.Isvsvn <= report.GetIsvSvn() {
			return l, nil
		}
	}
	return pcs.TcbLevel{}, refuse(ErrTCBUnknown, check+"-level", fmt.Sprintf("QE ISVSVN %d is below every level Intel lists", report.GetIsvSvn()),
		"update the host's DCAP quoting enclave, then fetch fresh collateral")
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
