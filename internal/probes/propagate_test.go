//go:build linux && amd64

package probes

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

func TestFindCgroupV2(t *testing.T) {
	const hybrid = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
`
	for _, tc := range []struct{ name, table, want string }{
		{"hybrid", hybrid, "/sys/fs/cgroup/unified"},
		{"unified", "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup"},
		{"escaped", "30 25 0:26 / /mnt/my\\040cgroup rw - cgroup2 none rw\n", "/mnt/my cgroup"},
		{"v1 only", "33 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", ""},
	} {
		got, err := findCgroupV2(strings.NewReader(tc.table))
		if err != nil || got != tc.want {
			t.Errorf("%s: findCgroupV2 = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// rawServer accepts connections and hands each one's bytes, as received, to
// the test once the peer closes its side.
func rawServer(t *testing.T) (port int, conns <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan []byte, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				b, _ := io.ReadAll(c)
				ch <- b
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, ch
}

// A tracked client's plaintext HTTP/1 requests reach the server with a
// traceparent header right after the request line, bodies and pipelining
// intact, while the client's send() returns what it asked to send; the ids
// in the header are the ones the kernel reports. Requests that already
// carry a traceparent, split request lines, HTTP/2 and TLS bytes pass
// untouched.
func TestInjectsTraceparent(t *testing.T) {
	requireRoot(t)
	port, conns := rawServer(t)

	const existing = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	script := fmt.Sprintf(`
import socket, sys, time
sys.stdin.readline()
def conn():
    return socket.create_connection(("127.0.0.1", %d))
sends = [
    b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
    b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /c HTTP/1.1\r\nHost: x\r\nTraceParent: %s\r\n\r\n",
    b"GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /e HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /split HT",
    b"TP/1.1\r\nHost: x\r\n\r\n",
]
s = conn()
for b in sends:
    print(s.send(b), len(b), flush=True)
    time.sleep(0.05)
s.close()
raw = [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"\x16\x03\x01\x00\x05hello GET / HTTP/1.1\r\n\r\n"]
s = conn()
for b in raw:
    print(s.send(b), len(b), flush=True)
    time.sleep(0.05)
s.close()
`, port, existing)
	cmd := exec.Command("python3", "-c", script)
	stdin, _ := cmd.StdinPipe()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := uint32(cmd.Process.Pid)

	p, err := Load(Options{RingBufferSize: 1 << 20, WakeupBytes: 1, ContextPropagation: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetTracked(pid, FlagConfirmed); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var traces []TraceIDs
	var order []string // "trace" / the data events' first line, in ring order
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		p.Read(20*time.Millisecond, func(e *Event) {
			if e.TGID != pid {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch e.Type {
			case EventTrace:
				traces = append(traces, e.Trace)
				order = append(order, "trace")
			case EventDataOut:
				line, _, _ := strings.Cut(string(e.Payload), "\r\n")
				order = append(order, line)
			}
		}, func() {})
	}()

	io.WriteString(stdin, "go\n")
	var streams [][]byte
	for range 2 {
		select {
		case b := <-conns:
			streams = append(streams, b)
		case <-time.After(10 * time.Second):
			t.Fatalf("the server got %d connections, want 2; client said %q", len(streams), out.String())
		}
	}
	cmd.Wait()
	time.Sleep(200 * time.Millisecond)
	p.reader.Close()
	<-readDone

	// The application's send() returned the length it passed, every time.
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || f[0] != f[1] {
			t.Errorf("send returned %q (returned, asked): want the length asked", line)
		}
	}

	var http1, raw []byte
	for _, s := range streams {
		if bytes.HasPrefix(s, []byte("PRI ")) {
			raw = s
		} else {
			http1 = s
		}
	}
	if want := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x16\x03\x01\x00\x05hello GET / HTTP/1.1\r\n\r\n"; string(raw) != want {
		t.Errorf("HTTP/2 and TLS bytes were changed:\n got %q\nwant %q", raw, want)
	}

	// The HTTP/1 stream parses as six well-formed requests.
	tpRe := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`)
	br := bufio.NewReader(bytes.NewReader(http1))
	injected := map[string]string{} // path → traceparent
	var paths []string
	for {
		req, err := http.ReadRequest(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the server got a malformed request after %v: %v\nstream: %q", paths, err, http1)
		}
		body, _ := io.ReadAll(req.Body)
		paths = append(paths, req.URL.Path)
		if req.URL.Path == "/a" && string(body) != "hello world" {
			t.Errorf("POST /a body = %q, want %q", body, "hello world")
		}
		if v := req.Header.Values("Traceparent"); len(v) > 1 {
			t.Errorf("%s: %d traceparent headers: %q", req.URL.Path, len(v), v)
		} else if len(v) == 1 {
			injected[req.URL.Path] = v[0]
		}
	}
	if got := strings.Join(paths, " "); got != "/a /b /c /d /e /split" {
		t.Errorf("requests = %s, want /a /b /c /d /e /split", got)
	}
	// The header goes right after the request line.
	if i := bytes.Index(http1, []byte("POST /a HTTP/1.1\r\ntraceparent: 00-")); i != 0 {
		t.Errorf("no traceparent right after the first request line: %q", http1[:min(len(http1), 120)])
	}
	for _, path := range []string{"/a", "/b", "/d"} {
		if !tpRe.MatchString(injected[path]) {
			t.Errorf("%s: traceparent %q, want 00-<32 hex>-<16 hex>-01", path, injected[path])
		}
	}
	if injected["/c"] != existing {
		t.Errorf("/c: traceparent %q, want the request's own %q untouched", injected["/c"], existing)
	}
	// Pipelined: only the write's first request is seen; a split request
	// line is left alone.
	for _, path := range []string{"/e", "/split"} {
		if v, ok := injected[path]; ok {
			t.Errorf("%s: got traceparent %q, want none", path, v)
		}
	}

	// The kernel reported exactly the injected ids, each just before the
	// data event of its write.
	mu.Lock()
	defer mu.Unlock()
	var reported []string
	for _, tr := range traces {
		if tr.Role != TraceClient {
			t.Errorf("trace event role %d, want client", tr.Role)
		}
		if tr.ParentID != ([8]byte{}) {
			t.Errorf("a parent %x for a client thread that serves nothing", tr.ParentID)
		}
		reported = append(reported, fmt.Sprintf("00-%s-%s-%02x", hex.EncodeToString(tr.TraceID[:]), hex.EncodeToString(tr.SpanID[:]), tr.Flags))
	}
	want := []string{injected["/a"], injected["/b"], injected["/d"]}
	if strings.Join(reported, ",") != strings.Join(want, ",") {
		t.Errorf("reported ids %q, want the injected %q", reported, want)
	}
	for i, o := range order {
		if o == "trace" && (i+1 >= len(order) || !strings.HasPrefix(order[i+1], "POST /a") && !strings.HasPrefix(order[i+1], "GET /")) {
			t.Errorf("a trace event not followed by its request's data event: %q", order)
			break
		}
	}
	_ = strconv.Itoa
}

