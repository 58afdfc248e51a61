package ebpfredreceiver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

func isServer(s ptrace.Span) bool { return s.Kind() == ptrace.SpanKindServer }
func isClient(s ptrace.Span) bool { return s.Kind() == ptrace.SpanKindClient }

type mixItem struct {
	method string
	status int
	delay  time.Duration
	n      int
}

// serverMix is the known mix of methods, statuses and server delays every
// server test sends.
var serverMix = []mixItem{
	{"GET", 200, 30 * time.Millisecond, 4},
	{"GET", 404, 0, 3},
	{"POST", 500, 20 * time.Millisecond, 2},
	{"PUT", 201, 10 * time.Millisecond, 2},
	{"DELETE", 200, 0, 1},
}

func (m mixItem) path() string {
	p := "/status/" + strconv.Itoa(m.status)
	if m.delay > 0 {
		p += fmt.Sprintf("?delay_ms=%d", m.delay.Milliseconds())
	}
	return p
}

// checkServer drives the mix over one keep-alive connection and checks that
// every request became exactly one SERVER span and one histogram count, with
// durations between the server's delay and what the client observed.
func checkServer(t *testing.T, srv *testserver.Server) {
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	checkServerOn(t, h, srv, srv.Name == "go")
}

// checkServerOn is checkServer with a running receiver; goRoutes: the
// server is Go and its ServeMux routes are reported.
func checkServerOn(t *testing.T, h *harness, srv *testserver.Server, goRoutes bool) {

	var reqs []testserver.Request
	var delays []time.Duration
	want := map[string]uint64{}
	for _, m := range serverMix {
		for i := 0; i < m.n; i++ {
			r := testserver.Request{Method: m.method, Path: m.path()}
			if m.method == "POST" || m.method == "PUT" {
				r.Body = []byte(strings.Repeat("x", 100))
			}
			reqs = append(reqs, r)
			delays = append(delays, m.delay)
		}
		want[fmt.Sprintf("%s %d", m.method, m.status)] += uint64(m.n)
	}
	results := testserver.Drive(t, srv.Base(), reqs, true)

	spans := h.waitSpans(len(reqs), isServer)
	h.stop()
	if len(spans) != len(reqs) {
		for _, s := range spans {
			t.Logf("span %s %s %s %v", s.span.Name(), s.attr("url.path"), s.attr("http.response.status_code"), s.duration())
		}
		t.Fatalf("%d server spans, want %d", len(spans), len(reqs))
	}
	for i, s := range spans {
		r := results[i]
		if got, want := s.attr("http.request.method"), r.Method; got != want {
			t.Errorf("span %d: method %q, want %q", i, got, want)
		}
		if got, want := s.attr("http.response.status_code"), strconv.Itoa(r.Status); got != want {
			t.Errorf("span %d (%s %s): status %q, want %q", i, r.Method, r.Path, got, want)
		}
		if got, want := s.attr("url.path"), strings.SplitN(r.Path, "?", 2)[0]; got != want {
			t.Errorf("span %d: url.path %q, want %q (no query string)", i, got, want)
		}
		// Go's ServeMux reports its pattern (no routes config needed);
		// the others have no route, so the span is named by the method.
		wantName, wantRoute := r.Method, ""
		if goRoutes {
			wantRoute = "/status/{code}"
			wantName += " " + wantRoute
		}
		if s.span.Name() != wantName || s.attr("http.route") != wantRoute {
			t.Errorf("span %d: name %q route %q, want %q and %q", i, s.span.Name(), s.attr("http.route"), wantName, wantRoute)
		}
		if d := s.duration(); d < delays[i] || d > r.Latency+exitSlack {
			t.Errorf("span %d (%s %s): duration %v, want within [%v, client latency %v]", i, r.Method, r.Path, d, delays[i], r.Latency)
		}
		// Kernel monotonic time, converted: the span lies inside the
		// client's own wall-clock interval (2 ms of slack for the clock
		// offset's refresh).
		const slack = 2 * time.Millisecond
		start, end := s.span.StartTimestamp().AsTime(), s.span.EndTimestamp().AsTime()
		if start.Before(r.Start.Add(-slack)) || end.After(r.Start.Add(r.Latency+slack)) {
			t.Errorf("span %d: [%v, %v] not within the client's [%v, %v]", i, start, end, r.Start, r.Start.Add(r.Latency))
		}
		if got := s.resource.AsRaw()["process.pid"]; fmt.Sprint(got) != fmt.Sprint(srv.PID) && !contains(srv.Children(), got) {
			t.Errorf("span %d: process.pid %v, want the server's (%d)", i, got, srv.PID)
		}
	}
	for _, s := range spans {
		if st := s.span.Status().Code(); (s.attr("http.response.status_code") >= "500") != (st == ptrace.StatusCodeError) {
			t.Errorf("span %s %s: status code %v", s.span.Name(), s.attr("http.response.status_code"), st)
		}
	}
	pts := h.histograms("http.server.request.duration")
	got := countBy(pts, "http.request.method", "http.response.status_code")
	if fmtCounts(got) != fmtCounts(want) {
		t.Errorf("http.server.request.duration counts:\n got  %s\n want %s", fmtCounts(got), fmtCounts(want))
	}
	for _, p := range pts {
		if p.resource["service.name"] == "" || p.resource["service.instance.id"] == "" || p.resource["host.name"] == "" {
			t.Errorf("resource lacks identity: %v", p.resource)
		}
		if _, ok := p.attrs["url.path"]; ok {
			t.Errorf("url.path on metrics without report_target: %v", p.attrs)
		}
		if p.attrs["http.response.status_code"] == "500" && p.attrs["error.type"] != "500" {
			t.Errorf("5xx point without error.type=500: %v", p.attrs)
		}
	}
}

