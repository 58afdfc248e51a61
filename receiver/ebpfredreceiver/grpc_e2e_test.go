package ebpfredreceiver

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

const unaryMethod = "ebpfred.test.Echo/Unary"

// grpcCalls: 3 OK after 20 ms, 2 NOT_FOUND, 2 INTERNAL, 1 DEADLINE_EXCEEDED
// (returned by the server), 1 server stream of 5 messages.
var grpcCalls = []string{
	"Unary:0:20", "Unary:0:20", "Unary:0:20",
	"Unary:5:0", "Unary:5:0",
	"Unary:13:0", "Unary:13:0",
	"Unary:4:0",
	"ServerStream:5",
}

var grpcWant = "ebpfred.test.Echo/ServerStream OK=1 ebpfred.test.Echo/Unary DEADLINE_EXCEEDED=1 " +
	"ebpfred.test.Echo/Unary INTERNAL=2 ebpfred.test.Echo/Unary NOT_FOUND=2 ebpfred.test.Echo/Unary OK=3 "

func checkGRPCSpans(t *testing.T, spans []spanView, server bool) {
	t.Helper()
	for _, s := range spans {
		code := s.attr("rpc.response.status_code")
		if s.span.Name() != s.attr("rpc.method") || s.attr("rpc.system.name") != "grpc" {
			t.Errorf("span %q: rpc.method %q rpc.system.name %q", s.span.Name(), s.attr("rpc.method"), s.attr("rpc.system.name"))
		}
		wantErr := code != "OK"
		if server {
			wantErr = code == "INTERNAL" || code == "DEADLINE_EXCEEDED" || code == "UNKNOWN" ||
				code == "UNIMPLEMENTED" || code == "UNAVAILABLE" || code == "DATA_LOSS"
		}
		if got := s.span.Status().Code() == ptrace.StatusCodeError; got != wantErr {
			t.Errorf("span %s %s: error status %v, want %v", s.span.Name(), code, got, wantErr)
		}
		if _, ok := s.span.Attributes().Get("http.request.method"); ok {
			t.Errorf("gRPC span with HTTP attributes: %v", s.span.Attributes().AsRaw())
		}
		if code == "OK" && s.span.Name() == unaryMethod && s.duration() < 20*time.Millisecond {
			t.Errorf("OK unary span %v shorter than the server's 20 ms delay", s.duration())
		}
	}
}

// checkGRPCServer calls srv with grpcCalls from the Go client and checks
// the server side: one span per call with the RPC conventions, and exact
// rpc.server.call.duration counts per (method, code), no HTTP metrics.
func checkGRPCServer(t *testing.T, srv *testserver.Server) {
	t.Helper()
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	results := testserver.StartGRPCClient(t, srv.Addr, 1, grpcCalls...).Run()
	if len(results) != len(grpcCalls) {
		t.Fatalf("client made %d calls", len(results))
	}
	spans := h.waitSpans(len(grpcCalls), isServer)
	h.stop()
	if len(spans) != len(grpcCalls) {
		for _, s := range spans {
			t.Logf("span %s %s", s.span.Name(), s.attr("rpc.response.status_code"))
		}
		t.Fatalf("%d server spans, want %d", len(spans), len(grpcCalls))
	}
	checkGRPCSpans(t, spans, true)
	got := countBy(h.histograms("rpc.server.call.duration"), "rpc.method", "rpc.response.status_code")
	if fmtCounts(got) != grpcWant {
		t.Errorf("rpc.server.call.duration counts:\n got  %s\n want %s", fmtCounts(got), grpcWant)
	}
	if pts := h.histograms("http.server.request.duration"); len(pts) != 0 {
		t.Errorf("gRPC reported with HTTP metrics too: %v", pts)
	}
}

func TestGRPCServerGo(t *testing.T) {
	requireRoot(t)
	checkGRPCServer(t, testserver.StartGRPCGo(t))
}

// 50 concurrent calls multiplexed on one HTTP/2 connection are timed
// independently.
func TestGRPCConcurrentStreams(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGRPCGo(t)
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	results := testserver.StartGRPCClient(t, srv.Addr, 50, "Unary:0:30").Run()
	if len(results) != 50 {
		t.Fatalf("%d results", len(results))
	}
	var maxLatency time.Duration
	for _, r := range results {
		maxLatency = max(maxLatency, r.Latency)
	}
	spans := h.waitSpans(50, isServer)
	h.stop()
	if len(spans) != 50 {
		t.Fatalf("%d spans, want 50", len(spans))
	}
	for _, s := range spans {
		if d := s.duration(); d < 30*time.Millisecond || d > maxLatency {
			t.Errorf("span duration %v, want within [30ms, %v]", d, maxLatency)
		}
	}
	got := countBy(h.histograms("rpc.server.call.duration"), "rpc.method", "rpc.response.status_code")
	if fmtCounts(got) != unaryMethod+" OK=50 " {
		t.Errorf("counts %s", fmtCounts(got))
	}
}

