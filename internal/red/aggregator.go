// Package red turns request records into cumulative RED histograms (rate,
// errors, duration, plus what else a protocol measures, such as HTTP body
// sizes), one ResourceMetrics per instrumented process. Which histograms
// count a record, under which attributes, is the record's protocol's to say
// (record.Conventions): this package knows no protocol.
//
// Cardinality: with Config.MaxSeriesPerService set, each process keeps at
// most that many series per metric family (HTTP server, HTTP client, RPC
// server, a database's client operations, ...), the overflow series included. Once a family holds
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
	// ReportServerPort adds server.port (the local port) to server metrics.
	ReportServerPort bool
	// HostName is the host.name resource attribute ("" leaves it out).
	HostName string
	// MaxSeriesPerService caps the series of each metric family of one
	// process, the overflow series included (see the package doc); 0 or
	// less means no cap.
	MaxSeriesPerService int
}

// DefaultDurationBuckets are the semconv-recommended boundaries (seconds)
// for the duration histograms; the receiver's default.
var DefaultDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// DefaultSizeBuckets are boundaries (bytes) for body size histograms; the
// receiver's default.
var DefaultSizeBuckets = []float64{0, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536, 262144, 1048576, 4194304, 16777216}

// AttrOTelMetricOverflow is the only attribute of an overflow series.
const AttrOTelMetricOverflow = "otel.metric.overflow"

// Aggregator accumulates records into cumulative histograms.
type Aggregator struct {
	mu sync.Mutex

	durationBounds []float64
	sizeBounds     []float64
	opts           record.MetricOptions
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
	key      seriesKey // Add's scratch
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
	families  []*famSeries // first-seen order
	forgotten bool
	// lost: requests of the process possibly lost (AddLost).
	lost uint64
}

// famSeries are a process's series of one family.
type famSeries struct {
	fam    *record.Family
	series []*series // first-seen order
	// overflow is the family's overflow series, nil until needed. It is
	// not in proc.series: a key the map lacks is what sends a record here.
	overflow *series
}

// seriesKey holds exactly the attributes of one data point, in a comparable
// form (no strings built per request; they may point into the record until
// the series is made, which clones them).
type seriesKey struct {
	fam      *record.Family
	overflow bool // the overflow series: no attribute is set
	attrs    record.Attrs
}

