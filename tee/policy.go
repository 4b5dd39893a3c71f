package tee

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
)

// Policy is what a chain (through its genesis and governance) requires of evidence. The zero value
// is the strictest policy: no sim, no debug, any confidence level accepted, SNP CRL required.
type Policy struct {
	// AllowSim accepts sim evidence signed by one of SimPlatformKeys. Production networks say false.
	AllowSim bool
	// SimPlatformKeys are the trusted simulated platform keys (ed25519, 32 bytes each).
	SimPlatformKeys []ed25519.PublicKey
	// AllowDebug accepts debug TDs / debug SNP guests / sim guests flagged debug, whose memory the
	// host can read. Production networks say false.
	AllowDebug bool
	// MaxConfidence refuses evidence whose confidence level (1 best .. 5 worst) is numerically
	// greater. 0 means 5 (accept every level that is not revoked).
	MaxConfidence uint8

	// TDXMinTCBEvaluationDataNumber refuses TCB info and QE identity older than this Intel TCB
	// recovery event number (0: no minimum). Raising it after an Intel TCB recovery forces
	// workers to re-attest with collateral that knows the new advisories.
	TDXMinTCBEvaluationDataNumber uint32
	// TDXAllowedMRSEAMs lists the accepted TDX module measurements (48 bytes each). Empty accepts
	// any module that Intel's TCB info accepts.
	TDXAllowedMRSEAMs [][]byte

	// SNPMinTCB is the minimum REPORTED_TCB (the 64-bit TCB_VERSION), compared byte by byte (each
	// byte is one security patch level). A report below it is OutOfDate (confidence 4).
	SNPMinTCB uint64
	// SNPMaxVMPL refuses reports requested from a less privileged VMPL than this (0..3).
	SNPMaxVMPL uint8
	// SNPAllowMigrationAgent accepts guests whose policy allows a migration agent.
	SNPAllowMigrationAgent bool
	// SNPAllowMissingCRL accepts SEV-SNP collateral without a CRL. Production networks say false.
	SNPAllowMissingCRL bool
}

// Confidence levels.
const (
	ConfidenceBest  uint8 = 1
	ConfidenceWorst uint8 = 5
)

// Validate reports whether p is well formed.
func (p Policy) Validate() error {
	const check = "policy"
	const remedy = "fix the chain's TEE policy (genesis or governance)"
	if p.MaxConfidence > ConfidenceWorst {
		return refuse(ErrInvalidPolicy, check, fmt.Sprintf("MaxConfidence %d, want 0..%d", p.MaxConfidence, ConfidenceWorst), remedy)
	}
	for i, k := range p.SimPlatformKeys {
		if len(k) != ed25519.PublicKeySize {
			return refuse(ErrInvalidPolicy, check, fmt.Sprintf("sim platform key %d is %d bytes, want %d", i, len(k), ed25519.PublicKeySize), remedy)
		}
	}
	for i, m := range p.TDXAllowedMRSEAMs {
		if len(m) != tdxRegisterSize {
			return refuse(ErrInvalidPolicy, check, fmt.Sprintf("TDX MRSEAM %d is %d bytes, want %d", i, len(m), tdxRegisterSize), remedy)
		}
	}
	if p.SNPMaxVMPL > 3 {
		return refuse(ErrInvalidPolicy, check, fmt.Sprintf("SNPMaxVMPL %d, want 0..3", p.SNPMaxVMPL), remedy)
	}
	return nil
}

func (p Policy) maxConfidence() uint8 {
	if p.MaxConfidence == 0 {
		return ConfidenceWorst
	}
	return p.MaxConfidence
}

func (p Policy) trustsSimKey(k []byte) bool {
	for _, t := range p.SimPlatformKeys {
		if bytes.Equal(t, k) {
			return true
		}
	}
	return false
}

// TCBStatus is the vendor's verdict on the platform's trusted computing base. TDX statuses are
// Intel's; SEV-SNP is UpToDate or OutOfDate against Policy.SNPMinTCB; sim is Simulated.
type TCBStatus string

// The TCB statuses. The first seven are Intel's names.
const (
	TCBUpToDate                          TCBStatus = "UpToDate"
	TCBSWHardeningNeeded                 TCBStatus = "SWHardeningNeeded"
	TCBConfigurationNeeded               TCBStatus = "ConfigurationNeeded"
	TCBConfigurationAndSWHardeningNeeded TCBStatus = "ConfigurationAndSWHardeningNeeded"
	TCBOutOfDate                         TCBStatus = "OutOfDate"
	TCBOutOfDateConfigurationNeeded      TCBStatus = "OutOfDateConfigurationNeeded"
	TCBRevoked                           TCBStatus = "Revoked"
	TCBSimulated                         TCBStatus = "Simulated"
)

