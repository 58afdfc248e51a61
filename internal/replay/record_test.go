package replay

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// TestRecordStreams re-records the streams under testdata/streams from
// live runs: real servers and clients, the real probes, cmd/ebpfred-record.
// It runs only when asked (EBPFRED_RECORD=1, as root); then refresh the
// golden files with `go test ./internal/replay -run TestReplay -update`
// and review both diffs.
func TestRecordStreams(t *testing.T) {
	if os.Getenv("EBPFRED_RECORD") != "1" {
		t.Skip("re-recording testdata/streams: EBPFRED_RECORD=1, as root")
	}
	if os.Geteuid() != 0 {
		t.Fatal("EBPFRED_RECORD=1 needs root: the recorder loads the probes")
	}
	testserver.Require(t, "nginx", "curl", "h2load")
	bin := filepath.Join(t.TempDir(), "ebpfred-record")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/ebpfred-record").CombinedOutput(); err != nil {
		t.Fatalf("building the recorder: %v\n%s", err, out)
	}

	t.Run("http1-nginx-proxy", func(t *testing.T) {
		backend := testserver.StartGo(t)
		ngx := testserver.StartNginx(t, backend)
		recordStream(t, bin, "http1-nginx-proxy",
			"nginx in front of a Go backend (keep-alive upstream): a client pipelining three requests in one write "+
				"(a literal 200, a chunked body from the backend, a POST the backend answers 503), then curl "+
				"(a 404, a HEAD, a query string that must not leak)",
			[]int{backend.Port, ngx.Port}, func() {
				pipelined(t, ngx.Addr, "GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n"+
					"GET /chunked/5000 HTTP/1.1\r\nHost: x\r\n\r\n"+
					"POST /status/503 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
				curl(t, ngx.Base()+"/missing", ngx.Base()+"/status/204?secret=1")
				curl(t, "-I", ngx.Base()+"/status/200")
			})
	})
	t.Run("h2c-nginx", func(t *testing.T) {
		backend := testserver.StartGo(t)
		ngx := testserver.StartNginxH2C(t, backend)
		recordStream(t, bin, "h2c-nginx",
			"nginx speaking h2c (prior knowledge) to h2load: six requests on one connection (200, 201 after 5 ms, 404, twice), two streams at a time "+
				"(HPACK's dynamic table reused), three of them proxied to a Go backend over HTTP/1.1",
			[]int{ngx.Port}, func() {
				out, err := exec.Command("h2load", "-n", "6", "-c", "1", "-m", "2", ngx.Base()+"/status/200",
					ngx.Base()+"/status/201?delay_ms=5", ngx.Base()+"/status/404").CombinedOutput()
				if err != nil || !strings.Contains(string(out), "6 done, 4 succeeded, 2 failed") {
					t.Fatalf("h2load: %v: %s", err, out)
				}
			})
	})
	t.Run("grpc-go", func(t *testing.T) {
		srv := testserver.StartGRPCGo(t)
		recordStream(t, bin, "grpc-go",
			"grpc-go server and client on one connection: unary calls OK, NOT_FOUND, INTERNAL after 5 ms, two at a time",
			[]int{srv.Port}, func() {
				testserver.StartGRPCClient(t, srv.Addr, 2, "Unary:0:0", "Unary:5:0", "Unary:13:5").Run()
			})
	})
	t.Run("tls-go", func(t *testing.T) {
		srv := testserver.StartGoTLS(t)
		recordStream(t, bin, "tls-go",
			"a Go HTTPS server (crypto/tls plaintext from the Go TLS probes): curl over HTTP/1.1 and over HTTP/2 (ALPN)",
			[]int{srv.Port}, func() {
				base := "https://" + srv.Addr
				curl(t, "-k", "--http1.1", base+"/status/200", base+"/status/404")
				curl(t, "-k", "--http2", base+"/status/200", base+"/status/503")
			})
	})
}

// recordStream runs the recorder on ports while drive runs, and writes
// testdata/streams/name.events.
func recordStream(t *testing.T, bin, name, note string, ports []int, drive func()) {
	t.Helper()
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	var ps []string
	for _, p := range ports {
		ps = append(ps, strconv.Itoa(p))
	}
	out := filepath.Join("..", "..", "testdata", "streams", name+".events")
	cmd := exec.Command(bin, "-open-port", strings.Join(ps, ","), "-duration", "60s", "-o", out,
		"-note", note, "-ready-file", ready)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the recorder did not start: %s", stderr.String())
		}
	}
	drive()
	time.Sleep(time.Second) // the last events reach the ring
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("recorder: %v\n%s", err, stderr.String())
	}
	t.Log(strings.TrimSpace(stderr.String()))
}

func curl(t *testing.T, args ...string) {
	t.Helper()
	args = append([]string{"-s", "-o", "/dev/null", "--max-time", "10"}, args...)
	if out, err := exec.Command("curl", args...).CombinedOutput(); err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
}

// pipelined writes reqs in one write and reads until the server closes.
func pipelined(t *testing.T, addr, reqs string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(reqs)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	n := 0
	for {
		m, err := c.Read(buf)
		n += m
		if err != nil {
			break
		}
	}
	if n == 0 {
		t.Fatal(fmt.Sprintf("no answer from %s", addr))
	}
}
