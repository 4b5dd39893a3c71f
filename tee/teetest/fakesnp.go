package teetest

import (
	"crypto/x509"
	"encoding/binary"
	"testing"
	"time"

	sevabi "github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/client"
	labi "github.com/google/go-sev-guest/client/linuxabi"
	sevpb "github.com/google/go-sev-guest/proto/sevsnp"
	sevtesting "github.com/google/go-sev-guest/testing"

	"github.com/phala-go/phala/tee"
)

// FakeSNP wraps go-sev-guest's fake AMD chain (ARK, ASK, ASVK, VCEK, VLEK with the library's test
// keys) to sign fresh SEV-SNP reports with any report data, and to issue the matching collateral.
type FakeSNP struct {
	now         time.Time
	signer      *sevtesting.AmdSigner
	measurement [48]byte
}

// FakeSNPProductLine is the product line of the fake chain.
const FakeSNPProductLine = "Milan"

// NewFakeSNP builds the fake chain, valid from now for years. The guest's measurement is a fixed
// pattern.
func NewFakeSNP(tb testing.TB, now time.Time) *FakeSNP {
	tb.Helper()
	s, err := sevtesting.DefaultTestOnlyCertChain(FakeSNPProductLine+"-B0", now.AddDate(-1, 0, 0))
	if err != nil {
		tb.Fatalf("fake AMD chain: %v", err)
	}
	f := &FakeSNP{now: now, signer: s}
	for i := range f.measurement {
		f.measurement[i] = byte(0xa0 + i)
	}
	return f
}

// ARK returns the fake AMD root key certificate.
func (f *FakeSNP) ARK() *x509.Certificate { return f.signer.Ark }

// Verifier returns tee.Verify trusting the fake ARK for the Milan product line.
func (f *FakeSNP) Verifier(tb testing.TB) VerifyFunc {
	return VerifierWithRoots(tb, nil, map[string]*x509.Certificate{FakeSNPProductLine: f.signer.Ark})
}

// SNPReportOptions sets the guest's configuration in a fake report.
type SNPReportOptions struct {
	Debug, MigrationAgent bool
	VMPL                  uint32
	// ReportedTCB is the REPORTED_TCB; the fake VCEK certifies TCB 0.
	ReportedTCB uint64
	// VLEK signs with the VLEK instead of the VCEK.
	VLEK bool
}

// Report returns a signed 1184-byte report.
func (f *FakeSNP) Report(tb testing.TB, rd tee.ReportData, o SNPReportOptions) []byte {
	tb.Helper()
	r, err := f.report(rd, o)
	if err != nil {
		tb.Fatalf("fake SNP report: %v", err)
	}
	return r
}

func (f *FakeSNP) report(rd tee.ReportData, o SNPReportOptions) ([]byte, error) {
	signer := sevabi.VcekReportSigner
	if o.VLEK {
		signer = sevabi.VlekReportSigner
	}
	raw := sevtesting.CreateRawReport(&sevtesting.TestReportOptions{ReportData: rd[:], SignerInfo: sevabi.SignerInfo{SigningKey: signer}})
	r := raw[:sevabi.ReportSize]
	policy := sevabi.SnpPolicyToBytes(sevabi.SnpPolicy{ABIMajor: 1, ABIMinor: 55, SMT: true, Debug: o.Debug, MigrateMA: o.MigrationAgent})
	binary.LittleEndian.PutUint64(r[0x08:0x10], policy)
	binary.LittleEndian.PutUint32(r[0x30:0x34], o.VMPL)
	for _, off := range []int{0x38, 0x180, 0x1E0, 0x1F0} { // current, reported, committed, launch TCB
		binary.LittleEndian.PutUint64(r[off:off+8], o.ReportedTCB)
	}
	copy(r[0x90:0xC0], f.measurement[:])
	rs, ss, err := f.signer.Sign(sevabi.SignedComponent(r))
	if err != nil {
		return nil, err
	}
	if err := sevabi.SetSignature(rs, ss, r); err != nil {
		return nil, err
	}
	return append([]byte(nil), r...), nil
}

// QuoteProvider returns a go-sev-guest client.QuoteProvider answering with fresh reports followed
// by the fake chain's certificate table, as configfs-tsm does.
func (f *FakeSNP) QuoteProvider(o SNPReportOptions) client.QuoteProvider {
	return &fakeSNPProvider{f: f, o: o}
}

type fakeSNPProvider struct {
	f *FakeSNP
	o SNPReportOptions
}

func (p *fakeSNPProvider) IsSupported() bool { return true }

func (p *fakeSNPProvider) Product() *sevpb.SevProduct { return sevabi.DefaultSevProduct() }

func (p *fakeSNPProvider) GetRawQuote(rd [64]byte) ([]byte, error) {
	r, err := p.f.report(rd, p.o)
	if err != nil {
		return nil, err
	}
	certs, err := p.f.signer.CertTableBytes()
	if err != nil {
		return nil, err
	}
	return append(r, certs...), nil
}

// Device returns go-sev-guest's fake /dev/sev-guest that answers exactly the derived-key request
// req with key.
func (f *FakeSNP) Device(req *client.SnpDerivedKeyReq, key [32]byte) client.Device {
	root := uint32(1)
	if req.UseVCEK {
		root = 0
	}
	abiReq := &labi.SnpDerivedKeyReqABI{RootKeySelect: root, GuestFieldSelect: req.GuestFieldSelect.ABI(), Vmpl: req.Vmpl, GuestSVN: req.GuestSVN, TCBVersion: req.TCBVersion}
	return &sevtesting.Device{
		Keys:   map[string][]byte{sevtesting.DerivedKeyRequestToString(abiReq): key[:]},
		Signer: f.signer,
	}
}

// SNPCollateralOptions chooses the fake KDS answers.
type SNPCollateralOptions struct {
	VLEK               bool // VLEK and ASVK instead of VCEK and ASK
	NoCRL              bool
	RevokeIntermediate bool
}

// Collateral returns the endorsement key, intermediate and a CRL signed by the fake ARK, valid
// from a day before to 30 days after the fake's Now.
func (f *FakeSNP) Collateral(tb testing.TB, o SNPCollateralOptions) tee.Collateral {
	tb.Helper()
	ek, ica := f.signer.Vcek, f.signer.Ask
	if o.VLEK {
		ek, ica = f.signer.Vlek, f.signer.Asvk
	}
	c := tee.SNPCollateral{EndorsementKey: ek.Raw, Intermediate: ica.Raw}
	if !o.NoCRL {
		var revoked []*x509.Certificate
		if o.RevokeIntermediate {
			revoked = append(revoked, ica)
		}
		c.CRL = makeCRL(tb, f.signer.Ark, f.signer.Keys.Ark, f.now.AddDate(0, 0, -1), f.now.AddDate(0, 0, 30), revoked...)
	}
	return tee.Collateral{Kind: tee.KindSEVSNP, SNP: c}
}

// Signer returns the fake chain, for go-sev-guest's own fake devices (DeviceOptions.Signer).
func (f *FakeSNP) Signer() *sevtesting.AmdSigner { return f.signer }

// Measurement returns the fake guest's MEASUREMENT.
func (f *FakeSNP) Measurement() []byte { return append([]byte(nil), f.measurement[:]...) }
