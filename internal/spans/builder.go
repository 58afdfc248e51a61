// Package spans turns request records into OTLP spans: one SERVER or CLIENT
// span per record, grouped by instrumented process. Its name, attributes and
// status are the record's protocol's to say (record.Conventions): this
// package knows no protocol.
//
// Concurrency: a Builder is safe for concurrent use (one mutex), so one
// goroutine can Append while another Takes on a timer.
package spans

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/resource"
)

// Span flag bits (OTLP SpanFlags): the low byte carries the W3C trace flags;
// the next two say whether the parent is known to be remote.
const (
	flagSampled                 = 0x01
	flagContextHasRemote        = 0x100
	flagContextIsRemote         = 0x200
	traceFlagsMask       uint32 = 0xff
)

// MaxPending bounds the spans a Builder holds between two Takes; past it,
// spans are dropped and counted (Dropped), never buffered without limit.
const MaxPending = 1 << 18

// Builder batches spans until Take. Append only copies the record (cheap,
// on the reader's goroutine); the pdata spans are built in Take, just before
// they are handed on, so that no pointer-rich pdata sits in the heap between
// flushes for the garbage collector to scan.
type Builder struct {
	hostName string

	mu      sync.Mutex // guards pending, dropped and rootRng
	pending []entry
	dropped uint64
	sampled uint64
	sampler sampler
	rootRng *rand.ChaCha8 // trace ids of root spans, chosen at Append

	// same-node linking (samenode.go), guarded by mu
	link    bool
	waiting map[linkKey][]waiting
	// spareLists: emptied lists of waiting, for reuse
	spareLists [][]waiting
	nWaiting   int
	links      LinkStats
	now        func() time.Time
	lastTake   time.Time

	buildMu sync.Mutex // guards what Take uses to build
	spare   []entry
	rng     *rand.ChaCha8
	scopes  map[resource.Key]ptrace.SpanSlice
	addrs   map[netip.Addr]string
}

type entry struct {
	rec         record.Record
	info        *process.Info
	root        bool     // no usable traceparent: a new trace
	rootTraceID [16]byte // its id, chosen at Append
}

// Option configures a Builder.
type Option func(*Builder)

// WithHostName sets the host.name resource attribute ("" leaves it out).
func WithHostName(name string) Option {
	return func(b *Builder) { b.hostName = name }
}

// WithSampler keeps only the spans the sampler chooses (check the config
// with its Check method first: an invalid one keeps everything).
func WithSampler(c SamplerConfig) Option {
	return func(b *Builder) {
		if s, err := c.sampler(); err == nil {
			b.sampler = s
		}
	}
}

// WithSeed makes the span and trace ids a fixed sequence drawn from seed,
// for a replay whose output is compared with a golden file; never for live
// use, whose ids must be unpredictable.
func WithSeed(seed [32]byte) Option {
	return func(b *Builder) {
		rootSeed := seed
		rootSeed[0] ^= 0xff
		b.rootRng = rand.NewChaCha8(rootSeed)
		b.rng = rand.NewChaCha8(seed)
	}
}

// NewBuilder returns an empty Builder. Span and trace ids come from a
// ChaCha8 generator seeded once from crypto/rand: unpredictable enough for
// ids, without a system call per span.
func NewBuilder(opts ...Option) *Builder {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails on Linux (see crypto/rand.Read)
	rootSeed := seed
	rootSeed[0] ^= 0xff // a second stream from the same seed
	b := &Builder{
		sampler: sampler{root: 1},
		rootRng: rand.NewChaCha8(rootSeed),
		now:     time.Now,
		rng:     rand.NewChaCha8(seed),
		scopes:  make(map[resource.Key]ptrace.SpanSlice),
		addrs:   make(map[netip.Addr]string),
	}
	for _, o := range opts {
		o(b)
	}
	b.lastTake = b.now()
	return b
}

// Append adds the span of one request of process p to the batch. It copies
// r, which the caller may reuse afterwards. Records whose Kind is unknown
// are ignored. A nil p reports the span under the record's PID alone. With
// same-node linking, a request between two instrumented processes of the
// node may wait for its other end before it joins the batch.
//
// It returns how many spans wait for the next Take, so that a caller can
// take them early when many wait (their records, held until then, are
// most of a busy collector's heap).
func (b *Builder) Append(r *record.Record, p *process.Info) int {
	if r.Kind != record.KindServer && r.Kind != record.KindClient {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.link || !linkable(r) || !b.stitch(r, p) {
		b.add(r, p, decideBySampler)
	}
	return len(b.pending)
}

// Sampling decisions for add.
const (
	decideBySampler = iota
	keepIt
	dropIt
)

// add puts r in the batch unless the sampler (or decision) leaves it out,
// and says whether it did. Called with b.mu held.
func (b *Builder) add(r *record.Record, p *process.Info, decision int) bool {
	traceID := r.TraceID
	root := !r.HasTraceParent || r.TraceID == ([16]byte{}) || r.ParentSpanID == ([8]byte{})
	if kernelIDs(r) {
		// context propagation: the trace id is the kernel's, parent or
		// not (a root's id already went downstream in a traceparent).
		root = !r.HasTraceParent || r.ParentSpanID == ([8]byte{})
	} else if root {
		// Chosen now, so that a ratio sampler decides on the id the span
		// will carry.
		traceID = randomTraceID(b.rootRng)
	}
	if decision == dropIt || decision == decideBySampler && !b.sampler.keep(r, traceID) {
		b.sampled++
		return false
	}
	if len(b.pending) >= MaxPending {
		b.dropped++
		return true
	}
	b.pending = append(b.pending, entry{rec: *r, info: p, rootTraceID: traceID, root: root})
	return true
}

// SampledOut returns how many requests the sampler kept out of traces (they
// are still in the metrics).
func (b *Builder) SampledOut() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sampled
}

