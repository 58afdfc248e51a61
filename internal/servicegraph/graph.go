// Package servicegraph counts the edges between services from request
// records: the traces_service_graph_* metrics that Grafana's service graph
// reads, with the names, units and labels of the collector's servicegraph
// connector. The connector pairs CLIENT and SERVER spans of sampled traces;
// here every request counts, sampled or not, because the collector knows
// both ends of a connection between two of its processes (record.PeerPID)
// without pairing spans.
//
// One request is one edge count, from the end that knows the caller:
//
//   - a CLIENT record: client = its service, server = the instrumented
//     process at the other end (its service), else the peer's address
//     (connection_type "virtual_node", or "database" for a database,
//     "messaging_system" for a message broker);
//   - a SERVER record whose caller is not an instrumented process of the
//     node: client = "user" (the connector's name for an unknown caller),
//     connection_type "virtual_node";
//   - a SERVER record whose caller is one of ours adds only its duration
//     (…_request_server): the caller's CLIENT record counted the request.
//
// Concurrency: Add and Collect may run on different goroutines (one mutex).
package servicegraph

import (
	"net/netip"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
)

// Metric names as the servicegraph connector writes them in OTLP; the
// Prometheus translation adds "_seconds" to the histograms' names.
const (
	MetricRequestTotal  = "traces_service_graph_request_total"
	MetricRequestFailed = "traces_service_graph_request_failed_total"
	MetricServerSeconds = "traces_service_graph_request_server"
	MetricClientSeconds = "traces_service_graph_request_client"
)

// Values of the connection_type label (the connector's).
const (
	ConnDirect      = ""
	ConnVirtualNode = "virtual_node"
	ConnDatabase    = "database"
	ConnMessaging   = "messaging_system"
)

// UnknownClient is the client of a request whose caller is not known.
const UnknownClient = "user"

// DefaultBuckets are the connector's default latency boundaries (seconds).
var DefaultBuckets = []float64{0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1, 1.4, 2, 5, 10, 15}

// MaxEdges bounds the edges of one collector; requests of further edges
// are counted in Dropped only.
const MaxEdges = 10000

type edgeKey struct {
	client, server, connType string
}

type hist struct {
	count   uint64
	sum     float64
	buckets []uint64
}

func (h *hist) observe(v float64, bounds []float64) {
	if h.buckets == nil {
		h.buckets = make([]uint64, len(bounds)+1)
	}
	i, _ := slices.BinarySearch(bounds, v)
	h.buckets[i]++
	h.count++
	h.sum += v
}

type edge struct {
	key            edgeKey
	total, failed  uint64
	server, client hist
}

// Graph is the cumulative service graph of one collector.
type Graph struct {
	mu       sync.Mutex
	bounds   []float64
	start    uint64
	hostName string
	edges    map[edgeKey]*edge
	order    []*edge // first seen first
	dropped  uint64
	addrs    map[netip.AddrPort]string
}

// New returns an empty Graph whose cumulative streams start at
// startUnixNano; hostName is its resource's host.name ("" leaves it out).
func New(startUnixNano uint64, hostName string) *Graph {
	return &Graph{bounds: DefaultBuckets, start: startUnixNano, hostName: hostName,
		edges: make(map[edgeKey]*edge), addrs: make(map[netip.AddrPort]string)}
}

// Add counts the request r of process p; peer is the instrumented process
// at the other end of its connection, nil when there is none.
func (g *Graph) Add(r *record.Record, p, peer *process.Info) {
	if r.Conv == nil || p == nil {
		return
	}
	failed := r.Conv.ErrorType(r) != ""
	d := record.Duration(r)
	g.mu.Lock()
	defer g.mu.Unlock()
	switch r.Kind {
	case record.KindClient:
		k := edgeKey{client: p.ServiceName}
		switch {
		case peer != nil:
			k.server, k.connType = peer.ServiceName, ConnDirect
		default:
			k.server, k.connType = g.addr(r.Peer), unknownPeerType(r)
		}
		if e := g.edge(k); e != nil {
			e.count(failed)
			e.client.observe(d, g.bounds)
		}
	case record.KindServer:
		if peer != nil {
			if e := g.edge(edgeKey{client: peer.ServiceName, server: p.ServiceName, connType: ConnDirect}); e != nil {
				e.server.observe(d, g.bounds)
			}
			return
		}
		if e := g.edge(edgeKey{client: UnknownClient, server: p.ServiceName, connType: ConnVirtualNode}); e != nil {
			e.count(failed)
			e.server.observe(d, g.bounds)
		}
	}
}

