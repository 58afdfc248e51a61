package distribution

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// TestRunCollector runs the built collector as a user would: a config file,
// a server to instrument, requests from curl-like traffic, and the file
// exporters' output read back.
func TestRunCollector(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the collector loads eBPF programs, which needs root (CI runs as root)")
	}
	bin := collector(t)
	srv := testserver.StartGo(t)
	dir := t.TempDir()
	telemetryPort := freePort(t)
	cfgPath := writeFileConfig(t, fmt.Sprint(srv.Port), dir, telemetryPort)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("collector output:\n%s", logs.String())
		}
	})
	waitFor(t, "the collector to start", func() bool { return strings.Contains(logs.String(), "Everything is ready") })

	reqs := []testserver.Request{{Path: "/status/200"}, {Path: "/status/200?delay_ms=5"}, {Path: "/status/404"}, {Method: "POST", Path: "/status/503"}}
	testserver.Drive(t, srv.Base(), reqs, true)

	var spans []ptrace.Span
	waitFor(t, "4 spans in the traces file", func() bool {
		spans = readSpans(t, filepath.Join(dir, "traces.json"))
		return len(spans) >= 4
	})
	if len(spans) != 4 {
		t.Errorf("%d spans, want 4", len(spans))
	}
	var count uint64
	waitFor(t, "4 requests in the metrics file", func() bool {
		count = lastServerCount(t, filepath.Join(dir, "metrics.json"))
		return count >= 4
	})
	if count != 4 {
		t.Errorf("http.server.request.duration count %d, want 4", count)
	}
	// Self-telemetry is exported where the user pointed it.
	out, err := exec.Command("curl", "-s", fmt.Sprintf("http://127.0.0.1:%d/metrics", telemetryPort)).Output()
	if err != nil {
		t.Fatalf("scraping the collector's own metrics: %v", err)
	}
	for _, name := range []string{"otelcol_ebpfred_events_read", "otelcol_ebpfred_events_dropped", "otelcol_receiver_accepted_spans"} {
		if !bytes.Contains(out, []byte(name)) {
			t.Errorf("self-telemetry lacks %s", name)
		}
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readLines(t *testing.T, path string) [][]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	// Only complete lines: the exporter may be writing the last one.
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		return nil
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	return lines
}

func readSpans(t *testing.T, path string) []ptrace.Span {
	var out []ptrace.Span
	var u ptrace.JSONUnmarshaler
	for _, l := range readLines(t, path) {
		td, err := u.UnmarshalTraces(l)
		if err != nil {
			t.Fatalf("traces file: %v", err)
		}
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			for j := 0; j < td.ResourceSpans().At(i).ScopeSpans().Len(); j++ {
				ss := td.ResourceSpans().At(i).ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					out = append(out, ss.At(k))
				}
			}
		}
	}
	return out
}

// lastServerCount sums the http.server.request.duration counts of the last
// (cumulative) export in the metrics file.
func lastServerCount(t *testing.T, path string) uint64 {
	lines := readLines(t, path)
	if len(lines) == 0 {
		return 0
	}
	var u pmetric.JSONUnmarshaler
	md, err := u.UnmarshalMetrics(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("metrics file: %v", err)
	}
	var n uint64
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Name() != "http.server.request.duration" {
					continue
				}
				dps := ms.At(k).Histogram().DataPoints()
				for d := 0; d < dps.Len(); d++ {
					n += dps.At(d).Count()
				}
			}
		}
	}
	return n
}

// countSpansByHost adds the spans of one OTLP JSON line, by host.name.
func countSpansByHost(t *testing.T, line []byte, by map[string]int) {
	var u ptrace.JSONUnmarshaler
	td, err := u.UnmarshalTraces(line)
	if err != nil {
		t.Fatalf("traces file: %v", err)
	}
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		host, _ := rs.Resource().Attributes().Get("host.name")
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			by[host.AsString()] += rs.ScopeSpans().At(j).Spans().Len()
		}
	}
}

// lastCountsByHost takes, for each host.name, the http.server.request.duration
// counts by status from the newest export of that host (they are cumulative).
func lastCountsByHost(t *testing.T, lines [][]byte, out map[string]uint64) {
	var u pmetric.JSONUnmarshaler
	for _, l := range lines { // later lines overwrite earlier ones
		md, err := u.UnmarshalMetrics(l)
		if err != nil {
			t.Fatalf("metrics file: %v", err)
		}
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			host, _ := rm.Resource().Attributes().Get("host.name")
			for j := 0; j < rm.ScopeMetrics().Len(); j++ {
				ms := rm.ScopeMetrics().At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					if ms.At(k).Name() != "http.server.request.duration" {
						continue
					}
					dps := ms.At(k).Histogram().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						code, _ := dps.At(d).Attributes().Get("http.response.status_code")
						out[host.AsString()+" "+code.AsString()] = dps.At(d).Count()
					}
				}
			}
		}
	}
}

// writeFileConfig writes dir/config.yaml: ebpfred on openPort into file
// exporters (dir/traces.json, dir/metrics.json), metrics exported every
// second, self-telemetry on 127.0.0.1:telemetryPort; it returns the file's
// path.
func writeFileConfig(t *testing.T, openPort, dir string, telemetryPort int) string {
	t.Helper()
	return writeFileConfigInterval(t, openPort, dir, telemetryPort, "1s")
}

// writeFileConfigInterval is writeFileConfig with the metrics exported every
// interval.
func writeFileConfigInterval(t *testing.T, openPort, dir string, telemetryPort int, interval string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
receivers:
  ebpfred:
    open_port: "%s"
    metrics:
      interval: %[4]s
exporters:
  # Flushed often: the tests read the files while the collector runs.
  file/traces:
    path: %[2]s/traces.json
    flush_interval: 100ms
  file/metrics:
    path: %[2]s/metrics.json
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %[3]d
  pipelines:
    traces:
      receivers: [ebpfred]
      exporters: [file/traces]
    metrics:
      receivers: [ebpfred]
      exporters: [file/metrics]
`, openPort, dir, telemetryPort, interval)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
