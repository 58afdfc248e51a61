package ebpfredreceiver

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/sys/unix"

	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/testserver"
)

// TestGoInProcess: issue 12, item 1. Two Go net/http servers on loopback,
// both selected; app1's /proxy/{id} makes one request to app2 from its
// handler (go=0), from a goroutine the handler started (go=1), or from one
// started two goroutines below (go=2). Every CLIENT span of app1 is the
// child of the SERVER span of the same request of app1: same trace, its
// span as parent, inside it in time; and with same-node linking (item 3)
// app2's SERVER is the CLIENT's child: exactly one trace of three spans per
// request.
func TestGoInProcess(t *testing.T) {
	requireRoot(t)
	app1, app2 := testserver.StartGo(t), testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = fmt.Sprintf("%d,%d", app1.Port, app2.Port)
	})
	waitTracked(t, h, app1.PID, app2.PID)
	r := h.receiver()
	for deadline := time.Now().Add(10 * time.Second); r.probes.TLSStats().FilesInstrumented.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Go servers were not instrumented")
		}
	}

	// proxy sends app1 /proxy/<id>, which calls app2's /status/<code> from
	// depth goroutines below its handler, and returns that code.
	proxy := func(t *testing.T, id string, code, depth, delayMS int) {
		to := app2.URL(fmt.Sprintf("/status/%d?delay_ms=%d", code, delayMS))
		u := app1.URL(fmt.Sprintf("/proxy/%s?go=%d&to=%s", id, depth, url.QueryEscape(to)))
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(u)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, code)
		}
	}
	// Each request answers with a code of its own: the CLIENT span (which
	// has no url.path) is told apart by its status code, which its SERVER
	// span repeats.
	// Uprobe hits of go_context per request, both processes together.
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	hits := func(t *testing.T, requests int, do func()) {
		before := r.probes.RunCounts()
		do()
		after := r.probes.RunCounts()
		var total uint64
		var each []string
		for _, name := range goContextProbes {
			d := after[name] - before[name]
			total += d
			each = append(each, fmt.Sprintf("%s %d", name, d))
		}
		t.Logf("go_context uprobe hits: %.1f per request (%d requests: %s)", float64(total)/float64(requests), requests, strings.Join(each, ", "))
	}
	const n = 10
	t.Run("handler", func(t *testing.T) {
		hits(t, n, func() {
			for i := range n {
				proxy(t, fmt.Sprintf("h%d", i), 200+i, 0, 0)
			}
		})
		checkGoChildren(t, h, app2, "h", n, func(i int) int { return 200 + i })
	})
	t.Run("goroutine", func(t *testing.T) {
		hits(t, n, func() {
			for i := range n {
				proxy(t, fmt.Sprintf("g%d", i), 210+i, 1+i%2, 0)
			}
		})
		checkGoChildren(t, h, app2, "g", n, func(i int) int { return 210 + i })
	})
	t.Run("concurrent", func(t *testing.T) {
		const c = 20
		hits(t, c, func() {
			var wg sync.WaitGroup
			for i := range c {
				wg.Add(1)
				go func() {
					defer wg.Done()
					proxy(t, fmt.Sprintf("c%d", i), 230+i, i%3, 50)
				}()
			}
			wg.Wait()
		})
		checkGoChildren(t, h, app2, "c", c, func(i int) int { return 230 + i })
	})
	st := &r.stats
	t.Logf("client spans linked %d, unlinked %d", st.ClientLinked.Load(), st.ClientUnlinked.Load())
	if u := st.ClientUnlinked.Load(); u != 0 {
		t.Errorf("%d client spans unlinked, want 0", u)
	}

	// A call that outlives its request is never given a parent: the
	// handler of /proxy/d answers at once and its goroutine calls app2
	// 300 ms later, while the next request on the same keep-alive
	// connection (/status/299, 800 ms long) is in flight. The CLIENT span
	// stays a root, counted unlinked.
	t.Run("outlives", func(t *testing.T) {
		keep := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		to := app2.URL("/status/260")
		for _, u := range []string{app1.URL("/proxy/d?detach_ms=300&to=" + url.QueryEscape(to)), app1.URL("/status/299?delay_ms=800")} {
			resp, err := keep.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		isLate := func(s ptrace.Span) bool {
			st, _ := s.Attributes().Get("http.response.status_code")
			return s.Kind() == ptrace.SpanKindClient && st.Int() == 260
		}
		got := h.waitSpans(1, isLate)
		if len(got) != 1 {
			t.Fatalf("%d CLIENT spans for the late call, want 1", len(got))
		}
		if p := got[0].span.ParentSpanID(); !p.IsEmpty() {
			t.Errorf("the late call's CLIENT span has parent %s, want none", p)
		}
		if u := st.ClientUnlinked.Load(); u != 1 {
			t.Errorf("%d client spans unlinked, want 1", u)
		}
	})
}

