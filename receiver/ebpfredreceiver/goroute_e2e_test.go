package ebpfredreceiver

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// Go net/http (Go >= 1.22 ServeMux): the route is the pattern the process
// itself matched, read at the return of (*ServeMux).findHandler, with no
// routes configuration; method and host parts of the pattern are dropped.
func TestGoServeMuxRoutes(t *testing.T) {
	requireRoot(t)
	bin := testserver.GoBinary(t, "goroutes")
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
		t.Fatalf("goroutes: %q %v %v", line, err, perr)
	}
	srv := &testserver.Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port}

	h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(port) })
	reqs := []testserver.Request{{Path: "/items/1"}, {Path: "/items/2"}, {Path: "/items/3?x=y"}, {Path: "/static/a.css"}}
	for _, r := range testserver.Drive(t, srv.Base(), reqs, true) {
		if r.Status != 200 {
			t.Fatalf("%s: status %d", r.Path, r.Status)
		}
	}
	spans := h.waitSpans(len(reqs), isServer)
	h.stop()
	names := map[string]int{}
	for _, s := range spans {
		names[s.span.Name()]++
		if r, want := s.attr("http.route"), strings.TrimPrefix(s.span.Name(), "GET "); r != want {
			t.Errorf("span %q: http.route %q", s.span.Name(), r)
		}
	}
	if names["GET /items/{id}"] != 3 || names["GET /static/"] != 1 || len(names) != 2 {
		t.Errorf("span names %v, want 3 × GET /items/{id} and 1 × GET /static/", names)
	}
	pts := h.histograms("http.server.request.duration")
	if got := fmtCounts(countBy(pts, "http.route")); got != "/items/{id}=3 /static/=1 " {
		t.Errorf("counts by route: %s", got)
	}
	if len(pts) != 2 {
		t.Errorf("%d series, want 2 (one per route)", len(pts))
	}
}
