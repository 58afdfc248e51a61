// Package testserver starts real HTTP servers and clients as separate OS
// processes for tests of the eBPF receiver (which never instruments its own
// process), and drives them.
//
// Every server listens on 127.0.0.1 on a free port and serves:
//
//	GET|POST|PUT|DELETE|PATCH /status/{code}?delay_ms=N
//	    status {code} (200..599) after N ms; body "status {code}\n" with
//	    Content-Length, no body for 204 and 304; request bodies are read
//	    and discarded.
//	GET /bytes/{n}    n bytes of Pattern with Content-Length.
//	GET /chunked/{n}  n bytes of Pattern, Transfer-Encoding: chunked, in
//	                  chunks of ChunkSize(n) bytes.
//	HEAD on any path  headers only.
//	/proxy?to=URL[&method=M]  (Go server) one outgoing request with
//	                  net/http.Client; answers with the upstream status and
//	                  "proxied {code}\n". (Python server) one GET with
//	                  urllib on the handler thread; answers "proxied
//	                  {code}\n" and the upstream body.
//	/traceparent      (Python server) the traceparent header it received,
//	                  or "none".
//	anything else     404, body NotFoundBody; POST etc. on /bytes and
//	                  /chunked: 405.
//
// nginx answers literal statuses with `return`, serves /bytes/{n} for the
// sizes in NginxByteSizes from files (read+write, sendfile off), and passes
// everything else (delays, other statuses, /chunked, /proxy) to a Go backend
// through a keep-alive upstream, so it is a client too.
//
// Servers are ready when Start* returns and are killed (with their whole
// process group) by t.Cleanup; their output is logged when the test failed.
//
// Clients: Drive and Do send requests from the test process itself (to drive
// a server); StartGoClient runs cmd/goclient as its own process, paused until
// Run so the receiver can be told its PID first, for client-side tests.
// Both report what the client observed as Results.
//
// Require and RequireRoot skip a test whose needs are missing, except when
// the CI environment variable is set: CI installs everything and runs as
// root, so there they fail instead.
package testserver

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Pattern is the filler of every /bytes and /chunked body: byte i of a body
// is Pattern[i%len(Pattern)].
const Pattern = "abcdefghijklmnopqrstuvwxyz012345"

// BigBody is the size of the "large response" every server can serve from
// /bytes/{n} (nginx from a file).
const BigBody = 5 << 20

// ChunkSize is the size of each chunk of /chunked/{n} (the last one may be
// shorter): a quarter of the body, at most 16 KiB, at least 1 byte.
func ChunkSize(n int) int { return max(min((n+3)/4, 16<<10), 1) }

// StatusBody is the body of /status/{code} (empty for 204 and 304).
func StatusBody(code int) string {
	if code == 204 || code == 304 {
		return ""
	}
	return fmt.Sprintf("status %d\n", code)
}

// NotFoundBody is the body of every server's 404 for an unknown path.
const NotFoundBody = "not found\n"

// readyTimeout bounds how long a server may take to listen.
const readyTimeout = 30 * time.Second

// Server is one running server process.
type Server struct {
	Name string // "go", "python", "node", "nginx"
	Addr string // 127.0.0.1:port
	Port int
	PID  int // the process started (nginx: the master; see Children)
	Cmd  *exec.Cmd
	// Scheme is "https" for TLS servers; "" means "http".
	Scheme string

	logs      *tailBuffer
	done      chan struct{} // closed when the process has exited
	waitErr   error
	stopOnce  sync.Once
	extraLog  func() string // more to show on failure (nginx access log)
	accessLog string        // nginx: its access log
}

// URL returns http://127.0.0.1:port + path (https:// for TLS servers).
func (s *Server) URL(path string) string { return s.Base() + path }

// Base returns http://127.0.0.1:port (https:// for TLS servers).
func (s *Server) Base() string {
	if s.Scheme != "" {
		return s.Scheme + "://" + s.Addr
	}
	return "http://" + s.Addr
}