// TestGoInProcessHTTPS: the same over HTTPS to app2 (Go crypto/tls
// plaintext probes), with net/http's client speaking HTTP/2 (the request
// is written by a goroutine the caller starts, sharing one connection
// among concurrent requests) and HTTP/1.1.
func TestGoInProcessHTTPS(t *testing.T) {
	requireRoot(t)
	app2 := testserver.StartGoTLS(t)
	cert, _ := testserver.SelfSignedCert(t)
	bin := testserver.GoBinary(t, "goserver")
	h2 := testserver.StartProgram(t, "go", bin, "-ca", cert)
	h1 := testserver.StartProgram(t, "go", bin, "-ca", cert, "-client-http1")
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = fmt.Sprintf("%d,%d,%d", h2.Port, h1.Port, app2.Port)
	})
	waitTracked(t, h, h2.PID, h1.PID, app2.PID)
	r := h.receiver()
	for deadline := time.Now().Add(10 * time.Second); r.probes.TLSStats().FilesInstrumented.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Go servers were not instrumented")
		}
	}
	proxy := func(t *testing.T, app1 *testserver.Server, id string, code, depth, delayMS int) {
		to := app2.URL(fmt.Sprintf("/status/%d?delay_ms=%d", code, delayMS))
		u := app1.URL(fmt.Sprintf("/proxy/%s?go=%d&to=%s", id, depth, url.QueryEscape(to)))
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(u)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, code)
		}
	}
	for _, c := range []struct {
		name string
		app1 *testserver.Server
		base int
	}{{"h2", h2, 200}, {"http1", h1, 230}} {
		t.Run(c.name, func(t *testing.T) {
			const n = 10
			var wg sync.WaitGroup
			for i := range n {
				if i < n/2 {
					proxy(t, c.app1, fmt.Sprintf("%s%d", c.name, i), c.base+i, i%2, 0)
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					proxy(t, c.app1, fmt.Sprintf("%s%d", c.name, i), c.base+i, i%2, 50)
				}()
			}
			wg.Wait()
			checkGoChildren(t, h, app2, c.name, n, func(i int) int { return c.base + i })
		})
	}
	st := &r.stats
	t.Logf("client spans linked %d, unlinked %d", st.ClientLinked.Load(), st.ClientUnlinked.Load())
}

