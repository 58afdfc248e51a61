package pipeline

import (
	"testing"

	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/record"
)

// goLinkEv is the EventGoLink the kernel sends before the data event d: it
// names d's transfer by its time and length.
func goLinkEv(parent, since uint64, d *probes.Event) *probes.Event {
	return &probes.Event{Type: probes.EventGoLink, TGID: d.TGID, Sock: d.Sock, FD: d.FD, Mono: d.Mono, Len: d.Len,
		ParentSock: parent, Since: since}
}

// linked sends d with the EventGoLink that names it before it.
func (f *fixture) linked(parent, since uint64, d *probes.Event) {
	f.p.Handle(goLinkEv(parent, since, d))
	f.p.Handle(d)
}

// Go in process: a client request whose goroutine worked for the server
// request in flight on another connection becomes its child; the server
// record carries the ids the child's parent names.
func TestGoLinkParentsTheClient(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, req))
	f.p.Handle(connEv(7, 6, 2, "10.0.0.1:40000", "10.0.0.9:80"))
	f.linked(1, 1200, dataEv(probes.EventDataOut, 7, 6, 2, 1500, req))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1800, resp))
	// the next request on the client connection was made for nobody
	f.p.Handle(dataEv(probes.EventDataOut, 7, 6, 2, 1850, req))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1870, resp))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 2000, resp))

	if len(f.sink.recs) != 3 {
		t.Fatalf("%d records, want 3", len(f.sink.recs))
	}
	cli, other, srv := f.sink.recs[0], f.sink.recs[1], f.sink.recs[2]
	if srv.Kind != record.KindServer || srv.SpanID == ([8]byte{}) || srv.TraceID == ([16]byte{}) || srv.HasTraceParent {
		t.Errorf("server: span %x trace %x (parent %v), want ids of a root chosen early", srv.SpanID, srv.TraceID, srv.HasTraceParent)
	}
	if cli.Kind != record.KindClient || !cli.HasTraceParent || cli.TraceID != srv.TraceID || cli.ParentSpanID != srv.SpanID ||
		cli.SpanID != ([8]byte{}) {
		t.Errorf("client: trace %x parent %x (has %v) span %x, want the server's trace and span as parent",
			cli.TraceID, cli.ParentSpanID, cli.HasTraceParent, cli.SpanID)
	}
	if other.HasTraceParent {
		t.Errorf("a request without an EventGoLink got parent %x", other.ParentSpanID)
	}
	if l, u := f.stats.ClientLinked.Load(), f.stats.ClientUnlinked.Load(); l != 1 || u != 0 {
		t.Errorf("linked %d unlinked %d, want 1 0", l, u)
	}
}

// A server request that continued a traceparent keeps its trace; only
// its span id is chosen early.
func TestGoLinkKeepsIncomingTrace(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000,
		"GET /a HTTP/1.1\r\nHost: x\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n"))
	f.p.Handle(connEv(7, 6, 2, "10.0.0.1:40000", "10.0.0.9:80"))
	f.linked(1, 1200, dataEv(probes.EventDataOut, 7, 6, 2, 1500, req))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1800, resp))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 2000, resp))
	cli, srv := f.sink.recs[0], f.sink.recs[1]
	if srv.TraceID[0] != 0x0a || srv.ParentSpanID[0] != 0xb7 || !srv.HasTraceParent || srv.SpanID == ([8]byte{}) {
		t.Errorf("server: trace %x parent %x span %x, want the incoming trace and parent, and a span id", srv.TraceID, srv.ParentSpanID, srv.SpanID)
	}
	if cli.TraceID != srv.TraceID || cli.ParentSpanID != srv.SpanID {
		t.Errorf("client: trace %x parent %x, want %x %x", cli.TraceID, cli.ParentSpanID, srv.TraceID, srv.SpanID)
	}
}

// Never a wrong parent: a server request that ended, one that started after
// the goroutine left it, or an unknown connection leave the client a root,
// counted.
func TestGoLinkUncertainStaysRoot(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, req))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 1100, resp))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1300, req)) // the next request
	f.p.Handle(connEv(7, 6, 2, "10.0.0.1:40000", "10.0.0.9:80"))
	for i, l := range []struct{ parent, since uint64 }{
		{1, 1050},  // made for the first request, which ended
		{1, 1200},  // after it ended, before the next began
		{99, 1350}, // an unknown connection
	} {
		at := 1500 + 1000*uint64(i)
		f.linked(l.parent, l.since, dataEv(probes.EventDataOut, 7, 6, 2, at, req))
		f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, at+300, resp))
	}
	for _, r := range f.sink.recs {
		if r.HasTraceParent || r.SpanID != ([8]byte{}) {
			t.Errorf("%s record got ids: parent %x span %x", r.Kind, r.ParentSpanID, r.SpanID)
		}
	}
	if l, u := f.stats.ClientLinked.Load(), f.stats.ClientUnlinked.Load(); l != 0 || u != 3 {
		t.Errorf("linked %d unlinked %d, want 0 3", l, u)
	}
}

