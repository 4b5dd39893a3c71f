// Package tdx is the guest side of Intel TDX: it asks the TDX module for quotes through
// configfs-tsm (/sys/kernel/config/tsm/report) or /dev/tdx_guest, using go-tdx-guest's client.
//
// TDX gives a TD no sealing key, so SealingKey always fails with tee.ErrNoSealingKey: pRuntime
// obtains its sealing key from the gatekeepers after attestation (docs/tee.md).
// It may import tee and go-tdx-guest; it performs device I/O.
package tdx
