// Package pidns tells which PID namespace the collector runs in. The probes
// report pids as that namespace numbers them, which is how the collector's
// own /proc names processes, so discovery, the TLS attach code and the
// kernel events agree on every pid whether the collector runs with the
// host's pids (a hostPID DaemonSet) or in a pod's namespace (a sidecar with
// shareProcessNamespace).
package pidns

import "fmt"

// initialIno is the inode number of the initial (host) PID namespace,
// PROC_PID_INIT_INO in the kernel, the same on every Linux since 3.8.
const initialIno = 0xEFFFFFFC

// Namespace identifies a PID namespace the way bpf_get_ns_current_pid_tgid
// wants it.
type Namespace struct {
	// Dev is the nsfs device in the kernel's internal encoding
	// (major << 20 | minor), not stat's.
	Dev uint64
	Ino uint64
}

// Initial reports whether n is the host's PID namespace, where the kernel's
// own pids are the ones /proc shows.
func (n Namespace) Initial() bool { return n.Ino == initialIno }

func (n Namespace) String() string {
	if n.Initial() {
		return "the host's"
	}
	return fmt.Sprintf("pid:[%d]", n.Ino)
}

// kernelDev turns a userspace dev_t (stat's st_dev, glibc's encoding) into
// the kernel's internal one, which the helper compares against.
func kernelDev(major, minor uint32) uint64 { return uint64(major)<<20 | uint64(minor) }
