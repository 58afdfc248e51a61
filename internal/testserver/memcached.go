package testserver

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// StartMemcached starts Debian's memcached on a free port of 127.0.0.1 (TCP
// only, 64 MiB), never the system service.
func StartMemcached(t testing.TB) *Server {
	t.Helper()
	Require(t, "memcached")
	bin, _ := lookPath("memcached")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses root unless told
	}
	s, err := startProcess(t, "memcached", exec.Command(bin, args...), port)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
