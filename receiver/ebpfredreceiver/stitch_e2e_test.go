package ebpfredreceiver

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/discovery"
	"github.com/ebpfred/ebpfred/internal/spans"
	"github.com/ebpfred/ebpfred/internal/testserver"
)

// stitchRequests sends n requests to A's /proxy, which calls B's
// /status/{code} on its handler thread: every fifth asks B for a 503 (A
// passes it on). It returns how many came back 503.
func stitchRequests(t *testing.T, a, b *testserver.Server, n int) (failed int) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < n; i++ {
		code := 200
		if i%5 == 4 {
			code = 503
		}
		resp, err := client.Get(fmt.Sprintf("http://%s/proxy?to=http://%s/status/%d", a.Addr, b.Addr, code))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != code || !strings.HasPrefix(string(body), fmt.Sprintf("proxied %d\n", code)) {
			t.Fatalf("request %d: A answered %d %q, want %d", i, resp.StatusCode, body, code)
		}
		if code >= 500 {
			failed++
		}
	}
	return failed
}

// stitchChains sorts the spans of the n requests into chains, in the
// order the requests were made.
func stitchChains(t *testing.T, h *harness, b *testserver.Server, n int) []chain {
	t.Helper()
	got := h.waitSpans(3*n, func(s ptrace.Span) bool { return s.Name() == "GET" })
	var servA, cli, servB []spanView
	for _, s := range got {
		switch {
		case s.span.Kind() == ptrace.SpanKindServer && s.attr("url.path") == "/proxy":
			servA = append(servA, s)
		case s.span.Kind() == ptrace.SpanKindClient && s.attr("server.port") == fmt.Sprint(b.Port):
			cli = append(cli, s)
		case s.span.Kind() == ptrace.SpanKindServer && strings.HasPrefix(s.attr("url.path"), "/status/"):
			servB = append(servB, s)
		default:
			t.Errorf("unexpected span %v %s %v", s.span.Kind(), s.span.Name(), s.span.Attributes().AsRaw())
		}
	}
	if len(servA) != n || len(cli) != n || len(servB) != n {
		t.Fatalf("spans: %d SERVER(A), %d CLIENT(A→B), %d SERVER(B); want %d each", len(servA), len(cli), len(servB), n)
	}
	out := make([]chain, n)
	for i := range out { // waitSpans sorts by start time; requests were sequential
		out[i] = chain{servA[i], cli[i], servB[i]}
	}
	return out
}

// traces groups every span of the chains by trace id.
func traceSizes(chains []chain) map[pcommon.TraceID]int {
	out := map[pcommon.TraceID]int{}
	for _, c := range chains {
		out[c.serverA.span.TraceID()]++
		out[c.client.span.TraceID()]++
		out[c.serverB.span.TraceID()]++
	}
	return out
}

func inside(child, parent spanView) bool {
	return child.span.StartTimestamp() >= parent.span.StartTimestamp() && child.span.EndTimestamp() <= parent.span.EndTimestamp()
}

