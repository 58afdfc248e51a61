package ebpfredreceiver

import (
	"bytes"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// An application calling memcached on one connection (see
// internal/testserver/cmd/memcclient): a pipeline of 100 incr in one write
// is 100 operations; errors (ERROR, CLIENT_ERROR) are errors, misses are
// not; no key or value in any attribute. (memcached has no command that
// makes the server wait, so no duration is asserted.)
func TestMemcachedClient(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "memcached")
	eachCapture(t, testMemcachedClient)
}

func testMemcachedClient(t *testing.T, hooks string) {
	srv := testserver.StartMemcached(t)
	bin := testserver.GoBinary(t, "memcclient")
	h := startReceiver(t, func(c *Config) {
		c.CaptureHooks = hooks
		c.ExecutableName = "/memcclient$"
		c.DiscoveryInterval = time.Hour // selected by its exec (see TestRedisCLI)
	})
	cmd := exec.Command(bin, srv.Addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitTracked(t, h, cmd.Process.Pid)
	io.WriteString(stdin, "go\n")
	if err := cmd.Wait(); err != nil || strings.TrimSpace(out.String()) != "ok" {
		t.Fatalf("memcclient: %v: %s", err, out.String())
	}

	spans := h.waitSpans(109, isClient)
	h.stop()
	pts := h.histograms("db.client.operation.duration")
	for _, p := range pts {
		if p.attrs["db.system.name"] != "memcached" || p.attrs["server.port"] != strconv.Itoa(srv.Port) {
			t.Errorf("point %v: want db.system.name memcached, server.port %d", p.attrs, srv.Port)
		}
	}
	const want = "_OTHER ERROR ERROR=1 delete  =1 get  =2 incr  =100 incr CLIENT_ERROR CLIENT_ERROR=1 mg  =1 set  =2 version  =1 "
	if got := fmtCounts(countBy(pts, "db.operation.name", "db.response.status_code", "error.type")); got != want {
		t.Errorf("db.client.operation.duration counts by operation, status, error.type:\n got %s\nwant %s", got, want)
	}
	if len(spans) != 109 {
		t.Errorf("%d client spans, want 109: %s", len(spans), spanOps(spans))
	}
	errs := 0
	for _, s := range spans {
		if s.span.Status().Code() == ptrace.StatusCodeError {
			errs++
		}
		for k, v := range s.span.Attributes().AsRaw() {
			if str, ok := v.(string); ok && strings.Contains(str, "secret") {
				t.Errorf("span %s: attribute %s = %q holds a value", s.span.Name(), k, str)
			}
		}
	}
	if errs != 2 {
		t.Errorf("%d spans with an error status, want 2", errs)
	}
}
