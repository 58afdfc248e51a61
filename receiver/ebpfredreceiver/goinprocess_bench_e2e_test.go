package ebpfredreceiver

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// TestBenchGoInProcess measures what traces.link_in_process costs the
// issue's scenario: Go app1's handler calling Go app2 once per request,
// under wrk (-t1 -c8, keep-alive), in alternating rounds with no receiver,
// the receiver with link_in_process off, and on. It reports requests per
// second and the two servers' CPU per request (utime+stime from /proc).
// A measurement, not a test: it runs only with EBPFRED_BENCH=1.
func TestBenchGoInProcess(t *testing.T) {
	if os.Getenv("EBPFRED_BENCH") == "" {
		t.Skip("a measurement: set EBPFRED_BENCH=1")
	}
	requireRoot(t)
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed")
	}
	app1, app2 := testserver.StartGo(t), testserver.StartGo(t)
	target := app1.URL("/proxy?to=" + url.QueryEscape(app2.URL("/status/200")))
	rounds, _ := strconv.Atoi(os.Getenv("EBPFRED_BENCH_ROUNDS"))
	if rounds <= 0 {
		rounds = 3
	}
	modes := []string{"none", "off", "on"}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	rps := map[string][]float64{}
	cpu := map[string][]float64{}
	for round := 0; round < rounds; round++ {
		for _, mode := range modes {
			var h *harness
			if mode != "none" {
				h = startReceiver(t, func(c *Config) {
					c.OpenPort = fmt.Sprintf("%d,%d", app1.Port, app2.Port)
					c.Traces.LinkInProcess = mode == "on"
				})
				waitTracked(t, h, app1.PID, app2.PID)
				r := h.receiver()
				for deadline := time.Now().Add(10 * time.Second); r.probes.TLSStats().FilesInstrumented.Load() == 0; time.Sleep(50 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the Go servers were not instrumented")
					}
				}
			}
			var runs map[string]uint64
			if h != nil {
				runs = h.receiver().probes.RunCounts()
			}
			before := cpuTicks(t, app1.PID) + cpuTicks(t, app2.PID)
			out, err := exec.Command("wrk", "-t1", "-c8", "-d5s", target).CombinedOutput()
			if err != nil {
				t.Fatalf("wrk: %v\n%s", err, out)
			}
			after := cpuTicks(t, app1.PID) + cpuTicks(t, app2.PID)
			m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
			total := regexp.MustCompile(`(\d+) requests in`).FindSubmatch(out)
			if m == nil || total == nil {
				t.Fatalf("wrk said %s", out)
			}
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			n, _ := strconv.ParseFloat(string(total[1]), 64)
			rps[mode] = append(rps[mode], v)
			// clock ticks are 10 ms
			cpu[mode] = append(cpu[mode], float64(after-before)*10e3/n)
			if h != nil {
				var each []string
				after := h.receiver().probes.RunCounts()
				for name, c := range after {
					if d := c - runs[name]; d > 0 && !strings.HasPrefix(name, "ebpfred_sock") && !strings.HasPrefix(name, "ebpfred_sys") {
						each = append(each, fmt.Sprintf("%s %.2f", name, float64(d)/n))
					}
				}
				t.Logf("%s: uprobe hits per request: %s", mode, strings.Join(each, ", "))
				h.stop()
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "app1 → app2, wrk -t1 -c8 -d5s, %d alternating rounds:\n", rounds)
	for _, mode := range modes {
		fmt.Fprintf(&b, "  %-5s req/s %v (median %.0f, ×%.2f); app1+app2 CPU µs/request %v (median %.1f)\n", mode,
			rounded(rps[mode]), median(rps[mode]), median(rps[mode])/median(rps["none"]), rounded(cpu[mode]), median(cpu[mode]))
	}
	t.Log(b.String())
}

func cpuTicks(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func rounded(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int64(x*10)) / 10
	}
	return out
}
