package tee

import (
	"encoding/hex"
	"fmt"
	"strings"
)

const (
	tdxRegisterSize = 48
	// SimMeasurementSize is the size of a sim measurement: SHA-256 of the pRuntime binary.
	SimMeasurementSize = 32
	// TDXMeasurementSize is the size of a TDX measurement: MRTD and RTMR0..3, 48 bytes each.
	TDXMeasurementSize = 5 * tdxRegisterSize
	// SNPMeasurementSize is the size of an SEV-SNP MEASUREMENT.
	SNPMeasurementSize = 48
)

// MeasurementSize returns the size of a measurement of kind k, or 0 for an unknown kind.
func MeasurementSize(k Kind) int {
	switch k {
	case KindSim:
		return SimMeasurementSize
	case KindTDX:
		return TDXMeasurementSize
	case KindSEVSNP:
		return SNPMeasurementSize
	}
	return 0
}

// MeasurementPart is one named register of a measurement, for display.
type MeasurementPart struct {
	Name  string
	Value []byte
}

// MeasurementParts splits a measurement into its named registers: TDX mrtd, rtmr0..rtmr3;
// SEV-SNP measurement; sim sha256.
func MeasurementParts(k Kind, m []byte) ([]MeasurementPart, error) {
	if err := checkMeasurement(k, m); err != nil {
		return nil, err
	}
	switch k {
	case KindTDX:
		names := []string{"mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3"}
		parts := make([]MeasurementPart, len(names))
		for i, n := range names {
			parts[i] = MeasurementPart{Name: n, Value: m[i*tdxRegisterSize : (i+1)*tdxRegisterSize]}
		}
		return parts, nil
	case KindSEVSNP:
		return []MeasurementPart{{Name: "measurement", Value: m}}, nil
	default:
		return []MeasurementPart{{Name: "sha256", Value: m}}, nil
	}
}

// FormatMeasurement renders a measurement as "<kind>:<lower-case hex>", the form used in runtime
// allowlists and printed by `pruntime measure`.
func FormatMeasurement(k Kind, m []byte) (string, error) {
	if err := checkMeasurement(k, m); err != nil {
		return "", err
	}
	return string(k) + ":" + hex.EncodeToString(m), nil
}

// ParseMeasurement parses the output of FormatMeasurement.
func ParseMeasurement(s string) (Kind, []byte, error) {
	const check = "measurement/parse"
	name, hexPart, ok := strings.Cut(s, ":")
	if !ok {
		return "", nil, refuse(ErrMalformed, check, fmt.Sprintf("%q has no kind prefix", s), `write "<kind>:<hex>", e.g. as printed by pruntime measure`)
	}
	k, err := ParseKind(name)
	if err != nil {
		return "", nil, err
	}
	if strings.ToLower(hexPart) != hexPart {
		return "", nil, refuse(ErrMalformed, check, "hex digits must be lower case", "write the measurement as printed by pruntime measure")
	}
	m, err := hex.DecodeString(hexPart)
	if err != nil {
		return "", nil, refuse(ErrMalformed, check, err.Error(), "write the measurement as printed by pruntime measure")
	}
	if err := checkMeasurement(k, m); err != nil {
		return "", nil, err
	}
	return k, m, nil
}

func checkMeasurement(k Kind, m []byte) error {
	want := MeasurementSize(k)
	if want == 0 {
		return refuse(ErrUnsupportedKind, "measurement", fmt.Sprintf("kind %q", k), `use one of "sim", "tdx", "sev-snp"`)
	}
	if len(m) != want {
		return refuse(ErrMalformed, "measurement", fmt.Sprintf("%s measurement of %d bytes, want %d", k, len(m), want),
			"take the measurement from pruntime measure")
	}
	return nil
}
