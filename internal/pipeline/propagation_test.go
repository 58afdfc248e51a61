package pipeline

import (
	"testing"

	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/record"
)

func traceEv(pid, fd uint32, sock uint64, role probes.TraceRole, span, parent byte) *probes.Event {
	e := &probes.Event{Type: probes.EventTrace, TGID: pid, FD: fd, Sock: sock}
	e.Trace = probes.TraceIDs{Role: role, Flags: 1}
	e.Trace.TraceID[0] = 0x77
	e.Trace.SpanID[0] = span
	e.Trace.ParentID[0] = parent
	return e
}

// Context propagation: the ids of an EventTrace belong to the request that
// starts in the connection's next data event, on either side, and to no
// other request.
func TestKernelIDsReachTheirRequest(t *testing.T) {
	f := newFixture(7)
	// server side: a request read, whose head continues in a second read
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(traceEv(7, 5, 1, probes.TraceServer, 0x51, 0x50))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, "GET /a HTTP/1.1\r\n"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1100, "Host: shop\r\n\r\n"))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 2000, resp))
	// the next request on the connection had no EventTrace
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 3000, req))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 4000, resp))
	// client side: the thread's outgoing request, a child of the server span
	f.p.Handle(connEv(7, 6, 2, "10.0.0.1:40000", "10.0.0.9:80"))
	f.p.Handle(traceEv(7, 6, 2, probes.TraceClient, 0x61, 0x51))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 6, 2, 1500, req))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1800, resp))

	if len(f.sink.recs) != 3 {
		t.Fatalf("%d records, want 3", len(f.sink.recs))
	}
	srv, next, cli := f.sink.recs[0], f.sink.recs[1], f.sink.recs[2]
	if srv.Kind != record.KindServer || srv.SpanID[0] != 0x51 || srv.TraceID[0] != 0x77 ||
		srv.ParentSpanID[0] != 0x50 || !srv.HasTraceParent {
		t.Errorf("server record ids: span %x trace %x parent %x (has %v), want 51.., 77.., 50..",
			srv.SpanID, srv.TraceID, srv.ParentSpanID, srv.HasTraceParent)
	}
	if next.SpanID != ([8]byte{}) || next.HasTraceParent {
		t.Errorf("a request without an EventTrace got ids: span %x parent %x", next.SpanID, next.ParentSpanID)
	}
	if cli.Kind != record.KindClient || cli.SpanID[0] != 0x61 || cli.TraceID[0] != 0x77 || cli.ParentSpanID[0] != 0x51 {
		t.Errorf("client record ids: span %x trace %x parent %x, want 61.., 77.., 51..", cli.SpanID, cli.TraceID, cli.ParentSpanID)
	}
}

// A root chosen by the kernel (no parent) keeps its trace id without
// claiming a parent.
func TestKernelRootIDs(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 6, 2, "10.0.0.1:40000", "10.0.0.9:80"))
	f.p.Handle(traceEv(7, 6, 2, probes.TraceClient, 0x61, 0))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 6, 2, 1500, "GET /a HTTP/1.1\r\nHost: x\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 6, 2, 1800, resp))
	if len(f.sink.recs) != 1 {
		t.Fatalf("%d records, want 1", len(f.sink.recs))
	}
	r := f.sink.recs[0]
	if r.SpanID[0] != 0x61 || r.TraceID[0] != 0x77 || r.HasTraceParent || r.ParentSpanID != ([8]byte{}) {
		t.Errorf("ids: span %x trace %x parent %x (has %v), want the kernel's root", r.SpanID, r.TraceID, r.ParentSpanID, r.HasTraceParent)
	}
}
