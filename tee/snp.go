package tee

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"time"

	sevabi "github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	sevpb "github.com/google/go-sev-guest/proto/sevsnp"
	sevverify "github.com/google/go-sev-guest/verify"
	sevtrust "github.com/google/go-sev-guest/verify/trust"

	"github.com/phala-go/phala/tee/internal/trust"
)

const snpReportSize = sevabi.ReportSize

// snpReport is a parsed, canonical SEV-SNP attestation report.
type snpReport struct {
	raw    []byte
	pb     *sevpb.Report
	signer sevabi.ReportSigner
	policy sevabi.SnpPolicy
}

func parseSNPReport(raw []byte) (snpReport, error) {
	const check = "sev-snp/parse"
	const remedy = "submit the 1184-byte report exactly as the guest produced it (tee/snp does)"
	if len(raw) != snpReportSize {
		return snpReport{}, refuse(ErrMalformed, check, fmt.Sprintf("%d bytes, want %d", len(raw), snpReportSize), remedy)
	}
	if err := sevabi.ValidateReportFormat(raw); err != nil {
		return snpReport{}, refuse(ErrMalformed, check, err.Error(), remedy)
	}
	var r *sevpb.Report
	err := guard(func() (err error) { r, err = sevabi.ReportToProto(raw); return err })
	if err != nil {
		return snpReport{}, refuse(ErrMalformed, check, err.Error(), remedy)
	}
	if re, err := sevabi.ReportToAbiBytes(r); err != nil || !bytes.Equal(re, raw) {
		return snpReport{}, refuse(ErrMalformed, check, "the report does not re-encode to the same bytes", remedy)
	}
	if r.GetSignatureAlgo() != sevabi.SignEcdsaP384Sha384 {
		return snpReport{}, refuse(ErrMalformed, check, fmt.Sprintf("signature algorithm %d, want ECDSA P-384 with SHA-384", r.GetSignatureAlgo()), remedy)
	}
	info, err := sevabi.ParseSignerInfo(r.GetSignerInfo())
	if err != nil {
		return snpReport{}, refuse(ErrMalformed, check, err.Error(), remedy)
	}
	if info.SigningKey != sevabi.VcekReportSigner && info.SigningKey != sevabi.VlekReportSigner {
		return snpReport{}, refuse(ErrMalformed, check, fmt.Sprintf("report signed by %v, want VCEK or VLEK", info.SigningKey), remedy)
	}
	policy, err := sevabi.ParseSnpPolicy(r.GetPolicy())
	if err != nil {
		return snpReport{}, refuse(ErrMalformed, check, err.Error(), remedy)
	}
	return snpReport{raw: raw, pb: r, signer: info.SigningKey, policy: policy}, nil
}