// Confidence maps a status to a confidence level, 1 (best) to 5 (worst). Revoked and unknown
// statuses have none (ok is false): such evidence is always refused.
//
//	1 UpToDate, Simulated
//	2 SWHardeningNeeded
//	3 ConfigurationNeeded, ConfigurationAndSWHardeningNeeded
//	4 OutOfDate
//	5 OutOfDateConfigurationNeeded
func (s TCBStatus) Confidence() (level uint8, ok bool) {
	switch s {
	case TCBUpToDate, TCBSimulated:
		return 1, true
	case TCBSWHardeningNeeded:
		return 2, true
	case TCBConfigurationNeeded, TCBConfigurationAndSWHardeningNeeded:
		return 3, true
	case TCBOutOfDate:
		return 4, true
	case TCBOutOfDateConfigurationNeeded:
		return 5, true
	}
	return 0, false
}

// combineStatus merges the statuses of several TCB components (TDX platform, TDX module, QE)
// into one, keeping every condition: OutOfDate and ConfigurationNeeded together give
// OutOfDateConfigurationNeeded, and so on. Unknown statuses count as Revoked.
func combineStatus(ss ...TCBStatus) TCBStatus {
	var revoked, outOfDate, config, sw bool
	for _, s := range ss {
		switch s {
		case TCBUpToDate:
		case TCBSWHardeningNeeded:
			sw = true
		case TCBConfigurationNeeded:
			config = true
		case TCBConfigurationAndSWHardeningNeeded:
			config, sw = true, true
		case TCBOutOfDate:
			outOfDate = true
		case TCBOutOfDateConfigurationNeeded:
			outOfDate, config = true, true
		default:
			revoked = true
		}
	}
	switch {
	case revoked:
		return TCBRevoked
	case outOfDate && config:
		return TCBOutOfDateConfigurationNeeded
	case outOfDate:
		return TCBOutOfDate
	case config && sw:
		return TCBConfigurationAndSWHardeningNeeded
	case config:
		return TCBConfigurationNeeded
	case sw:
		return TCBSWHardeningNeeded
	}
	return TCBUpToDate
}

// Report is what Verify establishes about verified evidence.
type Report struct {
	Kind Kind
	// Measurement identifies the running runtime; the runtime allowlist matches it. TDX: MRTD ||
	// RTMR0 || RTMR1 || RTMR2 || RTMR3 (240 bytes); SEV-SNP: MEASUREMENT (48 bytes); sim:
	// SHA-256 of the pRuntime binary (32 bytes).
	Measurement []byte
	ReportData  ReportData
	TCBStatus   TCBStatus
	Confidence  uint8 // 1 best .. 5 worst
	Debug       bool
	// Advisories lists the vendor security advisories (e.g. INTEL-SA-00837) that apply to the
	// platform's TCB level, in the vendor's order; empty when up to date.
	Advisories []string
}

// CheckReportData refuses the report unless it binds want. Registration calls it with the hash
// of the registration info, so evidence produced for anything else (a replay) is refused.
func (r Report) CheckReportData(want ReportData) error {
	if r.ReportData == want {
		return nil
	}
	return refuse(ErrReportDataMismatch, "report-data",
		fmt.Sprintf("evidence binds %s..., expected %s...", hex.EncodeToString(r.ReportData[:8]), hex.EncodeToString(want[:8])),
		"produce fresh evidence whose report data is the hash of exactly this registration (replayed evidence is refused)")
}

// checkConfidence applies the confidence policy and fills in r.Confidence.
func (r *Report) checkConfidence(p Policy, check string) error {
	level, ok := r.TCBStatus.Confidence()
	if !ok {
		return refuse(ErrRevoked, check, fmt.Sprintf("TCB status %q", r.TCBStatus),
			"the platform's TCB is revoked by the vendor: update firmware and microcode, or retire the machine")
	}
	r.Confidence = level
	if level > p.maxConfidence() {
		return refuse(ErrTCBOutOfDate, check,
			fmt.Sprintf("TCB status %s gives confidence %d, the chain accepts at most %d (advisories: %v)", r.TCBStatus, level, p.maxConfidence(), r.Advisories),
			"update the platform (BIOS, microcode, TDX module or SEV firmware) as the advisories say, then fetch fresh collateral and register again")
	}
	return nil
}