type series struct {
	key   seriesKey
	hists []histogram // one per metric of the family
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
		opts:           record.MetricOptions{ReportTarget: cfg.ReportTarget, ReportPeer: cfg.ReportPeer, ReportServerPort: cfg.ReportServerPort},
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

// Add counts one request of process p. Records that fit no metric family
// (no conventions, or conventions that name none) are ignored. p is kept and
// read again by Collect, so it must not be modified afterwards (pass a new
// Info to change it). A nil p reports the record under its PID alone.
func (a *Aggregator) Add(r *record.Record, p *process.Info) {
	if r.Conv == nil {
		return
	}
	fam := r.Conv.Family(r)
	if fam == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// The key is built in the aggregator's own scratch: a key on the stack
	// would escape through the interface call, an allocation per request.
	k := &a.key
	*k = seriesKey{fam: fam}
	r.Conv.MetricAttributes(r, a.opts, &k.attrs)
	pr := a.procFor(r, p)
	s := pr.series[*k]
	if s == nil {
		fs := pr.family(fam)
		if a.maxSeries > 0 && len(fs.series) >= a.maxSeries-1 {
			s = a.overflowSeries(fs)
		} else {
			s = a.newSeries(pr, fs, *k)
		}
	}
	for i := range fam.Metrics {
		m := &fam.Metrics[i]
		if m.Value == nil {
			s.hists[i].observe(record.Duration(r), a.durationBounds)
			continue
		}
		if v, ok := m.Value(r); ok {
			bounds := a.durationBounds
			if m.Size {
				bounds = a.sizeBounds
			}
			s.hists[i].observe(v, bounds)
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

// family returns the process's series of fam, made on first use. Families
// are kept sorted by name: the metrics of a resource come out in a fixed
// order, whatever order the requests came in.
func (pr *proc) family(fam *record.Family) *famSeries {
	for _, fs := range pr.families {
		if fs.fam == fam {
			return fs
		}
	}
	fs := &famSeries{fam: fam}
	i, _ := slices.BinarySearchFunc(pr.families, fam.Name, func(f *famSeries, name string) int {
		return strings.Compare(f.fam.Name, name)
	})
	pr.families = slices.Insert(pr.families, i, fs)
	return fs
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

func (a *Aggregator) newSeries(pr *proc, fs *famSeries, k seriesKey) *series {
	// Clone the strings: a record's strings may be slices of a large
	// request buffer, which a long-lived series must not keep alive.
	for i := 0; i < k.attrs.Len(); i++ {
		at := k.attrs.At(i)
		at.Str = strings.Clone(at.Str)
	}
	s := a.allocSeries(k)
	pr.series[k] = s
	fs.series = append(fs.series, s)
	return s
}

// overflowSeries returns the overflow series of a family, made on first use,
// and counts the record that is about to go into it.
func (a *Aggregator) overflowSeries(fs *famSeries) *series {
	a.overflowed.Add(1)
	if fs.overflow == nil {
		fs.overflow = a.allocSeries(seriesKey{fam: fs.fam, overflow: true})
	}
	return fs.overflow
}

// Overflowed returns how many records were counted in an overflow series
// (see Config.MaxSeriesPerService) since New.
func (a *Aggregator) Overflowed() uint64 {
	return a.overflowed.Load()
}

// allocSeries makes a series with one histogram per metric of its family,
// their buckets in one allocation.
func (a *Aggregator) allocSeries(k seriesKey) *series {
	ms := k.fam.Metrics
	s := &series{key: k, hists: make([]histogram, len(ms))}
	total := 0
	for _, m := range ms {
		total += a.nBuckets(m)
	}
	b := make([]uint64, total)
	for i, m := range ms {
		n := a.nBuckets(m)
		s.hists[i].buckets = b[:n:n]
		b = b[n:]
	}
	return s
}

func (a *Aggregator) nBuckets(m record.Metric) int {
	if m.Size {
		return len(a.sizeBounds) + 1
	}
	return len(a.durationBounds) + 1
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

func (a *Aggregator) appendProc(rm pmetric.ResourceMetrics, pr *proc, now uint64) {
	resource.Fill(rm.Resource(), pr.info, a.hostName)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	ms := sm.Metrics()
	for _, fs := range pr.families {
		for i, m := range fs.fam.Metrics {
			bounds := a.durationBounds
			if m.Size {
				bounds = a.sizeBounds
			}
			a.appendMetric(ms, m, fs.series, fs.overflow, i, bounds, pr.start, now)
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
func (a *Aggregator) appendMetric(ms pmetric.MetricSlice, def record.Metric, ss []*series, overflow *series, h int, bounds []float64, start, now uint64) {
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
	m.SetName(def.Name)
	m.SetUnit(def.Unit)
	m.SetDescription(def.Description)
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
		putAttributes(dp.Attributes(), &s.key)
	}
}

func putAttributes(m pcommon.Map, k *seriesKey) {
	if k.overflow {
		m.PutBool(AttrOTelMetricOverflow, true)
		return
	}
	m.EnsureCapacity(k.attrs.Len())
	for i := 0; i < k.attrs.Len(); i++ {
		at := k.attrs.At(i)
		switch at.Kind {
		case record.AttrString:
			m.PutStr(at.Key, at.Str)
		case record.AttrInt:
			m.PutInt(at.Key, at.Int)
		case record.AttrBool:
			m.PutBool(at.Key, at.Int != 0)
		case record.AttrAddr:
			m.PutStr(at.Key, at.Addr.String())
		}
	}
}
