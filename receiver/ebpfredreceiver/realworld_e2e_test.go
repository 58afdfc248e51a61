package ebpfredreceiver

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// haproxy with two threads in HTTP mode, driven by ab (HTTP/1.0, a
// connection per request, two at a time): one thread closes an fd while the
// other's accept4() or socket() gets the same number back at once. With
// connections keyed by (pid, fd), 1 to 8 of every 40 requests were lost
// (client spans ending in connection_closed after 0.1 ms); keyed by socket,
// every request of 20 rounds is one SERVER and one CLIENT span of haproxy,
// with the backend's status.
func TestHAProxyThreadsReuseFds(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "haproxy", "ab")
	eachCapture(t, testHAProxyThreads)
}

func testHAProxyThreads(t *testing.T, hooks string) {
	backend := testserver.StartGo(t)
	hp := testserver.StartHAProxy(t, backend, 2)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = strconv.Itoa(hp.Port)
		c.CaptureHooks = hooks
	})
	waitTracked(t, h, hp.PID)

	const rounds, n = 20, 40
	complete := regexp.MustCompile(`(?m)^Complete requests:\s+(\d+)$`)
	failed := regexp.MustCompile(`(?m)^Failed requests:\s+(\d+)$`)
	for i := 0; i < rounds; i++ {
		out, err := exec.Command("ab", "-q", "-c", "2", "-n", strconv.Itoa(n), hp.URL("/status/200")).CombinedOutput()
		if err != nil {
			t.Fatalf("round %d: ab: %v\n%s", i, err, out)
		}
		if m := complete.FindSubmatch(out); m == nil || string(m[1]) != strconv.Itoa(n) || string(failed.FindSubmatch(out)[1]) != "0" {
			t.Fatalf("round %d: ab did not complete %d requests:\n%s", i, n, out)
		}
	}
	isHAProxy := func(s ptrace.Span) bool {
		return s.Kind() == ptrace.SpanKindServer || s.Kind() == ptrace.SpanKindClient
	}
	spans := h.waitSpans(2*rounds*n, isHAProxy)
	counts := map[string]int{}
	for _, s := range spans {
		if pid := s.resource.AsRaw()["process.pid"]; fmt.Sprint(pid) != strconv.Itoa(hp.PID) {
			continue
		}
		counts[fmt.Sprintf("%v %s %s %s", s.span.Kind(), s.attr("http.request.method"),
			s.attr("http.response.status_code"), s.attr("error.type"))]++
	}
	want := map[string]int{"Server GET 200 ": rounds * n, "Client GET 200 ": rounds * n}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("haproxy spans by kind, method, status, error.type:\n got %v\nwant %v", counts, want)
	}
	// (requests_incomplete is not asserted: ab opens a connection or two
	// that it closes unused, to which haproxy answers 400 with no request
	// to pair it with.)
	r := h.receiver()
	if nh := r.stats.Unrecognised.Load(); nh != 0 {
		t.Errorf("%d non-HTTP transfers, want 0", nh)
	}
}

// rwItem is n requests of one kind and the status the server answers.
type rwItem struct {
	method, path string
	body         []byte
	status       int
	n            int
}

// driveMix sends the mix to srv from this (unselected) process, in a fixed
// interleaved order, the first half on one keep-alive connection and the
// rest on a connection each, and checks each status the client got.
func driveMix(t *testing.T, srv *testserver.Server, mix []rwItem) int {
	t.Helper()
	var reqs []testserver.Request
	var want []int
	for round := 0; ; round++ {
		added := false
		for _, m := range mix {
			if round < m.n {
				reqs = append(reqs, testserver.Request{Method: m.method, Path: m.path, Body: m.body})
				want = append(want, m.status)
				added = true
			}
		}
		if !added {
			break
		}
	}
	half := len(reqs) / 2
	res := append(testserver.Drive(t, srv.Base(), reqs[:half], true), testserver.Drive(t, srv.Base(), reqs[half:], false)...)
	for i, r := range res {
		if r.Status != want[i] {
			t.Fatalf("%s %s: the server answered %d, the mix says %d: fix the mix", r.Method, r.Path, r.Status, want[i])
		}
	}
	return len(reqs)
}

