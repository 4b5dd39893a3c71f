// Package sim is the guest side of the simulated TEE: a host secret file stands in for the
// hardware, a platform key derived from it signs evidence, and sealing keys are derived from it
// and the measurement.
//
// It is a development TEE: anyone who can read the secret file can forge evidence and unseal
// data. Chains accept sim evidence only if their genesis sets allow_sim and lists the platform key.
// It may import tee and the standard library; it reads and writes files.
package sim
