package ebpfredreceiver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// sdkSpan is what the OpenTelemetry Go SDK's stdout exporter writes of a
// span.
type sdkSpan struct {
	Name        string
	SpanKind    int // 2 server, 3 client
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
}

// TestSDKNeighbour: issue 12, item 8. A chain in which a service
// instrumented with the OpenTelemetry SDK (Go, otelhttp on its server and
// client) sits between two services ebpfred instruments, with
// context_propagation: headers:
//
//	A (Python, ebpfred) → S (Go, SDK) → B (Python, ebpfred)
//
// Each request is one trace of five spans, each the child of the one
// before: A's SERVER → A's CLIENT (whose traceparent the SDK continues) →
// S's SERVER → S's CLIENT (whose traceparent ebpfred continues) → B's
// SERVER; and B received S's CLIENT span's traceparent.
func TestSDKNeighbour(t *testing.T) {
	requireRoot(t)
	spansFile := filepath.Join(t.TempDir(), "sdk-spans.json")
	s := testserver.StartSDKProxy(t, spansFile)
	h, a, b := proxyChain(t, PropagationHeaders)

	const n = 5
	var received []string
	for range n {
		inner := fmt.Sprintf("http://%s/traceparent", b.Addr)
		mid := fmt.Sprintf("http://%s/proxy?to=%s", s.Addr, url.QueryEscape(inner))
		body := getVia(t, fmt.Sprintf("http://%s/proxy?to=%s", a.Addr, url.QueryEscape(mid)), "")
		lines := strings.Split(strings.TrimSpace(body), "\n")
		if len(lines) != 3 || lines[0] != "proxied 200" || lines[1] != "proxied 200" {
			t.Fatalf("A answered %q", body)
		}
		received = append(received, lines[2])
	}
	mine := func(sp ptrace.Span) bool {
		p, _ := sp.Attributes().Get("url.path")
		port, _ := sp.Attributes().Get("server.port")
		return sp.Kind() == ptrace.SpanKindServer && (p.AsString() == "/proxy" || p.AsString() == "/traceparent") ||
			sp.Kind() == ptrace.SpanKindClient && port.AsString() == fmt.Sprint(s.Port)
	}
	spans := h.waitSpans(3*n, mine)
	h.stop()
	s.Stop() // the SDK writes its spans as it shuts down

	f, err := os.Open(spansFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sdk []sdkSpan
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var sp sdkSpan
		if err := json.Unmarshal(sc.Bytes(), &sp); err != nil {
			t.Fatalf("the SDK's span %q: %v", sc.Text(), err)
		}
		sdk = append(sdk, sp)
	}

	type chainOf struct {
		aServer, aClient, bServer []spanView
		sServer, sClient          []sdkSpan
	}
	traces := map[string]*chainOf{}
	of := func(id string) *chainOf {
		if traces[id] == nil {
			traces[id] = &chainOf{}
		}
		return traces[id]
	}
	for _, sp := range spans {
		c := of(sp.span.TraceID().String())
		switch {
		case sp.span.Kind() == ptrace.SpanKindClient:
			c.aClient = append(c.aClient, sp)
		case sp.attr("url.path") == "/proxy":
			c.aServer = append(c.aServer, sp)
		default:
			c.bServer = append(c.bServer, sp)
		}
	}
	for _, sp := range sdk {
		c := of(sp.SpanContext.TraceID)
		switch sp.SpanKind {
		case 2:
			c.sServer = append(c.sServer, sp)
		case 3:
			c.sClient = append(c.sClient, sp)
		}
	}
	if len(traces) != n {
		t.Errorf("%d traces, want %d (one per request)", len(traces), n)
	}
	receivedBy := map[string]bool{}
	for _, r := range received {
		receivedBy[r] = true
	}
	for id, c := range traces {
		if len(c.aServer) != 1 || len(c.aClient) != 1 || len(c.sServer) != 1 || len(c.sClient) != 1 || len(c.bServer) != 1 {
			t.Errorf("trace %s: %d A SERVER, %d A CLIENT, %d S SERVER, %d S CLIENT, %d B SERVER; want one of each",
				id, len(c.aServer), len(c.aClient), len(c.sServer), len(c.sClient), len(c.bServer))
			continue
		}
		aS, aC, sS, sC, bS := c.aServer[0].span, c.aClient[0].span, c.sServer[0], c.sClient[0], c.bServer[0].span
		if aC.ParentSpanID() != aS.SpanID() {
			t.Errorf("trace %s: A's CLIENT parent %v, want A's SERVER %v", id, aC.ParentSpanID(), aS.SpanID())
		}
		if sS.Parent.SpanID != aC.SpanID().String() {
			t.Errorf("trace %s: the SDK's SERVER parent %s, want A's CLIENT %v", id, sS.Parent.SpanID, aC.SpanID())
		}
		if sC.Parent.SpanID != sS.SpanContext.SpanID {
			t.Errorf("trace %s: the SDK's CLIENT parent %s, want its SERVER %s", id, sC.Parent.SpanID, sS.SpanContext.SpanID)
		}
		if bS.ParentSpanID().String() != sC.SpanContext.SpanID {
			t.Errorf("trace %s: B's SERVER parent %v, want the SDK's CLIENT %s", id, bS.ParentSpanID(), sC.SpanContext.SpanID)
		}
		if tp := "00-" + id + "-" + sC.SpanContext.SpanID + "-01"; !receivedBy[tp] {
			t.Errorf("trace %s: B did not receive the SDK CLIENT's traceparent %s (received %q)", id, tp, received)
		}
	}
}
