//go:build linux && amd64

package probes

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading eBPF programs needs root (CI runs as root)")
	}
}

// A python server that is already listening and holds a keep-alive
// connection before the probes load is still captured: its fd is resolved
// through the task's fd table on first use.
// keepAliveServer starts a python HTTP/1.1 server and opens one keep-alive
// connection to it; get sends a request on it and waits for the response.
func keepAliveServer(t *testing.T) (pid, port int, get func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	script := fmt.Sprintf(`
import http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", %d), H).serve_forever()
`, port)
	cmd := exec.Command("python3", "-c", script)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var conn net.Conn
	for i := 0; i < 100; i++ {
		if conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if conn == nil {
		t.Fatal("server did not start")
	}
	t.Cleanup(func() { conn.Close() })
	get = func() {
		fmt.Fprintf(conn, "GET /before?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
		var resp []byte
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for !bytes.Contains(resp, []byte("hello")) {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("reading the response: %v (got %q)", err, resp)
			}
			resp = append(resp, buf[:n]...)
		}
	}
	return cmd.Process.Pid, port, get
}

// eachCapture runs f with each way capture can hook socket I/O that this
// kernel has: both paths must behave alike.
func eachCapture(t *testing.T, f func(t *testing.T, hooks string)) {
	for _, hooks := range []string{CaptureSockets, CaptureSyscalls} {
		t.Run(hooks, func(t *testing.T) {
			if hooks == CaptureSockets && !hasSocketTracepoints() {
				t.Skip("this kernel has no sock_send_length/sock_recv_length tracepoints (Linux 6.3+)")
			}
			f(t, hooks)
		})
	}
}

func hasSocketTracepoints() bool {
	_, err := os.Stat("/sys/kernel/tracing/events/sock/sock_send_length")
	return err == nil
}

func TestCapturesPreexistingKeepAliveConnection(t *testing.T) {
	requireRoot(t)
	eachCapture(t, testCapturesPreexisting)
}

func testCapturesPreexisting(t *testing.T, hooks string) {
	pid, port, get := keepAliveServer(t)
	get() // on the connection before the probes exist

	p, err := Load(Options{RingBufferSize: 1 << 20, WakeupBytes: 1, CaptureHooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetTracked(uint32(pid), FlagConfirmed); err != nil {
		t.Fatal(err)
	}
	get()

	type seen struct {
		typ     EventType
		payload string
		len     uint32
		local   string
	}
	var got []seen
	deadline := time.Now().Add(3 * time.Second)
	done := make(chan struct{})
	go func() {
		local := ""
		p.Read(20*time.Millisecond, func(e *Event) {
			if e.TGID == uint32(pid) && e.Type == EventConn {
				local = e.Local().String()
			}
			if e.TGID == uint32(pid) && (e.Type == EventDataIn || e.Type == EventDataOut) {
				got = append(got, seen{e.Type, string(e.Payload), e.Len, local})
			}
		}, func() {
			if len(got) >= 3 || time.Now().After(deadline) {
				p.reader.Close()
			}
		})
		close(done)
	}()
	<-done
	if len(got) < 2 {
		t.Fatalf("got %d events, want the request and the response: %+v", len(got), got)
	}
	if got[0].typ != EventDataIn || !strings.HasPrefix(got[0].payload, "GET /before?q=1 HTTP/1.1") {
		t.Errorf("first event = %+v, want the request read", got[0])
	}
	if got[1].typ != EventDataOut || !strings.HasPrefix(got[1].payload, "HTTP/1.1 200") {
		t.Errorf("second event = %+v, want the response written", got[1])
	}
	if want := fmt.Sprintf("127.0.0.1:%d", port); got[0].local != want {
		t.Errorf("local = %s, want %s", got[0].local, want)
	}
	c, err := p.Counters()
	if err != nil || c.ConnsResolved < 1 || c.Dropped != 0 {
		t.Errorf("counters = %+v, %v", c, err)
	}
	if got := p.CaptureHooks(); got != hooks {
		t.Errorf("capture hooks %q, want %q", got, hooks)
	}
}

// Syscall capture: cached fds belong to a process generation: re-tracking a
// process the kernel already tracks keeps its cache, while a new process with
// the same tgid (a new generation) re-resolves its fds instead of trusting
// what an earlier process left — nobody walks the cache when a process goes.
func TestGenerationsInvalidateCachedFDs(t *testing.T) {
	requireRoot(t)
	pid, _, get := keepAliveServer(t)
	p, err := Load(Options{RingBufferSize: 1 << 20, CaptureHooks: CaptureSyscalls})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	resolved := func() uint64 {
		c, err := p.Counters()
		if err != nil {
			t.Fatal(err)
		}
		return c.FDsResolved
	}
	if err := p.SetTracked(uint32(pid), FlagConfirmed); err != nil {
		t.Fatal(err)
	}
	get()
	first := resolved()
	if first == 0 {
		t.Fatal("the connection was not resolved")
	}
	if err := p.SetTracked(uint32(pid), FlagConfirmed); err != nil {
		t.Fatal(err)
	}
	get()
	if n := resolved(); n != first {
		t.Errorf("re-tracking the same process re-resolved its connection (%d -> %d)", first, n)
	}
	if err := p.Untrack(uint32(pid)); err != nil {
		t.Fatal(err)
	}
	if err := p.SetTracked(uint32(pid), FlagConfirmed); err != nil {
		t.Fatal(err)
	}
	get()
	if n := resolved(); n != first+1 {
		t.Errorf("a new generation did not re-resolve the fd: resolved %d -> %d, want %d", first, n, first+1)
	}
}
