package tee

import (
	"encoding/binary"
	"fmt"
)

// ReportData is the 64 bytes a guest binds into its evidence (TDX REPORTDATA, SEV-SNP
// REPORT_DATA, sim report data). The registry sets it to a hash of the registration info.
type ReportData [64]byte

// Evidence is what a guest produces to prove it runs a given measurement: the raw,
// kind-specific bytes (TDX: a DCAP quote v4; SEV-SNP: a 1184-byte attestation report; sim: a
// signed statement, see docs/tee.md).
type Evidence struct {
	Kind  Kind
	Quote []byte
}

// Size limits of the encodings. A real TDX quote with its PCK chain is about 5 KB.
const (
	MaxQuoteSize           = 64 << 10
	MaxCollateralFieldSize = 256 << 10
	encodingVersion        = 1
	evidenceHeaderSize     = 1 + 1 + 4 // version, kind, quote length
)

// MarshalBinary encodes e as: version (1 byte, = 1) | kind (1 byte: 1 sim, 2 tdx, 3 sev-snp) |
// quote length (4 bytes, big endian) | quote. The encoding is canonical: UnmarshalBinary accepts
// exactly the byte strings MarshalBinary produces.
func (e Evidence) MarshalBinary() ([]byte, error) {
	if err := e.checkShape(); err != nil {
		return nil, err
	}
	code, _ := kindCode(e.Kind)
	out := make([]byte, evidenceHeaderSize, evidenceHeaderSize+len(e.Quote))
	out[0] = encodingVersion
	out[1] = code
	binary.BigEndian.PutUint32(out[2:6], uint32(len(e.Quote)))
	return append(out, e.Quote...), nil
}

// UnmarshalBinary decodes data produced by MarshalBinary. Any other byte string is refused with
// ErrMalformed (or ErrUnsupportedKind), and e is left unchanged.
func (e *Evidence) UnmarshalBinary(data []byte) error {
	const check = "evidence/encoding"
	const remedy = "encode evidence with tee.Evidence.MarshalBinary"
	if len(data) < evidenceHeaderSize {
		return refuse(ErrMalformed, check, fmt.Sprintf("%d bytes, shorter than the %d-byte header", len(data), evidenceHeaderSize), remedy)
	}
	if data[0] != encodingVersion {
		return refuse(ErrMalformed, check, fmt.Sprintf("encoding version %d, want %d", data[0], encodingVersion), remedy)
	}
	kind, ok := kindFromCode(data[1])
	if !ok {
		return refuse(ErrUnsupportedKind, check, fmt.Sprintf("kind tag %d is not a TEE kind", data[1]), remedy)
	}
	n := binary.BigEndian.Uint32(data[2:6])
	if uint64(n) != uint64(len(data)-evidenceHeaderSize) {
		return refuse(ErrMalformed, check, fmt.Sprintf("quote length field says %d bytes but %d follow", n, len(data)-evidenceHeaderSize), remedy)
	}
	dec := Evidence{Kind: kind, Quote: append([]byte(nil), data[evidenceHeaderSize:]...)}
	if err := dec.checkShape(); err != nil {
		return err
	}
	*e = dec
	return nil
}

// checkShape enforces the kind-independent limits and, for fixed-size kinds, the exact size.
func (e Evidence) checkShape() error {
	const check = "evidence/shape"
	if _, ok := kindCode(e.Kind); !ok {
		return refuse(ErrUnsupportedKind, check, fmt.Sprintf("kind %q", e.Kind), `use one of "sim", "tdx", "sev-snp"`)
	}
	if len(e.Quote) == 0 || len(e.Quote) > MaxQuoteSize {
		return refuse(ErrMalformed, check, fmt.Sprintf("%s quote of %d bytes, want 1..%d", e.Kind, len(e.Quote), MaxQuoteSize),
			"submit the quote exactly as the guest produced it")
	}
	want := 0
	switch e.Kind {
	case KindSim:
		want = simQuoteSize
	case KindSEVSNP:
		want = snpReportSize
	}
	if want != 0 && len(e.Quote) != want {
		return refuse(ErrMalformed, check, fmt.Sprintf("%s quote of %d bytes, want exactly %d (truncated or padded?)", e.Kind, len(e.Quote), want),
			"submit the quote exactly as the guest produced it")
	}
	return nil
}
