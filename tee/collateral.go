package tee

import (
	"encoding/binary"
	"fmt"
)

// Collateral is the vendor material a verifier needs besides the evidence. The submitter fetches
// it (tee/collateral does) and puts it in the registration transaction, so validators never use
// the network. Kind is empty or KindSim for sim evidence, which needs none; otherwise only the
// struct of that kind may be set.
type Collateral struct {
	Kind Kind
	TDX  TDXCollateral
	SNP  SNPCollateral
}

// TDXCollateral holds Intel PCS responses verbatim, so that their signatures can be checked.
type TDXCollateral struct {
	// TCBInfo is the body of GET {PCS}/tdx/certification/v4/tcb?fmspc=<FMSPC>: JSON
	// {"tcbInfo":{...},"signature":"<hex>"}.
	TCBInfo []byte
	// TCBInfoIssuerChain is the URL-decoded TCB-Info-Issuer-Chain header: PEM, the TCB signing
	// certificate then the Intel SGX Root CA.
	TCBInfoIssuerChain []byte
	// QEIdentity is the body of GET {PCS}/tdx/certification/v4/qe/identity: JSON
	// {"enclaveIdentity":{...},"signature":"<hex>"}.
	QEIdentity []byte
	// QEIdentityIssuerChain is the URL-decoded SGX-Enclave-Identity-Issuer-Chain header (PEM).
	QEIdentityIssuerChain []byte
	// PCKCRL is the DER CRL of the CA that issued the quote's PCK certificate
	// (GET {PCS}/sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der).
	PCKCRL []byte
	// RootCACRL is the DER CRL of the Intel SGX Root CA (its CRL distribution point).
	RootCACRL []byte
}

// SNPCollateral holds the AMD KDS certificates for one report. The AMD root (ARK) is not carried:
// verification uses the embedded one.
type SNPCollateral struct {
	// EndorsementKey is the DER VCEK (from KDS, per chip and reported TCB) or VLEK (from the
	// extended report's certificate table) certificate that signed the report.
	EndorsementKey []byte
	// Intermediate is the DER ASK (for a VCEK) or ASVK (for a VLEK) certificate.
	Intermediate []byte
	// CRL is the DER CRL of the product line's ARK (KDS /vcek/v1/<line>/crl, or /vlek/v1/<line>/crl
	// for a VLEK). Empty only if the policy sets SNPAllowMissingCRL.
	CRL []byte
}

func (c TDXCollateral) fields() [][]byte {
	return [][]byte{c.TCBInfo, c.TCBInfoIssuerChain, c.QEIdentity, c.QEIdentityIssuerChain, c.PCKCRL, c.RootCACRL}
}

func (c SNPCollateral) fields() [][]byte {
	return [][]byte{c.EndorsementKey, c.Intermediate, c.CRL}
}

func (c TDXCollateral) isZero() bool { return allEmpty(c.fields()) }
func (c SNPCollateral) isZero() bool { return allEmpty(c.fields()) }

func allEmpty(fs [][]byte) bool {
	for _, f := range fs {
		if len(f) != 0 {
			return false
		}
	}
	return true
}

const collateralRemedy = "encode collateral with tee.Collateral.MarshalBinary"

// MarshalBinary encodes c as: version (1 byte, = 1) | kind (1 byte: 0 none, 1 sim, 2 tdx,
// 3 sev-snp) | the kind's fields in declaration order, each as length (4 bytes, big endian) and
// bytes. None and sim have no fields, TDX six, SEV-SNP three. Empty fields are allowed by the
// encoding (Verify decides what is required). The encoding is canonical.
func (c Collateral) MarshalBinary() ([]byte, error) {
	fields, code, err := c.layout()
	if err != nil {
		return nil, err
	}
	size := 2
	for _, f := range fields {
		size += 4 + len(f)
	}
	out := make([]byte, 2, size)
	out[0] = encodingVersion
	out[1] = code
	for _, f := range fields {
		out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out, nil
}

// layout returns the fields to encode and the kind tag, refusing structs that mix kinds.
func (c Collateral) layout() ([][]byte, byte, error) {
	const check = "collateral/shape"
	var fields [][]byte
	var code byte
	switch c.Kind {
	case "":
	case KindSim:
		code = 1
	case KindTDX:
		code, fields = 2, c.TDX.fields()
	case KindSEVSNP:
		code, fields = 3, c.SNP.fields()
	default:
		return nil, 0, refuse(ErrUnsupportedKind, check, fmt.Sprintf("kind %q", c.Kind), `use one of "", "sim", "tdx", "sev-snp"`)
	}
	if (c.Kind != KindTDX && !c.TDX.isZero()) || (c.Kind != KindSEVSNP && !c.SNP.isZero()) {
		return nil, 0, refuse(ErrMalformed, check, fmt.Sprintf("collateral of kind %q has fields of another kind set", c.Kind),
			"set only the struct that matches Kind")
	}
	for i, f := range fields {
		if len(f) > MaxCollateralFieldSize {
			return nil, 0, refuse(ErrMalformed, check, fmt.Sprintf("%s field %d is %d bytes, limit %d", c.Kind, i, len(f), MaxCollateralFieldSize),
				"submit the vendor responses unmodified")
		}
	}
	return fields, code, nil
}

// UnmarshalBinary decodes data produced by MarshalBinary. Any other byte string is refused with
// ErrMalformed (or ErrUnsupportedKind), and c is left unchanged.
func (c *Collateral) UnmarshalBinary(data []byte) error {
	const check = "collateral/encoding"
	if len(data) < 2 {
		return refuse(ErrMalformed, check, fmt.Sprintf("%d bytes, shorter than the 2-byte header", len(data)), collateralRemedy)
	}
	if data[0] != encodingVersion {
		return refuse(ErrMalformed, check, fmt.Sprintf("encoding version %d, want %d", data[0], encodingVersion), collateralRemedy)
	}
	var dec Collateral
	var dst []*[]byte
	switch data[1] {
	case 0:
	case 1:
		dec.Kind = KindSim
	case 2:
		dec.Kind = KindTDX
		t := &dec.TDX
		dst = []*[]byte{&t.TCBInfo, &t.TCBInfoIssuerChain, &t.QEIdentity, &t.QEIdentityIssuerChain, &t.PCKCRL, &t.RootCACRL}
	case 3:
		dec.Kind = KindSEVSNP
		s := &dec.SNP
		dst = []*[]byte{&s.EndorsementKey, &s.Intermediate, &s.CRL}
	default:
		return refuse(ErrUnsupportedKind, check, fmt.Sprintf("kind tag %d is not a collateral kind", data[1]), collateralRemedy)
	}
	rest := data[2:]
	for i, d := range dst {
		if len(rest) < 4 {
			return refuse(ErrMalformed, check, fmt.Sprintf("%s field %d: truncated length", dec.Kind, i), collateralRemedy)
		}
		n := binary.BigEndian.Uint32(rest[:4])
		rest = rest[4:]
		if n > MaxCollateralFieldSize || uint64(n) > uint64(len(rest)) {
			return refuse(ErrMalformed, check, fmt.Sprintf("%s field %d: length %d exceeds the %d bytes left (limit %d)", dec.Kind, i, n, len(rest), MaxCollateralFieldSize), collateralRemedy)
		}
		if n > 0 {
			*d = append([]byte(nil), rest[:n]...)
		}
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return refuse(ErrMalformed, check, fmt.Sprintf("%d trailing bytes", len(rest)), collateralRemedy)
	}
	*c = dec
	return nil
}
