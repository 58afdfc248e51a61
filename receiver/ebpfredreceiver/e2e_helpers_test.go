package ebpfredreceiver

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/probes"
)

// exitSlack bounds how much longer than the client's own measure a span
// may be. A server span ends when the response's write returns to the
// server, and on loopback the kernel hands the bytes to the client inside
// that write: the client can have them a few microseconds before the
// server's write returns (9 µs over the client's latency seen in CI).
const exitSlack = time.Millisecond

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load eBPF programs (CI runs as root)")
	}
}

// harness is one receiver instance shared by a traces and a metrics
// pipeline, as in a collector with both pipelines configured.
type harness struct {
	t       *testing.T
	cfg     *Config
	traces  *consumertest.TracesSink
	metrics *consumertest.MetricsSink
	comps   []receiver.Metrics
	tr      receiver.Traces
	stopped bool
	// hosts: the traces and the metrics pipeline's, which record the
	// component status the receiver reports.
	tracesHost, metricsHost *statusHost
}

// statusHost is a pipeline's host that records the status events its
// component reports (componentstatus.Reporter).
type statusHost struct {
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (*statusHost) GetExtensions() map[component.ID]component.Component { return nil }

func (s *statusHost) Report(e *componentstatus.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

// waitStatus waits up to 10 s for the last reported status to be st with
// an error text containing want, and returns the events so far.
func (s *statusHost) waitStatus(t *testing.T, st componentstatus.Status, want string) []*componentstatus.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		evs := slices.Clone(s.events)
		s.mu.Unlock()
		if n := len(evs); n > 0 && evs[n-1].Status() == st && (want == "" || evs[n-1].Err() != nil && strings.Contains(evs[n-1].Err().Error(), want)) {
			return evs
		}
		if time.Now().After(deadline) {
			var got []string
			for _, e := range evs {
				got = append(got, fmt.Sprintf("%v %v", e.Status(), e.Err()))
			}
			t.Fatalf("component status: %q; want a last one %v with %q", got, st, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func startReceiver(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	return startReceiverWith(t, receivertest.NewNopSettings(metadata.Type), mutate)
}

// startReceiverWith starts the receiver with these settings (a logger or a
// meter provider to look at).
func startReceiverWith(t *testing.T, set receiver.Settings, mutate func(*Config)) *harness {
	t.Helper()
	requireRoot(t)
	cfg := createDefaultConfig().(*Config)
	cfg.Metrics.Interval = time.Hour // exported once, at shutdown
	cfg.DiscoveryInterval = 200 * time.Millisecond
	mutate(cfg)
	f := NewFactory()
	h := &harness{t: t, cfg: cfg, traces: new(consumertest.TracesSink), metrics: new(consumertest.MetricsSink)}
	tr, err := f.CreateTraces(context.Background(), set, cfg, h.traces)
	if err != nil {
		t.Fatal(err)
	}
	mr, err := f.CreateMetrics(context.Background(), set, cfg, h.metrics)
	if err != nil {
		t.Fatal(err)
	}
	h.tr = tr
	h.comps = []receiver.Metrics{mr}
	h.tracesHost, h.metricsHost = &statusHost{}, &statusHost{}
	if err := tr.Start(context.Background(), h.tracesHost); err != nil {
		t.Fatal(err)
	}
	if err := mr.Start(context.Background(), h.metricsHost); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stop)
	return h
}

// receiver returns the running shared instance (for its self-telemetry).
func (h *harness) receiver() *ebpfReceiver {
	c, err := receivers.LoadOrStore(h.cfg, func() (*ebpfReceiver, error) {
		return nil, fmt.Errorf("no running receiver")
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return c.Unwrapped
}

// stop shuts the traces pipeline down, then the metrics one; each flushes
// what is pending for it as it stops (the cumulative metrics once, at the
// end, after the probes stopped).
func (h *harness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	if err := h.tr.Shutdown(context.Background()); err != nil {
		h.t.Error(err)
	}
	for _, c := range h.comps {
		if err := c.Shutdown(context.Background()); err != nil {
			h.t.Error(err)
		}
	}
}

// waitSpans waits until at least n spans arrived that match keep, then a
// little longer so that extra spans would show.
func (h *harness) waitSpans(n int, keep func(ptrace.Span) bool) []spanView {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := h.spans(keep)
		if len(got) >= n || time.Now().After(deadline) {
			time.Sleep(500 * time.Millisecond)
			return h.spans(keep)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type spanView struct {
	span     ptrace.Span
	resource pcommon.Map
}

func (s spanView) attr(k string) string {
	v, ok := s.span.Attributes().Get(k)
	if !ok {
		return ""
	}
	return v.AsString()
}

func (s spanView) duration() time.Duration {
	return time.Duration(s.span.EndTimestamp() - s.span.StartTimestamp())
}

func (h *harness) spans(keep func(ptrace.Span) bool) []spanView {
	var out []spanView
	for _, td := range h.traces.AllTraces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					if keep == nil || keep(ss.At(k)) {
						out = append(out, spanView{ss.At(k), rs.Resource().Attributes()})
					}
				}
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].span.StartTimestamp() < out[b].span.StartTimestamp() })
	return out
}

// histPoint is one histogram point of the last metrics export.
type histPoint struct {
	metric   string
	attrs    map[string]string
	resource map[string]string
	count    uint64
	sum      float64
	min, max float64
}

func (h *harness) histograms(name string) []histPoint {
	h.t.Helper()
	all := h.metrics.AllMetrics()
	if len(all) == 0 {
		return nil
	}
	md := all[len(all)-1] // cumulative: the last export has everything
	var out []histPoint
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		res := toMap(rm.Resource().Attributes())
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != name || m.Type() != pmetric.MetricTypeHistogram {
					continue
				}
				if m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
					h.t.Errorf("%s: temporality %v, want cumulative", name, m.Histogram().AggregationTemporality())
				}
				dps := m.Histogram().DataPoints()
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					out = append(out, histPoint{metric: name, attrs: toMap(dp.Attributes()), resource: res,
						count: dp.Count(), sum: dp.Sum(), min: dp.Min(), max: dp.Max()})
				}
			}
		}
	}
	return out
}

func toMap(m pcommon.Map) map[string]string {
	out := map[string]string{}
	m.Range(func(k string, v pcommon.Value) bool {
		out[k] = v.AsString()
		return true
	})
	return out
}

// countBy sums histogram counts by the given attribute values.
func countBy(pts []histPoint, keys ...string) map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range pts {
		k := ""
		for i, key := range keys {
			if i > 0 {
				k += " "
			}
			k += p.attrs[key]
		}
		out[k] += p.count
	}
	return out
}

func fmtCounts(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%s=%d ", k, m[k])
	}
	return s
}

// eachCapture runs f with each way capture can hook socket I/O that this
// kernel has (probes.CaptureSockets, probes.CaptureSyscalls).
func eachCapture(t *testing.T, f func(t *testing.T, hooks string)) {
	for _, hooks := range []string{probes.CaptureSockets, probes.CaptureSyscalls} {
		t.Run(hooks, func(t *testing.T) {
			if _, err := os.Stat("/sys/kernel/tracing/events/sock/sock_send_length"); err != nil && hooks == probes.CaptureSockets {
				t.Skip("this kernel has no sock_send_length/sock_recv_length tracepoints (Linux 6.3+)")
			}
			f(t, hooks)
		})
	}
}
