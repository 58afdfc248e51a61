//go:build !linux

package testserver

import "syscall"

// procAttr: its own process group (no Pdeathsig outside Linux). The tests
// that start servers need root on Linux; this only keeps the package
// building elsewhere.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
