package testserver

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

type endpointCase struct {
	req      Request
	status   int
	bodyLen  int64
	chunked  bool
	minDelay time.Duration
}

func endpointCases() []endpointCase {
	body := bytes.Repeat([]byte("b"), 10000)
	sb := func(code int) int64 { return int64(len(StatusBody(code))) }
	return []endpointCase{
		{req: Request{Path: "/status/200"}, status: 200, bodyLen: sb(200)},
		{req: Request{Method: "POST", Path: "/status/201", Body: body}, status: 201, bodyLen: sb(201)},
		{req: Request{Method: "PUT", Path: "/status/202", Body: []byte("x")}, status: 202, bodyLen: sb(202)},
		{req: Request{Method: "DELETE", Path: "/status/404"}, status: 404, bodyLen: sb(404)},
		{req: Request{Method: "PATCH", Path: "/status/500", Body: body}, status: 500, bodyLen: sb(500)},
		{req: Request{Path: "/status/204"}, status: 204},
		{req: Request{Path: "/status/304"}, status: 304},
		{req: Request{Path: "/status/503"}, status: 503, bodyLen: sb(503)},
		{req: Request{Path: "/status/299"}, status: 299, bodyLen: sb(299)},
		{req: Request{Path: "/status/200?delay_ms=150"}, status: 200, bodyLen: sb(200), minDelay: 150 * time.Millisecond},
		{req: Request{Method: "POST", Path: "/status/500?delay_ms=20", Body: body}, status: 500, bodyLen: sb(500), minDelay: 20 * time.Millisecond},
		{req: Request{Path: "/status/204?delay_ms=10"}, status: 204, minDelay: 10 * time.Millisecond},
		{req: Request{Path: "/bytes/" + strconv.Itoa(BigBody)}, status: 200, bodyLen: BigBody},
		{req: Request{Path: "/bytes/1000"}, status: 200, bodyLen: 1000},
		{req: Request{Path: "/bytes/0"}, status: 200, bodyLen: 0},
		{req: Request{Path: "/chunked/100000"}, status: 200, bodyLen: 100000, chunked: true},
		{req: Request{Path: "/chunked/10"}, status: 200, bodyLen: 10, chunked: true},
		{req: Request{Method: "HEAD", Path: "/bytes/1024"}, status: 200},
		{req: Request{Method: "HEAD", Path: "/status/200"}, status: 200},
		{req: Request{Path: "/no/such/path"}, status: 404, bodyLen: int64(len(NotFoundBody))},
		{req: Request{Method: "POST", Path: "/bytes/10", Body: body}, status: 405, bodyLen: int64(len("method not allowed\n"))},
		{req: Request{Path: "/status/200"}, status: 200, bodyLen: sb(200)},
	}
}

func TestServers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *Server
	}{
		{"go", StartGo},
		{"python", StartPython},
		{"node", StartNode},
		{"nginx", func(t testing.TB) *Server { return StartNginx(t, StartGo(t)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t)
			if s.PID <= 0 || s.Port <= 0 || s.Addr != "127.0.0.1:"+strconv.Itoa(s.Port) {
				t.Fatalf("server identity: pid %d port %d addr %q", s.PID, s.Port, s.Addr)
			}
			checkEndpoints(t, s)
			checkBodies(t, s)
			checkConnections(t, s)
			if s.Name == "nginx" {
				if w := s.Children(); len(w) != 1 {
					t.Errorf("nginx workers = %v, want exactly one", w)
				}
			}
		})
	}
}

func checkEndpoints(t *testing.T, s *Server) {
	cases := endpointCases()
	reqs := make([]Request, len(cases))
	for i, c := range cases {
		reqs[i] = c.req
	}
	results := Drive(t, s.Base(), reqs, true)
	for i, c := range cases {
		r := results[i]
		name := r.Method + " " + r.Path
		if r.Status != c.status || r.BodyLen != c.bodyLen || r.Chunked != c.chunked {
			t.Errorf("%s: status %d, %d body bytes, chunked %v; want %d, %d, %v",
				name, r.Status, r.BodyLen, r.Chunked, c.status, c.bodyLen, c.chunked)
		}
		if r.Latency < c.minDelay {
			t.Errorf("%s: answered after %v, before delay %v", name, r.Latency, c.minDelay)
		}
		if r.Status == 200 && strings.HasPrefix(r.Path, "/bytes/") {
			// HEAD announces the size it would send.
			want := strings.TrimPrefix(r.Path, "/bytes/")
			if got := r.Header.Get("Content-Length"); got != want {
				t.Errorf("%s: Content-Length %q, want %q", name, got, want)
			}
		}
		// One keep-alive connection carries the whole sequence.
		if i > 0 && !r.Reused {
			t.Errorf("%s: opened a new connection; want keep-alive reuse", name)
		}
	}

	if r := Do(t, s.Base(), Request{Method: "DELETE", Path: "/status/410"}); r.Status != 410 || r.Reused {
		t.Errorf("Do DELETE /status/410: status %d, reused %v", r.Status, r.Reused)
	}

	// Without keep-alive, every request has its own connection.
	for _, r := range Drive(t, s.Base(), reqs[:3], false) {
		if r.Reused {
			t.Errorf("%s %s: reused a connection with keep-alive off", r.Method, r.Path)
		}
	}
}

