// Package collateral fetches the vendor collateral that tee.Verify needs, on the host, when a
// worker registers: Intel PCS (TDX TCB info, QE identity, PCK and root CRLs) and AMD KDS (VCEK,
// ASK/ASVK, CRL), over HTTPS, through an on-disk cache that keeps each response until its own
// nextUpdate or expiry.
//
// Consensus never calls it: the submitter puts the result in the registration transaction.
// It may import tee, the vendor libraries' parsers and net/http.
package collateral