// Three Go services on one node: when app1's server request gets its ids
// early (its handler calls app2), and its client is app0's request on this
// node, it becomes that client request's child at once, the client span
// getting its id now: app0 SERVER → app0 CLIENT → app1 SERVER → app1 CLIENT.
func TestGoLinkUpstreamOnThisNode(t *testing.T) {
	f := newFixture(7, 8)
	// app0 (7): serves a request on sock 1, calls app1 on sock 2
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, req))
	f.p.Handle(connEv(7, 6, 2, "10.0.0.1:40000", "10.0.0.1:81"))
	f.linked(1, 1100, dataEv(probes.EventDataOut, 7, 6, 2, 1200, req))
	// app1 (8): reads it on sock 3, calls app2 on sock 4
	f.p.Handle(connEv(8, 5, 3, "10.0.0.1:81", "10.0.0.1:40000"))
	f.p.Handle(dataEv(probes.EventDataIn, 8, 5, 3, 1190, req))
	f.p.Handle(connEv(8, 6, 4, "10.0.0.1:40001", "10.0.0.1:82"))
	f.linked(3, 1300, dataEv(probes.EventDataOut, 8, 6, 4, 1400, req))
	f.p.Handle(dataEv(probes.EventDataIn, 8, 6, 4, 1500, resp))
	f.p.Handle(dataEv(probes.EventDataOut, 8, 5, 3, 1600, resp))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1610, resp))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 1700, resp))
	if len(f.sink.recs) != 4 {
		t.Fatalf("%d records, want 4", len(f.sink.recs))
	}
	cli1, srv1, cli0, srv0 := f.sink.recs[0], f.sink.recs[1], f.sink.recs[2], f.sink.recs[3]
	trace := srv0.TraceID
	for _, c := range []struct {
		name   string
		r      *record.Record
		parent [8]byte
	}{{"app0 CLIENT", &cli0, srv0.SpanID}, {"app1 SERVER", &srv1, cli0.SpanID}, {"app1 CLIENT", &cli1, srv1.SpanID}} {
		if c.r.TraceID != trace || !c.r.HasTraceParent || c.r.ParentSpanID != c.parent || c.parent == ([8]byte{}) {
			t.Errorf("%s: trace %x parent %x, want %x %x", c.name, c.r.TraceID, c.r.ParentSpanID, trace, c.parent)
		}
	}
	if srv0.HasTraceParent {
		t.Errorf("app0 SERVER has a parent")
	}
}

// split returns the events the kernel's HTTP/2 frame walk reports one
// transfer as: one per part, all with the transfer's time.
func split(typ probes.EventType, pid, fd uint32, sock, mono uint64, parts ...string) []*probes.Event {
	var evs []*probes.Event
	for _, p := range parts {
		evs = append(evs, dataEv(typ, pid, fd, sock, mono, p))
	}
	return evs
}

// transfer is the EventGoLink for the transfer of evs (their time, their
// lengths added up), then evs.
func (f *fixture) linkedTransfer(parent, since uint64, evs []*probes.Event) {
	l := goLinkEv(parent, since, evs[0])
	l.Len = 0
	for _, e := range evs {
		l.Len += e.Len
	}
	f.p.Handle(l)
	for _, e := range evs {
		f.p.Handle(e)
	}
}

// h2 client frames: a GET of stream id, and its response (200, ended).
func h2Get(id uint32) string  { return frame(1, endHeaders|endStream, id, 0x82, 0x84, 0x86) }
func h2Resp(id uint32) string { return frame(1, endHeaders|endStream, id, 0x88) }

