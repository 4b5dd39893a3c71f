// Package snp is the guest side of AMD SEV-SNP: attestation reports through configfs-tsm or
// /dev/sev-guest, and sealing keys that the AMD secure processor derives from the chip's VCEK and
// the guest's measurement (MSG_KEY_REQ), using go-sev-guest's client.
//
// It may import tee and go-sev-guest; it performs device I/O.
package snp
