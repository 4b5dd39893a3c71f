package snp

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"sync"

	sevabi "github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/client"

	"github.com/phala-go/phala/tee"
)

// sealingKeyLabel separates pRuntime's use of the derived key from any other use of it.
const sealingKeyLabel = "phala-go/tee/snp/sealing-key/v1"

// Config configures a guest.
type Config struct {
	// VMPL is the privilege level mixed into derived keys; it must be at least the guest's
	// current VMPL. 0 for a guest without an SVSM.
	VMPL uint32
}

// Guest is an SEV-SNP guest. It is safe for concurrent use.
type Guest struct {
	mu       sync.Mutex
	reports  client.QuoteProvider
	device   client.Device // for derived keys; nil if unavailable
	vmpl     uint32
	closeDev func() error
}

var _ tee.Guest = (*Guest)(nil)

// Open returns a guest using the kernel's quote provider (configfs-tsm or /dev/sev-guest) for
// reports and /dev/sev-guest for sealing keys. Close releases the device.
func Open(cfg Config) (*Guest, error) {
	qp, err := client.GetQuoteProvider()
	if err != nil {
		return nil, fmt.Errorf("snp: no SEV-SNP report interface (is this an SNP guest with the sev-guest driver loaded?): %v: %w", err, tee.ErrDevice)
	}
	g := &Guest{reports: qp, vmpl: cfg.VMPL}
	if dev, err := client.OpenDevice(); err == nil {
		g.device, g.closeDev = dev, dev.Close
	}
	return g, nil
}

// New returns a guest over explicit report and key sources; dev may be nil, in which case
// SealingKey fails. Tests pass the fakes of go-sev-guest/testing or tee/teetest.
func New(reports client.QuoteProvider, dev client.Device, cfg Config) *Guest {
	return &Guest{reports: reports, device: dev, vmpl: cfg.VMPL}
}

// Close releases the device opened by Open.
func (g *Guest) Close() error {
	if g.closeDev == nil {
		return nil
	}
	return g.closeDev()
}

// Kind returns tee.KindSEVSNP.
func (g *Guest) Kind() tee.Kind { return tee.KindSEVSNP }

// Evidence returns a fresh attestation report binding rd.
func (g *Guest) Evidence(rd tee.ReportData) (tee.Evidence, error) {
	ev, _, err := g.EvidenceWithCertificates(rd)
	return ev, err
}

// EvidenceWithCertificates also returns the certificate table the host attached to the report
// (empty if none). The collateral fetcher needs it for a VLEK, which AMD KDS does not serve.
func (g *Guest) EvidenceWithCertificates(rd tee.ReportData) (tee.Evidence, []byte, error) {
	g.mu.Lock()
	raw, err := g.reports.GetRawQuote(rd)
	g.mu.Unlock()
	if err != nil {
		return tee.Evidence{}, nil, fmt.Errorf("snp: get report: %v: %w", err, tee.ErrDevice)
	}
	if len(raw) < sevabi.ReportSize {
		return tee.Evidence{}, nil, fmt.Errorf("snp: the device returned %d bytes, less than a report: %w", len(raw), tee.ErrDevice)
	}
	report := append([]byte(nil), raw[:sevabi.ReportSize]...)
	r, err := sevabi.ReportToProto(report)
	if err != nil {
		return tee.Evidence{}, nil, fmt.Errorf("snp: the device returned an unparsable report: %v: %w", err, tee.ErrDevice)
	}
	if !bytes.Equal(r.GetReportData(), rd[:]) {
		return tee.Evidence{}, nil, fmt.Errorf("snp: the device returned a report for other report data: %w", tee.ErrDevice)
	}
	return tee.Evidence{Kind: tee.KindSEVSNP, Quote: report}, append([]byte(nil), raw[sevabi.ReportSize:]...), nil
}

// Measurement returns the MEASUREMENT of a fresh report (48 bytes).
func (g *Guest) Measurement() ([]byte, error) {
	ev, err := g.Evidence(tee.ReportData{})
	if err != nil {
		return nil, err
	}
	r, err := sevabi.ReportToProto(ev.Quote)
	if err != nil {
		return nil, fmt.Errorf("snp: %v: %w", err, tee.ErrDevice)
	}
	return r.GetMeasurement(), nil
}

// SealingKey asks the secure processor for a key derived from the chip's VCEK, the guest's
// MEASUREMENT and guest policy, and the configured VMPL, then separates it with HKDF. The same
// image with the same policy on the same chip gets the same key; anything else gets another.
func (g *Guest) SealingKey() ([]byte, error) {
	if g.device == nil {
		return nil, fmt.Errorf("snp: /dev/sev-guest is not available, so no sealing key can be derived: %w", tee.ErrDevice)
	}
	g.mu.Lock()
	resp, err := client.GetDerivedKeyAcknowledgingItsLimitations(g.device, DerivedKeyRequest(g.vmpl))
	g.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("snp: derive key: %v: %w", err, tee.ErrDevice)
	}
	key, err := hkdf.Key(sha256.New, resp.Data[:], nil, sealingKeyLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("snp: %v", err)
	}
	return key, nil
}

// DerivedKeyRequest is the MSG_KEY_REQ that SealingKey sends: root key VCEK, mixing in the
// measurement and the guest policy at the given VMPL. Exposed so tests can program fake devices.
func DerivedKeyRequest(vmpl uint32) *client.SnpDerivedKeyReq {
	return &client.SnpDerivedKeyReq{
		UseVCEK:          true,
		GuestFieldSelect: client.GuestFieldSelect{Measurement: true, GuestPolicy: true},
		Vmpl:             vmpl,
	}
}