func randomTraceID(rng *rand.ChaCha8) [16]byte {
	var id [16]byte
	for id == ([16]byte{}) {
		binary.LittleEndian.PutUint64(id[:8], rng.Uint64())
		binary.LittleEndian.PutUint64(id[8:], rng.Uint64())
	}
	return id
}

// Dropped returns how many spans were dropped because MaxPending spans were
// already waiting (the traces pipeline is not keeping up).
func (b *Builder) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

// Take returns every span appended since the last Take, and their number,
// and starts a new batch. Spans that waited long enough for their other end
// (same-node linking) come along.
func (b *Builder) Take() (ptrace.Traces, int) { return b.take(false) }

// TakeAll is Take for the last time: no span waits any longer.
func (b *Builder) TakeAll() (ptrace.Traces, int) { return b.take(true) }

func (b *Builder) take(all bool) (ptrace.Traces, int) {
	b.buildMu.Lock()
	defer b.buildMu.Unlock()
	b.mu.Lock()
	b.expire(all)
	batch := b.pending
	b.pending = b.spare[:0]
	b.mu.Unlock()

	td := ptrace.NewTraces()
	for i := range batch {
		b.build(td, &batch[i])
	}
	clear(b.scopes)
	clear(batch) // drop the strings and Infos the batch referenced
	b.spare = batch[:0]
	return td, len(batch)
}

func (b *Builder) build(td ptrace.Traces, e *entry) {
	r, p := &e.rec, e.info
	if p == nil {
		p = &process.Info{PID: r.PID}
	}
	spans, ok := b.scopes[resource.KeyOf(p)]
	if !ok {
		rs := td.ResourceSpans().AppendEmpty()
		resource.Fill(rs.Resource(), p, b.hostName)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(metadata.ScopeName)
		spans = ss.Spans()
		b.scopes[resource.KeyOf(p)] = spans
	}
	s := spans.AppendEmpty()
	if r.Kind == record.KindServer {
		s.SetKind(ptrace.SpanKindServer)
	} else {
		s.SetKind(ptrace.SpanKindClient)
	}
	s.SetStartTimestamp(pcommon.Timestamp(r.StartUnixNano))
	s.SetEndTimestamp(pcommon.Timestamp(r.EndUnixNano))
	b.setContext(s, e)

	if r.Conv == nil {
		return
	}
	s.SetName(r.Conv.SpanName(r))
	var attrs record.Attrs
	r.Conv.SpanAttributes(r, &attrs)
	b.putAttributes(s.Attributes(), &attrs)
	// error.type is set exactly when the request failed by the conventions'
	// rules, so it decides the status too.
	if r.Conv.ErrorType(r) != "" {
		s.Status().SetCode(ptrace.StatusCodeError)
	}
}

// putAttributes copies attrs into m; addresses are formatted through the
// per-batch cache.
func (b *Builder) putAttributes(m pcommon.Map, attrs *record.Attrs) {
	m.EnsureCapacity(attrs.Len())
	for i := 0; i < attrs.Len(); i++ {
		at := attrs.At(i)
		switch at.Kind {
		case record.AttrString:
			m.PutStr(at.Key, at.Str)
		case record.AttrInt:
			m.PutInt(at.Key, at.Int)
		case record.AttrBool:
			m.PutBool(at.Key, at.Int != 0)
		case record.AttrAddr:
			m.PutStr(at.Key, b.addrString(at.Addr))
		}
	}
}

// kernelIDs: the record carries the span's own ids, chosen in the kernel
// for context propagation.
func kernelIDs(r *record.Record) bool {
	return r.SpanID != ([8]byte{}) && r.TraceID != ([16]byte{})
}

func (b *Builder) setContext(s ptrace.Span, e *entry) {
	r := &e.rec
	if kernelIDs(r) {
		s.SetTraceID(r.TraceID)
		s.SetSpanID(r.SpanID)
		flags := uint32(r.TraceFlags) & traceFlagsMask
		if !e.root {
			s.SetParentSpanID(r.ParentSpanID)
			// a server's parent came over the network; a client's is
			// the server span of the same process
			flags |= flagContextHasRemote
			if r.Kind == record.KindServer {
				flags |= flagContextIsRemote
			}
		}
		s.SetFlags(flags)
		return
	}
	flags := uint32(flagSampled)
	if !e.root {
		s.SetTraceID(r.TraceID)
		s.SetParentSpanID(r.ParentSpanID)
		flags = uint32(r.TraceFlags) & traceFlagsMask
		if r.Kind == record.KindServer {
			// The traceparent came in over the network.
			flags |= flagContextHasRemote | flagContextIsRemote
		}
	} else {
		s.SetTraceID(e.rootTraceID)
	}
	s.SetSpanID(b.newSpanID())
	s.SetFlags(flags)
}

func (b *Builder) newSpanID() pcommon.SpanID {
	var id [8]byte
	for id == ([8]byte{}) {
		binary.LittleEndian.PutUint64(id[:], b.rng.Uint64())
	}
	return id
}

// addrString formats ip once per batch of Takes rather than once per span:
// a service talks to few peers, and the formatted string was an allocation
// on every span. Guarded by buildMu; bounded.
func (b *Builder) addrString(ip netip.Addr) string {
	if s, ok := b.addrs[ip]; ok {
		return s
	}
	if len(b.addrs) >= maxAddrCache {
		clear(b.addrs)
	}
	s := ip.String()
	b.addrs[ip] = s
	return s
}

const maxAddrCache = 4096
