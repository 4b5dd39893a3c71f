package tee

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
)

// Sim quote layout (194 bytes):
//
//	[0]        version, 1
//	[1]        flags: bit 0 debug, other bits zero
//	[2:34]     platform public key (ed25519)
//	[34:66]    measurement (SHA-256 of the pRuntime binary)
//	[66:130]   report data
//	[130:194]  ed25519 signature over simSignatureContext || quote[0:130]
const (
	simQuoteVersion     = 1
	simFlagDebug        = 1
	simSignedSize       = 2 + ed25519.PublicKeySize + SimMeasurementSize + 64
	simQuoteSize        = simSignedSize + ed25519.SignatureSize
	simSignatureContext = "phala-go/tee/sim/evidence/v1\x00"
)

// SignSimEvidence builds sim evidence: the platform key's signature over the measurement, the
// debug flag and the report data. The guest side (tee/sim) calls it; it lives here so that the
// format has one definition next to its verifier.
func SignSimEvidence(platform ed25519.PrivateKey, measurement []byte, debug bool, rd ReportData) (Evidence, error) {
	if len(platform) != ed25519.PrivateKeySize {
		return Evidence{}, refuse(ErrMalformed, "sim/sign", fmt.Sprintf("platform key of %d bytes", len(platform)), "derive the platform key with tee/sim")
	}
	if err := checkMeasurement(KindSim, measurement); err != nil {
		return Evidence{}, err
	}
	q := make([]byte, 0, simQuoteSize)
	q = append(q, simQuoteVersion, 0)
	if debug {
		q[1] = simFlagDebug
	}
	q = append(q, platform.Public().(ed25519.PublicKey)...)
	q = append(q, measurement...)
	q = append(q, rd[:]...)
	q = append(q, ed25519.Sign(platform, simSignedMessage(q))...)
	return Evidence{Kind: KindSim, Quote: q}, nil
}

func simSignedMessage(signed []byte) []byte {
	return append([]byte(simSignatureContext), signed...)
}

type simQuote struct {
	debug       bool
	platform    ed25519.PublicKey
	measurement []byte
	reportData  ReportData
	signed      []byte
	signature   []byte
}

func parseSimQuote(q []byte) (simQuote, error) {
	const check = "sim/parse"
	const remedy = "submit the evidence exactly as tee/sim produced it"
	if len(q) != simQuoteSize {
		return simQuote{}, refuse(ErrMalformed, check, fmt.Sprintf("%d bytes, want %d", len(q), simQuoteSize), remedy)
	}
	if q[0] != simQuoteVersion {
		return simQuote{}, refuse(ErrMalformed, check, fmt.Sprintf("version %d, want %d", q[0], simQuoteVersion), remedy)
	}
	if q[1]&^simFlagDebug != 0 {
		return simQuote{}, refuse(ErrMalformed, check, fmt.Sprintf("unknown flag bits %#02x", q[1]&^simFlagDebug), remedy)
	}
	s := simQuote{
		debug:       q[1]&simFlagDebug != 0,
		platform:    ed25519.PublicKey(q[2:34]),
		measurement: q[34:66],
		signed:      q[:simSignedSize],
		signature:   q[simSignedSize:],
	}
	copy(s.reportData[:], q[66:130])
	return s, nil
}

func verifySim(quote []byte, pol Policy) (Report, error) {
	s, err := parseSimQuote(quote)
	if err != nil {
		return Report{}, err
	}
	if !pol.trustsSimKey(s.platform) {
		return Report{}, refuse(ErrUnknownPlatformKey, "sim/platform-key",
			fmt.Sprintf("platform key %s is not in the genesis list of trusted sim platform keys", hex.EncodeToString(s.platform)),
			"add this key to the chain's sim platform keys (development chains only) or use the host secret whose key is listed")
	}
	if !ed25519.Verify(s.platform, simSignedMessage(s.signed), s.signature) {
		return Report{}, refuse(ErrSignature, "sim/signature", "the platform key's signature over the statement does not verify",
			"the evidence was altered or forged: produce fresh evidence with tee/sim")
	}
	if s.debug && !pol.AllowDebug {
		return Report{}, refuse(ErrDebugNotAllowed, "sim/debug", "the sim guest runs in debug mode",
			"run the sim guest without debug, or allow debug in the chain policy (development only)")
	}
	return Report{
		Kind:        KindSim,
		Measurement: append([]byte(nil), s.measurement...),
		ReportData:  s.reportData,
		TCBStatus:   TCBSimulated,
		Confidence:  ConfidenceBest,
		Debug:       s.debug,
	}, nil
}
