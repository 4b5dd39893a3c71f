package tee

// Guest is the TEE as seen from inside: pRuntime uses it to attest and to seal. One
// implementation per kind lives in tee/sim, tee/tdx and tee/snp.
type Guest interface {
	Kind() Kind
	// Evidence returns fresh evidence binding rd.
	Evidence(rd ReportData) (Evidence, error)
	// Measurement returns the measurement of the running runtime, as Report.Measurement will
	// show it.
	Measurement() ([]byte, error)
	// SealingKey returns 32 bytes bound to the measurement (and the platform). TDX has none:
	// its implementation returns an error wrapping ErrNoSealingKey (see docs/tee.md).
	SealingKey() ([]byte, error)
}
