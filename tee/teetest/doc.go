// Package teetest is test support for the TEE layer: recorded vendor evidence with pinned times,
// fake Intel and AMD certificate chains that sign fresh TDX quotes and SEV-SNP reports, a verifier
// that trusts those fake roots, and RunConformance, the suite every backend must pass.
//
// Only tests import it. The fake-root verifier requires a testing.TB, so production code cannot
// reach it by accident, and chain genesis has no way to set roots at all.
// It may import tee, tee/internal/trust, the vendor libraries and their testing packages.
package teetest
