package ebpfredreceiver

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// startGoApp builds and starts a route test program of internal/testserver
// ("goapps/goroutes", "goapps/ginroutes", ...) and returns its address.
func startGoApp(t *testing.T, name string, args ...string) *testserver.Server {
	t.Helper()
	bin := testserver.GoBinary(t, name)
	cmd := exec.Command(bin, args...)
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

// How checkAppRoutes sends its requests.
type routeDrive int

const (
	// HTTP/1.1, in order on one keep-alive connection: a request without a
	// route follows one with a route on the same server goroutine.
	driveHTTP1 routeDrive = iota
	// HTTP/2 with prior knowledge over cleartext, all at once on one
	// connection: streams interleave, each handler on its own goroutine.
	driveH2C
	// HTTP/2 over TLS (ALPN), all at once on one connection.
	driveH2TLS
)

// checkAppRoutes drives cases through a receiver with no routes
// configuration, and checks every span's name, http.route and protocol
// version and the metric series.
func checkAppRoutes(t *testing.T, srv *testserver.Server, drive routeDrive, cases []routeCase, configure ...func(*Config)) {
	t.Helper()
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = strconv.Itoa(srv.Port)
		for _, f := range configure {
			f(c)
		}
	})
	if drive == driveHTTP1 {
		var reqs []testserver.Request
		for _, c := range cases {
			reqs = append(reqs, testserver.Request{Method: c.method, Path: c.path})
		}
		for i, r := range testserver.Drive(t, srv.Base(), reqs, true) {
			if r.Status != cases[i].status {
				t.Fatalf("%s %s: status %d, want %d", cases[i].method, r.Path, r.Status, cases[i].status)
			}
		}
	} else {
		driveHTTP2(t, srv, drive == driveH2TLS, cases)
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
	version := "1.1"
	if drive != driveHTTP1 {
		version = "2"
	}
	got := map[string]uint64{}
	for _, s := range spans {
		got[s.span.Name()]++
		if v := s.attr("network.protocol.version"); v != version {
			t.Errorf("span %q: network.protocol.version %q, want %q", s.span.Name(), v, version)
		}
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

// driveHTTP2 sends every case at once over one HTTP/2 connection.
func driveHTTP2(t *testing.T, srv *testserver.Server, useTLS bool, cases []routeCase) {
	t.Helper()
	tr := &http.Transport{Proxy: nil, MaxConnsPerHost: 1, DisableCompression: true, Protocols: new(http.Protocols)}
	base := "http://" + srv.Addr
	if useTLS {
		tr.Protocols.SetHTTP2(true)
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the test's self-signed certificate
		base = "https://" + srv.Addr
	} else {
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, len(cases))
	for _, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(c.method, base+c.path, nil)
			if err != nil {
				errs <- err
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || resp.ProtoMajor != 2 {
				errs <- fmt.Errorf("%s %s: %s %d, want HTTP/2 %d", c.method, c.path, resp.Proto, resp.StatusCode, c.status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Go net/http (Go >= 1.22 ServeMux): the route is the pattern the process
// itself matched, read at the return of (*ServeMux).findHandler, with no
// routes configuration; method and host parts of the pattern are dropped.
func TestGoServeMuxRoutes(t *testing.T) {
	requireRoot(t)
	checkAppRoutes(t, startGoApp(t, "goapps/goroutes"), driveHTTP1, []routeCase{
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
	checkAppRoutes(t, startGoApp(t, "goapps/ginroutes"), driveHTTP1, ginCases)
}

var ginCases = []routeCase{
	{"GET", "/users/1", 200, "/users/:id"},
	{"GET", "/users/2?q=1", 200, "/users/:id"},
	{"GET", "/nothing", 404, ""},
	{"GET", "/users/3/orders/a/b", 200, "/users/:id/orders/*rest"},
	{"POST", "/users", 201, "/users"},
}

// gorilla/mux: the route is the matched Route's path template (what
// GetPathTemplate returns, regular expressions included, subrouter prefix
// included), read from the RouteMatch at the return of (*Router).Match.
func TestGorillaMuxRoutes(t *testing.T) {
	requireRoot(t)
	checkAppRoutes(t, startGoApp(t, "goapps/muxroutes"), driveHTTP1, muxCases)
}

var muxCases = []routeCase{
	{"GET", "/products/1", 200, "/products/{id:[0-9]+}"},
	{"GET", "/products/abc", 404, ""},
	{"GET", "/products/2", 200, "/products/{id:[0-9]+}"},
	{"GET", "/products/3/reviews/9", 200, "/products/{id}/reviews/{rid}"},
	{"GET", "/api/v1/things/x", 200, "/api/v1/things/{name}"},
}

// routes.from_application: false leaves the application's router alone (no
// uprobes): the same ServeMux requests get no route.
func TestAppRoutesOff(t *testing.T) {
	requireRoot(t)
	checkAppRoutes(t, startGoApp(t, "goapps/goroutes"), driveHTTP1, []routeCase{
		{"GET", "/items/1", 200, ""},
		{"GET", "/static/a.css", 200, ""},
	}, func(c *Config) { c.Routes.FromApplication = false })
}

// HTTP/2: a handler runs on its own goroutine and the connection's goroutine
// writes the response, so the route goes out when the router returns, named
// by stream id and peer address (read at runHandler's entry). Requests run
// all at once on one connection, so streams interleave.
func TestGoRoutesHTTP2(t *testing.T) {
	requireRoot(t)
	var mux []routeCase
	for i := 0; i < 8; i++ {
		mux = append(mux, routeCase{"GET", fmt.Sprintf("/items/%d", i), 200, "/items/{id}"},
			routeCase{"GET", fmt.Sprintf("/static/%d.css", i), 200, "/static/"})
	}
	mux = append(mux, routeCase{"GET", "/nothing", 404, ""})
	t.Run("servemux-h2c", func(t *testing.T) {
		checkAppRoutes(t, startGoApp(t, "goapps/goroutes", "-h2c"), driveH2C, mux)
	})
	t.Run("servemux-tls", func(t *testing.T) {
		cert, key := testserver.SelfSignedCert(t)
		checkAppRoutes(t, startGoApp(t, "goapps/goroutes", "-tls-cert", cert, "-tls-key", key), driveH2TLS, mux)
	})
	t.Run("gin-h2c", func(t *testing.T) {
		checkAppRoutes(t, startGoApp(t, "goapps/ginroutes", "-h2c"), driveH2C, ginCases)
	})
	t.Run("gorilla-h2c", func(t *testing.T) {
		checkAppRoutes(t, startGoApp(t, "goapps/muxroutes", "-h2c"), driveH2C, muxCases)
	})
}