// checkRealWorld drives mix to srv under the receiver and asserts that the
// SERVER spans, and the http.server.request.duration counts, are exactly
// the mix by (service.name, method, status).
func checkRealWorld(t *testing.T, srv *testserver.Server, service string, mix []rwItem) {
	t.Helper()
	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
	waitTracked(t, h, srv.PID)
	total := driveMix(t, srv, mix)

	want := map[string]int{}
	for _, m := range mix {
		want[fmt.Sprintf("%s %s %d", service, m.method, m.status)] += m.n
	}
	isServer := func(s ptrace.Span) bool { return s.Kind() == ptrace.SpanKindServer }
	got := map[string]int{}
	for _, s := range h.waitSpans(total, isServer) {
		got[fmt.Sprintf("%v %s %s", s.resource.AsRaw()["service.name"], s.attr("http.request.method"),
			s.attr("http.response.status_code"))]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("SERVER spans by service.name, method, status:\n got %v\nwant %v", got, want)
	}
	r := h.receiver()
	if nh, pe := r.stats.Unrecognised.Load(), r.stats.ParseErrors(); nh != 0 || pe != 0 {
		t.Errorf("%d unrecognised transfers and %d parse errors, want 0", nh, pe)
	}
	h.stop()
	gotM := map[string]int{}
	for _, p := range h.histograms("http.server.request.duration") {
		gotM[fmt.Sprintf("%s %s %s", p.resource["service.name"], p.attrs["http.request.method"],
			p.attrs["http.response.status_code"])] += int(p.count)
	}
	if fmt.Sprint(gotM) != fmt.Sprint(want) {
		t.Errorf("http.server.request.duration counts by service.name, method, status:\n got %v\nwant %v", gotM, want)
	}
}

// Apache httpd from Debian (apache2, event MPM: a worker process of 16
// threads, running as www-data, forked by a root parent).
func TestRealWorldApache(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartApache(t)
	checkRealWorld(t, srv, "apache2", []rwItem{
		{"GET", "/index.html", nil, 200, 40},
		{"HEAD", "/index.html", nil, 200, 10},
		{"POST", "/index.html", []byte("a=1&b=2"), 200, 10},
		{"DELETE", "/index.html", nil, 405, 5},
		{"GET", "/missing", nil, 404, 15},
		{"GET", "/status/410", nil, 410, 5},
		{"GET", "/status/503", nil, 503, 5},
	})
}

// lighttpd from Debian (one process, an event loop).
func TestRealWorldLighttpd(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartLighttpd(t)
	checkRealWorld(t, srv, "lighttpd", []rwItem{
		{"GET", "/index.html", nil, 200, 40},
		{"HEAD", "/index.html", nil, 200, 10},
		{"POST", "/index.html", []byte("a=1"), 200, 10},
		{"DELETE", "/index.html", nil, 501, 5},
		{"GET", "/missing", nil, 404, 15},
		{"GET", "/x.secret", nil, 403, 5},
		{"GET", "/status/503", nil, 503, 5},
	})
}

// gunicorn from Debian: a Python WSGI server, an arbiter and two forked
// sync workers, with a tiny WSGI application.
func TestRealWorldGunicorn(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGunicorn(t)
	checkRealWorld(t, srv, "python3.11", []rwItem{
		{"GET", "/status/200", nil, 200, 40},
		{"POST", "/status/201", []byte(`{"name":"x"}`), 201, 15},
		{"PUT", "/status/204", []byte("y"), 204, 5},
		{"DELETE", "/status/204", nil, 204, 5},
		{"GET", "/nowhere", nil, 404, 15},
		{"GET", "/status/500", nil, 500, 5},
		{"PATCH", "/status/503", []byte("z"), 503, 5},
	})
}

// Express 4 from the npm registry (every package pinned by
// package-lock.json) on the machine's Node.js.
func TestRealWorldExpress(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartExpress(t)
	checkRealWorld(t, srv, "node", []rwItem{
		{"GET", "/users/42", nil, 200, 40},
		{"POST", "/users", []byte(`{"name":"x"}`), 201, 15},
		{"DELETE", "/users/7", nil, 204, 10},
		{"GET", "/nowhere", nil, 404, 15},
		{"GET", "/status/500", nil, 500, 5},
		{"GET", "/status/503", nil, 503, 5},
	})
}
