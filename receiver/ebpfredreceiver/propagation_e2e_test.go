package ebpfredreceiver

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// getVia sends GET url from the test process (never instrumented), with a
// traceparent when tp is set, and returns the body.
func getVia(t *testing.T, url, tp string) string {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tp != "" {
		req.Header.Set("traceparent", tp)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// proxyChain starts Python servers A and B (thread-per-request) and a
// receiver instrumenting both; A's /proxy calls B's /traceparent on the
// handler thread.
func proxyChain(t *testing.T, propagation string) (h *harness, a, b *testserver.Server) {
	a, b = testserver.StartPython(t), testserver.StartPython(t)
	h = startReceiver(t, func(c *Config) {
		c.OpenPort = fmt.Sprintf("%d,%d", a.Port, b.Port)
		c.ContextPropagation = propagation
	})
	waitTracked(t, h, a.PID, b.PID)
	return h, a, b
}

// waitTracked waits until discovery selected the pids: only connections a
// tracked process opens afterwards get a traceparent.
func waitTracked(t *testing.T, h *harness, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for h.receiver().disc.Lookup(uint32(pid)) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d was not instrumented", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

type chain struct{ serverA, client, serverB spanView }

// chainSpans finds the three spans of one /proxy request of A.
func chainSpans(t *testing.T, h *harness, a, b *testserver.Server, n int) []chain {
	t.Helper()
	isHTTP := func(s ptrace.Span) bool { return s.Name() == "GET" }
	got := h.waitSpans(3*n, isHTTP)
	var servA, cli, servB []spanView
	for _, s := range got {
		switch {
		case s.span.Kind() == ptrace.SpanKindServer && s.attr("url.path") == "/proxy":
			servA = append(servA, s)
		case s.span.Kind() == ptrace.SpanKindClient && s.attr("server.port") == fmt.Sprint(b.Port):
			cli = append(cli, s)
		case s.span.Kind() == ptrace.SpanKindServer && s.attr("url.path") == "/traceparent":
			servB = append(servB, s)
		}
	}
	if len(servA) != n || len(cli) != n || len(servB) != n {
		t.Fatalf("spans: %d SERVER(A), %d CLIENT(A→B), %d SERVER(B); want %d each", len(servA), len(cli), len(servB), n)
	}
	out := make([]chain, n)
	for i := range out {
		out[i] = chain{servA[i], cli[i], servB[i]}
	}
	return out
}

func tpOf(s spanView) string {
	id, span := s.span.TraceID(), s.span.SpanID()
	return "00-" + hex.EncodeToString(id[:]) + "-" + hex.EncodeToString(span[:]) + "-01"
}

// context_propagation: headers. A request to A, which calls B on its
// handler thread, is one trace: SERVER(A) → CLIENT(A→B) → SERVER(B), and B
// received the CLIENT span's traceparent. With an incoming traceparent,
// A continues it.
func TestPropagationThreadPerRequest(t *testing.T) {
	requireRoot(t)
	h, a, b := proxyChain(t, PropagationHeaders)

	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var seen []string
	for _, tp := range []string{"", incoming} {
		body := getVia(t, fmt.Sprintf("http://%s/proxy?to=http://%s/traceparent", a.Addr, b.Addr), tp)
		if !strings.HasPrefix(body, "proxied 200\n") {
			t.Fatalf("A answered %q", body)
		}
		seen = append(seen, strings.TrimSpace(strings.TrimPrefix(body, "proxied 200\n")))
	}
	chains := chainSpans(t, h, a, b, 2)
	for i, c := range chains {
		tid := c.serverA.span.TraceID()
		if c.client.span.TraceID() != tid || c.serverB.span.TraceID() != tid {
			t.Errorf("request %d: trace ids A %v, client %v, B %v: want one trace", i, tid, c.client.span.TraceID(), c.serverB.span.TraceID())
		}
		if c.client.span.ParentSpanID() != c.serverA.span.SpanID() {
			t.Errorf("request %d: CLIENT parent %v, want SERVER(A) %v", i, c.client.span.ParentSpanID(), c.serverA.span.SpanID())
		}
		if c.serverB.span.ParentSpanID() != c.client.span.SpanID() {
			t.Errorf("request %d: SERVER(B) parent %v, want CLIENT %v", i, c.serverB.span.ParentSpanID(), c.client.span.SpanID())
		}
		if want := tpOf(c.client); seen[i] != want {
			t.Errorf("request %d: B received traceparent %q, want the CLIENT span's %q", i, seen[i], want)
		}
	}
	// The first request started a trace; the second continued the caller's.
	if !chains[0].serverA.span.ParentSpanID().IsEmpty() {
		t.Errorf("SERVER(A) without traceparent has parent %v", chains[0].serverA.span.ParentSpanID())
	}
	if got := chains[1].serverA.span; got.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || got.ParentSpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("SERVER(A) with traceparent %s: trace %v parent %v", incoming, got.TraceID(), got.ParentSpanID())
	}
}

// context_propagation: disabled (the default). Nothing is injected: B sees
// no traceparent. Its span still joins the caller's trace, as the child of
// A's CLIENT span, by same-node linking alone (both ends are on this node).
func TestPropagationDisabled(t *testing.T) {
	requireRoot(t)
	h, a, b := proxyChain(t, PropagationDisabled)
	body := getVia(t, fmt.Sprintf("http://%s/proxy?to=http://%s/traceparent", a.Addr, b.Addr), "")
	if body != "proxied 200\nnone\n" {
		t.Errorf("A answered %q, want B to have seen no traceparent", body)
	}
	c := chainSpans(t, h, a, b, 1)[0]
	if c.serverB.span.ParentSpanID() != c.client.span.SpanID() || c.serverB.span.TraceID() != c.client.span.TraceID() {
		t.Errorf("SERVER(B) parent %v, want the CLIENT span %v (same-node linking)", c.serverB.span.ParentSpanID(), c.client.span.SpanID())
	}
	if l := h.receiver().spans.Links(); l.Linked != 1 {
		t.Errorf("same-node links %+v, want 1", l)
	}
	if h.receiver().probes.PropagationCgroup() != "" {
		t.Error("the propagation programs were loaded with context_propagation: disabled")
	}
}
