package red

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpfred/ebpfred/internal/http2"
	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
)

const (
	aggStart = uint64(1_000_000_000_000)
	t0       = aggStart + 5_000_000_000 // records happen after the start
	ms       = uint64(1_000_000)
)

var (
	durBounds  = []float64{0.1, 0.5, 1}
	sizeBounds = []float64{0, 100}
)

// app is a process started before the aggregator.
var app = &process.Info{
	PID:               42,
	ServiceName:       "checkout",
	InstanceID:        "inst-42",
	ExecutableName:    "checkout",
	ExecutablePath:    "/usr/bin/checkout",
	Command:           "checkout",
	StartTimeUnixNano: aggStart - 1_000,
	Extra:             map[string]string{"k8s.pod.uid": "uid-1", "container.id": "c-1"},
}

var appResource = map[string]any{
	"service.name":            "checkout",
	"service.instance.id":     "inst-42",
	"process.pid":             int64(42),
	"process.executable.name": "checkout",
	"process.executable.path": "/usr/bin/checkout",
	"process.command":         "checkout",
	"host.name":               "node-1",
	"k8s.pod.uid":             "uid-1",
	"container.id":            "c-1",
}

// server returns an HTTP/1.1 server record lasting d nanoseconds.
func server(d uint64, mod ...func(*record.Record)) *record.Record {
	r := &record.Record{
		Kind: record.KindServer, Conv: httpconv.Conventions, PID: 42,
		StartUnixNano: t0, EndUnixNano: t0 + d,
		Method: "GET", Path: "/users/7", Route: "/users/{id}", Scheme: "http", ProtoVersion: "1.1",
		Host: "shop.example", HostPort: 8080, StatusCode: 200,
		RequestBodySize: -1, ResponseBodySize: -1,
		Local: netip.MustParseAddrPort("10.0.0.1:8080"),
		Peer:  netip.MustParseAddrPort("[::ffff:10.0.0.2]:51000"),
	}
	for _, m := range mod {
		m(r)
	}
	return r
}

func client(d uint64, mod ...func(*record.Record)) *record.Record {
	r := server(d, mod...)
	r.Kind = record.KindClient
	for _, m := range mod { // mods may depend on Kind
		m(r)
	}
	return r
}

func grpcRecord(kind record.Kind, code int, mod ...func(*record.Record)) *record.Record {
	r := &record.Record{
		Kind: kind, Conv: http2.GRPC, PID: 42,
		StartUnixNano: t0, EndUnixNano: t0 + 20*ms,
		Method: "POST", Path: "/shop.Cart/Add", Scheme: "http", ProtoVersion: "2",
		Host: "cart", HostPort: 9000, StatusCode: 200,
		RequestBodySize: 10, ResponseBodySize: 20,
		Peer:      netip.MustParseAddrPort("10.0.0.3:9000"),
		RPCMethod: "shop.Cart/Add", RPCStatusCode: code,
	}
	for _, m := range mod {
		m(r)
	}
	return r
}

// point is one histogram data point with everything that identifies it.
type point struct {
	Metric, Unit string
	Attrs        map[string]any
	Start, Time  uint64
	Count        uint64
	Sum          float64
	Min, Max     float64
	Bounds       []float64
	Buckets      []uint64
}

type resourceOut struct {
	Attrs  map[string]any
	Points []point
}