// TestGoInProcessChain: three Go servers, app0 → app1 → app2, all
// selected. app1's server request is sent by app0's CLIENT on this node:
// when app1 links its own call, its SERVER span becomes the child of app0's
// CLIENT span from the start (their ids are chosen then, so that same-node
// linking later finds them already linked). Per request, one trace: app0
// SERVER → app0 CLIENT → app1 SERVER → app1 CLIENT → app2 SERVER (the last
// link by same-node linking).
func TestGoInProcessChain(t *testing.T) {
	requireRoot(t)
	app0, app1, app2 := testserver.StartGo(t), testserver.StartGo(t), testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = fmt.Sprintf("%d,%d,%d", app0.Port, app1.Port, app2.Port)
	})
	waitTracked(t, h, app0.PID, app1.PID, app2.PID)
	r := h.receiver()
	for deadline := time.Now().Add(10 * time.Second); r.probes.TLSStats().FilesInstrumented.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Go servers were not instrumented")
		}
	}
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		call := func() {
			to2 := app2.URL(fmt.Sprintf("/status/%d?delay_ms=20", 200+i))
			to1 := app1.URL(fmt.Sprintf("/proxy/b%d?go=%d&to=%s", i, i%2, url.QueryEscape(to2)))
			u := app0.URL(fmt.Sprintf("/proxy/a%d?to=%s", i, url.QueryEscape(to1)))
			resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(u)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if i < n/2 {
			call()
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); call() }()
	}
	wg.Wait()
	type hop struct{ srv0, cli0, srv1, cli1, srv2 spanView }
	hops := make([]hop, n)
	got := h.waitSpans(5*n, nil)
	for _, s := range got {
		code, _ := strconv.Atoi(s.attr("http.response.status_code"))
		i := code - 200
		path := s.attr("url.path")
		id, _ := strconv.Atoi(strings.TrimLeft(path, "/proxyab"))
		switch {
		case s.span.Kind() == ptrace.SpanKindServer && strings.HasPrefix(path, "/proxy/a"):
			hops[id].srv0 = s
		case s.span.Kind() == ptrace.SpanKindServer && strings.HasPrefix(path, "/proxy/b"):
			hops[id].srv1 = s
		case s.span.Kind() == ptrace.SpanKindServer && strings.HasPrefix(path, "/status/") && i >= 0 && i < n:
			hops[i].srv2 = s
		case s.span.Kind() == ptrace.SpanKindClient && s.attr("server.port") == strconv.Itoa(app1.Port) && i >= 0 && i < n:
			hops[i].cli0 = s
		case s.span.Kind() == ptrace.SpanKindClient && s.attr("server.port") == strconv.Itoa(app2.Port) && i >= 0 && i < n:
			hops[i].cli1 = s
		}
	}
	for i, hp := range hops {
		spans := []spanView{hp.srv0, hp.cli0, hp.srv1, hp.cli1, hp.srv2}
		names := []string{"app0 SERVER", "app0 CLIENT", "app1 SERVER", "app1 CLIENT", "app2 SERVER"}
		ok := true
		for j, s := range spans {
			if s.span == (ptrace.Span{}) {
				t.Errorf("request %d: no %s span", i, names[j])
				ok = false
			}
		}
		if !ok {
			continue
		}
		if !hp.srv0.span.ParentSpanID().IsEmpty() {
			t.Errorf("request %d: app0 SERVER has a parent", i)
		}
		for j := 1; j < len(spans); j++ {
			c, p := spans[j].span, spans[j-1].span
			if c.TraceID() != p.TraceID() || c.ParentSpanID() != p.SpanID() {
				t.Errorf("request %d: %s (trace %s, parent %s) is not the child of %s (trace %s, span %s)",
					i, names[j], c.TraceID(), c.ParentSpanID(), names[j-1], p.TraceID(), p.SpanID())
			}
		}
	}
}