// checkBodies verifies the bytes themselves (Drive only counts them).
func checkBodies(t *testing.T, s *Server) {
	for _, p := range []string{"/bytes/1024", "/bytes/100", "/chunked/100", "/status/418"} {
		resp, err := http.Get(s.URL(p))
		if err != nil {
			t.Errorf("GET %s: %v", p, err)
			continue
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Errorf("GET %s: %v", p, err)
			continue
		}
		want := StatusBody(418)
		if n, err := strconv.Atoi(p[strings.LastIndexByte(p, '/')+1:]); err == nil && p != "/status/418" {
			want = string(fill(n))
		}
		if string(got) != want {
			t.Errorf("GET %s: body %.40q..., want %.40q...", p, got, want)
		}
	}
}

// checkConnections drives the server from a separate client process.
func checkConnections(t *testing.T, s *Server) {
	proxy := s.URL("/proxy?to=" + s.URL("/status/418"))
	targets := []string{s.URL("/status/200"), "POST " + s.URL("/status/201"), s.URL("/chunked/1000")}
	if s.Name == "go" || s.Name == "nginx" { // nginx passes /proxy to its Go backend
		targets = append(targets, proxy)
	}
	c := StartGoClient(t, ClientOptions{Concurrency: 2, Repeat: 3, BodySize: 500, Headers: []string{"X-Test: 1"}}, targets...)
	if c.PID <= 0 {
		t.Fatalf("goclient pid %d", c.PID)
	}
	results := c.Run()
	if len(results) != 3*len(targets) {
		t.Fatalf("goclient: %d results, want %d", len(results), 3*len(targets))
	}
	wantStatus := []int{200, 201, 200, 418}
	reused := 0
	for i, r := range results {
		want := wantStatus[i%len(targets)]
		if r.Status != want {
			t.Errorf("goclient %s %s: status %d, want %d", r.Method, r.Path, r.Status, want)
		}
		if r.LocalAddr == "" || r.Start.IsZero() || r.Latency <= 0 {
			t.Errorf("goclient %s %s: incomplete result %+v", r.Method, r.Path, r)
		}
		if strings.HasPrefix(r.Path, "/chunked/") && (!r.Chunked || r.BodyLen != 1000) {
			t.Errorf("goclient %s: chunked %v, %d bytes; want chunked, 1000", r.Path, r.Chunked, r.BodyLen)
		}
		if r.Reused {
			reused++
		}
	}
	// Two workers, keep-alive: at most two connections are opened.
	if reused < len(results)-2 {
		t.Errorf("goclient: %d of %d requests reused a connection, want at least %d", reused, len(results), len(results)-2)
	}

	results = RunGoClient(t, ClientOptions{NoKeepAlive: true}, s.URL("/status/200"), s.URL("/status/200"))
	for _, r := range results {
		if r.Reused || r.Status != 200 {
			t.Errorf("goclient without keep-alive: %+v", r)
		}
	}
}

func TestRequireMissingBinarySkips(t *testing.T) {
	if inCI() {
		t.Skip("CI is set: Require fails instead of skipping")
	}
	ran := false
	t.Run("missing", func(t *testing.T) {
		Require(t, "ebpfred-no-such-binary")
		ran = true
	})
	if ran {
		t.Error("Require did not stop the test for a missing binary")
	}
}

func TestChunkSize(t *testing.T) {
	for n, want := range map[int]int{0: 1, 1: 1, 10: 3, 100000: 16 << 10, 64 << 10: 16 << 10, 40: 10} {
		if got := ChunkSize(n); got != want {
			t.Errorf("ChunkSize(%d) = %d, want %d", n, got, want)
		}
	}
}