// flatten checks the invariants every output shares (one scope, named for the
// receiver; histograms, cumulative, described; min/max set) and returns the
// rest in a form reflect.DeepEqual can compare.
func flatten(t *testing.T, md pmetric.Metrics) []resourceOut {
	t.Helper()
	var out []resourceOut
	for _, rm := range md.ResourceMetrics().All() {
		ro := resourceOut{Attrs: rm.Resource().Attributes().AsRaw()}
		if n := rm.ScopeMetrics().Len(); n != 1 {
			t.Fatalf("resource %v: %d scopes, want 1", ro.Attrs, n)
		}
		sm := rm.ScopeMetrics().At(0)
		if got := sm.Scope().Name(); got != metadata.ScopeName {
			t.Errorf("scope name = %q, want %q", got, metadata.ScopeName)
		}
		for _, m := range sm.Metrics().All() {
			if m.Type() != pmetric.MetricTypeHistogram {
				t.Fatalf("%s: type %v, want Histogram", m.Name(), m.Type())
			}
			if m.Description() == "" {
				t.Errorf("%s: no description", m.Name())
			}
			h := m.Histogram()
			if h.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
				t.Errorf("%s: temporality %v, want Cumulative", m.Name(), h.AggregationTemporality())
			}
			if h.DataPoints().Len() == 0 {
				t.Errorf("%s: metric without points", m.Name())
			}
			for _, dp := range h.DataPoints().All() {
				if !dp.HasMin() || !dp.HasMax() || !dp.HasSum() {
					t.Errorf("%s: min/max/sum not all set", m.Name())
				}
				ro.Points = append(ro.Points, point{
					Metric: m.Name(), Unit: m.Unit(),
					Attrs: dp.Attributes().AsRaw(),
					Start: uint64(dp.StartTimestamp()), Time: uint64(dp.Timestamp()),
					Count: dp.Count(), Sum: dp.Sum(), Min: dp.Min(), Max: dp.Max(),
					Bounds:  dp.ExplicitBounds().AsRaw(),
					Buckets: dp.BucketCounts().AsRaw(),
				})
			}
		}
		out = append(out, ro)
	}
	return out
}

func diff(t *testing.T, got, want []resourceOut) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		if i >= len(got) || i >= len(want) {
			fmt.Fprintf(&b, "resource %d: only in one side\n", i)
			continue
		}
		if !reflect.DeepEqual(got[i].Attrs, want[i].Attrs) {
			fmt.Fprintf(&b, "resource %d attrs:\n got  %v\n want %v\n", i, got[i].Attrs, want[i].Attrs)
		}
		for j := range max(len(got[i].Points), len(want[i].Points)) {
			var g, w any = "<none>", "<none>"
			if j < len(got[i].Points) {
				g = got[i].Points[j]
			}
			if j < len(want[i].Points) {
				w = want[i].Points[j]
			}
			if !reflect.DeepEqual(g, w) {
				fmt.Fprintf(&b, "resource %d point %d:\n got  %+v\n want %+v\n", i, j, g, w)
			}
		}
	}
	t.Error(b.String())
}

// httpServerAttrs are the attributes of server(...) with no options.
func httpServerAttrs(extra ...any) map[string]any {
	m := map[string]any{
		"http.request.method":       "GET",
		"http.response.status_code": int64(200),
		"url.scheme":                "http",
		"network.protocol.name":     "http",
		"network.protocol.version":  "1.1",
		"http.route":                "/users/{id}",
	}
	return with(m, extra...)
}

