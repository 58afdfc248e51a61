package ebpfredreceiver

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/routes"
	"github.com/ebpfred/ebpfred/internal/spans"
	"github.com/ebpfred/ebpfred/internal/testserver"
)

// 10 000 distinct ids against /users/{id} are one series counting 10 000;
// ignored paths reach neither metrics nor traces. Routes are reported as
// the patterns were written (Beyla's :name syntax stays :name).
func TestRoutePatternsThroughReceiver(t *testing.T) {
	requireRoot(t)
	// The Go server on purpose: net/http reads a keep-alive request's first
	// byte on one thread while the handler's response is written on another,
	// and the byte's event often comes first. This exact count of 10 000 is
	// the through-the-kernel check of that ordering (it once lost about 1
	// request in 200 000 to a method "ET").
	srv := testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = strconv.Itoa(srv.Port)
		c.Routes = routes.Config{Patterns: []string{"/users/{id}", "/users/:id/basket/{product}"}, IgnoredPatterns: []string{"/health"}}
	})
	const n = 10000
	reqs := make([]testserver.Request, 0, n+20)
	for i := 0; i < n; i++ {
		reqs = append(reqs, testserver.Request{Path: fmt.Sprintf("/users/%d", i)})
		if i%1000 == 0 {
			reqs = append(reqs, testserver.Request{Path: "/health"}, testserver.Request{Path: fmt.Sprintf("/users/%d/basket/%d", i, i)})
		}
	}
	testserver.Drive(t, srv.Base(), reqs, true)
	spans := h.waitSpans(n+10, isServer)
	diag := missingReport(h, spans, reqs)
	h.stop()

	names := map[string]int{}
	for _, s := range spans {
		names[s.span.Name()]++
	}
	if names["GET /users/{id}"] != n || names["GET /users/:id/basket/{product}"] != 10 || len(names) != 2 {
		t.Errorf("span names %v, want %d × GET /users/{id} and 10 × GET /users/:id/basket/{product}, no /health\n%s", names, n, diag)
	}
	pts := h.histograms("http.server.request.duration")
	byRoute := countBy(pts, "http.route")
	if fmtCounts(byRoute) != fmt.Sprintf("/users/:id/basket/{product}=10 /users/{id}=%d ", n) {
		t.Errorf("counts by route: %s", fmtCounts(byRoute))
	}
	if len(pts) != 2 {
		t.Errorf("%d series, want 2 (one per route)", len(pts))
	}
}

// missingReport says which requests have no span, and what the receiver
// counted: for the message when a count is off.
func missingReport(h *harness, spans []spanView, reqs []testserver.Request) string {
	seen := map[string]int{}
	for _, s := range spans {
		seen[s.attr("url.path")]++
	}
	var b strings.Builder
	for i, r := range reqs {
		if seen[r.Path] == 0 && r.Path != "/health" {
			fmt.Fprintf(&b, "request %d of %d, %s, has no span\n", i, len(reqs), r.Path)
		}
	}
	r := h.receiver()
	st := &r.stats
	fmt.Fprintf(&b, "receiver: %d records, %d incomplete, %d unrecognised, %d parse errors, %d events", st.Records.Load(),
		st.Incomplete(), st.Unrecognised.Load(), st.ParseErrors(), st.EventsRead.Load())
	if c, err := r.probes.Counters(); err == nil {
		fmt.Fprintf(&b, "; kernel: %+v", c)
	}
	return b.String()
}

// A flood of random paths under the heuristic stays under the series cap,
// and the totals stay exact through the overflow series.
func TestHeuristicFloodUnderCap(t *testing.T) {
	requireRoot(t)
	// Not the Go server: its ServeMux reports a route ("/") for every path,
	// which rightly takes the place of the heuristic.
	srv := testserver.StartNode(t)
	const limit = 20
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = strconv.Itoa(srv.Port)
		c.Routes = routes.Config{Unmatched: "heuristic"}
		c.Metrics.MaxSeriesPerService = limit
	})
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"api", "orders", "items", "cart", "search", "v1", "v2", "img", "docs", "profile", "settings", "export", "admin", "feed"}
	const n = 3000
	reqs := make([]testserver.Request, n)
	for i := range reqs {
		p := ""
		for j := 0; j < 1+rng.IntN(4); j++ {
			if rng.IntN(2) == 0 {
				p += "/" + words[rng.IntN(len(words))] + words[rng.IntN(len(words))]
			} else {
				p += fmt.Sprintf("/%x", rng.Uint64())
			}
		}
		reqs[i] = testserver.Request{Path: p}
	}
	testserver.Drive(t, srv.Base(), reqs, true)
	h.waitSpans(n, isServer)
	h.stop()
	pts := h.histograms("http.server.request.duration")
	var total uint64
	overflow := false
	for _, p := range pts {
		total += p.count
		if p.attrs["otel.metric.overflow"] == "true" {
			overflow = true
		}
	}
	if total != n {
		t.Errorf("total count %d, want %d", total, n)
	}
	if len(pts) > limit {
		t.Errorf("%d series, want at most %d", len(pts), limit)
	}
	if !overflow {
		t.Errorf("no overflow series although %d distinct shapes were sent", n)
	}
	for _, s := range h.spans(func(s ptrace.Span) bool { return true }) {
		if r := s.attr("http.route"); r == "" || len(r) > routes.MaxRouteLen {
			t.Fatalf("span route %q", r)
		}
	}
}

// A trace sampler thins spans only: metrics still count every request.
func TestSamplerKeepsMetricsExact(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartNode(t)

	h := startReceiver(t, func(c *Config) {
		c.OpenPort = strconv.Itoa(srv.Port)
		c.Traces.Sampler = spans.SamplerConfig{Name: "traceidratio", Arg: "0.5"}
	})
	const n = 400
	reqs := make([]testserver.Request, n)
	for i := range reqs {
		reqs[i] = testserver.Request{Path: "/status/200"}
	}
	testserver.Drive(t, srv.Base(), reqs, true)
	time.Sleep(time.Second) // every span flushed (they are not all coming)
	h.stop()
	got := countBy(h.histograms("http.server.request.duration"), "http.request.method")
	if got["GET"] != n {
		t.Errorf("metrics counted %d requests, want all %d", got["GET"], n)
	}
	// Binomial(400, 0.5) leaves [120, 280] with probability below 1e-18.
	if s := len(h.spans(isServer)); s < 120 || s > 280 {
		t.Errorf("%d spans kept of %d at ratio 0.5", s, n)
	}
}
