package pipeline

import (
	"testing"

	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/record"
)

func goLinkEv(pid uint32, sock, parent, since uint64) *probes.Event {
	return &probes.Event{Type: probes.EventGoLink, TGID: pid, Sock: sock, ParentSock: parent, Since: since}
}

// Go in process: a client request whose goroutine worked for the server
// request in flight on another connection becomes its child; the server
// record carries the ids the child's parent names.
func TestGoLinkParentsTheClient(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, req))
	f.p.Handle(connEv(7, 6, 2, "10.0.0.1:40000", "10.0.0.9:80"))
	f.p.Handle(goLinkEv(7, 2, 1, 1200))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 6, 2, 1500, req))
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
	f.p.Handle(goLinkEv(7, 2, 1, 1200))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 6, 2, 1500, req))
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
	for _, e := range []*probes.Event{
		goLinkEv(7, 2, 1, 1050),  // made for the first request, which ended
		goLinkEv(7, 2, 1, 1200),  // after it ended, before the next began
		goLinkEv(7, 2, 99, 1350), // an unknown connection
	} {
		f.p.Handle(e)
		f.p.Handle(dataEv(probes.EventDataOut, 7, 6, 2, 1500, req))
		f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1800, resp))
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
	f.p.Handle(goLinkEv(7, 2, 1, 1100))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 6, 2, 1200, req))
	// app1 (8): reads it on sock 3, calls app2 on sock 4
	f.p.Handle(connEv(8, 5, 3, "10.0.0.1:81", "10.0.0.1:40000"))
	f.p.Handle(dataEv(probes.EventDataIn, 8, 5, 3, 1190, req))
	f.p.Handle(connEv(8, 6, 4, "10.0.0.1:40001", "10.0.0.1:82"))
	f.p.Handle(goLinkEv(8, 4, 3, 1300))
	f.p.Handle(dataEv(probes.EventDataOut, 8, 6, 4, 1400, req))
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