// TestGoInProcessH2Server: app1 answers over HTTP/2 (TLS, ALPN), its
// handlers running on goroutines of their own that the connection's
// goroutine starts. One request at a time on the connection: each CLIENT is
// its SERVER's child. Many at once on it: which stream a handler serves is
// not known without reading Go's structs, so a CLIENT span is then linked
// only when one stream was in flight, and never to another request's SERVER.
func TestGoInProcessH2Server(t *testing.T) {
	requireRoot(t)
	app1, app2 := testserver.StartGoTLS(t), testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = fmt.Sprintf("%d,%d", app1.Port, app2.Port)
	})
	waitTracked(t, h, app1.PID, app2.PID)
	r := h.receiver()
	for deadline := time.Now().Add(10 * time.Second); r.probes.TLSStats().FilesInstrumented.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Go servers were not instrumented")
		}
	}
	client := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a test server
	proxy := func(t *testing.T, id string, code, depth, delayMS int) {
		to := app2.URL(fmt.Sprintf("/status/%d?delay_ms=%d", code, delayMS))
		u := app1.URL(fmt.Sprintf("/proxy/%s?go=%d&to=%s", id, depth, url.QueryEscape(to)))
		resp, err := client.Get(u)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != code || resp.ProtoMajor != 2 {
			t.Errorf("GET %s: %d over HTTP/%d, want %d over HTTP/2", u, resp.StatusCode, resp.ProtoMajor, code)
		}
	}
	t.Run("sequential", func(t *testing.T) {
		const n = 10
		for i := range n {
			proxy(t, fmt.Sprintf("s%d", i), 200+i, i%2, 0)
		}
		checkGoChildren(t, h, app2, "s", n, func(i int) int { return 200 + i })
	})
	t.Run("concurrent", func(t *testing.T) {
		const n = 20
		before := r.stats.ClientUnlinked.Load()
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); proxy(t, fmt.Sprintf("c%d", i), 230+i, 0, 50) }()
		}
		wg.Wait()
		isMine := func(s ptrace.Span) bool {
			st, _ := s.Attributes().Get("http.response.status_code")
			return st.Int() >= 230 && st.Int() < 230+n
		}
		got := h.waitSpans(3*n, isMine)
		servers := map[int64]spanView{}
		for _, s := range got {
			if s.span.Kind() == ptrace.SpanKindServer && strings.HasPrefix(s.attr("url.path"), "/proxy/") {
				st, _ := s.span.Attributes().Get("http.response.status_code")
				servers[st.Int()] = s
			}
		}
		linked := 0
		for _, s := range got {
			if s.span.Kind() != ptrace.SpanKindClient || s.attr("server.port") != strconv.Itoa(app2.Port) {
				continue
			}
			st, _ := s.span.Attributes().Get("http.response.status_code")
			if s.span.ParentSpanID().IsEmpty() {
				continue
			}
			linked++
			if srv := servers[st.Int()]; s.span.ParentSpanID() != srv.span.SpanID() || s.span.TraceID() != srv.span.TraceID() {
				t.Errorf("CLIENT %d: parent %s is not its own SERVER span %s", st.Int(), s.span.ParentSpanID(), srv.span.SpanID())
			}
		}
		t.Logf("%d of %d CLIENT spans linked, %d counted unlinked", linked, n, r.stats.ClientUnlinked.Load()-before)
	})
}

// TestGoInProcessRefused: a kernel that refuses go_context costs only the
// links: the receiver runs, says the feature is off, and every request is
// still reported, its CLIENT span a root.
func TestGoInProcessRefused(t *testing.T) {
	requireRoot(t)
	app1, app2 := testserver.StartGo(t), testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = fmt.Sprintf("%d,%d", app1.Port, app2.Port)
		c.refuseFeatures = []probes.Feature{probes.FeatureGoContext}
	})
	for _, host := range []*statusHost{h.tracesHost, h.metricsHost} {
		host.waitStatus(t, componentstatus.StatusRecoverableError, "running without go_context")
	}
	waitTracked(t, h, app1.PID, app2.PID)
	const n = 3
	for i := range n {
		to := app2.URL(fmt.Sprintf("/status/%d", 200+i))
		resp, err := http.Get(app1.URL("/proxy/r" + strconv.Itoa(i) + "?to=" + url.QueryEscape(to)))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	isClient := func(s ptrace.Span) bool { return s.Kind() == ptrace.SpanKindClient }
	got := h.waitSpans(n, isClient)
	if len(got) != n {
		t.Fatalf("%d CLIENT spans, want %d", len(got), n)
	}
	for _, s := range got {
		if !s.span.ParentSpanID().IsEmpty() {
			t.Errorf("CLIENT span with parent %s while go_context is off", s.span.ParentSpanID())
		}
	}
}

// goContextProbes are the programs of feature go_context (bpf/gocontext.c).
var goContextProbes = []string{"ebpfred_go_newproc", "ebpfred_go_newproc_ret", "ebpfred_go_newproc_ret_spilled", "ebpfred_go_serve",
	"ebpfred_go_write_loop", "ebpfred_go_round_trip"}

