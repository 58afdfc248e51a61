package ebpfredreceiver

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// h2load with 32 streams in flight per connection (-m 32): every request
// of every round is one server span and one count, against nginx (h2c,
// answering itself) and Go's net/http (h2c with prior knowledge). Each
// round is a new h2load (new connections); loadRounds rounds in a row.
func TestH2LoadMultiplexed(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "h2load")
	const perRound = 640 // 2 connections × 320 requests, 32 at a time on each
	servers := []struct {
		name  string
		start func(t *testing.T) *testserver.Server
	}{
		{"nginx-h2c", func(t *testing.T) *testserver.Server {
			return testserver.StartNginxH2C(t, testserver.StartGo(t))
		}},
		{"go-h2c", func(t *testing.T) *testserver.Server { return testserver.StartGoH2C(t) }},
	}
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			h := startReceiver(t, func(c *Config) { c.OpenPort = strconv.Itoa(srv.Port) })
			passed := 0
			for round := 1; round <= loadRounds; round++ {
				out, err := exec.Command("h2load", "-n", strconv.Itoa(perRound), "-c", "2", "-m", "32",
					srv.URL("/status/200")).CombinedOutput()
				if err != nil || !strings.Contains(string(out), fmt.Sprintf("%d succeeded", perRound)) {
					t.Fatalf("round %d: h2load: %v\n%s", round, err, out)
				}
				deadline := time.Now().Add(15 * time.Second)
				var spans []spanView
				for {
					spans = h.spans(isServer)
					if len(spans) >= perRound || time.Now().After(deadline) {
						time.Sleep(300 * time.Millisecond) // extra spans would show now
						spans = h.spans(isServer)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				got := map[string]uint64{}
				for _, s := range spans {
					got[s.attr("http.request.method")+" "+s.attr("http.response.status_code")+" "+s.attr("network.protocol.version")]++
				}
				want := map[string]uint64{"GET 200 2": perRound}
				if fmtCounts(got) == fmtCounts(want) {
					passed++
				} else {
					t.Errorf("round %d: server spans %s, want %s", round, fmtCounts(got), fmtCounts(want))
				}
				h.traces.Reset()
			}
			waitHTTP2Settled()
			desync, incomplete := http2Stats(h)
			h.stop()
			t.Logf("%s: %d/%d rounds exact (%d requests each); http2 desync %d, incomplete %d",
				sv.name, passed, loadRounds, perRound, desync, incomplete)
			got := countBy(h.histograms("http.server.request.duration"), "http.request.method", "http.response.status_code", "network.protocol.version")
			if want := fmt.Sprintf("GET 200 2=%d ", perRound*loadRounds); fmtCounts(got) != want {
				t.Errorf("http.server.request.duration counts:\n got  %s\n want %s", fmtCounts(got), want)
			}
			if desync != 0 || incomplete != 0 {
				t.Errorf("http2 desync %d, incomplete %d: want 0", desync, incomplete)
			}
		})
	}
}
