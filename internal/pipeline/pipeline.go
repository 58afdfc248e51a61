// Package pipeline turns the kernel's event stream into request records. It
// owns per-connection state (which protocol a connection speaks, and that
// protocol's parser), decides each record's http.route, and follows the
// process lifecycle that the kernel reports (exec, fork, exit). It knows
// protocols only through internal/protocol. All of it runs on the ring
// reader's goroutine, so it needs no locks.
package pipeline

import (
	"bytes"
	"cmp"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/routes"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Sink receives records and process lifecycle news.
type Sink interface {
	// Record is called once per parsed request, with what routes.ignored_
	// patterns says to leave out. r is only valid during the call (it is
	// reused afterwards): copy what must outlive it.
	Record(r *record.Record, p *process.Info, ignore routes.Ignore)
	// ProcessGone is called when a tracked process exited or was dropped.
	ProcessGone(pid uint32)
}

// Selector is the part of discovery the pipeline consults.
type Selector interface {
	Lookup(pid uint32) *process.Info
	Evaluate(pid uint32, exeHint string) *process.Info
	Inherit(child, parent uint32) *process.Info
	Forget(pid uint32)
}

// Tracker is the part of the probe set the pipeline steers.
type Tracker interface {
	// Adopt starts instrumenting a selected process: its socket I/O and,
	// without blocking, its TLS libraries.
	Adopt(pid uint32) error
	Untrack(tgid uint32) error
	// CopyAll has the kernel copy the head of every transfer of a
	// connection (protocol.Protocol.CopyAll).
	CopyAll(sock uint64) error
}

// dropCounter is implemented by the probe set: the kernel's per-process
// counts of events the ring had no room for. Optional, so that test fakes
// of Tracker need not implement it.
type dropCounter interface {
	ProcessDrops() map[uint32]uint64
	TakeProcessDrops(tgid uint32) uint64
}

// LossSink is implemented by a Sink that reports requests possibly lost:
// n of process p's events were dropped in the kernel (ring full) since the
// last call for p. Optional.
type LossSink interface {
	Lost(p *process.Info, n uint64)
}

// confirmer is implemented by the probe set: confirm a process the kernel
// tracks provisionally (from its exec or fork), without tracking it anew
// when it has exited meanwhile (probes.ErrNotTracked), and give it its TLS
// probes when tls is set; or track it whatever the kernel holds (Track).
// Optional, like dropCounter.
type confirmer interface {
	Confirm(tgid uint32, tls bool) error
	Track(tgid uint32, tls bool) error
}

// runner is implemented by discovery: whether the process an identity
// names still runs (same pid and start time, not exiting). Optional.
type runner interface {
	Running(info *process.Info) bool
}

// confirm confirms info's process, which the kernel started tracking
// itself (exec, fork). Under process churn its exit has often removed the
// kernel's entry before its exec event is read here: tracking it again
// would leave an entry no exit ever removes, and a full tracked_pids map
// tracks nothing new. Its exit event, later in the ring, forgets it here
// too.
//
// The entry can also be missing while the process runs on: an earlier
// exec event of the same process (a shell or a launcher such as a pyenv
// shim, before it exec'd the selected executable) was judged on the
// executable /proc showed then, and dropping it deleted the entry after
// the process had exec'd again; the kernel's exec hook, finding the entry
// still there, had added none. Only this event can put it back, and it
// does when the process still runs. It is checked again after: a process
// whose exit began before the entry existed has no exit event to remove it.
func (p *Pipeline) confirm(info *process.Info, tls bool) {
	c, ok := p.tracker.(confirmer)
	if !ok {
		_ = p.tracker.Adopt(info.PID)
		return
	}
	if err := c.Confirm(info.PID, tls); !errors.Is(err, probes.ErrNotTracked) {
		return
	}
	r, ok := p.sel.(runner)
	if !ok || !r.Running(info) {
		return // exited: its exit event follows
	}
	_ = c.Track(info.PID, tls)
	if !r.Running(info) {
		_ = p.tracker.Untrack(info.PID)
	}
}

// Stats are the pipeline's self-telemetry; read them with atomic loads from
// any goroutine.
type Stats struct {
	EventsRead atomic.Uint64
	Records    atomic.Uint64
	// Unrecognised: transfers of connections whose protocol no enabled
	// protocol recognised, and transfers its protocol's parser skipped.
	Unrecognised atomic.Uint64
	OpenConns    atomic.Int64
	// ClientLinked: Go client records emitted as the child of the server
	// request their goroutine worked for (golink.go); ClientUnlinked:
	// requests whose server request could not be known for certain (it had
	// ended, or its connection or protocol could not say, or which request
	// of the linked transfer it was for), left roots.
	ClientLinked, ClientUnlinked atomic.Uint64
	// PerProtocol: each enabled protocol's counts, in Options.Protocols
	// order, as of the last Tick.
	PerProtocol []ProtocolStats
}

// ParseErrors sums the protocols' parse errors.
func (s *Stats) ParseErrors() uint64 {
	return s.sum(func(p *ProtocolStats) uint64 { return p.ParseErrors.Load() })
}

// Incomplete sums the protocols' incomplete requests.
func (s *Stats) Incomplete() uint64 {
	return s.sum(func(p *ProtocolStats) uint64 { return p.Incomplete.Load() })
}

func (s *Stats) sum(f func(*ProtocolStats) uint64) uint64 {
	var n uint64
	for i := range s.PerProtocol {
		n += f(&s.PerProtocol[i])
	}
	return n
}

// ProtocolStats are one protocol's counts, for self-telemetry.
type ProtocolStats struct {
	Name                                                          string
	Requests, ParseErrors, Incomplete, Unknown, Truncated, Desync atomic.Uint64
}

// connKey names a connection by its process and socket (the kernel's
// struct sock address): never by fd, whose number another thread of the
// process can get back the moment it is closed.
type connKey struct {
	tgid uint32
	sock uint64
}

// peerKey names a connection by its process and peer endpoint, for events
// that know no socket (the route of a Go HTTP/2 handler).
type peerKey struct {
	tgid uint32
	peer netip.AddrPort
}

// tupleKey names a connection by its endpoints as one side sees them: the
// other side of a connection between two processes of this node is the
// reversed key. A loopback endpoint is unique only within its network
// namespace (two pods can each have 127.0.0.1:8080 ↔ 127.0.0.1:40000 at
// once), so loopback keys carry the namespace too; other addresses connect
// pods of one node across namespaces and do not.
type tupleKey struct {
	local, peer netip.AddrPort
	netNS       uint64
}

// tupleOf returns the key of a connection of process info with these
// endpoints; false when a loopback connection's namespace is not known.
func tupleOf(local, peer netip.AddrPort, info *process.Info) (tupleKey, bool) {
	k := tupleKey{local: local, peer: peer}
	if local.Addr().IsLoopback() || peer.Addr().IsLoopback() {
		if info == nil || info.NetNS == 0 {
			return k, false
		}
		k.netNS = info.NetNS
	}
	return k, true
}

// maxDetect bounds the bytes of a connection's first transfers kept while
// no protocol can tell yet (a Go server reads a request's first byte alone).
const maxDetect = 64

// conn follows one connection: which protocol it speaks once a protocol
// recognised it, and that protocol's parser.
type conn struct {
	key      connKey
	meta     stream.Meta
	proto    *protocol.Protocol // nil until recognised
	protoIdx int
	parser   protocol.Parser
	// detect: transfers that may begin a message but were too short to
	// tell, kept until a protocol says; then fed to its parser.
	detect      []pendingEvent
	detectBytes int
	seen        [3]bool // a transfer went by, per stream.Direction
	lastSeen    uint64  // Unix ns of the last event
	// Go net/http: the route the process itself matched for the request
	// being answered (EventRoute), for the next server record emitted.
	route        string
	routePending bool
	// closedAt: the Unix ns of the close, while in Pipeline.closing.
	closedAt uint64
	// tuple: the connection's key in Pipeline.tuples, once hasTuple.
	tuple    tupleKey
	hasTuple bool
	// propagation: the ids of an EventTrace, for the connection's next
	// data event (the kernel sends them just before it).
	ids        stream.SpanIDs
	idsPending bool
	// goParents: server spans given as parents by EventGoLink whose
	// client record is not emitted yet (golink.go)
	goParents [][8]byte
	// link: the ids an EventGoLink gave for one egress transfer, the one
	// whose events have the time linkMono; linkLeft of its bytes are still
	// to come (golink.go).
	link     stream.SpanIDs
	linkMono uint64
	linkLeft int
}

type pendingEvent struct {
	ev      stream.Event
	payload []byte
}

// closeGrace is how long a closed connection still takes late events (see
// Pipeline.closing). A goroutine or thread that was descheduled between its
// last socket write and the return of its TLS call is back well within it.
const closeGrace = 200 * time.Millisecond

// Pipeline is not safe for concurrent use: Handle and Tick run on the
// reader's goroutine.
type Pipeline struct {
	sink    Sink
	sel     Selector
	tracker Tracker
	stats   *Stats
	router  *routes.Router
	protos  []*protocol.Protocol
	pstats  []protocol.Stats
	popts   protocol.Options

	conns map[connKey]*conn
	peers map[peerKey]*conn // connections whose endpoints are known
	// tuples: the same connections by their endpoints, so that a record
	// learns whether its peer is an instrumented process of this node.
	tuples map[tupleKey]*conn
	// closing holds connections the process closed until closeGrace has
	// passed or a new connection with the same socket address opens: a TLS
	// call that did its socket I/O before the close can return, and report
	// its plaintext, after it.
	closing map[connKey]*conn
	// removals: processes discovery dropped, not yet let go (Removed);
	// lastEvent: the Unix ns of the latest event read; readAtTick: events
	// read as of the last Tick.
	removals     []removal
	lastEvent    uint64
	readAtTick   uint64
	unrecognised uint64
	offset       uint64 // wall − monotonic, ns
	fixedClock   bool   // Options.WallOffset: never resynced
	idle         time.Duration
	maxIdle      time.Duration
	emitFn       func(*record.Record)
	ev           stream.Event
	cur          *conn // the connection whose parser may emit now

	// drops: the kernel's per-process drop counts already reported, and
	// when they were last read (see lostEvents).
	drops     map[uint32]uint64
	dropsRead time.Time

	rng *rand.ChaCha8 // span ids given early (golink.go); nil until needed
}

// Options tune the pipeline.
type Options struct {
	// Protocols are the protocols to recognise, in the order Detect is
	// asked (the first that says Yes wins).
	Protocols []*protocol.Protocol
	// ProtocolOptions are handed to every parser.
	ProtocolOptions protocol.Options
	// Router decides http.route and what routes.ignored_patterns leaves
	// out; nil: no routes.
	Router *routes.Router
	// ResponseIdle finalises a response whose end cannot be seen in its
	// bytes (chunked without a visible terminator) once it made no progress
	// for this long; its duration still ends at its last byte.
	ResponseIdle time.Duration
	// ConnIdle forgets a connection with no traffic for this long.
	ConnIdle time.Duration
	// WallOffset, when set, is the fixed offset from the kernel's
	// monotonic clock to wall-clock time (a replay of a recorded stream:
	// internal/replay); otherwise it is measured and kept in sync.
	WallOffset uint64
}

// New returns a Pipeline.
func New(sink Sink, sel Selector, tracker Tracker, stats *Stats, opt Options) *Pipeline {
	if opt.ResponseIdle == 0 {
		opt.ResponseIdle = 2 * time.Second
	}
	if opt.ConnIdle == 0 {
		opt.ConnIdle = 10 * time.Minute
	}
	p := &Pipeline{sink: sink, sel: sel, tracker: tracker, stats: stats, router: opt.Router,
		protos: opt.Protocols, pstats: make([]protocol.Stats, len(opt.Protocols)), popts: opt.ProtocolOptions,
		conns: map[connKey]*conn{}, peers: map[peerKey]*conn{}, tuples: map[tupleKey]*conn{}, closing: map[connKey]*conn{},
		drops: map[uint32]uint64{},
		idle:  opt.ResponseIdle, maxIdle: opt.ConnIdle}
	stats.PerProtocol = make([]ProtocolStats, len(opt.Protocols))
	for i, pr := range opt.Protocols {
		stats.PerProtocol[i].Name = pr.Name
	}
	p.emitFn = p.emit
	if opt.WallOffset != 0 {
		p.offset, p.fixedClock = opt.WallOffset, true
	}
	p.syncClock()
	return p
}

// syncClock refreshes the monotonic→wall-clock offset (bpf_ktime_get_ns is
// CLOCK_MONOTONIC). The offset is read between two wall-clock readings; a
// thread preempted between them (a busy node) would shift every later
// timestamp by up to half the gap, and a request whose start and end were
// converted on either side of that shift would get a wrong duration. So the
// tightest of a few readings is kept, and a reading whose gap is still wide
// is not trusted over the offset already held.
func (p *Pipeline) syncClock() {
	if p.fixedClock {
		return
	}
	const tries, trusted = 5, 20 * time.Microsecond
	best, bestGap := int64(0), int64(-1)
	for i := 0; i < tries; i++ {
		var ts unix.Timespec
		before := time.Now().UnixNano()
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		after := time.Now().UnixNano()
		if gap := after - before; bestGap < 0 || gap < bestGap {
			best, bestGap = (before+after)/2-ts.Nano(), gap
		}
		if bestGap <= int64(trusted)/4 {
			break
		}
	}
	if p.offset != 0 && bestGap > int64(trusted) {
		return
	}
	p.offset = uint64(best)
}

// emit hands a record to the sink, with its http.route decided here and
// only here: a route template configured in routes.patterns wins over the
// route the application's own router reported (a Go router's, through the
// kernel), which wins over routes.unmatched. semconv: http.route is the
// server's template; a client does not know the server's routes.
func (p *Pipeline) emit(r *record.Record) {
	var ign routes.Ignore
	if r.Conv != nil && r.Conv.Routed(r) {
		app := r.Route // a parser may know it per request (HTTP/2 streams)
		c := p.cur
		if r.Kind == record.KindServer && c != nil && c.routePending {
			if app == "" {
				app = c.route
			}
			c.routePending = false
		}
		route := app
		if p.router != nil {
			route, ign = p.router.Resolve(r.Path, app)
		}
		if r.Kind == record.KindServer {
			r.Route = route
		} else {
			r.Route = ""
		}
	}
	p.stats.Records.Add(1)
	if c := p.cur; c != nil && len(c.goParents) > 0 && r.Kind == record.KindClient && r.HasTraceParent {
		p.countLinked(c, r)
	}
	if info := p.sel.Lookup(r.PID); info != nil {
		if r.Peer.IsValid() {
			// The other end, when an instrumented process of this node
			// holds it (a tuple is unique on a node while both ends are
			// open, and a closed end stays in the table for closeGrace).
			if k, ok := tupleOf(r.Peer, r.Local, info); ok {
				if oc := p.tuples[k]; oc != nil {
					r.PeerPID = oc.key.tgid
				}
			}
		}
		p.sink.Record(r, info, ign)
	}
	record.Release(r)
}

// streamRouter is implemented by parsers of multiplexed protocols (HTTP/2):
// the route of one stream of the connection.
type streamRouter interface {
	SetRoute(stream uint32, route string)
}

// Handle processes one kernel event.
func (p *Pipeline) Handle(e *probes.Event) {
	p.stats.EventsRead.Add(1)
	p.lastEvent = max(p.lastEvent, e.Mono+p.offset)
	switch e.Type {
	case probes.EventDataIn, probes.EventDataOut:
		p.data(e)
	case probes.EventConn:
		p.connOpen(e)
	case probes.EventTrace: // propagation
		c := p.conn(e, stream.Meta{PID: e.TGID, Scheme: "http"})
		c.ids = stream.SpanIDs{TraceID: e.Trace.TraceID, SpanID: e.Trace.SpanID,
			ParentID: e.Trace.ParentID, Flags: e.Trace.Flags}
		c.idsPending = true
	case probes.EventGoLink:
		p.goLink(e)
	case probes.EventRoute:
		if c := p.conns[connKey{e.TGID, e.Sock}]; c != nil {
			if c.appRoute(e.Payload) != "" {
				c.routePending = true
			}
		}
	case probes.EventRouteStream:
		// An HTTP/2 handler's route: its stream on the connection from the
		// peer the handler saw.
		peer, err := netip.ParseAddrPort(string(e.Addr))
		if err != nil {
			break
		}
		if c := p.peers[peerKey{e.TGID, peer}]; c != nil {
			if sr, ok := c.parser.(streamRouter); ok {
				if r := c.appRoute(e.Payload); r != "" {
					sr.SetRoute(e.FD, r)
				}
			}
		}
	case probes.EventClose:
		if c := p.conns[connKey{e.TGID, e.Sock}]; c != nil {
			p.beginClose(c, e.Mono+p.offset)
		}
	case probes.EventExec:
		exe := string(trimNul(e.Payload))
		if info := p.sel.Evaluate(e.TGID, exe); info != nil {
			p.confirm(info, true) // TLS: a Go or statically linked OpenSSL executable
		} else {
			p.drop(e.TGID)
		}
	case probes.EventFork:
		if info := p.sel.Inherit(e.TGID, e.FD); info != nil {
			p.confirm(info, false)
		} else if p.sel.Evaluate(e.TGID, "") == nil {
			p.drop(e.TGID)
		}
	case probes.EventExit:
		p.processGone(e.TGID, e.Mono+p.offset)
	}
}

func (p *Pipeline) data(e *probes.Event) {
	info := p.sel.Lookup(e.TGID)
	if info == nil {
		// A provisionally tracked process (exec'd or forked) we have not
		// decided on yet, e.g. a server that started listening after exec.
		if info = p.sel.Evaluate(e.TGID, ""); info == nil {
			p.drop(e.TGID)
			return
		}
		p.confirm(info, true) // TLS: its libssl is mapped by now
	}
	now := e.Mono + p.offset
	c := p.conn(e, stream.Meta{PID: e.TGID, Scheme: "http"})
	if !c.hasTuple {
		p.registerTuple(c, info) // its endpoints came before it was selected
	}
	if e.TLS && c.meta.Scheme != "https" {
		// TLS: plaintext from a TLS library probe. The kernel never sends
		// the ciphertext, so the protocol is recognised afresh on the
		// plaintext.
		c.meta.Scheme = "https"
		c.reset()
	}
	c.lastSeen = now
	ev := &p.ev
	ev.Dir = stream.Ingress
	if e.Type == probes.EventDataOut {
		ev.Dir = stream.Egress
	}
	ev.UnixNano = now
	ev.Len = int(e.Len)
	ev.Payload = e.Payload
	ev.Tail = e.Tail
	ev.IDs, ev.IDsMore, ev.IDsRefused = nil, false, false
	if c.idsPending { // propagation
		ev.IDs = &c.ids
		c.idsPending = false
	}
	if c.linkLeft > 0 && ev.Dir == stream.Egress {
		p.linkData(c, e.Mono, ev)
	}
	first := !c.seen[ev.Dir]
	c.seen[ev.Dir] = true
	p.cur = c
	defer func() { p.cur = nil }()
	if c.parser != nil && c.parser.Upgraded() {
		c.reset() // an HTTP Upgrade: the next protocol starts here
	}
	if c.parser == nil && !p.recognise(c, e, ev, first) {
		return
	}
	c.parser.Feed(ev, p.emitFn)
	if ev.IDsRefused && ev.IDs == &c.link {
		p.linkRefused(c)
	}
}

// recognise asks the enabled protocols, in order, whether ev begins their
// messages. On Yes it sets up the connection's parser (feeding it the
// transfers kept while undecided) and returns true; ev is then fed by the
// caller. While some protocol says Maybe, ev is kept (bounded); when none
// can, ev is counted unrecognised.
func (p *Pipeline) recognise(c *conn, e *probes.Event, ev *stream.Event, first bool) bool {
	b := ev.Payload
	var joined []byte
	if len(c.detect) > 0 {
		for _, pe := range c.detect {
			joined = append(joined, pe.payload...)
		}
		joined = append(joined, b...)
		b = joined
	}
	maybe := false
	for i, pr := range p.protos {
		switch pr.Detect(b, ev.Dir, first || len(c.detect) > 0) {
		case protocol.Yes:
			c.proto, c.protoIdx = pr, i
			c.parser = pr.New(c.meta, &p.pstats[i], &p.popts)
			if pr.CopyAll {
				// The kernel may not have seen the connection start (it
				// knows only when it saw a preface whole).
				_ = p.tracker.CopyAll(e.Sock)
			}
			for _, pe := range c.detect {
				c.parser.Feed(&pe.ev, p.emitFn)
			}
			c.detect, c.detectBytes = nil, 0
			return true
		case protocol.Maybe:
			maybe = true
		}
	}
	if maybe && len(ev.Payload) == ev.Len && c.detectBytes+len(ev.Payload) <= maxDetect {
		// too short to tell, and whole: keep it for the next transfer
		pe := pendingEvent{ev: *ev, payload: bytes.Clone(ev.Payload)}
		if ev.IDs != nil {
			// the connection's ids may be others by the time it is fed
			ids := *ev.IDs
			pe.ev.IDs = &ids
		}
		pe.ev.Payload = pe.payload
		pe.ev.Tail = pe.payload[max(len(pe.payload)-8, 0):]
		c.detect = append(c.detect, pe)
		c.detectBytes += len(ev.Payload)
		return false
	}
	p.unrecognised += uint64(1 + len(c.detect))
	c.detect, c.detectBytes = nil, 0
	return false
}

// reset forgets the connection's protocol: it is recognised afresh.
func (c *conn) reset() {
	c.proto, c.parser = nil, nil
	c.detect, c.detectBytes = nil, 0
	c.seen = [3]bool{}
}

// connOpen starts following a connection whose endpoints the kernel just
// sent (it does so once, before the connection's first data event).
func (p *Pipeline) connOpen(e *probes.Event) {
	k := connKey{e.TGID, e.Sock}
	// The kernel reuses a closed socket's memory: a new connection can have
	// the address of one closed a moment ago (or one whose close was lost).
	// It comes with its endpoints first; late events of the old one never do.
	if l := p.closing[k]; l != nil {
		delete(p.closing, k)
		p.finish(l, l.closedAt)
	}
	if old := p.conns[k]; old != nil && old.meta.Peer.IsValid() {
		p.closeConn(old, old.lastSeen)
	}
	c := p.conn(e, stream.Meta{PID: e.TGID, Local: e.Local(), Peer: e.Remote(), Scheme: "http"})
	c.meta.Local, c.meta.Peer = e.Local(), e.Remote()
	c.lastSeen = e.Mono + p.offset
	if c.meta.Peer.IsValid() {
		p.peers[peerKey{e.TGID, c.meta.Peer}] = c
		p.registerTuple(c, p.sel.Lookup(e.TGID))
	}
}

// registerTuple puts c in the tuples table once its endpoints and, for a
// loopback connection, its process's network namespace are known.
func (p *Pipeline) registerTuple(c *conn, info *process.Info) {
	if c.hasTuple || !c.meta.Local.IsValid() || !c.meta.Peer.IsValid() {
		return
	}
	if k, ok := tupleOf(c.meta.Local, c.meta.Peer, info); ok {
		c.tuple, c.hasTuple = k, true
		p.tuples[k] = c
	}
}

// conn returns the state of e's connection, creating it with meta when it
// is new.
func (p *Pipeline) conn(e *probes.Event, meta stream.Meta) *conn {
	k := connKey{e.TGID, e.Sock}
	if c := p.conns[k]; c != nil {
		return c
	}
	if l := p.closing[k]; l != nil {
		return l // a late event of a connection closed a moment ago
	}
	c := &conn{key: k, meta: meta}
	p.conns[k] = c
	p.stats.OpenConns.Add(1)
	return c
}

// beginClose takes a connection the process closed out of the table and
// keeps it for closeGrace, for late events; finishClosing ends it.
func (p *Pipeline) beginClose(c *conn, at uint64) {
	delete(p.conns, c.key)
	if old := p.closing[c.key]; old != nil && old != c {
		p.finish(old, old.closedAt)
	}
	c.closedAt = at
	p.closing[c.key] = c
}

// finishClosing ends the closed connections of pid, or when pid is 0 those
// whose grace is over at now.
func (p *Pipeline) finishClosing(now uint64, pid uint32) {
	var done []*conn
	for k, c := range p.closing {
		if (pid != 0 && k.tgid == pid) || (pid == 0 && now >= c.closedAt+uint64(closeGrace)) {
			done = append(done, c)
		}
	}
	sortConns(done)
	for _, c := range done {
		delete(p.closing, c.key)
		p.finish(c, c.closedAt)
	}
}

// closeConn ends a connection now (an idle or gone process, a close we
// missed).
func (p *Pipeline) closeConn(c *conn, at uint64) {
	delete(p.conns, c.key)
	p.finish(c, at)
}

// finish ends a connection's parsers at at; it is then forgotten.
func (p *Pipeline) finish(c *conn, at uint64) {
	p.cur = c
	defer func() { p.cur = nil }()
	if c.parser != nil {
		c.parser.Close(at, p.emitFn)
	}
	if len(c.detect) > 0 {
		p.unrecognised += uint64(len(c.detect))
	}
	if pk := (peerKey{c.meta.PID, c.meta.Peer}); p.peers[pk] == c {
		delete(p.peers, pk)
	}
	if c.hasTuple && p.tuples[c.tuple] == c {
		delete(p.tuples, c.tuple)
	}
	p.stats.OpenConns.Add(-1)
}

// drop stops tracking a process we decided not to instrument.
func (p *Pipeline) drop(pid uint32) {
	_ = p.tracker.Untrack(pid)
	p.sel.Forget(pid)
}

func (p *Pipeline) processGone(pid uint32, at uint64) {
	// Its drops first, while its identity is still known.
	if dc, ok := p.tracker.(dropCounter); ok {
		p.reportLost(pid, dc.TakeProcessDrops(pid))
	}
	delete(p.drops, pid)
	for _, c := range p.connsOf(pid) {
		p.closeConn(c, at)
	}
	p.finishClosing(0, pid)
	p.sel.Forget(pid)
	_ = p.tracker.Untrack(pid)
	p.sink.ProcessGone(pid)
}

// connsOf returns the open connections of pid (all when pid is 0) in a
// fixed order (by socket), so that what closing them emits comes out in
// the same order every time: a replayed stream gives the same output.
func (p *Pipeline) connsOf(pid uint32) []*conn {
	var cs []*conn
	for k, c := range p.conns {
		if pid == 0 || k.tgid == pid {
			cs = append(cs, c)
		}
	}
	sortConns(cs)
	return cs
}

// sortConns orders connections by process and socket.
func sortConns(cs []*conn) {
	slices.SortFunc(cs, func(a, b *conn) int {
		return cmp.Or(cmp.Compare(a.key.tgid, b.key.tgid), cmp.Compare(a.key.sock, b.key.sock))
	})
}

// Finish ends every connection, open or closing, at its last event, as if
// the stream ended there: the end of a replayed stream.
func (p *Pipeline) Finish() {
	for _, c := range p.connsOf(0) {
		p.closeConn(c, c.lastSeen)
	}
	p.finishClosing(math.MaxUint64-uint64(closeGrace), 0)
	p.syncStats()
}

// Removed tells the pipeline that discovery dropped these processes. They
// are let go once the events read have caught up with the moment discovery
// noticed (their last events may still be in the ring behind others: on a
// loaded machine the reader can be seconds behind), or after removalWait.
func (p *Pipeline) Removed(pids []uint32) {
	now := uint64(time.Now().UnixNano())
	for _, pid := range pids {
		p.removals = append(p.removals, removal{pid: pid, at: now})
	}
	p.applyRemovals(now, false)
}

// removalWait bounds how long a removal waits for the events to catch up.
const removalWait = 5 * time.Second

type removal struct {
	pid uint32
	at  uint64 // Unix ns discovery reported it
}

// applyRemovals lets go the removed processes whose events have all been
// read: an event from after the removal was read, or the ring is idle (a
// Tick with no event since the previous one comes from a reader that
// found the ring empty), or removalWait has passed.
func (p *Pipeline) applyRemovals(now uint64, idle bool) {
	keep := p.removals[:0]
	for _, r := range p.removals {
		if idle || p.lastEvent >= r.at || now >= r.at+uint64(removalWait) {
			p.processGone(r.pid, r.at)
			continue
		}
		keep = append(keep, r)
	}
	p.removals = keep
}

// Tick does housekeeping: clock resync, finalising idle responses,
// forgetting idle connections.
func (p *Pipeline) Tick() {
	p.syncClock()
	now := uint64(time.Now().UnixNano())
	read := p.stats.EventsRead.Load()
	p.applyRemovals(now, read == p.readAtTick)
	p.readAtTick = read
	p.finishClosing(now, 0)
	for _, c := range p.conns {
		// (lastSeen can be a little ahead of now: see syncClock)
		if now > c.lastSeen && now-c.lastSeen > uint64(p.maxIdle) {
			p.closeConn(c, c.lastSeen)
			continue
		}
		if c.parser != nil {
			p.cur = c
			c.parser.Flush(now, p.idle, p.emitFn)
			p.cur = nil
		}
	}
	p.syncStats()
	if time.Since(p.dropsRead) >= dropsEvery {
		p.LostEvents()
	}
}

// dropsEvery: how often Tick reads the kernel's per-process drop counts (a
// walk of a map that holds an entry only for processes that lost events).
const dropsEvery = time.Second

// LostEvents reads the kernel's per-process counts of dropped events and
// reports what is new to the sink (LossSink). Tick calls it every second;
// call it once more after the last event was read, before the probes
// close.
func (p *Pipeline) LostEvents() {
	p.dropsRead = time.Now()
	dc, ok := p.tracker.(dropCounter)
	if !ok {
		return
	}
	now := dc.ProcessDrops()
	for pid, n := range now {
		p.reportLost(pid, n)
	}
	// Entries the kernel's LRU let go start again from 0 if they return.
	for pid := range p.drops {
		if _, ok := now[pid]; !ok {
			delete(p.drops, pid)
		}
	}
}

// reportLost reports pid's drop count n (cumulative, as the kernel keeps
// it) beyond what was reported already. A process that is not (or no
// longer) selected is nobody's service: its drops are only in the total.
func (p *Pipeline) reportLost(pid uint32, n uint64) {
	prev := p.drops[pid]
	if n <= prev {
		return
	}
	p.drops[pid] = n
	if ls, ok := p.sink.(LossSink); ok {
		if info := p.sel.Lookup(pid); info != nil {
			ls.Lost(info, n-prev)
		}
	}
}

func (p *Pipeline) syncStats() {
	skipped := p.unrecognised
	for i := range p.pstats {
		st, out := &p.pstats[i], &p.stats.PerProtocol[i]
		out.Requests.Store(st.Records)
		out.ParseErrors.Store(st.ParseErrors)
		out.Incomplete.Store(st.Incomplete)
		out.Unknown.Store(st.Unknown)
		out.Truncated.Store(st.Truncated)
		out.Desync.Store(st.Desync)
		skipped += st.Skipped
	}
	p.stats.Unrecognised.Store(skipped)
}

// muxRoute turns a Go 1.22 ServeMux pattern, "[METHOD ][HOST]/PATH", into
// its path part: "GET example.com/items/{id}" → "/items/{id}". Wildcards
// stay as they are; the end anchor "{$}" is dropped ("/{$}" → "/").
// It returns a part of b: no allocation for every Go request.
func muxRoute(b []byte) []byte {
	s := trimNul(b)
	if i := bytes.IndexAny(s, " \t"); i >= 0 {
		s = bytes.TrimLeft(s[i:], " \t")
	}
	i := bytes.IndexByte(s, '/')
	if i < 0 {
		return nil
	}
	s = s[i:]
	if t, ok := bytes.CutSuffix(s, []byte("{$}")); ok {
		s = t
	}
	return s
}

// appRoute returns the process's route in a Go route event as a string,
// the connection's previous one when it repeats (it does on a keep-alive
// connection), so that a route costs an allocation only when it changes.
func (c *conn) appRoute(payload []byte) string {
	r := muxRoute(payload)
	if string(r) != c.route {
		c.route = string(r)
	}
	return c.route
}

func trimNul(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}