// A gRPC connection established before the receiver starts still yields
// exact records: the frames are recognised, and the header fields of the
// first calls are literal insertions the decoder learns from.
func TestGRPCPreexistingConnection(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGRPCGo(t)
	cl := testserver.StartGRPCClient(t, srv.Addr, 1, grpcCalls...)
	time.Sleep(300 * time.Millisecond) // the connection and its SETTINGS exchange
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	cl.Run()
	spans := h.waitSpans(len(grpcCalls), isServer)
	h.stop()
	got := countBy(h.histograms("rpc.server.call.duration"), "rpc.method", "rpc.response.status_code")
	if fmtCounts(got) != grpcWant {
		t.Errorf("rpc.server.call.duration counts on a pre-existing connection:\n got  %s\n want %s", fmtCounts(got), grpcWant)
	}
	if len(spans) != len(grpcCalls) {
		t.Errorf("%d spans, want %d", len(spans), len(grpcCalls))
	}
}

func TestGRPCClientGo(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGRPCGo(t)
	// this test binary's own client, by its full path: other tests on the
	// machine run clients named grpcclient too
	exe := "^" + regexp.QuoteMeta(testserver.GRPCClientExe(t, false)) + "$"
	h := startReceiver(t, func(c *Config) { c.ExecutableName = exe })
	// Started after the receiver: exec'd, picked up from its first call.
	results := testserver.StartGRPCClient(t, srv.Addr, 1, grpcCalls...).Run()
	if len(results) != len(grpcCalls) {
		t.Fatalf("%d results", len(results))
	}
	spans := h.waitSpans(len(grpcCalls), isClient)
	h.stop()
	if len(spans) != len(grpcCalls) {
		t.Fatalf("%d client spans, want %d", len(spans), len(grpcCalls))
	}
	checkGRPCSpans(t, spans, false)
	got := countBy(h.histograms("rpc.client.call.duration"), "rpc.method", "rpc.response.status_code")
	if fmtCounts(got) != grpcWant {
		t.Errorf("rpc.client.call.duration counts:\n got  %s\n want %s", fmtCounts(got), grpcWant)
	}
}

// A non-Go gRPC implementation: Python's grpcio (C core) served, a Go
// client calling.
func TestGRPCServerPython(t *testing.T) {
	requireRoot(t)
	checkGRPCServer(t, testserver.StartGRPCPython(t))
}

// Plain HTTP/2 (nginx, cleartext with prior knowledge) is reported with the
// HTTP conventions and network.protocol.version=2: curl's requests one by
// one, then h2load's multiplexed ones, with exact counts.
func TestHTTP2NginxH2C(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "curl", "h2load")
	srv := testserver.StartNginxH2C(t, testserver.StartGo(t))
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	// Three curls: 200, 404, 503 (nginx's own `return`s). One curl per
	// request: curl 7.88 fails to reuse a prior-knowledge connection
	// (exit 16), with or without the receiver.
	for _, path := range []string{"/status/200", "/status/404?x=1", "/status/503"} {
		out, err := exec.Command("curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null",
			"-w", "%{http_version}", srv.URL(path)).CombinedOutput()
		if err != nil || string(out) != "2" {
			t.Fatalf("curl %s: %v: %s", path, err, out)
		}
	}
	// h2load: 200 requests over 4 connections, 10 concurrent streams each.
	out, err := exec.Command("h2load", "-n", "200", "-c", "4", "-m", "10", srv.URL("/status/200")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "200 succeeded") {
		t.Fatalf("h2load: %v: %s", err, out)
	}
	h.waitSpans(203, isServer)
	h.stop()
	got := countBy(h.histograms("http.server.request.duration"), "http.request.method", "http.response.status_code", "network.protocol.version")
	if want := "GET 200 2=201 GET 404 2=1 GET 503 2=1 "; fmtCounts(got) != want {
		t.Errorf("counts:\n got  %s\n want %s", fmtCounts(got), want)
	}
	for _, s := range h.spans(isServer) {
		if strings.Contains(s.attr("url.path"), "?") {
			t.Errorf("query string in url.path: %q", s.attr("url.path"))
		}
	}
}