// Logs returns the tail of the server's stdout and stderr.
func (s *Server) Logs() string { return s.logs.String() }

// Children returns the pids of the server process's direct children (nginx:
// its worker, the process that serves requests).
func (s *Server) Children() []int { return childrenOf(s.PID) }

// Stop ends the server and its whole process group (SIGTERM, then SIGKILL
// after 5 s) and waits for the process. It is safe to call more than once;
// t.Cleanup calls it anyway.
func (s *Server) Stop() {
	s.stopOnce.Do(func() { killGroup(s.PID, s.done) })
}

// Exited reports whether the server process has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// inCI is true when the environment says the tests run in CI, where every
// requirement is installed and a skip would hide a broken setup.
func inCI() bool { return os.Getenv("CI") != "" }

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf(format+" (CI is set: CI must provide it)", args...)
	}
	t.Skipf(format, args...)
}

// RequireRoot skips the test when the process is not root (it fails instead
// when CI is set: CI runs as root).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root (euid %d) to load eBPF programs", os.Geteuid())
	}
}

// Require skips the test when one of the programs is not installed (it fails
// instead when CI is set: CI installs them).
func Require(t testing.TB, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := lookPath(b); err != nil {
			skipOrFail(t, "needs %s: %v", b, err)
		}
	}
}

// lookPath also searches the sbin directories, which are not in a normal
// user's PATH but hold nginx.
func lookPath(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, bin)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or sbin", bin)
}

// startProcess starts cmd in its own process group and waits until it
// listens. With port 0 the process must print "LISTENING <port>" on stdout;
// otherwise the port is polled.
func startProcess(t testing.TB, name string, cmd *exec.Cmd, port int) (*Server, error) {
	t.Helper()
	s := &Server{Name: name, Cmd: cmd, logs: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	portCh := make(chan int, 1)
	cmd.Stdout = &lineWatcher{out: s.logs, found: portCh}
	cmd.Stderr = s.logs
	attr := procAttr()
	if cmd.SysProcAttr != nil {
		attr.Credential = cmd.SysProcAttr.Credential // a server that refuses root
	}
	cmd.SysProcAttr = attr
	// Children that inherited stdout must not hold Wait forever.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s.PID = cmd.Process.Pid
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("%s server (pid %d, %s) output:\n%s", s.Name, s.PID, s.Addr, s.Logs())
			if s.extraLog != nil {
				t.Logf("%s", s.extraLog())
			}
		}
	})

	deadline := time.After(readyTimeout)
	if port == 0 {
		select {
		case port = <-portCh:
		case <-s.done:
			return s, fmt.Errorf("%s exited before listening (%v); its output is logged below", name, s.waitErr)
		case <-deadline:
			s.Stop()
			return s, fmt.Errorf("%s printed no LISTENING line within %v; its output is logged below", name, readyTimeout)
		}
	}
	s.Port = port
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return s, fmt.Errorf("%s exited before listening on %s (%v); its output is logged below", name, s.Addr, s.waitErr)
		case <-deadline:
			s.Stop()
			return s, fmt.Errorf("%s not listening on %s within %v; its output is logged below", name, s.Addr, readyTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// killGroup stops process group pgid politely, then not, and waits for the
// leader to be reaped.
func killGroup(pgid int, done <-chan struct{}) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-done
}

func childrenOf(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// freePort asks the kernel for a port that is free right now (for servers
// such as nginx that cannot report the port they bound).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.cut = true
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return "[...]\n" + string(b.buf)
	}
	return string(b.buf)
}

// lineWatcher copies output to out and reports the port of the first
// "LISTENING <port>" line.
type lineWatcher struct {
	out     *tailBuffer
	found   chan<- int
	partial []byte
	done    bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	_, _ = w.out.Write(p)
	if w.done {
		return len(p), nil
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
		if rest, ok := strings.CutPrefix(line, "LISTENING "); ok {
			if port, err := strconv.Atoi(rest); err == nil {
				w.found <- port
				w.done, w.partial = true, nil
				break
			}
		}
	}
	return len(p), nil
}
