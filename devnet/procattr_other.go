//go:build !linux

package devnet

import "syscall"

// runtimeProcAttr: elsewhere than Linux a runtime outlives a `phala dev` killed with kill -9.
func runtimeProcAttr() *syscall.SysProcAttr { return nil }