// Close detaches the propagation programs: nothing of ours stays attached
// to the cgroup, a connection that was in the sockhash keeps working, and
// its next request goes out as the application wrote it.
func TestPropagationDetachesOnClose(t *testing.T) {
	requireRoot(t)
	port, conns := rawServer(t)
	script := fmt.Sprintf(`
import socket, sys
s = None
for line in sys.stdin:
    line = line.strip()
    if line == "connect":
        s = socket.create_connection(("127.0.0.1", %d))
    elif line == "close":
        s.close()
        break
    else:
        b = b"GET %%s HTTP/1.1\r\nHost: x\r\n\r\n" %% line.encode()
        print(s.send(b), len(b), flush=True)
`, port)
	cmd := exec.Command("python3", "-c", script)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	send := func(cmd string) {
		t.Helper()
		io.WriteString(stdin, cmd+"\n")
		if strings.HasPrefix(cmd, "/") {
			if !lines.Scan() {
				t.Fatalf("client: no answer to %s", cmd)
			}
			if f := strings.Fields(lines.Text()); len(f) != 2 || f[0] != f[1] {
				t.Errorf("%s: send returned %q (returned, asked)", cmd, lines.Text())
			}
		}
	}

	p, err := Load(Options{RingBufferSize: 1 << 20, ContextPropagation: true})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			p.Close()
		}
	}()
	if err := p.SetTracked(uint32(cmd.Process.Pid), FlagConfirmed); err != nil {
		t.Fatal(err)
	}
	info, err := p.prop.coll.Programs["ebpfred_sockops"].Info()
	if err != nil {
		t.Fatal(err)
	}
	ourID, _ := info.ID()
	root, unmount, err := cgroupV2Root()
	if err != nil {
		t.Fatal(err)
	}
	defer unmount()
	attached := func() bool {
		t.Helper()
		dir, err := os.Open(root)
		if err != nil {
			t.Fatal(err)
		}
		defer dir.Close()
		res, err := link.QueryPrograms(link.QueryOptions{Target: int(dir.Fd()), Attach: ebpf.AttachCGroupSockOps})
		if err != nil {
			t.Fatal(err)
		}
		for _, prog := range res.Programs {
			if prog.ID == ourID {
				return true
			}
		}
		return false
	}
	if !attached() {
		t.Fatalf("sock_ops program %d is not attached to %s", ourID, root)
	}

	send("connect")
	send("/before")
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed = true
	if attached() {
		t.Errorf("sock_ops program %d still attached to %s after Close", ourID, root)
	}
	send("/after")
	send("close")

	var stream []byte
	select {
	case stream = <-conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the server saw no connection end")
	}
	br := bufio.NewReader(bytes.NewReader(stream))
	var got []string
	for {
		req, err := http.ReadRequest(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("malformed request after %v: %v (stream %q)", got, err, stream)
		}
		got = append(got, req.URL.Path+" "+req.Header.Get("traceparent"))
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "/before 00-") || got[1] != "/after " {
		t.Errorf("requests = %q, want /before with a traceparent, /after without", got)
	}
}