func verifySNP(raw []byte, col SNPCollateral, pol Policy, now time.Time, roots *trust.Roots) (Report, error) {
	rep, err := parseSNPReport(raw)
	if err != nil {
		return Report{}, err
	}
	ek, ica, err := parseSNPCerts(col, rep.signer)
	if err != nil {
		return Report{}, err
	}
	if want := "SEV-" + rep.signer.String(); ek.Subject.CommonName != want {
		return Report{}, refuse(ErrCollateralMismatch, "sev-snp/endorsement-key", fmt.Sprintf("the report is signed by the %v but the collateral holds a %q certificate", rep.signer, ek.Subject.CommonName),
			"fetch the endorsement key named by the report's signer info (tee/collateral.Fetcher does)")
	}
	line, err := snpProductLine(rep, ek)
	if err != nil {
		return Report{}, err
	}
	ark, ok := roots.AMD[line]
	if !ok {
		return Report{}, refuse(ErrCertChain, "sev-snp/product", fmt.Sprintf("no embedded AMD root for product line %q", line),
			"this build knows Milan, Genoa and Turin; upgrade the node software to verify newer processors")
	}
	// 1. Endorsement key -> intermediate -> embedded ARK, valid now.
	arkPool := x509.NewCertPool()
	arkPool.AddCert(ark)
	if err := checkChain("sev-snp/cert-chain", ek, []*x509.Certificate{ica}, arkPool, now, ErrCollateralExpired,
		"the VCEK/VLEK or AS(V)K certificate is not valid now: fetch current certificates from AMD KDS"); err != nil {
		return Report{}, err
	}
	// 2. KDS certificate profile, chain and report signature, by go-sev-guest.
	if err := snpLibraryVerify(rep, ek, ica, ark, line, now); err != nil {
		return Report{}, err
	}
	// 3. Revocation.
	if len(col.CRL) == 0 {
		if !pol.SNPAllowMissingCRL {
			return Report{}, refuse(ErrCollateralMissing, "sev-snp/crl", "no CRL in the collateral",
				"fetch the product line's CRL from AMD KDS (tee/collateral.Fetcher does) and submit it")
		}
	} else {
		crl, err := parseCRL("sev-snp/crl", col.CRL)
		if err != nil {
			return Report{}, err
		}
		if err := checkCRL("sev-snp/crl", crl, ark, now, ica, ek); err != nil {
			return Report{}, err
		}
	}
	// 4. The endorsement key certifies exactly the reported TCB.
	exts, err := kds.CertificateExtensions(ek, rep.signer)
	if err != nil {
		return Report{}, refuse(ErrMalformed, "sev-snp/endorsement-key", err.Error(), "submit the certificate AMD KDS issued")
	}
	if uint64(exts.TCBVersion) != rep.pb.GetReportedTcb() {
		return Report{}, refuse(ErrCollateralMismatch, "sev-snp/tcb", fmt.Sprintf("%v certifies TCB %#016x, the report's REPORTED_TCB is %#016x", rep.signer, uint64(exts.TCBVersion), rep.pb.GetReportedTcb()),
			"fetch the VCEK for the report's REPORTED_TCB (tee/collateral.Fetcher does)")
	}
	// 5. Chain policy.
	return snpReportFor(rep, pol)
}

func parseSNPCerts(col SNPCollateral, signer sevabi.ReportSigner) (ek, ica *x509.Certificate, err error) {
	const check = "sev-snp/collateral"
	if len(col.EndorsementKey) == 0 || len(col.Intermediate) == 0 {
		return nil, nil, refuse(ErrCollateralMissing, check, fmt.Sprintf("%v or intermediate certificate is empty", signer),
			"fetch the certificates from AMD KDS (tee/collateral.Fetcher does) and submit them with the report")
	}
	if ek, err = x509.ParseCertificate(col.EndorsementKey); err != nil {
		return nil, nil, refuse(ErrMalformed, check, fmt.Sprintf("%v certificate: %v", signer, err), "submit the DER certificate from AMD KDS unmodified")
	}
	if ica, err = x509.ParseCertificate(col.Intermediate); err != nil {
		return nil, nil, refuse(ErrMalformed, check, "intermediate certificate: "+err.Error(), "submit the DER certificate from AMD KDS unmodified")
	}
	return ek, ica, nil
}

// snpProductLine reads the product line from the report (version 3 and later) or else from the
// endorsement key certificate.
func snpProductLine(rep snpReport, ek *x509.Certificate) (string, error) {
	if fms := rep.pb.GetCpuid1EaxFms(); fms != 0 {
		return kds.ProductLineFromFms(fms), nil
	}
	exts, err := kds.CertificateExtensions(ek, rep.signer)
	if err != nil {
		return "", refuse(ErrMalformed, "sev-snp/endorsement-key", err.Error(), "submit the certificate AMD KDS issued")
	}
	product, err := kds.ParseProductName(exts.ProductName, rep.signer)
	if err != nil {
		return "", refuse(ErrCollateralMismatch, "sev-snp/product", err.Error(), "submit the certificate AMD KDS issued for this processor")
	}
	return kds.ProductLine(product), nil
}