// A Go HTTP/2 client's write reaches user space as several events (the
// kernel walks its frames and reports it in windows): the link's ids are
// for the request that starts anywhere in that transfer, here in its
// second event, after the preface and SETTINGS of the first. The next
// request of the connection, whose transfer no link named, stays a root.
func TestGoLinkSplitTransfer(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, req))
	f.p.Handle(connEv(7, 6, 2, "10.0.0.1:40000", "10.0.0.9:443"))
	f.linkedTransfer(1, 1200, split(probes.EventDataOut, 7, 6, 2, 1500, preface+frame(4, 0, 0), h2Get(1)))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1800, frame(4, 0, 0)+h2Resp(1)))
	// made for nobody: no link
	f.p.Handle(dataEv(probes.EventDataOut, 7, 6, 2, 1850, h2Get(3)))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1870, h2Resp(3)))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 2000, resp))

	if len(f.sink.recs) != 3 {
		t.Fatalf("%d records, want 3", len(f.sink.recs))
	}
	cli, other, srv := f.sink.recs[0], f.sink.recs[1], f.sink.recs[2]
	if srv.Kind != record.KindServer || srv.SpanID == ([8]byte{}) {
		t.Fatalf("server record: kind %v span %x, want a server with its span id chosen early", srv.Kind, srv.SpanID)
	}
	if cli.Kind != record.KindClient || cli.StreamID != 1 || !cli.HasTraceParent || cli.TraceID != srv.TraceID ||
		cli.ParentSpanID != srv.SpanID {
		t.Errorf("client stream %d: trace %x parent %x (has %v), want trace %x parent %x",
			cli.StreamID, cli.TraceID, cli.ParentSpanID, cli.HasTraceParent, srv.TraceID, srv.SpanID)
	}
	if other.StreamID != 3 || other.HasTraceParent || other.ParentSpanID != ([8]byte{}) {
		t.Errorf("stream %d, made for nobody, got parent %x (has %v)", other.StreamID, other.ParentSpanID, other.HasTraceParent)
	}
	if l, u := f.stats.ClientLinked.Load(), f.stats.ClientUnlinked.Load(); l != 1 || u != 0 {
		t.Errorf("linked %d unlinked %d, want 1 0", l, u)
	}
}

// A link whose transfer starts no request (the connection's preface and
// SETTINGS, written by the goroutine that dialled it) gives its ids to no
// later request: the next transfer, which no link named, starts a root.
func TestGoLinkUnusedByLaterTransfer(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, req))
	f.p.Handle(connEv(7, 6, 2, "10.0.0.1:40000", "10.0.0.9:443"))
	f.linkedTransfer(1, 1200, split(probes.EventDataOut, 7, 6, 2, 1500, preface, frame(4, 0, 0)))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 6, 2, 1600, h2Get(1)))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1800, frame(4, 0, 0)+h2Resp(1)))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 2000, resp))
	if len(f.sink.recs) != 2 {
		t.Fatalf("%d records, want 2", len(f.sink.recs))
	}
	if cli := f.sink.recs[0]; cli.Kind != record.KindClient || cli.HasTraceParent || cli.ParentSpanID != ([8]byte{}) {
		t.Errorf("client %v got parent %x (has %v), want none", cli.Kind, cli.ParentSpanID, cli.HasTraceParent)
	}
	if l, u := f.stats.ClientLinked.Load(), f.stats.ClientUnlinked.Load(); l != 0 || u != 0 {
		t.Errorf("linked %d unlinked %d, want 0 0 (no request was made for the link)", l, u)
	}
}

// Two requests start in one linked transfer, in two of its events: which
// one the link was for is not certain, so neither gets a parent, and the
// link is counted unlinked. The same when the one request of the transfer
// was answered before the transfer's last event was read.
func TestGoLinkAmbiguousTransfer(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, req))
	f.p.Handle(connEv(7, 6, 2, "10.0.0.1:40000", "10.0.0.9:443"))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 6, 2, 1100, preface+frame(4, 0, 0)))
	f.linkedTransfer(1, 1200, split(probes.EventDataOut, 7, 6, 2, 1500, h2Get(1), h2Get(3)))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1800, frame(4, 0, 0)+h2Resp(1)+h2Resp(3)))
	// the response read between the transfer's two events
	evs := split(probes.EventDataOut, 7, 6, 2, 1900, h2Get(5), frame(8, 0, 0, 0, 0, 1, 0))
	l := goLinkEv(1, 1200, evs[0])
	l.Len += evs[1].Len
	f.p.Handle(l)
	f.p.Handle(evs[0])
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1910, h2Resp(5)))
	f.p.Handle(evs[1])
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 2000, resp))
	if len(f.sink.recs) != 4 {
		t.Fatalf("%d records, want 4", len(f.sink.recs))
	}
	for _, r := range f.sink.recs[:3] {
		if r.Kind != record.KindClient || r.HasTraceParent || r.ParentSpanID != ([8]byte{}) {
			t.Errorf("%v stream %d got parent %x (has %v), want none", r.Kind, r.StreamID, r.ParentSpanID, r.HasTraceParent)
		}
	}
	if l, u := f.stats.ClientLinked.Load(), f.stats.ClientUnlinked.Load(); l != 0 || u != 2 {
		t.Errorf("linked %d unlinked %d, want 0 2", l, u)
	}
}
