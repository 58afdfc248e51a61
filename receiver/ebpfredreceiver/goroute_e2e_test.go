package ebpfredreceiver

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// startGoApp builds and starts a route test program of internal/testserver
// ("goroutes", "goapps/ginroutes", ...) and returns its address.
func startGoApp(t *testing.T, name string) *testserver.Server {
	t.Helper()
	bin := testserver.GoBinary(t, name)
	cmd := exec.Command(bin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "LISTENING "))
	if err != nil || perr != nil {
		t.Fatalf("%s: %q %v %v", name, line, err, perr)
	}
	return &testserver.Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port}
}

// routeCase is one request of a route test and the route it must get ("":
// none, the span is then named after the method alone).
type routeCase struct {
	method, path string
	status       int
	route        string
}

// checkAppRoutes drives cases on one keep-alive connection (so a request
// without a route follows one with a route on the same goroutine) through a
// receiver with no routes configuration, and checks every span's name and
// http.route and the metric series.
func checkAppRoutes(t *testing.T, srv *testserver.Server, cases []routeCase, configure ...func(*Config)) {
	t.Helper()
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = strconv.Itoa(srv.Port)
		for _, f := range configure {
			f(c)
		}
	})
	var reqs []testserver.Request
	for _, c := range cases {
		reqs = append(reqs, testserver.Request{Method: c.method, Path: c.path})
	}
	for i, r := range testserver.Drive(t, srv.Base(), reqs, true) {
		if r.Status != cases[i].status {
			t.Fatalf("%s %s: status %d, want %d", cases[i].method, r.Path, r.Status, cases[i].status)
		}
	}
	spans := h.waitSpans(len(cases), isServer)
	h.stop()

	want := map[string]uint64{}    // span name → count
	wantPts := map[string]uint64{} // route → count
	for _, c := range cases {
		name := c.method
		if c.route != "" {
			name += " " + c.route
		}
		want[name]++
		wantPts[c.route]++
	}
	got := map[string]uint64{}
	for _, s := range spans {
		got[s.span.Name()]++
		_, route, _ := strings.Cut(s.span.Name(), " ")
		if r := s.attr("http.route"); r != route {
			t.Errorf("span %q: http.route %q, want %q", s.span.Name(), r, route)
		}
	}
	if fmtCounts(got) != fmtCounts(want) {
		t.Errorf("span names: %s, want %s", fmtCounts(got), fmtCounts(want))
	}
	pts := h.histograms("http.server.request.duration")
	if g, w := fmtCounts(countBy(pts, "http.route")), fmtCounts(wantPts); g != w {
		t.Errorf("metric counts by route: %s, want %s", g, w)
	}
}

// Go net/http (Go >= 1.22 ServeMux): the route is the pattern the process
// itself matched, read at the return of (*ServeMux).findHandler, with no
// routes configuration; method and host parts of the pattern are dropped.
func TestGoServeMuxRoutes(t *testing.T) {
	requireRoot(t)
	checkAppRoutes(t, startGoApp(t, "goroutes"), []routeCase{
		{"GET", "/items/1", 200, "/items/{id}"},
		{"GET", "/items/2", 200, "/items/{id}"},
		{"GET", "/nothing", 404, ""},
		{"GET", "/items/3?x=y", 200, "/items/{id}"},
		{"GET", "/static/a.css", 200, "/static/"},
	})
}

// gin: the route is the matched node's full path, read at the return of
// (*node).getValue, in gin's own syntax (":id", "*rest"), as gin's
// c.FullPath() and otelgin report it.
func TestGinRoutes(t *testing.T) {
	requireRoot(t)
	checkAppRoutes(t, startGoApp(t, "goapps/ginroutes"), []routeCase{
		{"GET", "/users/1", 200, "/users/:id"},
		{"GET", "/users/2?q=1", 200, "/users/:id"},
		{"GET", "/nothing", 404, ""},
		{"GET", "/users/3/orders/a/b", 200, "/users/:id/orders/*rest"},
		{"POST", "/users", 201, "/users"},
	})
}

// gorilla/mux: the route is the matched Route's path template (what
// GetPathTemplate returns, regular expressions included, subrouter prefix
// included), read from the RouteMatch at the return of (*Router).Match.
func TestGorillaMuxRoutes(t *testing.T) {
	requireRoot(t)
	checkAppRoutes(t, startGoApp(t, "goapps/muxroutes"), []routeCase{
		{"GET", "/products/1", 200, "/products/{id:[0-9]+}"},
		{"GET", "/products/abc", 404, ""},
		{"GET", "/products/2", 200, "/products/{id:[0-9]+}"},
		{"GET", "/products/3/reviews/9", 200, "/products/{id}/reviews/{rid}"},
		{"GET", "/api/v1/things/x", 200, "/api/v1/things/{name}"},
	})
}

// routes.from_application: false leaves the application's router alone (no
// uprobes): the same ServeMux requests get no route.
func TestAppRoutesOff(t *testing.T) {
	requireRoot(t)
	checkAppRoutes(t, startGoApp(t, "goroutes"), []routeCase{
		{"GET", "/items/1", 200, ""},
		{"GET", "/static/a.css", 200, ""},
	}, func(c *Config) { c.Routes.FromApplication = false })
}