// snpLibraryVerify lets go-sev-guest check the KDS certificate profile, the chain to the ARK and the
// report signature, with certificate fetching disabled. It classifies a failure by checking the
// signature alone.
func snpLibraryVerify(rep snpReport, ek, ica, ark *x509.Certificate, line string, now time.Time) error {
	chain := &sevpb.CertificateChain{}
	certs := &sevtrust.ProductCerts{Ark: ark}
	if rep.signer == sevabi.VcekReportSigner {
		chain.VcekCert, certs.Ask = ek.Raw, ica
	} else {
		chain.VlekCert, certs.Asvk = ek.Raw, ica
	}
	att := &sevpb.Attestation{Report: rep.pb, CertificateChain: chain}
	opts := &sevverify.Options{
		DisableCertFetching: true,
		Now:                 now,
		TrustedRoots:        map[string][]*sevtrust.AMDRootCerts{line: {{ProductLine: line, ProductCerts: certs}}},
	}
	err := sevverify.SnpAttestation(att, opts)
	if err == nil {
		return nil
	}
	if sigErr := sevverify.SnpReportSignature(rep.raw, ek); sigErr != nil {
		return refuse(ErrSignature, "sev-snp/report-signature", sigErr.Error(),
			"the report was altered or forged, or the collateral holds another chip's certificate: produce a fresh report and fetch its VCEK")
	}
	return refuse(ErrCertChain, "sev-snp/cert-profile", err.Error(), "submit the certificates AMD KDS issued for this processor")
}

func snpReportFor(rep snpReport, pol Policy) (Report, error) {
	if rep.policy.Debug && !pol.AllowDebug {
		return Report{}, refuse(ErrDebugNotAllowed, "sev-snp/debug", "the guest policy allows debugging: the host can read the guest's memory",
			"launch the guest with policy bit 19 (DEBUG) clear")
	}
	if rep.policy.MigrateMA && !pol.SNPAllowMigrationAgent {
		return Report{}, refuse(ErrPolicyViolation, "sev-snp/migration-agent", "the guest policy allows a migration agent, which can export the guest's memory",
			"launch the guest with policy bit 18 (MIGRATE_MA) clear")
	}
	if vmpl := rep.pb.GetVmpl(); vmpl > uint32(pol.SNPMaxVMPL) {
		return Report{}, refuse(ErrPolicyViolation, "sev-snp/vmpl", fmt.Sprintf("report requested at VMPL %d, the chain accepts VMPL 0..%d", vmpl, pol.SNPMaxVMPL),
			"request the report from VMPL 0 (run pRuntime in the guest's most privileged level)")
	}
	r := Report{
		Kind:        KindSEVSNP,
		Measurement: append([]byte(nil), rep.pb.GetMeasurement()...),
		TCBStatus:   TCBUpToDate,
		Debug:       rep.policy.Debug,
	}
	copy(r.ReportData[:], rep.pb.GetReportData())
	if !tcbAtLeast(rep.pb.GetReportedTcb(), pol.SNPMinTCB) {
		r.TCBStatus = TCBOutOfDate
		r.Advisories = []string{fmt.Sprintf("REPORTED_TCB %#016x is below the chain minimum %#016x", rep.pb.GetReportedTcb(), pol.SNPMinTCB)}
	}
	if err := r.checkConfidence(pol, "sev-snp/tcb"); err != nil {
		return Report{}, err
	}
	return r, nil
}

// tcbAtLeast compares two TCB_VERSION values byte by byte: every byte is one security patch level
// (or reserved and zero), in every product line's layout.
func tcbAtLeast(have, min uint64) bool {
	var h, m [8]byte
	binary.LittleEndian.PutUint64(h[:], have)
	binary.LittleEndian.PutUint64(m[:], min)
	for i := range h {
		if h[i] < m[i] {
			return false
		}
	}
	return true
}