// TestStitchSameNode: Python servers A and B on this node, both
// instrumented; A's handler calls B. Same-node linking makes B's SERVER
// span the child of A's CLIENT span, inside it in time, without anything on
// the wire (context_propagation disabled) and in agreement with what
// propagation put on the wire (headers), where the handler's thread also
// links A's CLIENT span under A's SERVER span: one trace of 3 spans per
// request. Without propagation nothing links A's CLIENT span to A's SERVER
// span (a Python handler's thread is only followed for propagation): 2
// traces per request, A's SERVER span alone and CLIENT → SERVER(B).
func TestStitchSameNode(t *testing.T) {
	requireRoot(t)
	const n = 10
	for _, prop := range []string{PropagationDisabled, PropagationHeaders} {
		t.Run(prop, func(t *testing.T) {
			a, b := testserver.StartPython(t), testserver.StartPython(t)
			h := startReceiver(t, func(c *Config) {
				c.Discovery.Services = []discovery.SelectorConfig{
					{Name: "svc-a", OpenPorts: fmt.Sprint(a.Port)}, {Name: "svc-b", OpenPorts: fmt.Sprint(b.Port)}}
				c.ContextPropagation = prop
				c.Metrics.ServiceGraph.Enabled = true
			})
			waitTracked(t, h, a.PID, b.PID)
			failed := stitchRequests(t, a, b, n)
			chains := stitchChains(t, h, b, n)
			for i, c := range chains {
				if c.serverB.span.TraceID() != c.client.span.TraceID() || c.serverB.span.ParentSpanID() != c.client.span.SpanID() {
					t.Errorf("request %d: SERVER(B) trace %v parent %v; want CLIENT(A→B)'s trace %v and span %v", i,
						c.serverB.span.TraceID(), c.serverB.span.ParentSpanID(), c.client.span.TraceID(), c.client.span.SpanID())
				}
				if !inside(c.serverB, c.client) {
					t.Errorf("request %d: SERVER(B) [%d, %d] not inside CLIENT [%d, %d]", i,
						c.serverB.span.StartTimestamp(), c.serverB.span.EndTimestamp(), c.client.span.StartTimestamp(), c.client.span.EndTimestamp())
				}
				if !c.serverA.span.ParentSpanID().IsEmpty() {
					t.Errorf("request %d: SERVER(A) has parent %v, want a root", i, c.serverA.span.ParentSpanID())
				}
				linkedA := c.client.span.ParentSpanID() == c.serverA.span.SpanID() && c.client.span.TraceID() == c.serverA.span.TraceID()
				if want := prop == PropagationHeaders; linkedA != want {
					t.Errorf("request %d: CLIENT under SERVER(A) %v, want %v (parent %v)", i, linkedA, want, c.client.span.ParentSpanID())
				}
				if linkedA && !inside(c.client, c.serverA) {
					t.Errorf("request %d: CLIENT not inside SERVER(A)", i)
				}
				if !linkedA && !c.client.span.ParentSpanID().IsEmpty() {
					t.Errorf("request %d: CLIENT has parent %v, want a root", i, c.client.span.ParentSpanID())
				}
			}
			sizes := traceSizes(chains)
			want := map[int]int{3: n} // trace size → traces
			if prop == PropagationDisabled {
				want = map[int]int{1: n, 2: n}
			}
			got := map[int]int{}
			for _, size := range sizes {
				got[size]++
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("traces by size %v, want %v", got, want)
			}
			if l := h.receiver().spans.Links(); l.Linked != n || l.Ambiguous != 0 {
				t.Errorf("link stats %+v, want %d linked", l, n)
			}
			h.stop()
			checkServiceGraph(t, h, n, failed)
		})
	}
}

// checkServiceGraph: the A→B edge counts every request once, its failures
// (B's 503s) and both durations; the test process's requests to A are
// an edge from "user".
func checkServiceGraph(t *testing.T, h *harness, n, failed int) {
	t.Helper()
	edges := h.sums("traces_service_graph_request_total")
	failedEdges := h.sums("traces_service_graph_request_failed_total")
	svcA, svcB := "svc-a", "svc-b"
	key := func(client, server, ct string) string { return client + "→" + server + " " + ct }
	wantEdges := map[string]int64{key(svcA, svcB, ""): int64(n), key("user", svcA, "virtual_node"): int64(n)}
	if fmt.Sprint(edges) != fmt.Sprint(wantEdges) {
		t.Errorf("traces_service_graph_request_total %v, want %v", edges, wantEdges)
	}
	// A passes B's 503 on: the user→A edge fails as often.
	wantFailed := map[string]int64{key(svcA, svcB, ""): int64(failed), key("user", svcA, "virtual_node"): int64(failed)}
	if fmt.Sprint(failedEdges) != fmt.Sprint(wantFailed) {
		t.Errorf("traces_service_graph_request_failed_total %v, want %v", failedEdges, wantFailed)
	}
	for _, m := range []string{"traces_service_graph_request_server", "traces_service_graph_request_client"} {
		counts := map[string]uint64{}
		for _, p := range h.histograms(m) {
			counts[key(p.attrs["client"], p.attrs["server"], p.attrs["connection_type"])] += p.count
		}
		want := map[string]uint64{key(svcA, svcB, ""): uint64(n)}
		if m == "traces_service_graph_request_server" {
			want[key("user", svcA, "virtual_node")] = uint64(n)
		}
		if fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Errorf("%s counts %v, want %v", m, counts, want)
		}
	}
}

