package tee

import (
	"errors"
	"fmt"
)

// One sentinel per kind of failed check. Every error this package returns wraps exactly one of
// them (test with errors.Is) inside a *Refusal that names the check and the remedy.
var (
	ErrMalformed          = errors.New("malformed input")
	ErrUnsupportedKind    = errors.New("unsupported TEE kind")
	ErrSimNotAllowed      = errors.New("simulated TEE not allowed on this chain")
	ErrUnknownPlatformKey = errors.New("unknown simulated platform key")
	ErrSignature          = errors.New("signature does not verify")
	ErrCertChain          = errors.New("certificate chain does not lead to a trusted vendor root")
	ErrEvidenceExpired    = errors.New("evidence certificate not valid at this time")
	ErrCollateralExpired  = errors.New("collateral expired or not yet valid")
	ErrCollateralMissing  = errors.New("collateral missing")
	ErrCollateralMismatch = errors.New("collateral does not match the evidence")
	ErrRevoked            = errors.New("revoked")
	ErrTCBUnknown         = errors.New("platform TCB not listed by the vendor")
	ErrTCBOutOfDate       = errors.New("platform TCB below the chain's required confidence")
	ErrDebugNotAllowed    = errors.New("debug TEE not allowed")
	ErrPolicyViolation    = errors.New("TEE configuration violates the chain policy")
	ErrReportDataMismatch = errors.New("report data does not match")
	ErrInvalidPolicy      = errors.New("invalid verification policy")
	ErrNoSealingKey       = errors.New("no hardware sealing key")
	ErrDevice             = errors.New("TEE device unavailable")
)

// Stable numeric codes, one per sentinel. The chain returns them as ABCI codes, so a code is never
// reused or renumbered; new sentinels get new numbers.
const (
	CodeOK                 uint32 = 0
	CodeMalformed          uint32 = 1
	CodeUnsupportedKind    uint32 = 2
	CodeSimNotAllowed      uint32 = 3
	CodeUnknownPlatformKey uint32 = 4
	CodeSignature          uint32 = 5
	CodeCertChain          uint32 = 6
	CodeEvidenceExpired    uint32 = 7
	CodeCollateralExpired  uint32 = 8
	CodeCollateralMissing  uint32 = 9
	CodeCollateralMismatch uint32 = 10
	CodeRevoked            uint32 = 11
	CodeTCBUnknown         uint32 = 12
	CodeTCBOutOfDate       uint32 = 13
	CodeDebugNotAllowed    uint32 = 14
	CodePolicyViolation    uint32 = 15
	CodeReportDataMismatch uint32 = 16
	CodeInvalidPolicy      uint32 = 17
	CodeNoSealingKey       uint32 = 18
	CodeDevice             uint32 = 19
	// CodeUnknown is returned for an error that wraps none of the sentinels.
	CodeUnknown uint32 = 99
)

var codes = []struct {
	err  error
	code uint32
}{
	{ErrMalformed, CodeMalformed},
	{ErrUnsupportedKind, CodeUnsupportedKind},
	{ErrSimNotAllowed, CodeSimNotAllowed},
	{ErrUnknownPlatformKey, CodeUnknownPlatformKey},
	{ErrSignature, CodeSignature},
	{ErrCertChain, CodeCertChain},
	{ErrEvidenceExpired, CodeEvidenceExpired},
	{ErrCollateralExpired, CodeCollateralExpired},
	{ErrCollateralMissing, CodeCollateralMissing},
	{ErrCollateralMismatch, CodeCollateralMismatch},
	{ErrRevoked, CodeRevoked},
	{ErrTCBUnknown, CodeTCBUnknown},
	{ErrTCBOutOfDate, CodeTCBOutOfDate},
	{ErrDebugNotAllowed, CodeDebugNotAllowed},
	{ErrPolicyViolation, CodePolicyViolation},
	{ErrReportDataMismatch, CodeReportDataMismatch},
	{ErrInvalidPolicy, CodeInvalidPolicy},
	{ErrNoSealingKey, CodeNoSealingKey},
	{ErrDevice, CodeDevice},
}

// Code returns the stable numeric code of err: CodeOK for nil, the code of the sentinel it wraps,
// or CodeUnknown.
func Code(err error) uint32 {
	if err == nil {
		return CodeOK
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return CodeUnknown
}

// Refusal is the error type of every failed check: which check failed, what was wrong, and what
// the submitter or operator should do about it. It unwraps to one sentinel.
type Refusal struct {
	Err    error  // the sentinel, e.g. ErrSignature
	Check  string // the check that failed, e.g. "tdx/tcb-info-signature"
	Detail string // what was wrong, with the values involved (never secrets)
	Remedy string // what to do
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("tee: %s: %s: %v; to fix: %s", r.Check, r.Detail, r.Err, r.Remedy)
}

func (r *Refusal) Unwrap() error { return r.Err }

func refuse(sentinel error, check, detail, remedy string) error {
	return &Refusal{Err: sentinel, Check: check, Detail: detail, Remedy: remedy}
}