// with sets key/value pairs on m; a nil value deletes the key.
func with(m map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

func TestCollect(t *testing.T) {
	const now = t0 + 60_000_000_000
	cfg := Config{DurationBuckets: durBounds, SizeBuckets: sizeBounds, HostName: "node-1"}
	size := func(req, resp int64) func(*record.Record) {
		return func(r *record.Record) { r.RequestBodySize, r.ResponseBodySize = req, resp }
	}

	tests := []struct {
		name    string
		cfg     Config
		records []*record.Record
		want    []resourceOut
	}{
		{
			name: "duration buckets include their upper bound",
			cfg:  cfg,
			records: []*record.Record{
				server(100 * ms),   // == 0.1: first bucket
				server(100*ms + 1), // just above: second
				server(500 * ms),   // == 0.5: second
				server(1000 * ms),  // == 1: third
				server(2000 * ms),  // overflow
				server(0),          // zero duration: first
			},
			want: []resourceOut{{Attrs: appResource, Points: []point{{
				Metric: "http.server.request.duration", Unit: "s", Attrs: httpServerAttrs(),
				Start: aggStart, Time: now,
				Count: 6, Sum: sum(0.1, 0.1+1e-9, 0.5, 1, 2, 0), Min: 0, Max: 2,
				Bounds: durBounds, Buckets: []uint64{2, 2, 1, 1},
			}}}},
		},
		{
			name: "body sizes: inclusive bounds, unknown sizes skipped",
			cfg:  cfg,
			records: []*record.Record{
				server(10*ms, size(0, -1)),   // req: bucket 0; resp unknown
				server(10*ms, size(100, -1)), // req: bucket 1
				server(10*ms, size(101, 5)),  // req: overflow; resp: bucket 1
				server(10*ms, size(-1, -1)),  // neither
			},
			want: []resourceOut{{Attrs: appResource, Points: []point{
				{
					Metric: "http.server.request.duration", Unit: "s", Attrs: httpServerAttrs(),
					Start: aggStart, Time: now, Count: 4, Sum: 0.04, Min: 0.01, Max: 0.01,
					Bounds: durBounds, Buckets: []uint64{4, 0, 0, 0},
				},
				{
					Metric: "http.server.request.body.size", Unit: "By", Attrs: httpServerAttrs(),
					Start: aggStart, Time: now, Count: 3, Sum: 201, Min: 0, Max: 101,
					Bounds: sizeBounds, Buckets: []uint64{1, 1, 1},
				},
				{
					Metric: "http.server.response.body.size", Unit: "By", Attrs: httpServerAttrs(),
					Start: aggStart, Time: now, Count: 1, Sum: 5, Min: 5, Max: 5,
					Bounds: sizeBounds, Buckets: []uint64{0, 1, 0},
				},
			}}},
		},
		{
			name: "series split by attributes, metrics in fixed order (families by name)",
			cfg:  cfg,
			records: []*record.Record{
				client(200*ms, size(1, 2)),
				server(10*ms, func(r *record.Record) { r.StatusCode = 503 }),
				server(20 * ms),
				server(30*ms, func(r *record.Record) { r.StatusCode = 503 }),
				grpcRecord(record.KindServer, 0),
			},
			want: []resourceOut{{Attrs: appResource, Points: []point{
				{
					Metric: "http.client.request.duration", Unit: "s",
					Attrs: httpServerAttrs("server.address", "shop.example", "server.port", int64(8080)),
					Start: aggStart, Time: now, Count: 1, Sum: 0.2, Min: 0.2, Max: 0.2,
					Bounds: durBounds, Buckets: []uint64{0, 1, 0, 0},
				},
				{
					Metric: "http.client.request.body.size", Unit: "By",
					Attrs: httpServerAttrs("server.address", "shop.example", "server.port", int64(8080)),
					Start: aggStart, Time: now, Count: 1, Sum: 1, Min: 1, Max: 1,
					Bounds: sizeBounds, Buckets: []uint64{0, 1, 0},
				},
				{
					Metric: "http.client.response.body.size", Unit: "By",
					Attrs: httpServerAttrs("server.address", "shop.example", "server.port", int64(8080)),
					Start: aggStart, Time: now, Count: 1, Sum: 2, Min: 2, Max: 2,
					Bounds: sizeBounds, Buckets: []uint64{0, 1, 0},
				},
				{
					Metric: "http.server.request.duration", Unit: "s",
					Attrs: httpServerAttrs("http.response.status_code", int64(503), "error.type", "503"),
					Start: aggStart, Time: now, Count: 2, Sum: 0.04, Min: 0.01, Max: 0.03,
					Bounds: durBounds, Buckets: []uint64{2, 0, 0, 0},
				},
				{
					Metric: "http.server.request.duration", Unit: "s", Attrs: httpServerAttrs(),
					Start: aggStart, Time: now, Count: 1, Sum: 0.02, Min: 0.02, Max: 0.02,
					Bounds: durBounds, Buckets: []uint64{1, 0, 0, 0},
				},
				{
					Metric: "rpc.server.call.duration", Unit: "s",
					Attrs: map[string]any{"rpc.system.name": "grpc", "rpc.method": "shop.Cart/Add", "rpc.response.status_code": "OK"},
					Start: aggStart, Time: now, Count: 1, Sum: 0.02, Min: 0.02, Max: 0.02,
					Bounds: durBounds, Buckets: []uint64{1, 0, 0, 0},
				},
			}}},
		},
		{
			name: "records of unknown kind are ignored",
			cfg:  cfg,
			records: []*record.Record{
				server(10*ms, func(r *record.Record) { r.Kind = 0 }),
			},
			want: nil,
		},
		{
			name: "unsorted, duplicated and infinite bounds are cleaned",
			cfg:  Config{DurationBuckets: []float64{1, 0.1, 1, math.Inf(1), math.NaN()}, SizeBuckets: sizeBounds, HostName: "node-1"},
			records: []*record.Record{
				server(100 * ms),
			},
			want: []resourceOut{{Attrs: appResource, Points: []point{{
				Metric: "http.server.request.duration", Unit: "s", Attrs: httpServerAttrs(),
				Start: aggStart, Time: now, Count: 1, Sum: 0.1, Min: 0.1, Max: 0.1,
				Bounds: []float64{0.1, 1}, Buckets: []uint64{1, 0, 0},
			}}}},
		},
		{
			name: "no bounds: one bucket",
			cfg:  Config{HostName: "node-1"},
			records: []*record.Record{
				server(100 * ms),
			},
			want: []resourceOut{{Attrs: appResource, Points: []point{{
				Metric: "http.server.request.duration", Unit: "s", Attrs: httpServerAttrs(),
				Start: aggStart, Time: now, Count: 1, Sum: 0.1, Min: 0.1, Max: 0.1,
				Bounds: nil, Buckets: []uint64{1}, // pdata: empty is nil
			}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(tt.cfg, aggStart)
			for _, r := range tt.records {
				a.Add(r, app)
			}
			diff(t, flatten(t, a.Collect(now)), tt.want)
		})
	}
}

// TestAttributes checks the attributes of the duration point of one record.
func TestAttributes(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		record *record.Record
		metric string
		want   map[string]any
	}{
		{
			name:   "server 4xx is not an error",
			record: server(ms, func(r *record.Record) { r.StatusCode = 404 }),
			metric: "http.server.request.duration",
			want:   httpServerAttrs("http.response.status_code", int64(404)),
		},
		{
			name:   "server 5xx: error.type is the code",
			record: server(ms, func(r *record.Record) { r.StatusCode = 500 }),
			metric: "http.server.request.duration",
			want:   httpServerAttrs("http.response.status_code", int64(500), "error.type", "500"),
		},
		{
			name:   "client 4xx: error.type is the code",
			record: client(ms, func(r *record.Record) { r.StatusCode = 404 }),
			metric: "http.client.request.duration",
			want: httpServerAttrs("http.response.status_code", int64(404), "error.type", "404",
				"server.address", "shop.example", "server.port", int64(8080)),
		},
		{
			name:   "status code wins over record error type",
			record: server(ms, func(r *record.Record) { r.StatusCode = 502; r.ErrorType = "connection_closed" }),
			metric: "http.server.request.duration",
			want:   httpServerAttrs("http.response.status_code", int64(502), "error.type", "502"),
		},
		{
			name:   "no response: status omitted, record error type",
			record: server(ms, func(r *record.Record) { r.StatusCode = 0; r.ErrorType = "connection_closed" }),
			metric: "http.server.request.duration",
			want:   httpServerAttrs("http.response.status_code", nil, "error.type", "connection_closed"),
		},
		{
			name: "optional fields absent",
			record: server(ms, func(r *record.Record) {
				r.Route, r.Scheme, r.ProtoVersion = "", "", ""
			}),
			metric: "http.server.request.duration",
			want: map[string]any{
				"http.request.method": "GET", "http.response.status_code": int64(200), "network.protocol.name": "http",
			},
		},
		{
			name:   "client without Host: server is the peer, unmapped",
			record: client(ms, func(r *record.Record) { r.Host, r.HostPort = "", 0 }),
			metric: "http.client.request.duration",
			want:   httpServerAttrs("server.address", "10.0.0.2", "server.port", int64(51000)),
		},
		{
			name:   "client Host without port: scheme default",
			record: client(ms, func(r *record.Record) { r.HostPort, r.Scheme = 0, "https" }),
			metric: "http.client.request.duration",
			want:   httpServerAttrs("url.scheme", "https", "server.address", "shop.example", "server.port", int64(443)),
		},
		{
			name:   "report_target adds url.path",
			cfg:    Config{ReportTarget: true},
			record: server(ms),
			metric: "http.server.request.duration",
			want:   httpServerAttrs("url.path", "/users/7"),
		},
		{
			name:   "report_peer adds client.address to server metrics",
			cfg:    Config{ReportPeer: true},
			record: server(ms),
			metric: "http.server.request.duration",
			want:   httpServerAttrs("client.address", "10.0.0.2"),
		},
		{
			name:   "report_peer does not touch client metrics",
			cfg:    Config{ReportPeer: true, ReportTarget: true},
			record: client(ms),
			metric: "http.client.request.duration",
			want: httpServerAttrs("url.path", "/users/7",
				"server.address", "shop.example", "server.port", int64(8080)),
		},
		{
			name:   "report_server_port adds the local port to server metrics",
			cfg:    Config{ReportServerPort: true},
			record: server(ms, func(r *record.Record) { r.Local = netip.MustParseAddrPort("10.0.0.1:8443") }),
			metric: "http.server.request.duration",
			want:   httpServerAttrs("server.port", int64(8443)),
		},
		{
			name:   "report_server_port leaves client metrics alone",
			cfg:    Config{ReportServerPort: true},
			record: client(ms),
			metric: "http.client.request.duration",
			want:   httpServerAttrs("server.address", "shop.example", "server.port", int64(8080)),
		},
		{
			name: "report_server_port on rpc server metrics",
			cfg:  Config{ReportServerPort: true},
			record: grpcRecord(record.KindServer, 0, func(r *record.Record) {
				r.Local = netip.MustParseAddrPort("10.0.0.1:50051")
			}),
			metric: "rpc.server.call.duration",
			want: map[string]any{"rpc.system.name": "grpc", "rpc.method": "shop.Cart/Add",
				"rpc.response.status_code": "OK", "server.port": int64(50051)},
		},
		{
			name:   "grpc server NOT_FOUND is not an error",
			cfg:    Config{ReportTarget: true},
			record: grpcRecord(record.KindServer, 5),
			metric: "rpc.server.call.duration",
			want:   map[string]any{"rpc.system.name": "grpc", "rpc.method": "shop.Cart/Add", "rpc.response.status_code": "NOT_FOUND"},
		},
		{
			name:   "grpc server INTERNAL is an error",
			record: grpcRecord(record.KindServer, 13),
			metric: "rpc.server.call.duration",
			want: map[string]any{"rpc.system.name": "grpc", "rpc.method": "shop.Cart/Add",
				"rpc.response.status_code": "INTERNAL", "error.type": "INTERNAL"},
		},
		{
			name:   "grpc client NOT_FOUND is an error, with server address",
			record: grpcRecord(record.KindClient, 5),
			metric: "rpc.client.call.duration",
			want: map[string]any{"rpc.system.name": "grpc", "rpc.method": "shop.Cart/Add",
				"rpc.response.status_code": "NOT_FOUND", "error.type": "NOT_FOUND",
				"server.address": "cart", "server.port": int64(9000)},
		},
		{
			name:   "grpc unknown status: code omitted, record error type",
			cfg:    Config{ReportPeer: true},
			record: grpcRecord(record.KindServer, -1, func(r *record.Record) { r.ErrorType = "connection_reset" }),
			metric: "rpc.server.call.duration",
			want: map[string]any{"rpc.system.name": "grpc", "rpc.method": "shop.Cart/Add",
				"error.type": "connection_reset", "client.address": "10.0.0.3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(tt.cfg, aggStart)
			a.Add(tt.record, app)
			out := flatten(t, a.Collect(t0))
			if len(out) != 1 {
				t.Fatalf("%d resources, want 1", len(out))
			}
			var found bool
			for _, p := range out[0].Points {
				if p.Metric == tt.metric {
					found = true
					if !reflect.DeepEqual(p.Attrs, tt.want) {
						t.Errorf("attributes\n got  %v\n want %v", p.Attrs, tt.want)
					}
				}
				if tt.record.Conv == http2.GRPC && strings.Contains(p.Metric, "body.size") {
					t.Errorf("gRPC record produced %s", p.Metric)
				}
			}
			if !found {
				t.Errorf("no %s point", tt.metric)
			}
		})
	}
}

func TestResourcePerProcess(t *testing.T) {
	late := &process.Info{PID: 7, ServiceName: "cart", ServiceNamespace: "shop", InstanceID: "inst-7",
		ExecutableName: "cart", StartTimeUnixNano: aggStart + 3_000}
	// Same PID, new process (PID reuse): a resource of its own.
	reused := &process.Info{PID: 7, ServiceName: "cart", InstanceID: "inst-7b", ExecutableName: "cart"}

	a := New(Config{DurationBuckets: durBounds}, aggStart)
	a.Add(server(ms), late)
	a.Add(server(ms), app)
	a.Add(server(ms), reused)
	a.Add(server(ms), late)
	a.Add(server(ms, func(r *record.Record) { r.PID = 9 }), nil)

	out := flatten(t, a.Collect(t0))
	want := []struct {
		attrs map[string]any
		start uint64
		count uint64
	}{
		{map[string]any{"service.name": "cart", "service.namespace": "shop", "service.instance.id": "inst-7",
			"process.pid": int64(7), "process.executable.name": "cart"}, aggStart + 3_000, 2},
		{with(map[string]any{}, kvs(appResource)...), aggStart, 1},
		{map[string]any{"service.name": "cart", "service.instance.id": "inst-7b",
			"process.pid": int64(7), "process.executable.name": "cart"}, aggStart, 1},
		{map[string]any{"service.name": "unknown_service", "process.pid": int64(9)}, aggStart, 1},
	}
	delete(want[1].attrs, "host.name") // no HostName configured
	if len(out) != len(want) {
		t.Fatalf("%d resources, want %d", len(out), len(want))
	}
	for i, w := range want {
		if !reflect.DeepEqual(out[i].Attrs, w.attrs) {
			t.Errorf("resource %d:\n got  %v\n want %v", i, out[i].Attrs, w.attrs)
		}
		if p := out[i].Points[0]; p.Start != w.start || p.Count != w.count {
			t.Errorf("resource %d: start %d count %d, want %d %d", i, p.Start, p.Count, w.start, w.count)
		}
	}
}

func kvs(m map[string]any) []any {
	var kv []any
	for k, v := range m {
		kv = append(kv, k, v)
	}
	return kv
}

// summary maps "service.instance.id metric" to (start, time, count).
func summary(t *testing.T, md pmetric.Metrics) map[string][3]uint64 {
	t.Helper()
	s := map[string][3]uint64{}
	for _, ro := range flatten(t, md) {
		for _, p := range ro.Points {
			s[fmt.Sprint(ro.Attrs["service.instance.id"], " ", p.Metric)] = [3]uint64{p.Start, p.Time, p.Count}
		}
	}
	return s
}

func TestCumulativeAcrossCollects(t *testing.T) {
	a := New(Config{DurationBuckets: durBounds, SizeBuckets: sizeBounds}, aggStart)
	a.Add(server(ms), app)
	first := summary(t, a.Collect(t0+1))
	a.Add(server(ms), app)
	a.Add(server(ms), app)
	second := summary(t, a.Collect(t0+2))
	third := summary(t, a.Collect(t0+3)) // nothing new: same counts, new time

	const k = "inst-42 http.server.request.duration"
	for _, c := range []struct {
		got, want [3]uint64
	}{
		{first[k], [3]uint64{aggStart, t0 + 1, 1}},
		{second[k], [3]uint64{aggStart, t0 + 2, 3}},
		{third[k], [3]uint64{aggStart, t0 + 3, 3}},
	} {
		if c.got != c.want {
			t.Errorf("(start, time, count) = %v, want %v", c.got, c.want)
		}
	}
}

func TestForget(t *testing.T) {
	other := &process.Info{PID: 7, ServiceName: "cart", InstanceID: "inst-7"}
	a := New(Config{DurationBuckets: durBounds}, aggStart)
	a.Add(server(ms), app)
	a.Add(server(ms), other)
	a.Collect(t0 + 1)

	a.Forget(app.PID)
	a.Forget(12345)        // unknown: no effect
	a.Add(server(ms), app) // still counted: exited processes flush in-flight records

	const dur = " http.server.request.duration"
	steps := []struct {
		before func()
		now    uint64
		want   map[string][3]uint64
	}{
		{ // exported once more, with everything it saw
			now: t0 + 2,
			want: map[string][3]uint64{
				"inst-42" + dur: {aggStart, t0 + 2, 2},
				"inst-7" + dur:  {aggStart, t0 + 2, 1},
			},
		},
		{ // then gone
			now:  t0 + 3,
			want: map[string][3]uint64{"inst-7" + dur: {aggStart, t0 + 3, 1}},
		},
		{ // a straggler starts a new stream at the drop time, exported once
			before: func() { a.Add(server(ms), app) },
			now:    t0 + 4,
			want: map[string][3]uint64{
				"inst-42" + dur: {t0 + 2, t0 + 4, 1},
				"inst-7" + dur:  {aggStart, t0 + 4, 1},
			},
		},
		{
			now:  t0 + 5,
			want: map[string][3]uint64{"inst-7" + dur: {aggStart, t0 + 5, 1}},
		},
	}
	for i, s := range steps {
		if s.before != nil {
			s.before()
		}
		if got := summary(t, a.Collect(s.now)); !reflect.DeepEqual(got, s.want) {
			t.Errorf("step %d:\n got  %v\n want %v", i, got, s.want)
		}
	}
	if len(a.procs) != 1 || len(a.order) != 1 {
		t.Errorf("%d procs / %d ordered left, want 1", len(a.procs), len(a.order))
	}
}

// TestGravesExpire: the memory of dropped processes does not grow forever.
func TestGravesExpire(t *testing.T) {
	a := New(Config{}, aggStart)
	for pid := range uint32(100) {
		p := &process.Info{PID: pid, InstanceID: fmt.Sprint(pid)}
		a.Add(server(ms), p)
		a.Forget(pid)
	}
	a.Collect(t0)
	if len(a.graves) != 100 {
		t.Fatalf("%d graves after drop, want 100", len(a.graves))
	}
	a.Collect(t0 + 1)
	a.Collect(t0 + 2)
	if len(a.graves) != 0 || len(a.procs) != 0 {
		t.Errorf("%d graves, %d procs left, want 0", len(a.graves), len(a.procs))
	}
}

func TestConcurrentAddCollect(t *testing.T) {
	a := New(Config{DurationBuckets: durBounds, SizeBuckets: sizeBounds}, aggStart)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			a.Add(server(ms), app)
		}
	}()
	for i := range 50 {
		a.Collect(t0 + uint64(i))
	}
	<-done
	if got := summary(t, a.Collect(t0+100))["inst-42 http.server.request.duration"][2]; got != 1000 {
		t.Errorf("count = %d, want 1000", got)
	}
}