// sums returns the last export's monotonic sums named name, by
// "client→server connection_type".
func (h *harness) sums(name string) map[string]int64 {
	h.t.Helper()
	all := h.metrics.AllMetrics()
	out := map[string]int64{}
	if len(all) == 0 {
		return out
	}
	md := all[len(all)-1]
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != name {
					continue
				}
				dps := m.Sum().DataPoints()
				for d := 0; d < dps.Len(); d++ {
					a := toMap(dps.At(d).Attributes())
					out[a["client"]+"→"+a["server"]+" "+a["connection_type"]] += dps.At(d).IntValue()
				}
			}
		}
	}
	return out
}

// TestStitchGRPC: a Go gRPC client and a Go gRPC server on this node, both
// instrumented, 20 concurrent unary calls multiplexed on one HTTP/2
// connection (same method, delays of 10 to 70 ms): each SERVER span is
// the child of exactly one CLIENT span, matched by stream id, inside it, and
// the pairs agree on the delay the call asked for.
func TestStitchGRPC(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGRPCGo(t)
	h := startReceiver(t, func(c *Config) {
		c.Discovery.Services = []discovery.SelectorConfig{
			{Name: "grpc-server", OpenPorts: fmt.Sprint(srv.Port)}, {Name: "grpc-client", ExePathRegexp: "/grpcclient$"}}
	})
	delays := []int{10, 30, 50, 70}
	var calls []string
	for _, d := range delays {
		calls = append(calls, fmt.Sprintf("Unary:0:%d", d))
	}
	const concurrency = 5
	n := concurrency * len(calls)
	// Started after the receiver: exec'd, picked up from its first call.
	if res := testserver.StartGRPCClient(t, srv.Addr, concurrency, calls...).Run(); len(res) != n {
		t.Fatalf("%d calls made, want %d", len(res), n)
	}
	spans := h.waitSpans(2*n, func(s ptrace.Span) bool { return s.Name() == unaryMethod })
	if l := h.receiver().spans.Links(); l.Linked != uint64(n) {
		t.Errorf("link stats %+v, want %d linked", l, n)
	}
	h.stop()
	clients := map[pcommon.SpanID]spanView{}
	var servers []spanView
	for _, s := range spans {
		if s.span.Kind() == ptrace.SpanKindClient {
			clients[s.span.SpanID()] = s
		} else {
			servers = append(servers, s)
		}
	}
	if len(clients) != n || len(servers) != n {
		t.Fatalf("%d CLIENT and %d SERVER spans, want %d each", len(clients), len(servers), n)
	}
	class := func(s spanView) int { // the delay the call asked for
		got := -1
		for _, d := range delays {
			if s.duration() >= time.Duration(d)*time.Millisecond {
				got = d
			}
		}
		return got
	}
	parents := map[pcommon.SpanID]bool{}
	for _, s := range servers {
		c, ok := clients[s.span.ParentSpanID()]
		if !ok || c.span.TraceID() != s.span.TraceID() {
			t.Errorf("SERVER span (%v) has parent %v: not one of the CLIENT spans", s.duration(), s.span.ParentSpanID())
			continue
		}
		if parents[c.span.SpanID()] {
			t.Errorf("CLIENT span %v is the parent of two SERVER spans", c.span.SpanID())
		}
		parents[c.span.SpanID()] = true
		if !inside(s, c) {
			t.Errorf("SERVER span [%d, %d] not inside its CLIENT [%d, %d]", s.span.StartTimestamp(), s.span.EndTimestamp(),
				c.span.StartTimestamp(), c.span.EndTimestamp())
		}
		if class(s) != class(c) {
			t.Errorf("SERVER span of a %d ms call under the CLIENT span of a %d ms call (%v, %v)", class(s), class(c), s.duration(), c.duration())
		}
	}
}

