package replay

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"

	"github.com/ebpfred/ebpfred/internal/probes"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from what the replays produce")

const top = "../../testdata"

// Every recorded stream under testdata/streams, replayed through the
// pipeline, the span builder and the RED aggregator, gives exactly the
// spans and metrics of its golden files (testdata/golden). No root, no
// kernel: a parser or convention change shows up as a diff of those files
// (`go test ./internal/replay -run TestReplay -update` rewrites them).
func TestReplay(t *testing.T) {
	streams, err := filepath.Glob(filepath.Join(top, "streams", "*.events"))
	if err != nil || len(streams) == 0 {
		t.Fatalf("no recorded streams under %s/streams (%v)", top, err)
	}
	for _, path := range streams {
		name := strings.TrimSuffix(filepath.Base(path), ".events")
		t.Run(name, func(t *testing.T) {
			res := replayFile(t, path)
			if n := res.Traces.SpanCount(); n == 0 {
				t.Fatalf("no span from %s", path)
			}
			if pe := res.Stats.ParseErrors(); pe != 0 {
				t.Errorf("%d parse errors replaying %s, want 0", pe, path)
			}
			tracesGolden := filepath.Join(top, "golden", name+".traces.yaml")
			metricsGolden := filepath.Join(top, "golden", name+".metrics.yaml")
			if *update {
				if err := golden.WriteTraces(t, tracesGolden, res.Traces); err != nil {
					t.Fatal(err)
				}
				if err := golden.WriteMetrics(t, metricsGolden, res.Metrics); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantT, err := golden.ReadTraces(tracesGolden)
			if err != nil {
				t.Fatalf("%v (record it: go test ./internal/replay -run TestReplay -update)", err)
			}
			if err := ptracetest.CompareTraces(wantT, res.Traces); err != nil {
				t.Errorf("spans differ from %s: %v", tracesGolden, err)
			}
			wantM, err := golden.ReadMetrics(metricsGolden)
			if err != nil {
				t.Fatal(err)
			}
			// The golden writer stores data points sorted and timestamps
			// normalised; the aggregator's series order is a map's.
			if err := pmetrictest.CompareMetrics(wantM, res.Metrics, pmetrictest.IgnoreTimestamp(),
				pmetrictest.IgnoreStartTimestamp(), pmetrictest.IgnoreResourceMetricsOrder(),
				pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder()); err != nil {
				t.Errorf("metrics differ from %s: %v", metricsGolden, err)
			}
		})
	}
}

// A replay is a function of its stream: twice the same output, ids
// included.
func TestReplayDeterministic(t *testing.T) {
	streams, _ := filepath.Glob(filepath.Join(top, "streams", "*.events"))
	for _, path := range streams {
		a, b := replayFile(t, path), replayFile(t, path)
		if err := ptracetest.CompareTraces(a.Traces, b.Traces); err != nil {
			t.Errorf("%s: two replays, different spans: %v", path, err)
		}
		if err := pmetrictest.CompareMetrics(a.Metrics, b.Metrics, pmetrictest.IgnoreResourceMetricsOrder(),
			pmetrictest.IgnoreMetricDataPointsOrder()); err != nil {
			t.Errorf("%s: two replays, different metrics: %v", path, err)
		}
	}
}

// The stream format keeps every field the pipeline reads.
func TestStreamRoundTrip(t *testing.T) {
	in := []probes.Event{
		{Type: probes.EventConn, Mono: 10, Sock: 0xffff8881, TGID: 7, FD: 3, Family: 2, LocalPort: 80, RemotePort: 5000,
			LocalAddr: [16]byte{127, 0, 0, 1}, RemoteAddr: [16]byte{10, 0, 0, 2}},
		{Type: probes.EventConn, Mono: 11, Sock: 0xffff8882, TGID: 7, FD: 4, Family: 10, LocalPort: 443, RemotePort: 6000,
			LocalAddr: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}, RemoteAddr: [16]byte{0: 0x20, 1: 0x01, 15: 9}},
		{Type: probes.EventDataIn, Mono: 12, Sock: 0xffff8881, TGID: 7, FD: 3, Len: 40, Payload: []byte("GET / HTTP/1.1\r\n\x00\xff\x80"), Tail: []byte("\r\n\r\n")},
		{Type: probes.EventDataOut, TLS: true, Mono: 13, Sock: 0xffff8881, TGID: 7, Len: 9, Payload: []byte{0, 0, 0, 4, 0, 0, 0, 0, 0}},
		{Type: probes.EventRouteStream, Mono: 14, TGID: 7, FD: 3, Payload: []byte("/items/{id}"), Addr: []byte("127.0.0.1:5000")},
		{Type: probes.EventTrace, Mono: 15, Sock: 0xffff8881, TGID: 7, Trace: probes.TraceIDs{TraceID: [16]byte{1, 2, 3}, SpanID: [8]byte{4}, Flags: 1, Role: probes.TraceClient}},
		{Type: probes.EventFork, Mono: 16, TGID: 8, FD: 7},
		{Type: probes.EventExit, Mono: 17, TGID: 8},
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{WallOffset: 99, Processes: []Process{{PID: 7, ServiceName: "web"}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if err := w.Write(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	h, out, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if h.WallOffset != 99 || len(h.Processes) != 1 || h.Processes[0].ServiceName != "web" {
		t.Errorf("header came back as %+v", h)
	}
	if len(out) != len(in) {
		t.Fatalf("%d events came back, want %d", len(out), len(in))
	}
	for i := range in {
		a, b := in[i], out[i]
		if a.Type != b.Type || a.TLS != b.TLS || a.Mono != b.Mono || a.Sock != b.Sock || a.TGID != b.TGID || a.FD != b.FD ||
			a.Len != b.Len || !bytes.Equal(a.Payload, b.Payload) || !bytes.Equal(a.Tail, b.Tail) || !bytes.Equal(a.Addr, b.Addr) ||
			a.Family != b.Family || a.LocalPort != b.LocalPort || a.RemotePort != b.RemotePort ||
			a.LocalAddr != b.LocalAddr || a.RemoteAddr != b.RemoteAddr || a.Trace != b.Trace {
			t.Errorf("event %d:\n wrote %+v\n  read %+v", i, a, b)
		}
	}
}

// A damaged stream file is an error naming the line, never a panic.
func TestStreamErrors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"empty", "", "empty stream file"},
		{"version", `{"ebpfred_events":2}` + "\n", "version 2"},
		{"type", `{"ebpfred_events":1}` + "\n" + `{"t":"bogus","mono":1,"pid":1}` + "\n", `line 2: unknown event type "bogus"`},
		{"bytes", `{"ebpfred_events":1}` + "\n" + `{"t":"in","mono":1,"pid":1,"payload_hex":"0g"}` + "\n", "line 2: bytes"},
		{"trace", `{"ebpfred_events":1}` + "\n" + `{"t":"trace","mono":1,"pid":1,"trace":{"trace_id":"zz","span_id":"00","flags":0,"role":1}}` + "\n", "line 2: trace id"},
	} {
		_, _, err := Read(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

func replayFile(t *testing.T, path string) *Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, evs, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(h, evs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
