package distribution

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// stops is how many times TestStopFlushes stops the collector: before the
// fix of issue 15, 8 of 50 stops crashed here (exit status 2, a nil pointer
// in the file exporter after its pipeline had stopped), so one crash in six
// has no chance of hiding.
const stops = 50

// plainServer answers /status/{code} with that status over HTTP/1.1. It
// loads no TLS library (Python's http.server imports ssl): detaching a
// program's TLS uprobes takes most of a collector's stop (about 3 s for a
// Go server here), which 50 stops cannot afford.
const plainServer = `import socketserver

class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline()
            if not line:
                return
            path = line.split()[1].decode()
            length = 0
            while True:
                h = self.rfile.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self.rfile.read(length)
            code = int(path[len("/status/"):]) if path.startswith("/status/") else 404
            body = b"status %d\n" % code
            self.wfile.write(b"HTTP/1.1 %d Status\r\nContent-Length: %d\r\n\r\n%s" % (code, len(body), body))

socketserver.ThreadingTCPServer.daemon_threads = True
server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
print("LISTENING", server.server_address[1], flush=True)
server.serve_forever()
`

// TestStopFlushes starts and stops (SIGTERM) the built collector again and
// again, with ebpfred in a traces and a metrics pipeline, each into its own
// file exporter. Each stop must exit 0, and the final flush must reach the
// files: metrics are exported only at the stop (the interval is an hour), so
// the metrics file holds the requests only if the stop delivered them.
func TestStopFlushes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the collector loads eBPF programs, which needs root (CI runs as root)")
	}
	bin := collector(t)
	testserver.Require(t, "python3")
	script := filepath.Join(t.TempDir(), "server.py")
	if err := os.WriteFile(script, []byte(plainServer), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := testserver.StartProgram(t, "python", "python3", "-u", script)
	reqs := []testserver.Request{{Path: "/status/200"}, {Path: "/status/404"}, {Method: "POST", Path: "/status/503"}}
	exits := map[string]int{}
	var failed []string
	for i := range stops {
		code, problem, logs := stopOnce(t, bin, srv, reqs)
		exits[code]++
		if problem != "" {
			failed = append(failed, fmt.Sprintf("stop %d: %s", i+1, problem))
			if len(failed) <= 2 {
				t.Logf("stop %d: %s; collector output:\n%s", i+1, problem, tail([]byte(logs), 6000))
			}
		}
	}
	t.Logf("%d stops, exit statuses: %s", stops, fmtExits(exits))
	if len(failed) > 0 {
		t.Errorf("%d of %d stops went wrong:\n%s", len(failed), stops, strings.Join(failed, "\n"))
	}
}

// stopOnce runs the collector, sends reqs to srv, waits until their spans
// are in the traces file, stops the collector and checks what it left. It
// returns the exit status, what went wrong ("" if nothing) and the output.
func stopOnce(t *testing.T, bin string, srv *testserver.Server, reqs []testserver.Request) (exit, problem, logs string) {
	t.Helper()
	dir := t.TempDir()
	cfg := writeFileConfigInterval(t, fmt.Sprint(srv.Port), dir, freePort(t), "1h")
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() { // a test that gave up must not leave a collector running
		if !exited {
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	waitFor(t, "the collector to start", func() bool { return strings.Contains(out.String(), "Everything is ready") })
	testserver.Drive(t, srv.Base(), reqs, false)
	traces := filepath.Join(dir, "traces.json")
	waitFor(t, "the spans in the traces file", func() bool { return len(readSpans(t, traces)) >= len(reqs) })

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
		exited = true
	case <-time.After(30 * time.Second):
		return "killed", "did not exit within 30s of SIGTERM", out.String()
	}
	exit = "0"
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		exit = ee.String()
	} else if err != nil {
		t.Fatal(err)
	}
	var problems []string
	if exit != "0" {
		problems = append(problems, exit)
	}
	if n := len(readSpans(t, traces)); n != len(reqs) {
		problems = append(problems, fmt.Sprintf("%d spans in the traces file, want %d", n, len(reqs)))
	}
	if n := lastServerCount(t, filepath.Join(dir, "metrics.json")); n != uint64(len(reqs)) {
		problems = append(problems, fmt.Sprintf("final metrics count %d requests, want %d", n, len(reqs)))
	}
	return exit, strings.Join(problems, "; "), out.String()
}

// lockedBuffer collects a process's output written from two goroutines
// (stdout and stderr) while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func fmtExits(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
