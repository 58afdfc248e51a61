//go:build linux

package pidns

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Of returns the PID namespace of the namespace file path
// (/proc/<pid>/ns/pid).
func Of(path string) (Namespace, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Namespace{}, fmt.Errorf("reading the PID namespace %s: %w", path, err)
	}
	return Namespace{Dev: kernelDev(unix.Major(st.Dev), unix.Minor(st.Dev)), Ino: st.Ino}, nil
}

// Self returns the collector's PID namespace, after checking that procRoot
// (normally /proc) is mounted for that namespace: otherwise the pids it
// lists are not the ones the probes report, and no process would ever be
// matched with its traffic.
func Self(procRoot string) (Namespace, error) {
	n, err := Of(filepath.Join(procRoot, "self", "ns", "pid"))
	if err != nil {
		return n, err
	}
	self, err := os.Readlink(filepath.Join(procRoot, "self"))
	if err != nil {
		return n, fmt.Errorf("reading %s: %w (ebpfred needs the proc filesystem of its own PID namespace there)", filepath.Join(procRoot, "self"), err)
	}
	if self != strconv.Itoa(os.Getpid()) {
		return n, fmt.Errorf("%s belongs to another PID namespace than the collector's (there the collector is pid %s, in its own namespace pid %d): "+
			"mount a proc filesystem of the collector's namespace on %s (container runtimes do; by hand: unshare --pid --fork --mount-proc), or run the collector in the host's PID namespace (hostPID: true)",
			procRoot, self, os.Getpid(), procRoot)
	}
	return n, nil
}

// Others counts the processes other than the collector that procRoot lists:
// the processes of the namespace the collector can instrument.
func Others(procRoot string) int {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return 0
	}
	me := strconv.Itoa(os.Getpid())
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil && e.Name() != me {
			n++
		}
	}
	return n
}
