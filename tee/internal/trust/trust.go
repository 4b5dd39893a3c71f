// Package trust holds the vendor root certificates that TEE verification trusts, and the hook
// through which test helpers under tee/ substitute fake roots.
//
// It may import only the standard library and the vendor libraries' embedded certificate bundles.
// Being internal, only packages under tee/ can import it, so nothing outside tee/ (in particular
// chain genesis or consensus code) can replace the roots.
package trust

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"fmt"

	"github.com/google/go-sev-guest/kds"
	sevtrust "github.com/google/go-sev-guest/verify/trust"
)

// IntelRootFingerprint is the SHA-256 of the DER encoding of Intel's SGX Root CA certificate, the
// root of every TDX (and SGX DCAP) attestation. Operators can compare it with Intel's publication.
const IntelRootFingerprint = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

// intelRootPEM is a verbatim copy of go-tdx-guest's verify/trusted_root.pem.
//
//go:embed intel_sgx_root_ca.pem
var intelRootPEM []byte

// Roots is one set of trust anchors.
type Roots struct {
	// Intel is the Intel SGX Root CA (self-signed, ECDSA P-256).
	Intel *x509.Certificate
	// AMD maps an SEV-SNP product line ("Milan", "Genoa", "Turin") to its AMD Root Key (ARK).
	AMD map[string]*x509.Certificate
}

// VerifyWithRoots is set by package tee at init to its verification function with explicit roots,
// of type func(tee.Evidence, tee.Collateral, tee.Policy, time.Time, *Roots) (tee.Report, error).
// It is typed any because this package cannot import tee; teetest asserts the type.
var VerifyWithRoots any

var embedded = mustEmbedded()

// Embedded returns the production roots: the Intel SGX Root CA copied from go-tdx-guest and the
// AMD ARKs of the KDS bundles embedded in go-sev-guest. Callers must not modify the result.
func Embedded() *Roots { return embedded }

func mustEmbedded() *Roots {
	r, err := loadEmbedded()
	if err != nil {
		// The inputs are compiled in; failing here is a build defect, not a runtime condition.
		panic(fmt.Sprintf("tee/internal/trust: embedded roots are unusable: %v", err))
	}
	return r
}

func loadEmbedded() (*Roots, error) {
	block, rest := pem.Decode(intelRootPEM)
	if block == nil || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("intel root: expected exactly one PEM block")
	}
	intel, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("intel root: %w", err)
	}
	fp := sha256.Sum256(intel.Raw)
	if hex.EncodeToString(fp[:]) != IntelRootFingerprint {
		return nil, fmt.Errorf("intel root: fingerprint %x is not %s", fp, IntelRootFingerprint)
	}
	bundles := []struct {
		line       string
		vcek, vlek []byte
	}{
		{"Milan", sevtrust.AskArkMilanVcekBytes, sevtrust.AskArkMilanVlekBytes},
		{"Genoa", sevtrust.AskArkGenoaVcekBytes, sevtrust.AskArkGenoaVlekBytes},
		{"Turin", sevtrust.AskArkTurinVcekBytes, sevtrust.AskArkTurinVlekBytes},
	}
	amd := make(map[string]*x509.Certificate, len(bundles))
	for _, b := range bundles {
		ark, err := bundleARK(b.vcek)
		if err != nil {
			return nil, fmt.Errorf("AMD %s VCEK bundle: %w", b.line, err)
		}
		vlekARK, err := bundleARK(b.vlek)
		if err != nil {
			return nil, fmt.Errorf("AMD %s VLEK bundle: %w", b.line, err)
		}
		// Both bundles must name the same root, otherwise VCEK and VLEK trust would diverge.
		if !bytes.Equal(ark.Raw, vlekARK.Raw) {
			return nil, fmt.Errorf("AMD %s: VCEK and VLEK bundles carry different ARKs", b.line)
		}
		if err := ark.CheckSignatureFrom(ark); err != nil {
			return nil, fmt.Errorf("AMD %s ARK is not self-signed: %w", b.line, err)
		}
		amd[b.line] = ark
	}
	return &Roots{Intel: intel, AMD: amd}, nil
}

func bundleARK(bundle []byte) (*x509.Certificate, error) {
	// Some bundles end with blank lines, which the KDS parser counts as trailing bytes.
	_, arkDER, err := kds.ParseProductCertChain(append(bytes.TrimSpace(bundle), '\n'))
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(arkDER)
}
