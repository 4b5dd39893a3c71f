package tee

import "fmt"

// Kind names a TEE technology.
type Kind string

// The supported kinds.
const (
	KindSim    Kind = "sim"
	KindTDX    Kind = "tdx"
	KindSEVSNP Kind = "sev-snp"
)

// Kinds lists the supported kinds in their canonical order.
func Kinds() []Kind { return []Kind{KindSim, KindTDX, KindSEVSNP} }

// ParseKind returns the kind named s ("sim", "tdx" or "sev-snp").
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindSim, KindTDX, KindSEVSNP:
		return k, nil
	}
	return "", refuse(ErrUnsupportedKind, "kind", fmt.Sprintf("%q is not a TEE kind", s),
		`use one of "sim", "tdx", "sev-snp"`)
}

func (k Kind) String() string { return string(k) }

// kindCode is the one-byte tag of a kind in the binary encodings; 0 means "no kind".
func kindCode(k Kind) (byte, bool) {
	switch k {
	case KindSim:
		return 1, true
	case KindTDX:
		return 2, true
	case KindSEVSNP:
		return 3, true
	}
	return 0, false
}

func kindFromCode(c byte) (Kind, bool) {
	switch c {
	case 1:
		return KindSim, true
	case 2:
		return KindTDX, true
	case 3:
		return KindSEVSNP, true
	}
	return "", false
}