// TestStitchGo: the scenario, Go net/http server A calling Go
// server B from its handler, both on this node, over HTTP/1.1 and over TLS
// (B's SERVER span from Go's crypto/tls probes, A's CLIENT span too). B's
// SERVER span is the child of A's CLIENT span, inside it. (A's CLIENT span
// under A's SERVER span, traces.link_in_process, is TestGoInProcess's.)
func TestStitchGo(t *testing.T) {
	requireRoot(t)
	const n = 5
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[useTLS], func(t *testing.T) {
			a := testserver.StartGo(t)
			b := testserver.StartGo(t)
			if useTLS {
				b = testserver.StartGoTLS(t)
			}
			h := startReceiver(t, func(c *Config) {
				c.Discovery.Services = []discovery.SelectorConfig{
					{Name: "app1", OpenPorts: fmt.Sprint(a.Port)}, {Name: "app2", OpenPorts: fmt.Sprint(b.Port)}}
				c.Metrics.ServiceGraph.Enabled = true
			})
			waitTracked(t, h, a.PID, b.PID)
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			for i := 0; i < n; i++ {
				resp, err := client.Get(fmt.Sprintf("http://%s/proxy?to=%s", a.Addr, b.URL("/status/200?delay_ms=5")))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("A answered %d %q", resp.StatusCode, body)
				}
			}
			spans := h.waitSpans(3*n, func(s ptrace.Span) bool { return strings.HasPrefix(s.Name(), "GET") })
			if l := h.receiver().spans.Links(); l.Linked != n {
				t.Errorf("link stats %+v, want %d linked", l, n)
			}
			h.stop()
			clients := map[pcommon.SpanID]spanView{}
			var servB []spanView
			for _, s := range spans {
				switch {
				case s.span.Kind() == ptrace.SpanKindClient:
					clients[s.span.SpanID()] = s
				case s.span.Kind() == ptrace.SpanKindServer && strings.HasPrefix(s.attr("url.path"), "/status/"):
					servB = append(servB, s)
				}
			}
			if len(clients) != n || len(servB) != n {
				t.Fatalf("%d CLIENT and %d SERVER(B) spans, want %d each", len(clients), len(servB), n)
			}
			edges := h.sums("traces_service_graph_request_total")
			if want := map[string]int64{"app1→app2 ": n, "user→app1 virtual_node": n}; fmt.Sprint(edges) != fmt.Sprint(want) {
				t.Errorf("traces_service_graph_request_total %v, want %v", edges, want)
			}
			parents := map[pcommon.SpanID]bool{}
			for i, s := range servB {
				if want := map[bool]string{false: "http", true: "https"}[useTLS]; s.attr("url.scheme") != want {
					t.Errorf("SERVER(B) url.scheme %q, want %q", s.attr("url.scheme"), want)
				}
				c, ok := clients[s.span.ParentSpanID()]
				if !ok || c.span.TraceID() != s.span.TraceID() {
					t.Errorf("request %d: SERVER(B) parent %v is not a CLIENT span", i, s.span.ParentSpanID())
					continue
				}
				if parents[c.span.SpanID()] {
					t.Errorf("CLIENT span %v is the parent of two SERVER spans", c.span.SpanID())
				}
				parents[c.span.SpanID()] = true
				if !inside(s, c) {
					t.Errorf("request %d: SERVER(B) not inside its CLIENT", i)
				}
			}
		})
	}
}

// TestStitchConcurrent: 20 requests at once through Python A (a thread
// each, a connection each to B), with delays from 50 ms to 1 s. With
// propagation (headers) the wire says which CLIENT span each SERVER(B)
// span belongs to, and the collector links on its own first: every link it
// made must agree with the wire (a disagreement counts as uncertain and
// keeps the wire's parent). Without propagation, same-node linking alone
// gives every SERVER(B) span exactly one CLIENT parent, around it in time.
func TestStitchConcurrent(t *testing.T) {
	requireRoot(t)
	for _, prop := range []string{PropagationDisabled, PropagationHeaders} {
		t.Run(prop, func(t *testing.T) { testStitchConcurrent(t, prop) })
	}
}

