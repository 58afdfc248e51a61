package ebpfredreceiver

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// TLS (issue 4): the plaintext of HTTPS servers is read at the TLS library
// (OpenSSL SSL_read/SSL_write, Go crypto/tls) and measured exactly like
// cleartext HTTP, with url.scheme "https"; the ciphertext on the socket
// reaches no parser.

// tlsReq is one request of the mix with the server's delay.
type tlsReq struct {
	method, path string
	delay        time.Duration
}

func tlsMix() (reqs []tlsReq, want map[string]uint64) {
	want = map[string]uint64{}
	for _, m := range serverMix {
		for i := 0; i < m.n; i++ {
			reqs = append(reqs, tlsReq{m.method, m.path(), m.delay})
		}
		want[fmt.Sprintf("%s %d", m.method, m.status)] += uint64(m.n)
	}
	return reqs, want
}

// curlTLS sends one request with curl -k on a new connection and returns
// the status code.
func curlTLS(t *testing.T, base string, r tlsReq, extra ...string) int {
	t.Helper()
	code, err := curlTLSStatus(base, r, extra...)
	if err != nil {
		t.Fatalf("curl %s %s: %v", r.method, r.path, err)
	}
	return code
}

// curlTLSStatus is curlTLS returning curl's failure, with the status code
// curl printed (0 if none).
func curlTLSStatus(base string, r tlsReq, extra ...string) (int, error) {
	args := append([]string{"-k", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", r.method}, extra...)
	if r.method == "HEAD" {
		// -X HEAD would make curl wait for a body.
		args = append([]string{"-k", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-I"}, extra...)
	}
	if r.method == "POST" || r.method == "PUT" {
		args = append(args, "--data-binary", strings.Repeat("x", 100))
	}
	out, err := exec.Command("curl", append(args, base+r.path)...).Output()
	code, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return code, err
}

// checkTLSServer drives the mix with drive (one call per request) and checks
// exact counts per (method, status), url.scheme=https on every span and
// point, durations of at least the server's delay, and that no ciphertext
// was parsed as HTTP.
func checkTLSServer(t *testing.T, srv *testserver.Server, drive func(tlsReq) int) {
	t.Helper()
	reqs, want := tlsMix()
	checkTLSRequests(t, srv, reqs, want, drive)
}

// checkTLSRequests is checkTLSServer for a given list of requests and the
// counts per "METHOD status" they must give. It also checks that the
// server's TLS code was instrumented and nothing failed to be.
func checkTLSRequests(t *testing.T, srv *testserver.Server, reqs []tlsReq, want map[string]uint64, drive func(tlsReq) int) {
	t.Helper()
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	for _, r := range reqs {
		if code := drive(r); code == 0 {
			t.Fatalf("%s %s: no response", r.method, r.path)
		}
	}
	spans := h.waitSpans(len(reqs), isServer)
	stats := &h.receiver().stats
	nonHTTP, parseErr := stats.Unrecognised.Load(), stats.ParseErrors()
	kc, _ := h.receiver().probes.Counters()
	tlsStats := h.receiver().probes.TLSStats()
	instrumented, failed := tlsStats.FilesInstrumented.Load(), tlsStats.FilesFailed.Load()
	h.stop()
	if instrumented == 0 || failed != 0 {
		t.Errorf("TLS files instrumented %d, failed %d; want at least 1 and 0", instrumented, failed)
	}
	if len(spans) != len(reqs) {
		for _, s := range spans {
			t.Logf("span %s %s %s %s", s.span.Name(), s.attr("url.path"), s.attr("http.response.status_code"), s.attr("url.scheme"))
		}
		t.Fatalf("%d server spans, want %d (kernel counters %+v, incomplete %d)\n%s", len(spans), len(reqs), kc, stats.Incomplete(), srv.Logs())
	}
	for i, s := range spans {
		if s.attr("url.scheme") != "https" {
			t.Errorf("span %d: url.scheme %q, want https", i, s.attr("url.scheme"))
		}
		if got, want := s.attr("url.path"), strings.SplitN(reqs[i].path, "?", 2)[0]; got != want {
			t.Errorf("span %d: url.path %q, want %q", i, got, want)
		}
		if d := s.duration(); d < reqs[i].delay {
			t.Errorf("span %d (%s %s): duration %v shorter than the server's delay", i, reqs[i].method, reqs[i].path, d)
		}
	}
	pts := h.histograms("http.server.request.duration")
	if got := countBy(pts, "http.request.method", "http.response.status_code"); fmtCounts(got) != fmtCounts(want) {
		t.Errorf("http.server.request.duration counts:\n got  %s\n want %s", fmtCounts(got), fmtCounts(want))
	}
	for _, p := range pts {
		if p.attrs["url.scheme"] != "https" {
			t.Errorf("point with url.scheme %q: %v", p.attrs["url.scheme"], p.attrs)
		}
	}
	if nonHTTP != 0 || parseErr != 0 {
		t.Errorf("ciphertext reached the parsers: non-HTTP %d, parse errors %d", nonHTTP, parseErr)
	}
}

// nginx links libssl.so.3 dynamically; curl makes a new TLS connection per
// request (full handshake each time).
func TestTLSNginxCurl(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "curl")
	srv := testserver.StartNginxTLS(t, testserver.StartGo(t))
	checkTLSServer(t, srv, func(r tlsReq) int { return curlTLS(t, srv.Base(), r, "--http1.1") })
}

// Python's ssl module (pyenv's 3.11 links the system libssl.so.3; the
// handshake happens in accept on the main thread, SSL_read_ex/SSL_write_ex
// on the handler threads).
func TestTLSPython(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "curl")
	srv := testserver.StartPythonTLS(t)
	checkTLSServer(t, srv, func(r tlsReq) int { return curlTLS(t, srv.Base(), r, "--http1.1") })
}

// Node.js: Debian's /usr/bin/node links OpenSSL statically (SSL_read etc.
// are symbols of the executable), and feeds it through a memory BIO, so no
// syscall happens inside SSL_read: the socket is the one the thread read
// just before.
func TestTLSNode(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "curl")
	srv := testserver.StartNodeTLS(t)
	checkTLSServer(t, srv, func(r tlsReq) int { return curlTLS(t, srv.Base(), r, "--http1.1") })
}

// wrk over HTTPS against nginx: every request nginx logged is counted once,
// as GET 200 https (wrk's own count misses the requests in flight when it
// stops, so nginx's access log is the reference).
func TestTLSNginxWrk(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "wrk")
	srv := testserver.StartNginxTLS(t, testserver.StartGo(t))
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	out, err := exec.Command("wrk", "-t1", "-c4", "-d1s", srv.URL("/status/200")).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	time.Sleep(500 * time.Millisecond) // nginx writes its log line after the response
	n := srv.AccessLogLines()
	if n < 100 {
		t.Fatalf("nginx logged %d requests\n%s", n, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && h.receiver().stats.Records.Load() < uint64(n) {
		time.Sleep(100 * time.Millisecond)
	}
	h.stop()
	pts := h.histograms("http.server.request.duration")
	if got, want := fmtCounts(countBy(pts, "http.request.method", "http.response.status_code", "url.scheme")),
		fmt.Sprintf("GET 200 https=%d ", n); got != want {
		t.Errorf("counts: got %s, want %s (nginx's access log)", got, want)
	}
}

// Go net/http over TLS: crypto/tls.(*Conn).Read/Write probed at entry and
// at every RET, keyed by goroutine. HTTP/1.1 (curl --http1.1) and HTTP/2
// over TLS (curl --http2, ALPN h2) give the same exact counts. With h2 the
// serve goroutine closes a connection while a writer goroutine is still in
// Write, so the close(2) happens inside that Write: its plaintext must not
// make the kernel re-resolve (and cache as "not a socket") the freed fd
// number the next connection gets.
func TestTLSGoServer(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "curl")
	for _, proto := range []string{"--http1.1", "--http2"} {
		t.Run(proto[2:], func(t *testing.T) {
			srv := testserver.StartGoTLS(t)
			checkTLSServer(t, srv, func(r tlsReq) int { return curlTLS(t, srv.Base(), r, proto) })
		})
	}
}

// A Go TLS client (cmd/goclient -insecure) against the Go TLS server: CLIENT
// spans and http.client.request.duration counts with url.scheme https.
func TestTLSGoClient(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGoTLS(t)
	cl := testserver.StartGoClient(t, testserver.ClientOptions{InsecureTLS: true},
		srv.URL("/status/200?delay_ms=15"), "POST "+srv.URL("/status/500"), srv.URL("/status/404"))
	h := startReceiver(t, func(c *Config) { c.ExecutableName = "/goclient$" })
	results := cl.Run()
	spans := h.waitSpans(3, isClient)
	h.stop()
	if len(spans) != 3 {
		t.Fatalf("%d client spans, want 3", len(spans))
	}
	for i, r := range results {
		s := spans[i]
		if s.attr("http.request.method") != r.Method || s.attr("http.response.status_code") != strconv.Itoa(r.Status) {
			t.Errorf("span %d: %s %s, want %s %d", i, s.attr("http.request.method"), s.attr("http.response.status_code"), r.Method, r.Status)
		}
		if s.attr("url.scheme") != "https" && s.attr("url.full") != "" && !strings.HasPrefix(s.attr("url.full"), "https://") {
			t.Errorf("span %d: url.scheme %q url.full %q, want https", i, s.attr("url.scheme"), s.attr("url.full"))
		}
		if s.duration() > r.Latency+exitSlack {
			t.Errorf("span %d: duration %v > client-observed %v", i, s.duration(), r.Latency)
		}
	}
	if spans[0].duration() < 15*time.Millisecond {
		t.Errorf("duration %v < server delay", spans[0].duration())
	}
	got := countBy(h.histograms("http.client.request.duration"), "http.request.method", "http.response.status_code")
	if fmtCounts(got) != "GET 200=1 GET 404=1 POST 500=1 " {
		t.Errorf("client counts %s", fmtCounts(got))
	}
}

// gRPC over TLS (HTTP/2 over TLS, grpc-go on both sides): exact counts per
// (method, status) for the server and for the client.
func TestTLSGRPCGo(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGRPCGoTLS(t)
	cl := testserver.StartGRPCClientTLS(t, srv.Addr, 1, grpcCalls...)
	h := startReceiver(t, func(c *Config) {
		c.ExecutableName = "/grpc(server|client)$" // both ends
	})
	results := cl.Run()
	if len(results) != len(grpcCalls) {
		t.Fatalf("client made %d calls", len(results))
	}
	spans := h.waitSpans(2*len(grpcCalls), nil)
	h.stop()
	var server []spanView
	for _, s := range spans {
		if isServer(s.span) {
			server = append(server, s)
		}
	}
	if len(server) != len(grpcCalls) {
		t.Fatalf("%d server spans, want %d", len(server), len(grpcCalls))
	}
	checkGRPCSpans(t, server, true)
	if got := countBy(h.histograms("rpc.server.call.duration"), "rpc.method", "rpc.response.status_code"); fmtCounts(got) != grpcWant {
		t.Errorf("rpc.server.call.duration counts:\n got  %s\n want %s", fmtCounts(got), grpcWant)
	}
	if got := countBy(h.histograms("rpc.client.call.duration"), "rpc.method", "rpc.response.status_code"); fmtCounts(got) != grpcWant {
		t.Errorf("rpc.client.call.duration counts:\n got  %s\n want %s", fmtCounts(got), grpcWant)
	}
}
