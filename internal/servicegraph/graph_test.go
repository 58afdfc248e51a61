package servicegraph

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"syscall"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpfred/ebpfred/internal/dbconv"
	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/msgconv"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
)

var (
	front = &process.Info{PID: 1, ServiceName: "front"}
	back  = &process.Info{PID: 2, ServiceName: "back"}
)

func req(kind record.Kind, status int, ms uint64) *record.Record {
	return &record.Record{Kind: kind, Conv: httpconv.Conventions, Method: "GET", StatusCode: status,
		StartUnixNano: 1000, EndUnixNano: 1000 + ms*1_000_000,
		Peer: netip.MustParseAddrPort("10.0.0.9:443")}
}

// summary renders the metrics as "metric client→server type = value" lines.
func summary(md pmetric.Metrics) string {
	var lines []string
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				label := func(a interface{ AsRaw() map[string]any }) string {
					r := a.AsRaw()
					return fmt.Sprintf("%s→%s %q", r["client"], r["server"], r["connection_type"])
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					if !m.Sum().IsMonotonic() || m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
						lines = append(lines, m.Name()+" not a cumulative counter")
					}
					for _, dp := range m.Sum().DataPoints().All() {
						lines = append(lines, fmt.Sprintf("%s %s = %d", m.Name(), label(dp.Attributes()), dp.IntValue()))
					}
				case pmetric.MetricTypeHistogram:
					if m.Unit() != "s" {
						lines = append(lines, m.Name()+" unit "+m.Unit())
					}
					for _, dp := range m.Histogram().DataPoints().All() {
						lines = append(lines, fmt.Sprintf("%s %s = %d in %.3fs", m.Name(), label(dp.Attributes()), dp.Count(), dp.Sum()))
					}
				}
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// A request between two instrumented services counts once, with the
// client's and the server's durations; callers and peers that are not
// ours are the connector's virtual nodes.
func TestGraph(t *testing.T) {
	g := New(1, "node")
	md := pmetric.NewMetrics()
	g.AppendTo(md, 2)
	if md.ResourceMetrics().Len() != 0 {
		t.Fatal("metrics before any request")
	}
	for i, status := range []int{200, 503, 200, 404} {
		_ = i
		g.Add(req(record.KindClient, status, 30), front, back) // front → back
		g.Add(req(record.KindServer, status, 20), back, front) // back, answering front
		g.Add(req(record.KindServer, status, 40), front, nil)  // someone → front
	}
	g.Add(req(record.KindClient, 200, 5), back, nil) // back → an outside address
	db := req(record.KindClient, 0, 2)
	db.Conv, db.Method, db.Peer = dbconv.New("postgresql"), "", netip.MustParseAddrPort("10.0.0.5:5432")
	g.Add(db, back, nil)
	mq := req(record.KindClient, 0, 3)
	mq.Conv, mq.Method, mq.Peer = msgconv.New("kafka", nil), "", netip.MustParseAddrPort("10.0.0.6:9092")
	g.Add(mq, back, nil)

	md = pmetric.NewMetrics()
	g.AppendTo(md, 2)
	want := strings.Join([]string{
		`traces_service_graph_request_client back→10.0.0.5:5432 "database" = 1 in 0.002s`,
		`traces_service_graph_request_client back→10.0.0.6:9092 "messaging_system" = 1 in 0.003s`,
		`traces_service_graph_request_client back→10.0.0.9:443 "virtual_node" = 1 in 0.005s`,
		`traces_service_graph_request_client front→back "" = 4 in 0.120s`,
		`traces_service_graph_request_failed_total front→back "" = 2`,
		`traces_service_graph_request_failed_total user→front "virtual_node" = 1`,
		`traces_service_graph_request_server front→back "" = 4 in 0.080s`,
		`traces_service_graph_request_server user→front "virtual_node" = 4 in 0.160s`,
		`traces_service_graph_request_total back→10.0.0.5:5432 "database" = 1`,
		`traces_service_graph_request_total back→10.0.0.6:9092 "messaging_system" = 1`,
		`traces_service_graph_request_total back→10.0.0.9:443 "virtual_node" = 1`,
		`traces_service_graph_request_total front→back "" = 4`,
		`traces_service_graph_request_total user→front "virtual_node" = 4`,
	}, "\n")
	if got := summary(md); got != want {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, want)
	}
	if host, _ := md.ResourceMetrics().At(0).Resource().Attributes().Get("host.name"); host.Str() != "node" {
		t.Errorf("host.name %q", host.Str())
	}
}

// Past MaxEdges, requests of new edges are only counted as dropped.
func TestGraphBounded(t *testing.T) {
	g := New(1, "")
	for i := 0; i < MaxEdges+5; i++ {
		r := req(record.KindClient, 200, 1)
		r.Peer = netip.AddrPortFrom(netip.MustParseAddr("10.1.0.1"), uint16(1000+i))
		g.Add(r, front, nil)
	}
	if len(g.edges) != MaxEdges || g.Dropped() != 5 {
		t.Errorf("%d edges, %d dropped; want %d and 5", len(g.edges), g.Dropped(), MaxEdges)
	}
}

// BenchmarkGraphAdd: both ends of one request between two instrumented
// services, the per-request cost of the service graph.
func BenchmarkGraphAdd(b *testing.B) {
	g := New(1, "")
	c, s := req(record.KindClient, 200, 3), req(record.KindServer, 200, 2)
	b.ReportAllocs()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for i := 0; i < b.N; i++ {
		g.Add(c, front, back)
		g.Add(s, back, front)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
