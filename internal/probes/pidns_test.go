//go:build linux && amd64

package probes

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/pidns"
)

// nsPID returns the pid of host pid hostPID in its own PID namespace (the
// last NSpid field) and the ns pids of its children.
func nsPID(t *testing.T, hostPID int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", hostPID))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "NSpid:" {
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	t.Fatalf("no NSpid in /proc/%d/status", hostPID)
	return 0
}

func childPIDs(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// With a PID namespace set, the probes number processes as that namespace
// does: a tracked shell (pid 1 there) forks and execs a server, and its
// fork, exec, data and exit events carry the namespace's pids. A server of
// the host whose host pid is tracked too is not seen: its tasks are outside
// the namespace.
func TestPIDNamespace(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	outerPID, _, outerGet := keepAliveServer(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// The interpreter itself, not a wrapper script (pyenv's shims fork).
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Skipf("needs python3: %v", err)
	}
	python := strings.TrimSpace(string(out))
	gate := filepath.Join(t.TempDir(), "go")
	server := fmt.Sprintf(`
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", %d), H).serve_forever()
`, port)
	// The shell waits for the gate so that it is tracked before it forks.
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
		`while [ ! -e "$0" ]; do sleep 0.02; done; "$1" -c "$2" & wait`, gate, python, server)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	var shell int
	for i := 0; i < 100 && shell == 0; i++ {
		if c := childPIDs(cmd.Process.Pid); len(c) > 0 {
			shell = c[0]
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if shell == 0 || nsPID(t, shell) != 1 {
		t.Fatalf("the namespace's shell (host pid %d) is not its pid 1", shell)
	}
	ns, err := pidns.Of(fmt.Sprintf("/proc/%d/ns/pid", shell))
	if err != nil {
		t.Fatal(err)
	}
	if ns.Initial() {
		t.Fatal("unshare --pid left the shell in the host's namespace")
	}

	p, err := Load(Options{RingBufferSize: 1 << 20, WakeupBytes: 1, PIDNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// 1 is the shell there; outerPID means nothing there (unless the
	// namespace had that many processes).
	for _, pid := range []uint32{1, uint32(outerPID)} {
		if err := p.SetTracked(pid, FlagConfirmed); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var events []string
	go p.Read(20*time.Millisecond, func(e *Event) {
		s := fmt.Sprintf("%d tgid=%d fd=%d", e.Type, e.TGID, e.FD)
		switch e.Type {
		case EventDataIn, EventDataOut, EventExec:
			s += " " + strings.SplitN(string(bytes.TrimRight(e.Payload, "\x00")), "\r\n", 2)[0]
		case EventFork, EventExit:
		default:
			return
		}
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}, func() {})

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	for i := 0; i < 200; i++ {
		if resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/inner", port)); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the server in the namespace does not answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	outerGet()
	var py int
	if c := childPIDs(shell); len(c) == 1 {
		py = nsPID(t, c[0])
		syscall.Kill(c[0], syscall.SIGKILL)
	} else {
		t.Fatalf("the shell has children %v, want the server", c)
	}

	// The shell's own exit may come last: its wait returns.
	deadline := time.Now().Add(5 * time.Second)
	var got []string
	for {
		mu.Lock()
		got = append(got[:0], events...)
		mu.Unlock()
		exited := false
		for _, e := range got {
			exited = exited || e == fmt.Sprintf("%d tgid=%d fd=0", EventExit, py)
		}
		if exited || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything extra would show
	mu.Lock()
	got = append(got[:0], events...)
	mu.Unlock()
	defer func() {
		if t.Failed() {
			t.Logf("events:\n%s", strings.Join(got, "\n"))
		}
	}()
	want := []string{
		fmt.Sprintf("%d tgid=%d fd=1", EventFork, py),
		fmt.Sprintf("%d tgid=%d fd=0 %s", EventExec, py, python),
		fmt.Sprintf("%d tgid=%d fd=", EventDataIn, py), // fd: whatever python's is
		fmt.Sprintf("%d tgid=%d fd=", EventDataOut, py),
	}
	if len(got) < len(want)+1 {
		t.Fatalf("%d events, want at least %d", len(got), len(want)+1)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("event %d = %q, want %q…", i, got[i], w)
		}
	}
	if !strings.Contains(got[2], "GET /inner") || !strings.Contains(got[3], "HTTP/1.0 200") {
		t.Errorf("data events %q, %q: want the request and the response", got[2], got[3])
	}
	exits := 0
	for _, e := range got[len(want):] {
		switch {
		case strings.HasPrefix(e, fmt.Sprintf("%d tgid=%d ", EventDataOut, py)): // the body
		case e == fmt.Sprintf("%d tgid=%d fd=0", EventExit, py):
			exits++
		case e == fmt.Sprintf("%d tgid=1 fd=0", EventExit): // the shell
		default:
			t.Errorf("unexpected event %q (the host's server is pid %d)", e, outerPID)
		}
	}
	if exits != 1 {
		t.Errorf("%d exits of pid %d, want 1", exits, py)
	}
}
