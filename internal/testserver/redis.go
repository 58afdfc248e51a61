package testserver

import (
	"os/exec"
	"strconv"
	"testing"
)

// StartRedis starts Debian's redis-server on a free port of 127.0.0.1, with
// its working directory in a temporary one and nothing saved: never the
// system service. DEBUG is enabled (DEBUG SLEEP: a known server-side
// delay), which Redis 7 refuses by default.
func StartRedis(t testing.TB) *Server {
	t.Helper()
	Require(t, "redis-server")
	bin, _ := lookPath("redis-server")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--enable-debug-command", "yes", "--loglevel", "warning")
	s, err := startProcess(t, "redis", cmd, port)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
