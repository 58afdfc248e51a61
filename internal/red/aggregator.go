// Package red turns request records into cumulative RED histograms (rate,
// errors, duration, plus HTTP body sizes), named and attributed per the
// OpenTelemetry semantic conventions, one ResourceMetrics per instrumented
// process.
//
// Cardinality: with Config.MaxSeriesPerService set, each process keeps at
// most that many series per metric family (HTTP server, HTTP client, RPC
// server, RPC client), the overflow series included. Once a family holds
// all but one, records with an attribute set it does not have yet go to
// one overflow series whose only attribute is otel.metric.overflow=true, as
// the OpenTelemetry SDKs do; existing series keep counting. Totals stay
// exact: the points of a metric add up to every record.
//
// Concurrency: an Aggregator is safe for concurrent use. One mutex guards
// all state. Add builds its series key before taking it and then holds it
// for one map look-up and a few additions; Collect holds it while it builds
// the snapshot.
package red

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/resource"
)

// Config chooses histogram boundaries and the optional attributes.
type Config struct {
	// DurationBuckets are explicit bounds in seconds, SizeBuckets in bytes.
	// Each bucket includes its upper bound. New sorts them and drops
	// duplicates, NaN and ±Inf (the last bucket is implicitly +Inf).
	DurationBuckets []float64
	SizeBuckets     []float64
	// ReportTarget adds url.path to HTTP metrics (high cardinality).
	ReportTarget bool
	// ReportPeer adds client.address (the peer IP) to server metrics.
	ReportPeer bool
	// HostName is the host.name resource attribute ("" leaves it out).
	HostName string
	// MaxSeriesPerService caps the series of each metric family of one
	// process, the overflow series included (see the package doc); 0 or
	// less means no cap.
	MaxSeriesPerService int
}

// AttrOTelMetricOverflow is the only attribute of an overflow series.
const AttrOTelMetricOverflow = "otel.metric.overflow"

// Aggregator accumulates records into cumulative histograms.
type Aggregator struct {
	mu sync.Mutex

	durationBounds []float64
	sizeBounds     []float64
	reportTarget   bool
	reportPeer     bool
	hostName       string
	maxSeries      int
	start          uint64

	overflowed atomic.Uint64 // records counted in an overflow series

	procs map[resource.Key]*proc
	order []*proc // first-seen order, for reproducible output
	// graves remembers recently dropped processes so that a record arriving
	// after the drop starts a new cumulative stream (a later start time)
	// instead of silently resetting the old one.
	graves   map[resource.Key]grave
	collects uint64

	// Records come in bursts per process: remember the last Info seen so
	// that a burst costs one pointer comparison instead of a map look-up.
	lastInfo *process.Info
	lastProc *proc
}

type grave struct {
	droppedAt uint64 // the Collect time that exported the process last
	collect   uint64 // which Collect dropped it
}

// proc is one instrumented process: one ResourceMetrics.
type proc struct {
	key       resource.Key
	info      *process.Info
	start     uint64
	series    map[seriesKey]*series
	byFamily  [numFamilies][]*series // first-seen order within each family
	forgotten bool
	// lost: requests of the process possibly lost (AddLost).
	lost uint64

	// overflow is each family's overflow series, nil until needed. It is
	// not in series: a key the map lacks is what sends a record here.
	overflow [numFamilies]*series
}

// family selects which metrics a series feeds.
type family uint8

const (
	httpServer family = iota
	httpClient
	rpcServer
	rpcClient
	numFamilies
)

// seriesKey holds exactly the attributes of one data point, in a comparable
// form (no strings built per request): fields a family does not report are
// left zero so they cannot split series.
type seriesKey struct {
	family     family
	overflow   bool // the overflow series: no other field is set
	status     int  // HTTP status (0: none) or gRPC code (-1: unknown)
	serverPort int
	method     string // HTTP method or RPC method
	route      string
	scheme     string
	version    string
	errorType  string
	serverHost string
	path       string
	serverIP   netip.Addr
	clientIP   netip.Addr
}

const (
	histDuration = iota
	histRequestSize
	histResponseSize
	numHists
)

type series struct {
	key   seriesKey
	hists [numHists]histogram
}

type histogram struct {
	count    uint64
	sum      float64
	min, max float64
	buckets  []uint64 // len(bounds)+1; nil for metrics the family lacks
}

// observe counts v in the first bucket whose upper bound is >= v (bounds are
// inclusive upper limits), or in the overflow bucket.
func (h *histogram) observe(v float64, bounds []float64) {
	i, _ := slices.BinarySearch(bounds, v)
	h.buckets[i]++
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if h.count == 0 || v > h.max {
		h.max = v
	}
	h.count++
	h.sum += v
}

