package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// StartHAProxy starts Debian's haproxy in HTTP mode on a free port in front
// of backend, with threads worker threads (nbthread). Several threads that
// close and accept connections at once hand the same fd numbers out again
// right away: the software that showed connections keyed by fd losing
// requests.
func StartHAProxy(t testing.TB, backend *Server, threads int) *Server {
	t.Helper()
	Require(t, "haproxy")
	bin, _ := lookPath("haproxy")
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global
    nbthread %d
    maxconn 1000

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe
    bind 127.0.0.1:%d
    default_backend be

backend be
    server app %s
`, threads, port, backend.Addr)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// -db: stay in the foreground, no daemon, logs to stderr.
	s, err := startProcess(t, "haproxy", exec.Command(bin, "-db", "-f", path), port)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
