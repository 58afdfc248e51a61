// Package pipeline turns the kernel's event stream into request records. It
// owns per-connection state (one parser per connection of each process) and
// the process lifecycle that the kernel reports (exec, fork, exit). All of it
// runs on the ring reader's goroutine, so it needs no locks.
package pipeline

import (
	"bytes"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebpfred/ebpfred/internal/http1"
	"github.com/ebpfred/ebpfred/internal/http2"
	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Sink receives records and process lifecycle news.
type Sink interface {
	// Record is called once per parsed request. r is only valid during the
	// call (it is reused afterwards): copy what must outlive it.
	Record(r *record.Record, p *process.Info)
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
	SetTracked(tgid, flags uint32) error
	Untrack(tgid uint32) error
	MarkHTTP2(sock uint64) error
}

// tlsInstrumenter is implemented by the probe set (issue 4: TLS): attach
// the TLS library probes a newly selected process needs. Optional, so that
// test fakes of Tracker need not implement it.
type tlsInstrumenter interface {
	InstrumentTLSAsync(tgid uint32)
}

// dropCounter is implemented by the probe set: the kernel's per-process
// counts of events the ring had no room for. Optional, like
// tlsInstrumenter.
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
// when it has exited meanwhile. Optional, like tlsInstrumenter.
type confirmer interface {
	Confirm(tgid uint32) error
}

// confirm confirms pid, which the kernel started tracking itself (exec,
// fork). Under process churn its exit has often removed the kernel's entry
// before its exec event is read here: tracking it again would leave an
// entry no exit ever removes, and a full tracked_pids map tracks nothing
// new. Its exit event, later in the ring, forgets it here too.
func (p *Pipeline) confirm(pid uint32) {
	if c, ok := p.tracker.(confirmer); ok {
		_ = c.Confirm(pid)
		return
	}
	_ = p.tracker.SetTracked(pid, probes.FlagConfirmed)
}

func (p *Pipeline) instrumentTLS(pid uint32) {
	if t, ok := p.tracker.(tlsInstrumenter); ok {
		t.InstrumentTLSAsync(pid)
	}
}

// Stats are the pipeline's self-telemetry; read them with atomic loads from
// any goroutine.
type Stats struct {
	EventsRead  atomic.Uint64
	Records     atomic.Uint64
	NonHTTP     atomic.Uint64
	ParseErrors atomic.Uint64
	Incomplete  atomic.Uint64
	OpenConns   atomic.Int64
	// HTTP/2: header blocks cut by the copy limit, and frame boundaries
	// lost (the parser resynchronises; the streams involved are counted as
	// Incomplete rather than guessed).
	H2Truncated atomic.Uint64
	H2Desync    atomic.Uint64
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

// conn follows one connection: HTTP/1 until the connection turns out to be
// HTTP/2 (preface, h2c upgrade, or frames on a connection seen mid-way).
type conn struct {
	key      connKey
	meta     stream.Meta
	h1       *http1.Conn
	h2       *http2.Conn
	seen     bool   // a data event arrived (the protocol was sniffed)
	lastSeen uint64 // Unix ns of the last event
	// Go net/http: the route the process itself matched for the request
	// being answered (EventRoute), for the next server record emitted.
	route        string
	routePending bool
	// closedAt: the Unix ns of the close, while in Pipeline.closing.
	closedAt uint64
	// propagation: the ids of an EventTrace, for the connection's next
	// data event (the kernel sends them just before it).
	ids        stream.SpanIDs
	idsPending bool
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

	conns map[connKey]*conn
	peers map[peerKey]*conn // connections whose endpoints are known
	// closing holds connections the process closed until closeGrace has
	// passed or a new connection with the same socket address opens: a TLS
	// call that did its socket I/O before the close can return, and report
	// its plaintext, after it.
	closing map[connKey]*conn
	http    http1.Stats
	h2stats http2.Stats
	offset  uint64 // wall − monotonic, ns
	idle    time.Duration
	maxIdle time.Duration
	emitFn  func(*record.Record)
	ev      stream.Event
	cur     *conn // the connection whose parser may emit now

	// drops: the kernel's per-process drop counts already reported, and
	// when they were last read (see lostEvents).
	drops     map[uint32]uint64
	dropsRead time.Time
}

// Options tune timing.
type Options struct {
	// ResponseIdle finalises a response whose end cannot be seen in its
	// bytes (chunked without a visible terminator) once it made no progress
	// for this long; its duration still ends at its last byte.
	ResponseIdle time.Duration
	// ConnIdle forgets a connection with no traffic for this long.
	ConnIdle time.Duration
}

// New returns a Pipeline.
func New(sink Sink, sel Selector, tracker Tracker, stats *Stats, opt Options) *Pipeline {
	if opt.ResponseIdle == 0 {
		opt.ResponseIdle = 2 * time.Second
	}
	if opt.ConnIdle == 0 {
		opt.ConnIdle = 10 * time.Minute
	}
	p := &Pipeline{sink: sink, sel: sel, tracker: tracker, stats: stats, conns: map[connKey]*conn{},
		peers: map[peerKey]*conn{}, closing: map[connKey]*conn{}, drops: map[uint32]uint64{},
		idle: opt.ResponseIdle, maxIdle: opt.ConnIdle}
	p.emitFn = p.emit
	p.syncClock()
	return p
}

// syncClock refreshes the monotonic→wall-clock offset (bpf_ktime_get_ns is
// CLOCK_MONOTONIC).
func (p *Pipeline) syncClock() {
	var ts unix.Timespec
	before := time.Now().UnixNano()
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	after := time.Now().UnixNano()
	p.offset = uint64((before+after)/2 - ts.Nano())
}

func (p *Pipeline) emit(r *record.Record) {
	if c := p.cur; c != nil && c.routePending && r.Kind == record.KindServer {
		// The process's own route wins over configured patterns.
		if r.Route == "" {
			r.Route = c.route
		}
		c.routePending = false
	}
	p.stats.Records.Add(1)
	if info := p.sel.Lookup(r.PID); info != nil {
		p.sink.Record(r, info)
	}
	record.Release(r)
}

// Handle processes one kernel event.
func (p *Pipeline) Handle(e *probes.Event) {
	p.stats.EventsRead.Add(1)
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
		if c := p.peers[peerKey{e.TGID, peer}]; c != nil && c.h2 != nil {
			if r := c.appRoute(e.Payload); r != "" {
				c.h2.SetRoute(e.FD, r)
			}
		}
	case probes.EventClose:
		if c := p.conns[connKey{e.TGID, e.Sock}]; c != nil {
			p.beginClose(c, e.Mono+p.offset)
		}
	case probes.EventExec:
		exe := string(trimNul(e.Payload))
		if info := p.sel.Evaluate(e.TGID, exe); info != nil {
			p.confirm(e.TGID)
			p.instrumentTLS(e.TGID) // TLS: a Go or statically linked OpenSSL executable
		} else {
			p.drop(e.TGID)
		}
	case probes.EventFork:
		if info := p.sel.Inherit(e.TGID, e.FD); info != nil {
			p.confirm(e.TGID)
		} else if p.sel.Evaluate(e.TGID, "") == nil {
			p.drop(e.TGID)
		}
	case probes.EventExit:
		p.processGone(e.TGID, e.Mono+p.offset)
	}
}

func (p *Pipeline) data(e *probes.Event) {
	if p.sel.Lookup(e.TGID) == nil {
		// A provisionally tracked process (exec'd or forked) we have not
		// decided on yet, e.g. a server that started listening after exec.
		if p.sel.Evaluate(e.TGID, "") == nil {
			p.drop(e.TGID)
			return
		}
		p.confirm(e.TGID)
		p.instrumentTLS(e.TGID) // TLS: its libssl is mapped by now
	}
	now := e.Mono + p.offset
	c := p.conn(e, stream.Meta{PID: e.TGID, Scheme: "http"})
	if e.TLS && c.meta.Scheme != "https" {
		// TLS: plaintext from a TLS library probe. The kernel never sends
		// the ciphertext, so the parsers start over on the plaintext.
		c.meta.Scheme = "https"
		c.h1 = http1.NewConn(c.meta, &p.http)
		c.h2 = nil
		c.seen = false
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
	ev.IDs = nil
	if c.idsPending { // propagation
		ev.IDs = &c.ids
		c.idsPending = false
	}
	first := !c.seen
	c.seen = true
	p.cur = c
	defer func() { p.cur = nil }()
	switch {
	case c.h2 != nil:
		c.h2.Feed(ev, p.emitFn)
	case c.h1.Upgraded() || (first && http2.LooksLikeHTTP2(e.Payload)):
		// After an h2c upgrade the preface comes next; a WebSocket (or
		// anything else) after a 101 is not ours to parse.
		if !http2.LooksLikeHTTP2(e.Payload) {
			return
		}
		c.h2 = http2.NewConn(c.meta, &p.h2stats)
		// Have the kernel copy every transfer from now on: it knows
		// already when it saw the preface whole, not when we first see
		// the connection mid-way, nor when the preface came in pieces it
		// did not recognise.
		_ = p.tracker.MarkHTTP2(e.Sock)
		c.h2.Feed(ev, p.emitFn)
	default:
		c.h1.Feed(ev, p.emitFn)
	}
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
	c := &conn{key: k, meta: meta, h1: http1.NewConn(meta, &p.http)}
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
	for k, c := range p.closing {
		if (pid != 0 && k.tgid == pid) || (pid == 0 && now >= c.closedAt+uint64(closeGrace)) {
			delete(p.closing, k)
			p.finish(c, c.closedAt)
		}
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
	if c.h2 != nil {
		c.h2.Close(at, p.emitFn)
	} else {
		c.h1.Close(at, p.emitFn)
	}
	if pk := (peerKey{c.meta.PID, c.meta.Peer}); p.peers[pk] == c {
		delete(p.peers, pk)
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
	for k, c := range p.conns {
		if k.tgid == pid {
			p.closeConn(c, at)
		}
	}
	p.finishClosing(0, pid)
	p.sel.Forget(pid)
	_ = p.tracker.Untrack(pid)
	p.sink.ProcessGone(pid)
}

// Removed tells the pipeline that discovery dropped these processes.
func (p *Pipeline) Removed(pids []uint32) {
	now := uint64(time.Now().UnixNano())
	for _, pid := range pids {
		p.processGone(pid, now)
	}
}

// Tick does housekeeping: clock resync, finalising idle responses,
// forgetting idle connections.
func (p *Pipeline) Tick() {
	p.syncClock()
	now := uint64(time.Now().UnixNano())
	p.finishClosing(now, 0)
	for _, c := range p.conns {
		if now-c.lastSeen > uint64(p.maxIdle) {
			p.closeConn(c, c.lastSeen)
			continue
		}
		p.cur = c
		if c.h2 != nil {
			c.h2.Flush(now, p.idle, p.emitFn)
		} else {
			c.h1.Flush(now, p.idle, p.emitFn)
		}
		p.cur = nil
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
	p.stats.NonHTTP.Store(p.http.NonHTTP)
	p.stats.ParseErrors.Store(p.http.ParseErrors + p.h2stats.ParseErrors)
	p.stats.Incomplete.Store(p.http.Incomplete + p.h2stats.Incomplete)
	p.stats.H2Truncated.Store(p.h2stats.Truncated)
	p.stats.H2Desync.Store(p.h2stats.Desync)
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
