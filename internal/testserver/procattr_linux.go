package testserver

import "syscall"

// procAttr puts a server in its own process group, so cleanup kills its
// children too (nginx workers), and has the kernel kill it if the test
// binary dies first (Pdeathsig), so a crash leaves no server behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
