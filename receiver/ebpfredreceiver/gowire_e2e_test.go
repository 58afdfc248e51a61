package ebpfredreceiver

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// TestPropagationGo: issue 12, item 2 (Go on the wire). context_propagation:
// headers with a Go net/http server whose handler calls a service this
// collector does not see (a server in the test process, standing for one
// on another node). The request it sends carries its CLIENT span's
// traceparent; that CLIENT span is the child of the handler's SERVER span,
// whether the handler itself, a goroutine it started or one two levels
// below makes the call, and with a traceparent coming in the whole chain
// continues it. Goroutines hop threads: the kernel finds the request a
// write belongs to through the writing goroutine (go_context), never the
// thread.
func TestPropagationGo(t *testing.T) {
	requireRoot(t)
	var mu sync.Mutex
	got := map[int]string{} // status asked for → the traceparent that came with it
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		if err != nil {
			code = http.StatusBadRequest
		}
		mu.Lock()
		got[code] = r.Header.Get("traceparent")
		mu.Unlock()
		w.WriteHeader(code)
	}))
	defer remote.Close()
	remotePort := remote.Listener.Addr().(*net.TCPAddr).Port

	app := testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = strconv.Itoa(app.Port)
		c.ContextPropagation = PropagationHeaders
	})
	waitTracked(t, h, app.PID)
	r := h.receiver()
	for deadline := time.Now().Add(10 * time.Second); r.probes.TLSStats().FilesInstrumented.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Go server was not instrumented")
		}
	}
	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const n = 9
	for i := range n {
		code := 200 + i
		u := app.URL(fmt.Sprintf("/proxy/w%d?go=%d&to=%s", i, i%3, url.QueryEscape(fmt.Sprintf("%s/status/%d", remote.URL, code))))
		tp := ""
		if i == n-1 {
			tp = incoming
		}
		req, _ := http.NewRequest("GET", u, nil)
		if tp != "" {
			req.Header.Set("traceparent", tp)
		}
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Fatalf("GET %s: %d, want %d", u, resp.StatusCode, code)
		}
	}
	mine := func(s ptrace.Span) bool {
		v, _ := s.Attributes().Get("url.path")
		p, _ := s.Attributes().Get("server.port")
		return s.Kind() == ptrace.SpanKindServer && strings.HasPrefix(v.AsString(), "/proxy/w") ||
			s.Kind() == ptrace.SpanKindClient && p.AsString() == strconv.Itoa(remotePort)
	}
	spans := h.waitSpans(2*n, mine)
	// What the kernel held, for a failure's report (bpftool, when there).
	var maps strings.Builder
	for _, m := range []string{"regs_off", "sock_ctx", "go_wl", "go_pc", "go_srv"} {
		out, _ := exec.Command("bpftool", "map", "dump", "name", m).CombinedOutput()
		fmt.Fprintf(&maps, "%s: %.1500s\n", m, out)
	}
	h.stop()
	defer func() {
		if t.Failed() {
			t.Logf("kernel maps at the end:\n%s", maps.String())
		}
	}()
	servers, clients := map[int]spanView{}, map[int]spanView{}
	for _, s := range spans {
		c, _ := strconv.Atoi(s.attr("http.response.status_code"))
		if s.span.Kind() == ptrace.SpanKindServer {
			servers[c] = s
		} else {
			clients[c] = s
		}
	}
	if len(spans) != 2*n || len(servers) != n || len(clients) != n {
		t.Fatalf("%d spans (%d SERVER, %d CLIENT), want %d of each", len(spans), len(servers), len(clients), n)
	}
	for i := range n {
		code := 200 + i
		srv, cli := servers[code], clients[code]
		if cli.span.TraceID() != srv.span.TraceID() || cli.span.ParentSpanID() != srv.span.SpanID() {
			t.Errorf("request %d (go=%d): CLIENT trace %v parent %v; want SERVER's trace %v and span %v",
				i, i%3, cli.span.TraceID(), cli.span.ParentSpanID(), srv.span.TraceID(), srv.span.SpanID())
		}
		if want := tpOf(cli); got[code] != want {
			t.Errorf("request %d (go=%d): the remote service received traceparent %q, want the CLIENT span's %q", i, i%3, got[code], want)
		}
	}
	if last := servers[200+n-1].span; last.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || last.ParentSpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("SERVER with traceparent %s: trace %v parent %v", incoming, last.TraceID(), last.ParentSpanID())
	}
}
