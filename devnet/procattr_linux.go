//go:build linux

package devnet

import "syscall"

// runtimeProcAttr has a runtime receive SIGTERM when the process that started it dies without
// stopping it (kill -9 of `phala dev`), so it checkpoints and exits instead of living on orphaned.
func runtimeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