func contains(pids []int, v any) bool {
	for _, p := range pids {
		if fmt.Sprint(p) == fmt.Sprint(v) {
			return true
		}
	}
	return false
}

func TestServerGo(t *testing.T)     { requireRoot(t); checkServer(t, testserver.StartGo(t)) }
func TestServerPython(t *testing.T) { requireRoot(t); checkServer(t, testserver.StartPython(t)) }
func TestServerNode(t *testing.T)   { requireRoot(t); checkServer(t, testserver.StartNode(t)) }
func TestServerNginx(t *testing.T) {
	requireRoot(t)
	checkServer(t, testserver.StartNginx(t, testserver.StartGo(t)))
}

// Garbage on an instrumented port is skipped and counted; the connection's
// and the server's later requests are still measured exactly.
func TestGarbageIsCountedNotFatal(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 300+i*500)
		for j := range junk {
			junk[j] = byte(j*7 + i)
		}
		c.Write(junk)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.Copy(io.Discard, c) // the server answers 400 and closes
		c.Close()
	}
	testserver.Drive(t, srv.Base(), []testserver.Request{{Path: "/status/200"}, {Path: "/status/404"}}, true)
	spans := h.waitSpans(2, isServer)
	stats := &h.receiver().stats
	h.stop()
	if got := countBy(h.histograms("http.server.request.duration"), "http.response.status_code"); fmtCounts(got) != "200=1 404=1 " {
		t.Errorf("counts after garbage: %s (spans %d)", fmtCounts(got), len(spans))
	}
	if n := stats.Unrecognised.Load() + stats.ParseErrors(); n < 5 {
		t.Errorf("non-HTTP + parse errors = %d, want at least one per garbage connection (5)", n)
	}
}

// Edge cases of HTTP/1 framing on one keep-alive connection: chunked, a
// 5 MB body timed to its last byte, HEAD, 204 and 304.
func TestFramingEdgeCases(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	reqs := []testserver.Request{
		{Path: "/chunked/100000"},
		{Path: fmt.Sprintf("/bytes/%d", testserver.BigBody)},
		{Method: "HEAD", Path: "/bytes/1000"},
		{Path: "/status/204"},
		{Path: "/status/304"},
		{Path: "/status/200"},
	}
	results := testserver.Drive(t, srv.Base(), reqs, true)
	spans := h.waitSpans(len(reqs), isServer)
	h.stop()
	if len(spans) != len(reqs) {
		t.Fatalf("%d spans, want %d", len(spans), len(reqs))
	}
	for i, s := range spans {
		r := results[i]
		if s.attr("http.request.method") != r.Method || s.attr("http.response.status_code") != strconv.Itoa(r.Status) {
			t.Errorf("span %d = %s %s, want %s %d", i, s.attr("http.request.method"), s.attr("http.response.status_code"), r.Method, r.Status)
		}
		if s.duration() > r.Latency+exitSlack {
			t.Errorf("span %d (%s): duration %v > client latency %v", i, r.Path, s.duration(), r.Latency)
		}
	}
	sizes := countBy(h.histograms("http.server.response.body.size"), "http.request.method", "http.response.status_code")
	if sizes["GET 200"] != 3 {
		t.Errorf("response body size points: %s", fmtCounts(sizes))
	}
	// The 5 MiB body is the largest GET 200 (the series are split by
	// route: /chunked/{n}, /bytes/{n}, /status/{code}).
	largest := 0.0
	for _, p := range h.histograms("http.server.response.body.size") {
		if p.attrs["http.request.method"] == "GET" && p.attrs["http.response.status_code"] == "200" {
			largest = max(largest, p.max)
		}
	}
	if largest < float64(testserver.BigBody) {
		t.Errorf("largest response body %v, want >= %d", largest, testserver.BigBody)
	}
}

// rawConn is a hand-driven HTTP/1.1 client connection, for exchanges that
// net/http would not produce (pipelining) or must span the receiver's start.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) send(reqs ...string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(strings.Join(reqs, ""))); err != nil {
		rc.t.Fatal(err)
	}
}

