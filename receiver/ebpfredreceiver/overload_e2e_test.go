package ebpfredreceiver

import (
	"go.opentelemetry.io/collector/component/componentstatus"
	"strings"

	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpfred/ebpfred/internal/red"
	"github.com/ebpfred/ebpfred/internal/testserver"
)

// Overload is counted, never silent: with a four-page ring that the reader
// drains only every 50 ms, ab's 3000 requests (a connection each, 8 at a
// time) overflow it many times over. Every request sent is either exported
// (a server request in the metrics) or counted as possibly lost
// (ebpfred.requests.possibly_lost of the same service instance, and the
// self-telemetry per service.name); nothing is invented.
func TestOverloadIsCounted(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "ab")
	eachCapture(t, testOverload)
}

func testOverload(t *testing.T, hooks string) {
	const sent = 3000
	srv := testserver.StartGo(t)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = strconv.Itoa(srv.Port)
		c.CaptureHooks = hooks
		c.RingBufferSize = 16384
	})
	waitTracked(t, h, srv.PID)
	runAB(t, sent, 8, false, srv.URL("/status/200"))
	// The reader drains what the ring still holds (it polls every 50 ms).
	time.Sleep(time.Second)
	r := h.receiver()
	c, _ := r.probes.Counters()
	// Health: while events are dropped, each pipeline's component is in a
	// recoverable error that says what to do; once the drops stop, OK.
	if c.Dropped > 0 {
		for _, host := range []*statusHost{h.tracesHost, h.metricsHost} {
			evs := host.waitStatus(t, componentstatus.StatusOK, "")
			sawErr := false
			for _, e := range evs {
				if e.Status() == componentstatus.StatusRecoverableError && strings.Contains(e.Err().Error(), "raise ring_buffer_size") {
					sawErr = true
				}
			}
			if !sawErr {
				t.Errorf("%d events dropped, but no recoverable error naming ring_buffer_size was reported", c.Dropped)
			}
		}
	}
	h.stop() // the final flush carries the last drop counts

	exported := uint64(0)
	for _, p := range h.histograms("http.server.request.duration") {
		if p.resource["process.pid"] == strconv.Itoa(srv.PID) {
			exported += p.count
		}
	}
	lost := possiblyLost(h, srv.PID)
	t.Logf("%s: %d requests sent, %d exported, %d possibly lost; kernel: %d events dropped; self-telemetry: %d possibly lost",
		hooks, sent, exported, lost, c.Dropped, r.lost.Total())
	if lost == 0 {
		t.Fatalf("no request was counted as possibly lost: the ring did not overflow, so this test proves nothing")
	}
	if exported > sent {
		t.Errorf("%d requests exported, more than the %d sent", exported, sent)
	}
	if exported+lost < sent {
		t.Errorf("%d exported + %d possibly lost = %d < %d sent: %d requests vanished silently",
			exported, lost, exported+lost, sent, sent-exported-lost)
	}
	if r.lost.Total() != lost {
		t.Errorf("self-telemetry counts %d possibly lost, the metrics %d", r.lost.Total(), lost)
	}
}

// possiblyLost is ebpfred.requests.possibly_lost of process pid in the last
// metrics export.
func possiblyLost(h *harness, pid int) uint64 {
	all := h.metrics.AllMetrics()
	if len(all) == 0 {
		return 0
	}
	md := all[len(all)-1]
	var n uint64
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		if v, ok := rm.Resource().Attributes().Get("process.pid"); !ok || v.AsString() != strconv.Itoa(pid) {
			continue
		}
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if m := ms.At(k); m.Name() == red.MetricPossiblyLost && m.Type() == pmetric.MetricTypeSum {
					n += uint64(m.Sum().DataPoints().At(0).IntValue())
				}
			}
		}
	}
	return n
}

var (
	abComplete = regexp.MustCompile(`(?m)^Complete requests:\s+(\d+)$`)
	abFailed   = regexp.MustCompile(`(?m)^Failed requests:\s+(\d+)$`)
	abNon2xx   = regexp.MustCompile(`(?m)^Non-2xx responses:\s+(\d+)$`)
)

// runAB runs ApacheBench (an unselected client): n requests, c at a time,
// on keep-alive connections or one connection each, and fails the test
// unless every one completed.
func runAB(t *testing.T, n, c int, keepAlive bool, url string, extra ...string) {
	t.Helper()
	args := []string{"-q", "-n", strconv.Itoa(n), "-c", strconv.Itoa(c)}
	if keepAlive {
		args = append(args, "-k")
	}
	args = append(append(args, extra...), url)
	out, err := exec.Command("ab", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ab %v: %v\n%s", args, err, out)
	}
	m, f := abComplete.FindSubmatch(out), abFailed.FindSubmatch(out)
	if m == nil || string(m[1]) != strconv.Itoa(n) || f == nil || string(f[1]) != "0" {
		t.Fatalf("ab %v did not complete %d requests:\n%s", args, n, out)
	}

}