func BenchmarkAdd(b *testing.B) {
	a := New(Config{
		DurationBuckets: []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10},
		SizeBuckets:     []float64{0, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536, 262144, 1048576, 4194304, 16777216},
	}, aggStart)
	rs := []*record.Record{
		server(3*ms, func(r *record.Record) { r.RequestBodySize, r.ResponseBodySize = 120, 4000 }),
		server(30*ms, func(r *record.Record) { r.StatusCode = 503 }),
		client(80*ms, func(r *record.Record) { r.Host = "" }),
		grpcRecord(record.KindServer, 0),
	}
	for _, r := range rs {
		a.Add(r, app)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		a.Add(rs[i&3], app)
		i++
	}
}

// sum adds at run time, in order, as the aggregator does (constant folding
// is exact and could differ in the last bit).
func sum(vs ...float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s
}

// With report_server_port, a process serving a cleartext and a TLS port
// gets a series per port; without it, one.
func TestServerPortSeries(t *testing.T) {
	for _, opt := range []bool{false, true} {
		a := New(Config{ReportServerPort: opt}, aggStart)
		for _, port := range []uint16{8080, 8443, 8443} {
			a.Add(server(ms, func(r *record.Record) {
				r.Local = netip.AddrPortFrom(r.Local.Addr(), port)
				r.Host, r.HostPort = "", 0
			}), app)
		}
		got := map[any]uint64{}
		for _, p := range flatten(t, a.Collect(t0))[0].Points {
			if p.Metric == "http.server.request.duration" {
				got[p.Attrs["server.port"]] += p.Count
			}
		}
		want := map[any]uint64{nil: 3}
		if opt {
			want = map[any]uint64{int64(8080): 1, int64(8443): 2}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("report_server_port %v: counts by server.port %v, want %v", opt, got, want)
		}
	}
}