// readResponse reads one response and returns its status.
func (rc *rawConn) readResponse(method string) int {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(rc.r, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func get(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n" }

// A keep-alive connection opened (and used) before the receiver starts is
// measured once the receiver runs.
func TestPreexistingConnection(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGo(t)
	rc := dialRaw(t, srv.Addr)
	rc.send(get("/status/200"))
	rc.readResponse("GET")

	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	for _, code := range []int{200, 404, 500} {
		rc.send(get(fmt.Sprintf("/status/%d?delay_ms=10", code)))
		if got := rc.readResponse("GET"); got != code {
			t.Fatalf("status %d, want %d", got, code)
		}
	}
	spans := h.waitSpans(3, isServer)
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	for i, want := range []string{"200", "404", "500"} {
		if got := spans[i].attr("http.response.status_code"); got != want {
			t.Errorf("span %d: status %s, want %s", i, got, want)
		}
		if spans[i].duration() < 10*time.Millisecond {
			t.Errorf("span %d: duration %v < delay 10ms", i, spans[i].duration())
		}
	}
}

// Pipelined requests (three in one write) are answered and measured in order.
func TestPipelined(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	rc := dialRaw(t, srv.Addr)
	rc.send(get("/status/201"), get("/status/404?delay_ms=5"), get("/status/200"))
	for _, want := range []int{201, 404, 200} {
		if got := rc.readResponse("GET"); got != want {
			t.Fatalf("status %d, want %d", got, want)
		}
	}
	spans := h.waitSpans(3, isServer)
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	for i, want := range []string{"201", "404", "200"} {
		if got := spans[i].attr("http.response.status_code"); got != want {
			t.Errorf("span %d: status %s, want %s", i, got, want)
		}
	}
}

// A Go http.Client (a separate process) calling a server produces CLIENT
// spans and client metrics; a traceparent it sends is continued.
func TestClientGo(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGo(t)
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	cl := testserver.StartGoClient(t, testserver.ClientOptions{Headers: []string{"traceparent: " + tp}},
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
		if s.duration() > r.Latency+exitSlack {
			t.Errorf("span %d: duration %v > client-observed %v", i, s.duration(), r.Latency)
		}
		if s.span.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.span.ParentSpanID().String() != "00f067aa0ba902b7" {
			t.Errorf("span %d: trace %s parent %s, want the traceparent's", i, s.span.TraceID(), s.span.ParentSpanID())
		}
	}
	if spans[0].duration() < 15*time.Millisecond {
		t.Errorf("duration %v < server delay", spans[0].duration())
	}
	got := countBy(h.histograms("http.client.request.duration"), "http.request.method", "http.response.status_code", "server.port")
	p := strconv.Itoa(srv.Port)
	if want := "GET 200 " + p + "=1 GET 404 " + p + "=1 POST 500 " + p + "=1 "; fmtCounts(got) != want {
		t.Errorf("client metric counts: %s, want %s", fmtCounts(got), want)
	}
}

// Client side: curl and a Go http.Client calling a server produce CLIENT
// spans and http.client.request.duration.
func TestClientCurl(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "curl")
	srv := testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) { c.ExecutableName = "/curl$" })
	urls := []string{srv.URL("/status/200?delay_ms=20"), srv.URL("/status/404"), srv.URL("/status/503")}
	out, err := exec.Command("curl", append([]string{"-s", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code}\n"}, urls...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v: %s", err, out)
	}
	spans := h.waitSpans(3, isClient)
	h.stop()
	if len(spans) != 3 {
		t.Fatalf("%d client spans, want 3", len(spans))
	}
	for i, want := range []string{"200", "404", "503"} {
		s := spans[i]
		if s.attr("http.response.status_code") != want {
			t.Errorf("span %d status %q, want %s", i, s.attr("http.response.status_code"), want)
		}
		if s.attr("server.port") != strconv.Itoa(srv.Port) {
			t.Errorf("span %d server.port %q, want %d", i, s.attr("server.port"), srv.Port)
		}
		isErr := s.span.Status().Code() == ptrace.StatusCodeError
		if isErr != (want >= "400") {
			t.Errorf("span %d (%s): error status %v", i, want, isErr)
		}
		if s.resource.AsRaw()["process.executable.name"] != "curl" {
			t.Errorf("span %d resource %v", i, s.resource.AsRaw())
		}
	}
	if spans[0].duration() < 20*time.Millisecond {
		t.Errorf("client span duration %v < server delay 20ms", spans[0].duration())
	}
	got := countBy(h.histograms("http.client.request.duration"), "http.request.method", "http.response.status_code")
	if fmtCounts(got) != "GET 200=1 GET 404=1 GET 503=1 " {
		t.Errorf("client metric counts: %s", fmtCounts(got))
	}
}
