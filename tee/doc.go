// Package tee defines the trusted-execution kinds (sim, tdx, sev-snp), the evidence and collateral
// that travel in chain transactions, and Verify: a pure, deterministic check of evidence against a
// policy at a given time.
//
// Consensus imports this package. It performs no I/O: no device access, no network, no clock
// (time is a parameter), no randomness, no goroutines. The vendor libraries it uses for TDX
// (go-tdx-guest) and SEV-SNP (go-sev-guest) link net/http through their certificate-fetching
// helpers, but Verify never reaches them: it hands the libraries only what the submitter supplied.
// Guest-side device code lives in tee/sim, tee/tdx and tee/snp; the collateral fetcher in
// tee/collateral; test helpers in tee/teetest.
//
// Verification trusts only the vendor roots compiled into tee/internal/trust. Fake roots for tests
// can be injected only through tee/teetest, which requires a testing.TB; nothing a chain genesis
// sets (Policy) can change the roots.
//
// See docs/tee.md for the encodings, the order of checks and the confidence mapping.
package tee