// checkGoChildren finds, for requests 0..n-1 of a case, app1's SERVER span
// (url.path /proxy/<prefix><i>) and app1's CLIENT span to app2 (status
// code(i)), and checks that the CLIENT is the SERVER's child: one trace per
// request, the CLIENT's parent the SERVER's span, nested in time.
func checkGoChildren(t *testing.T, h *harness, app2 *testserver.Server, prefix string, n int, code func(int) int) {
	t.Helper()
	want := map[string]int{} // app1's server path → status
	codes := map[int]string{}
	downstream := map[string]int{} // app2's server path → status
	for i := range n {
		p := fmt.Sprintf("/proxy/%s%d", prefix, i)
		want[p] = code(i)
		codes[code(i)] = p
		downstream[fmt.Sprintf("/status/%d", code(i))] = code(i)
	}
	mine := func(s ptrace.Span) bool {
		if s.Kind() == ptrace.SpanKindServer {
			v, _ := s.Attributes().Get("url.path")
			_, ok := want[v.AsString()]
			_, ok2 := downstream[v.AsString()]
			return ok || ok2
		}
		if s.Kind() != ptrace.SpanKindClient {
			return false
		}
		port, _ := s.Attributes().Get("server.port")
		st, _ := s.Attributes().Get("http.response.status_code")
		_, ok := codes[int(st.Int())]
		return port.AsString() == strconv.Itoa(app2.Port) && ok
	}
	servers, clients, callees := map[int]spanView{}, map[int][]spanView{}, map[int][]spanView{}
	got := h.waitSpans(3*n, mine)
	for _, s := range got {
		c, _ := strconv.Atoi(s.attr("http.response.status_code"))
		if s.span.Kind() == ptrace.SpanKindServer && strings.HasPrefix(s.attr("url.path"), "/status/") {
			callees[c] = append(callees[c], s)
			continue
		}
		if s.span.Kind() == ptrace.SpanKindServer {
			if want[s.attr("url.path")] != c {
				t.Errorf("SERVER %s: status %d, want %d", s.attr("url.path"), c, want[s.attr("url.path")])
			}
			if _, dup := servers[c]; dup {
				t.Errorf("two SERVER spans for %s", s.attr("url.path"))
			}
			servers[c] = s
			continue
		}
		clients[c] = append(clients[c], s)
	}
	if len(got) != 3*n {
		t.Fatalf("%d spans, want %d (app1's SERVER and CLIENT and app2's SERVER per request)", len(got), 3*n)
	}
	traces := map[[16]byte]bool{}
	for i := range n {
		c := code(i)
		srv, ok := servers[c]
		if !ok || len(clients[c]) != 1 {
			t.Errorf("request %d: SERVER found %v, %d CLIENT spans; want one each", i, ok, len(clients[c]))
			continue
		}
		cli := clients[c][0]
		traces[srv.span.TraceID()] = true
		switch {
		case !srv.span.ParentSpanID().IsEmpty():
			t.Errorf("request %d: SERVER has a parent %s", i, srv.span.ParentSpanID())
		case cli.span.TraceID() != srv.span.TraceID():
			t.Errorf("request %d: CLIENT trace %s, SERVER trace %s", i, cli.span.TraceID(), srv.span.TraceID())
		case cli.span.ParentSpanID() != srv.span.SpanID():
			t.Errorf("request %d: CLIENT's parent %s, want the SERVER span %s", i, cli.span.ParentSpanID(), srv.span.SpanID())
		case cli.span.StartTimestamp() < srv.span.StartTimestamp() || cli.span.EndTimestamp() > srv.span.EndTimestamp():
			t.Errorf("request %d: CLIENT [%d, %d] outside its SERVER [%d, %d]", i,
				cli.span.StartTimestamp(), cli.span.EndTimestamp(), srv.span.StartTimestamp(), srv.span.EndTimestamp())
		}
		// same-node linking (traces.link_same_node) adds app2's SERVER
		if len(callees[c]) != 1 {
			t.Errorf("request %d: %d SERVER spans of app2, want 1", i, len(callees[c]))
			continue
		}
		if down := callees[c][0].span; down.TraceID() != cli.span.TraceID() || down.ParentSpanID() != cli.span.SpanID() {
			t.Errorf("request %d: app2's SERVER (trace %s, parent %s) is not the child of app1's CLIENT %s", i,
				down.TraceID(), down.ParentSpanID(), cli.span.SpanID())
		}
	}
	if len(traces) != n {
		t.Errorf("%d traces, want %d", len(traces), n)
	}
}