func testStitchConcurrent(t *testing.T, prop string) {
	const n = 20
	a, b := testserver.StartPython(t), testserver.StartPython(t)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = fmt.Sprintf("%d,%d", a.Port, b.Port)
		c.ContextPropagation = prop
	})
	waitTracked(t, h, a.PID, b.PID)
	step := 50 * time.Millisecond
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := url.QueryEscape(fmt.Sprintf("http://%s/status/200?delay_ms=%d", b.Addr, (i+1)*int(step/time.Millisecond)))
			resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(fmt.Sprintf("http://%s/proxy?to=%s", a.Addr, to))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("A answered %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	chains := stitchChains(t, h, b, n)
	if l := h.receiver().spans.Links(); l.Linked != n || l.Ambiguous != 0 || l.Unmatched != 0 {
		t.Errorf("link stats %+v, want %d linked and nothing else", l, n)
	}
	h.stop()
	byID := map[pcommon.SpanID]spanView{}
	for _, c := range chains {
		byID[c.client.span.SpanID()] = c.client
		byID[c.serverA.span.SpanID()] = c.serverA
	}
	parents := map[pcommon.SpanID]bool{}
	for _, c := range chains {
		s := c.serverB
		cl, ok := byID[s.span.ParentSpanID()]
		if !ok || cl.span.Kind() != ptrace.SpanKindClient {
			t.Errorf("SERVER(B) %v: parent %v is not a CLIENT span", s.duration(), s.span.ParentSpanID())
			continue
		}
		if parents[cl.span.SpanID()] {
			t.Errorf("CLIENT %v is the parent of two SERVER(B) spans", cl.span.SpanID())
		}
		parents[cl.span.SpanID()] = true
		if !inside(s, cl) {
			t.Errorf("SERVER(B) %v not inside its CLIENT %v", s.duration(), cl.duration())
		}
		if prop == PropagationDisabled {
			continue
		}
		sa, ok := byID[cl.span.ParentSpanID()]
		if !ok || sa.span.Kind() != ptrace.SpanKindServer {
			t.Errorf("CLIENT %v: parent %v is not a SERVER(A) span", cl.duration(), cl.span.ParentSpanID())
			continue
		}
		if !inside(cl, sa) {
			t.Errorf("CLIENT %v not inside its SERVER(A) %v", cl.duration(), sa.duration())
		}
	}
	sizes := map[int]int{}
	for _, size := range traceSizes(chains) {
		sizes[size]++
	}
	want := map[int]int{3: n}
	if prop == PropagationDisabled {
		want = map[int]int{1: n, 2: n}
	}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("traces by size %v, want %v", sizes, want)
	}
}

// TestStitchServiceGraphUnsampled: the service graph counts every request,
// even when the sampler keeps no span at all.
func TestStitchServiceGraphUnsampled(t *testing.T) {
	requireRoot(t)
	const n = 5
	a, b := testserver.StartPython(t), testserver.StartPython(t)
	h := startReceiver(t, func(c *Config) {
		c.Discovery.Services = []discovery.SelectorConfig{
			{Name: "svc-a", OpenPorts: fmt.Sprint(a.Port)}, {Name: "svc-b", OpenPorts: fmt.Sprint(b.Port)}}
		c.Metrics.ServiceGraph.Enabled = true
		c.Traces.Sampler = spans.SamplerConfig{Name: "always_off"}
	})
	waitTracked(t, h, a.PID, b.PID)
	failed := stitchRequests(t, a, b, n)
	deadline := time.Now().Add(10 * time.Second)
	for h.receiver().stats.Records.Load() < 3*n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	h.stop()
	if got := len(h.spans(nil)); got != 0 {
		t.Errorf("%d spans exported with always_off", got)
	}
	checkServiceGraph(t, h, n, failed)
}