// New returns an Aggregator whose cumulative streams start at startUnixNano
// (or at a process's start time when that is later).
func New(cfg Config, startUnixNano uint64) *Aggregator {
	return &Aggregator{
		durationBounds: cleanBounds(cfg.DurationBuckets),
		sizeBounds:     cleanBounds(cfg.SizeBuckets),
		reportTarget:   cfg.ReportTarget,
		reportPeer:     cfg.ReportPeer,
		hostName:       cfg.HostName,
		maxSeries:      max(cfg.MaxSeriesPerService, 0),
		start:          startUnixNano,
		procs:          make(map[resource.Key]*proc),
		graves:         make(map[resource.Key]grave),
	}
}

// cleanBounds returns a sorted, duplicate-free copy of b without NaN or
// infinities, so that a misordered config cannot corrupt bucket search.
func cleanBounds(b []float64) []float64 {
	out := make([]float64, 0, len(b))
	for _, v := range b {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Add counts one request of process p. Records whose Kind is unknown are
// ignored: they fit no metric. p is kept and read again by Collect, so it
// must not be modified afterwards (pass a new Info to change it). A nil p
// reports the record under its PID alone.
func (a *Aggregator) Add(r *record.Record, p *process.Info) {
	fam, ok := familyOf(r)
	if !ok {
		return
	}
	k := a.keyOf(r, fam) // reads only what New set: no lock needed

	a.mu.Lock()
	defer a.mu.Unlock()
	pr := a.procFor(r, p)
	s := pr.series[k]
	if s == nil {
		if a.maxSeries > 0 && len(pr.byFamily[fam]) >= a.maxSeries-1 {
			s = a.overflowSeries(pr, fam)
		} else {
			s = a.newSeries(pr, k)
		}
	}

	var d float64
	if r.EndUnixNano > r.StartUnixNano {
		d = float64(r.EndUnixNano-r.StartUnixNano) / 1e9
	}
	s.hists[histDuration].observe(d, a.durationBounds)
	if fam == httpServer || fam == httpClient {
		if r.RequestBodySize >= 0 {
			s.hists[histRequestSize].observe(float64(r.RequestBodySize), a.sizeBounds)
		}
		if r.ResponseBodySize >= 0 {
			s.hists[histResponseSize].observe(float64(r.ResponseBodySize), a.sizeBounds)
		}
	}
}

// MetricPossiblyLost is the cumulative count of a process's requests that
// may be missing from its other metrics (AddLost).
const MetricPossiblyLost = "ebpfred.requests.possibly_lost"

// AddLost counts n requests of process p as possibly lost: the kernel
// dropped n of its events because the ring buffer was full, and each may
// have carried (part of) a request. The count is exported under p's
// resource as MetricPossiblyLost, beside its histograms.
func (a *Aggregator) AddLost(p *process.Info, n uint64) {
	if p == nil || n == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	pr := a.procFor(&record.Record{PID: p.PID}, p)
	pr.lost += n
}

func familyOf(r *record.Record) (family, bool) {
	grpc := r.Protocol == record.ProtocolGRPC
	switch {
	case r.Kind == record.KindServer && grpc:
		return rpcServer, true
	case r.Kind == record.KindClient && grpc:
		return rpcClient, true
	case r.Kind == record.KindServer:
		return httpServer, true
	case r.Kind == record.KindClient:
		return httpClient, true
	}
	return 0, false
}

func (a *Aggregator) procFor(r *record.Record, p *process.Info) *proc {
	if p != nil && p == a.lastInfo {
		return a.lastProc
	}
	pr := a.lookupProc(r, p)
	if p != nil {
		a.lastInfo, a.lastProc = p, pr
	}
	return pr
}

func (a *Aggregator) lookupProc(r *record.Record, p *process.Info) *proc {
	key := resource.Key{PID: r.PID}
	if p != nil {
		key = resource.KeyOf(p)
	}
	if pr := a.procs[key]; pr != nil {
		if p != nil {
			pr.info = p // discovery may have replaced the Info
		}
		return pr
	}
	if p == nil {
		p = &process.Info{PID: r.PID}
	}
	pr := &proc{
		key:    key,
		info:   p,
		start:  max(a.start, p.StartTimeUnixNano),
		series: make(map[seriesKey]*series),
	}
	if g, ok := a.graves[key]; ok {
		// Late records of a process already dropped: a new stream that
		// starts where the old one ended, and that ends at the next Collect.
		pr.start = max(pr.start, g.droppedAt)
		pr.forgotten = true
		delete(a.graves, key)
	}
	a.procs[key] = pr
	a.order = append(a.order, pr)
	return pr
}

func (a *Aggregator) keyOf(r *record.Record, fam family) seriesKey {
	k := seriesKey{family: fam, errorType: resource.ErrorType(r)}
	switch fam {
	case httpServer, httpClient:
		k.method = r.Method
		k.status = r.StatusCode
		k.route = r.Route
		k.scheme = r.Scheme
		k.version = r.ProtoVersion
		if a.reportTarget {
			k.path = r.Path
		}
	case rpcServer, rpcClient:
		k.method = r.RPCMethod
		k.status = r.RPCStatusCode
	}
	switch fam {
	case httpClient, rpcClient:
		k.serverHost, k.serverIP, k.serverPort = resource.ServerAddress(r)
	case httpServer, rpcServer:
		if a.reportPeer {
			k.clientIP = resource.PeerIP(r)
		}
	}
	return k
}

func (a *Aggregator) newSeries(pr *proc, k seriesKey) *series {
	// Clone the strings: a record's strings may be slices of a large
	// request buffer, which a long-lived series must not keep alive.
	k.method = strings.Clone(k.method)
	k.route = strings.Clone(k.route)
	k.scheme = strings.Clone(k.scheme)
	k.version = strings.Clone(k.version)
	k.errorType = strings.Clone(k.errorType)
	k.serverHost = strings.Clone(k.serverHost)
	k.path = strings.Clone(k.path)

	s := a.allocSeries(k)
	pr.series[k] = s
	pr.byFamily[k.family] = append(pr.byFamily[k.family], s)
	return s
}

// overflowSeries returns the overflow series of a family, made on first use,
// and counts the record that is about to go into it.
func (a *Aggregator) overflowSeries(pr *proc, fam family) *series {
	a.overflowed.Add(1)
	if pr.overflow[fam] == nil {
		pr.overflow[fam] = a.allocSeries(seriesKey{family: fam, overflow: true})
	}
	return pr.overflow[fam]
}

// Overflowed returns how many records were counted in an overflow series
// (see Config.MaxSeriesPerService) since New.
func (a *Aggregator) Overflowed() uint64 {
	return a.overflowed.Load()
}

func (a *Aggregator) allocSeries(k seriesKey) *series {
	s := &series{key: k}
	nd := len(a.durationBounds) + 1
	if k.family == httpServer || k.family == httpClient {
		ns := len(a.sizeBounds) + 1
		b := make([]uint64, nd+2*ns)
		s.hists[histDuration].buckets = b[:nd:nd]
		s.hists[histRequestSize].buckets = b[nd : nd+ns : nd+ns]
		s.hists[histResponseSize].buckets = b[nd+ns:]
	} else {
		s.hists[histDuration].buckets = make([]uint64, nd)
	}
	return s
}

// Forget says process pid exited: its series are exported by the next
// Collect once more, then dropped.
func (a *Aggregator) Forget(pid uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, pr := range a.order {
		if pr.key.PID == pid {
			pr.forgotten = true
		}
	}
}

// Collect returns a cumulative snapshot of every series: start timestamps
// are stable across calls, timestamps are nowUnixNano. Processes are in
// first-seen order, metrics in a fixed order, points in first-seen order.
func (a *Aggregator) Collect(nowUnixNano uint64) pmetric.Metrics {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.collects++

	md := pmetric.NewMetrics()
	rms := md.ResourceMetrics()
	rms.EnsureCapacity(len(a.order))
	kept := a.order[:0]
	for _, pr := range a.order {
		a.appendProc(rms.AppendEmpty(), pr, nowUnixNano)
		if pr.forgotten {
			delete(a.procs, pr.key)
			a.graves[pr.key] = grave{droppedAt: nowUnixNano, collect: a.collects}
			continue
		}
		kept = append(kept, pr)
	}
	clear(a.order[len(kept):])
	a.order = kept
	a.lastInfo, a.lastProc = nil, nil // it may have been dropped

	// A grave outlives two Collect intervals: long enough for records still
	// in flight when the process exited.
	for k, g := range a.graves {
		if g.collect+2 <= a.collects {
			delete(a.graves, k)
		}
	}
	return md
}

type metricDef struct {
	name, unit, description string
}

// metricDefs[family][hist]; an empty name means the family lacks that metric.
var metricDefs = [numFamilies][numHists]metricDef{
	httpServer: {
		{"http.server.request.duration", "s", "Duration of HTTP server requests."},
		{"http.server.request.body.size", "By", "Size of HTTP server request bodies."},
		{"http.server.response.body.size", "By", "Size of HTTP server response bodies."},
	},
	httpClient: {
		{"http.client.request.duration", "s", "Duration of HTTP client requests."},
		{"http.client.request.body.size", "By", "Size of HTTP client request bodies."},
		{"http.client.response.body.size", "By", "Size of HTTP client response bodies."},
	},
	rpcServer: {
		{"rpc.server.call.duration", "s", "Measures the duration of an incoming Remote Procedure Call (RPC)."},
	},
	rpcClient: {
		{"rpc.client.call.duration", "s", "Measures the duration of an outgoing Remote Procedure Call (RPC)."},
	},
}

func (a *Aggregator) appendProc(rm pmetric.ResourceMetrics, pr *proc, now uint64) {
	resource.Fill(rm.Resource(), pr.info, a.hostName)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	ms := sm.Metrics()
	for fam := range numFamilies {
		for h := range numHists {
			def := metricDefs[fam][h]
			if def.name == "" {
				continue
			}
			bounds := a.sizeBounds
			if h == histDuration {
				bounds = a.durationBounds
			}
			a.appendMetric(ms, def, pr.byFamily[fam], pr.overflow[fam], h, bounds, pr.start, now)
		}
	}
	if pr.lost > 0 {
		m := ms.AppendEmpty()
		m.SetName(MetricPossiblyLost)
		m.SetUnit("{request}")
		m.SetDescription("Requests possibly missing from this service's other metrics and spans: events of the process that the kernel dropped because the ring buffer was full, one per event.")
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.Timestamp(pr.start))
		dp.SetTimestamp(pcommon.Timestamp(now))
		dp.SetIntValue(int64(pr.lost))
	}
}

// appendMetric writes the points of ss, then the overflow series (nil if
// none), for histogram h.
func (a *Aggregator) appendMetric(ms pmetric.MetricSlice, def metricDef, ss []*series, overflow *series, h int, bounds []float64, start, now uint64) {
	if overflow != nil {
		ss = append(ss[:len(ss):len(ss)], overflow) // a copy: ss is the proc's
	}
	n := 0
	for _, s := range ss {
		if s.hists[h].count > 0 {
			n++
		}
	}
	if n == 0 {
		return // e.g. only unknown body sizes so far
	}
	m := ms.AppendEmpty()
	m.SetName(def.name)
	m.SetUnit(def.unit)
	m.SetDescription(def.description)
	hist := m.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dps := hist.DataPoints()
	dps.EnsureCapacity(n)
	for _, s := range ss {
		hs := &s.hists[h]
		if hs.count == 0 {
			continue
		}
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(pcommon.Timestamp(start))
		dp.SetTimestamp(pcommon.Timestamp(now))
		dp.SetCount(hs.count)
		dp.SetSum(hs.sum)
		dp.SetMin(hs.min)
		dp.SetMax(hs.max)
		dp.ExplicitBounds().FromRaw(bounds)
		dp.BucketCounts().FromRaw(hs.buckets)
		a.putAttributes(dp.Attributes(), &s.key)
	}
}

func (a *Aggregator) putAttributes(m pcommon.Map, k *seriesKey) {
	if k.overflow {
		m.PutBool(AttrOTelMetricOverflow, true)
		return
	}
	m.EnsureCapacity(10)
	switch k.family {
	case httpServer, httpClient:
		putStr(m, resource.AttrHTTPRequestMethod, k.method)
		if k.status != 0 {
			m.PutInt(resource.AttrHTTPResponseStatusCode, int64(k.status))
		}
		putStr(m, resource.AttrURLScheme, k.scheme)
		m.PutStr(resource.AttrNetworkProtocolName, "http")
		putStr(m, resource.AttrNetworkProtocolVersion, k.version)
		putStr(m, resource.AttrHTTPRoute, k.route)
		putStr(m, resource.AttrURLPath, k.path)
	case rpcServer, rpcClient:
		m.PutStr(resource.AttrRPCSystemName, resource.RPCSystemGRPC)
		putStr(m, resource.AttrRPCMethod, k.method)
		if k.status >= 0 {
			m.PutStr(resource.AttrRPCResponseStatusCode, resource.GRPCCodeName(k.status))
		}
	}
	putStr(m, resource.AttrErrorType, k.errorType)

	host := k.serverHost
	if host == "" && k.serverIP.IsValid() {
		host = k.serverIP.String()
	}
	if host != "" {
		m.PutStr(resource.AttrServerAddress, host)
		if k.serverPort > 0 {
			m.PutInt(resource.AttrServerPort, int64(k.serverPort))
		}
	}
	if k.clientIP.IsValid() {
		m.PutStr(resource.AttrClientAddress, k.clientIP.String())
	}
}

func putStr(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}