func (e *edge) count(failed bool) {
	e.total++
	if failed {
		e.failed++
	}
}

// unknownPeerType is the connection_type of a client's edge to a peer
// that is not an instrumented process: what its metric family says the
// peer is.
func unknownPeerType(r *record.Record) string {
	f := r.Conv.Family(r)
	switch {
	case f == nil:
	case strings.HasPrefix(f.Name, "db."):
		return ConnDatabase
	case strings.HasPrefix(f.Name, "messaging."):
		return ConnMessaging
	}
	return ConnVirtualNode
}

// edge returns k's edge, nil when MaxEdges are already counted.
func (g *Graph) edge(k edgeKey) *edge {
	if e := g.edges[k]; e != nil {
		return e
	}
	if len(g.edges) >= MaxEdges {
		g.dropped++
		return nil
	}
	e := &edge{key: k}
	g.edges[k] = e
	g.order = append(g.order, e)
	return e
}

// addr formats a peer address once (an allocation per request otherwise).
func (g *Graph) addr(a netip.AddrPort) string {
	if s, ok := g.addrs[a]; ok {
		return s
	}
	s := "unknown" // the connector's name for a peer it cannot name
	if a.IsValid() {
		s = a.String()
	}
	if len(g.addrs) < 4*MaxEdges {
		g.addrs[a] = s
	}
	return s
}

// Dropped returns how many requests were not counted because MaxEdges
// edges were already.
func (g *Graph) Dropped() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dropped
}

// AppendTo adds the graph's cumulative metrics, as of nowUnixNano, to md in
// a ResourceMetrics of their own (the node's: edges belong to no one
// service). Nothing is added before the first request.
func (g *Graph) AppendTo(md pmetric.Metrics, nowUnixNano uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.order) == 0 {
		return
	}
	rm := md.ResourceMetrics().AppendEmpty()
	if g.hostName != "" {
		rm.Resource().Attributes().PutStr("host.name", g.hostName)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	ms := sm.Metrics()
	start, now := pcommon.Timestamp(g.start), pcommon.Timestamp(nowUnixNano)
	g.appendSum(ms, MetricRequestTotal, "Requests between two services.", func(e *edge) uint64 { return e.total }, start, now)
	g.appendSum(ms, MetricRequestFailed, "Failed requests between two services.", func(e *edge) uint64 { return e.failed }, start, now)
	g.appendHist(ms, MetricServerSeconds, "Duration of requests between two services, as the server saw them.", func(e *edge) *hist { return &e.server }, start, now)
	g.appendHist(ms, MetricClientSeconds, "Duration of requests between two services, as the client saw them.", func(e *edge) *hist { return &e.client }, start, now)
}

func putLabels(m pcommon.Map, k edgeKey) {
	m.PutStr("client", k.client)
	m.PutStr("server", k.server)
	m.PutStr("connection_type", k.connType)
}

func (g *Graph) appendSum(ms pmetric.MetricSlice, name, desc string, v func(*edge) uint64, start, now pcommon.Timestamp) {
	var m pmetric.Metric
	for _, e := range g.order {
		n := v(e)
		if n == 0 {
			continue
		}
		if m == (pmetric.Metric{}) {
			m = ms.AppendEmpty()
			m.SetName(name)
			m.SetDescription(desc)
			m.SetUnit("{request}")
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		}
		dp := m.Sum().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(n))
		putLabels(dp.Attributes(), e.key)
	}
}

func (g *Graph) appendHist(ms pmetric.MetricSlice, name, desc string, h func(*edge) *hist, start, now pcommon.Timestamp) {
	var m pmetric.Metric
	for _, e := range g.order {
		hs := h(e)
		if hs.count == 0 {
			continue
		}
		if m == (pmetric.Metric{}) {
			m = ms.AppendEmpty()
			m.SetName(name)
			m.SetDescription(desc)
			m.SetUnit("s")
			m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		}
		dp := m.Histogram().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.SetCount(hs.count)
		dp.SetSum(hs.sum)
		dp.ExplicitBounds().FromRaw(g.bounds)
		dp.BucketCounts().FromRaw(hs.buckets)
		putLabels(dp.Attributes(), e.key)
	}
}
