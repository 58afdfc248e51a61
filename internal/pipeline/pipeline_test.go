package pipeline

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/protocols"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/routes"
)

// fakes that remember what the pipeline asked of them.

type recSel struct {
	infos  map[uint32]*process.Info
	forgot []uint32
}

func (s *recSel) Lookup(pid uint32) *process.Info { return s.infos[pid] }
func (s *recSel) Evaluate(pid uint32, exe string) *process.Info {
	if !strings.Contains(exe, "selected") {
		return nil
	}
	s.infos[pid] = &process.Info{PID: pid, ServiceName: "svc"}
	return s.infos[pid]
}
func (s *recSel) Inherit(child, parent uint32) *process.Info {
	if p := s.infos[parent]; p != nil {
		c := *p
		c.PID = child
		s.infos[child] = &c
		return &c
	}
	return nil
}
func (s *recSel) Forget(pid uint32) { delete(s.infos, pid); s.forgot = append(s.forgot, pid) }

type recTracker struct {
	tracked   map[uint32]uint32
	untracked []uint32
	http2     []uint64
}

func (t *recTracker) Adopt(pid uint32) error { t.tracked[pid] = probes.FlagConfirmed; return nil }
func (t *recTracker) Untrack(pid uint32) error {
	delete(t.tracked, pid)
	t.untracked = append(t.untracked, pid)
	return nil
}
func (t *recTracker) CopyAll(sock uint64) error {
	t.http2 = append(t.http2, sock)
	return nil
}

type recSink struct {
	recs []record.Record
	gone []uint32
}

func (s *recSink) Record(r *record.Record, _ *process.Info, _ routes.Ignore) {
	s.recs = append(s.recs, *r)
}
func (s *recSink) ProcessGone(pid uint32) { s.gone = append(s.gone, pid) }

type fixture struct {
	p     *Pipeline
	sel   *recSel
	trk   *recTracker
	sink  *recSink
	stats *Stats
}

func newFixture(selected ...uint32) *fixture {
	f := &fixture{sel: &recSel{infos: map[uint32]*process.Info{}}, trk: &recTracker{tracked: map[uint32]uint32{}},
		sink: &recSink{}, stats: &Stats{}}
	for _, pid := range selected {
		f.sel.infos[pid] = &process.Info{PID: pid, ServiceName: "svc"}
	}
	f.p = New(f.sink, f.sel, f.trk, f.stats, Options{Protocols: protocols.All})
	return f
}

// incomplete is the protocol's Incomplete count as of the last Tick.
func (f *fixture) incomplete(proto string) uint64 {
	for i := range f.stats.PerProtocol {
		if f.stats.PerProtocol[i].Name == proto {
			return f.stats.PerProtocol[i].Incomplete.Load()
		}
	}
	return 0
}

func connEv(pid, fd uint32, sock uint64, local, remote string) *probes.Event {
	l, r := netip.MustParseAddrPort(local), netip.MustParseAddrPort(remote)
	e := &probes.Event{Type: probes.EventConn, TGID: pid, FD: fd, Sock: sock, Family: 2,
		LocalPort: l.Port(), RemotePort: r.Port()}
	a, b := l.Addr().As4(), r.Addr().As4()
	copy(e.LocalAddr[:], a[:])
	copy(e.RemoteAddr[:], b[:])
	return e
}

func dataEv(typ probes.EventType, pid, fd uint32, sock, mono uint64, payload string) *probes.Event {
	b := []byte(payload)
	return &probes.Event{Type: typ, TGID: pid, FD: fd, Sock: sock, Mono: mono, Len: uint32(len(b)), Payload: b}
}

const (
	req  = "GET /a?secret=1 HTTP/1.1\r\nHost: shop\r\n\r\n"
	resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
)

func TestRecordsCarryEndpointsAndWallTime(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, req))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 6000, resp))
	if len(f.sink.recs) != 1 {
		t.Fatalf("%d records, want 1", len(f.sink.recs))
	}
	r := f.sink.recs[0]
	if r.Kind != record.KindServer || r.Path != "/a" || r.StatusCode != 200 ||
		r.Local.String() != "10.0.0.1:80" || r.Peer.String() != "10.0.0.2:5555" {
		t.Errorf("record %+v", r)
	}
	if r.EndUnixNano-r.StartUnixNano != 5000 || r.StartUnixNano < 1e18 {
		t.Errorf("times %d..%d: want wall-clock ns, 5000 apart", r.StartUnixNano, r.EndUnixNano)
	}
}

// A new socket on a known fd number is another connection. The old one
// is not ended by it: with threads, the number can be handed out again
// while the old connection's close is still on its way (haproxy with
// nbthread 2 lost 1-8 requests in 40 this way when connections were
// keyed by fd). Each ends with its own close.
func TestFdReuseIsAnotherConnection(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:40000", "10.0.0.9:80"))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 1000, req))
	f.p.Handle(connEv(7, 5, 2, "10.0.0.1:40001", "10.0.0.9:80"))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 2, 2000, req))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 2500, resp)) // the old one, answered
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 2, 3000, resp))
	if len(f.sink.recs) != 2 {
		t.Fatalf("records %+v, want two answered client requests", f.sink.recs)
	}
	for i, port := range []uint16{40000, 40001} {
		if r := f.sink.recs[i]; r.Kind != record.KindClient || r.StatusCode != 200 || r.Local.Port() != port || r.ErrorType != "" {
			t.Errorf("record %d: %+v, want a 200 from local port %d", i, r, port)
		}
	}
	if n := f.stats.OpenConns.Load(); n != 2 {
		t.Errorf("open connections %d, want 2", n)
	}
	f.p.Handle(&probes.Event{Type: probes.EventClose, TGID: 7, FD: 5, Sock: 1, Mono: 4000})
	f.p.finishClosing(1<<62, 0)
	if n := f.stats.OpenConns.Load(); n != 1 {
		t.Errorf("after the old one's close: %d open, want 1", n)
	}
}

// A TLS call can return after the connection was closed (Go: the peer read
// the response and hung up, and another goroutine closed the *tls.Conn
// before the writer reached its RET): its plaintext comes after the close,
// even after the fd number names the next connection, and still belongs to
// the closed one: connections are their sockets, never their fd numbers.
func TestLateEventAfterClose(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:443", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, req))
	f.p.Handle(&probes.Event{Type: probes.EventClose, TGID: 7, FD: 5, Sock: 1, Mono: 2000})
	f.p.Handle(connEv(7, 5, 2, "10.0.0.1:443", "10.0.0.3:6666")) // fd 5 again
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 2, 2500, req))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 3000, resp)) // late, old socket
	if len(f.sink.recs) != 1 || f.sink.recs[0].StatusCode != 200 || f.sink.recs[0].Peer.Port() != 5555 {
		t.Fatalf("records %+v, want the closed connection's request answered", f.sink.recs)
	}
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 2, 4000, resp))
	if len(f.sink.recs) != 2 || f.sink.recs[1].Peer.Port() != 6666 {
		t.Fatalf("records %+v: the new connection lost its request", f.sink.recs)
	}
	if n := f.stats.OpenConns.Load(); n != 2 {
		t.Errorf("open connections %d, want 2 (one closing)", n)
	}
	// The same socket address for a new connection (the kernel reuses a
	// closed socket's memory): announced by its endpoints, it is new.
	f.p.Handle(&probes.Event{Type: probes.EventClose, TGID: 7, FD: 5, Sock: 2, Mono: 4500})
	f.p.Handle(connEv(7, 5, 2, "10.0.0.1:443", "10.0.0.4:7777"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 2, 4600, req))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 2, 4700, resp))
	if len(f.sink.recs) != 3 || f.sink.recs[2].Peer.Port() != 7777 {
		t.Fatalf("records %+v: a reused socket address joined the closed connection", f.sink.recs)
	}
	// After the grace, the closed one is gone.
	f.p.Handle(&probes.Event{Type: probes.EventClose, TGID: 7, FD: 5, Sock: 2, Mono: 5000})
	f.p.finishClosing(1<<62, 0)
	if n := f.stats.OpenConns.Load(); n != 0 || len(f.p.closing) != 0 {
		t.Errorf("after the grace: %d open, %d closing", n, len(f.p.closing))
	}
}

func TestExitForgetsEverything(t *testing.T) {
	f := newFixture(7)
	f.trk.tracked[7] = probes.FlagConfirmed
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, req))
	f.p.Handle(&probes.Event{Type: probes.EventExit, TGID: 7})
	if len(f.sink.gone) != 1 || f.sink.gone[0] != 7 || len(f.trk.untracked) != 1 || len(f.sel.forgot) != 1 {
		t.Errorf("gone %v untracked %v forgot %v", f.sink.gone, f.trk.untracked, f.sel.forgot)
	}
	if n := f.stats.OpenConns.Load(); n != 0 {
		t.Errorf("open connections %d after exit", n)
	}
	f.p.Tick()
	if n := f.incomplete("http"); n != 1 {
		t.Errorf("incomplete %d: the unanswered request must be counted", n)
	}
}

func TestExecSelectsOrDrops(t *testing.T) {
	f := newFixture()
	f.p.Handle(&probes.Event{Type: probes.EventExec, TGID: 8, Payload: []byte("/usr/bin/selected\x00")})
	f.p.Handle(&probes.Event{Type: probes.EventExec, TGID: 9, Payload: []byte("/usr/bin/other\x00")})
	if f.trk.tracked[8] != probes.FlagConfirmed {
		t.Errorf("matching exec not confirmed: %v", f.trk.tracked)
	}
	if len(f.trk.untracked) != 1 || f.trk.untracked[0] != 9 {
		t.Errorf("non-matching exec not dropped: %v", f.trk.untracked)
	}
	// A selected process's child is followed under its identity.
	f.p.Handle(&probes.Event{Type: probes.EventFork, TGID: 10, FD: 8})
	if f.sel.infos[10] == nil || f.trk.tracked[10] != probes.FlagConfirmed {
		t.Errorf("forked child not followed")
	}
}

// h2 frame: 9-byte header then payload.
func frame(typ, flags byte, stream uint32, payload ...byte) string {
	n := len(payload)
	h := []byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
	return string(append(h, payload...))
}

const (
	preface    = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	endStream  = 0x1
	endHeaders = 0x4
)

func TestHTTP2AfterPreface(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	// :method GET, :path /, :scheme http (static table 2, 4, 6)
	in := preface + frame(4, 0, 0) + frame(1, endHeaders|endStream, 1, 0x82, 0x84, 0x86)
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, in))
	// :status 200 (static table 8)
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 4000, frame(4, 0, 0)+frame(1, endHeaders|endStream, 1, 0x88)))
	if len(f.sink.recs) != 1 {
		t.Fatalf("%d records, want 1", len(f.sink.recs))
	}
	r := f.sink.recs[0]
	if r.Method != "GET" || r.Path != "/" || r.StatusCode != 200 || r.ProtoVersion != "2" || r.EndUnixNano-r.StartUnixNano != 3000 {
		t.Errorf("record %+v", r)
	}
	// Told even after a preface: the kernel may not have recognised it
	// (Go's h2c server reads its first line alone).
	if len(f.trk.http2) != 1 || f.trk.http2[0] != 1 {
		t.Errorf("MarkHTTP2 calls %v, want socket 1", f.trk.http2)
	}
}

// Frames on a connection first seen mid-way: the pipeline recognises them
// and asks the kernel to copy every transfer of this connection.
func TestHTTP2MidConnectionMarksKernel(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 1000, frame(1, endHeaders|endStream, 3, 0x82, 0x84, 0x86)))
	if len(f.trk.http2) != 1 || f.trk.http2[0] != 1 {
		t.Errorf("MarkHTTP2 calls %v, want socket 1", f.trk.http2)
	}
}

// Both ends of a connection between two instrumented processes of the node:
// each record names the process at the other end; a connection to anyone
// else names none, and a finished connection is forgotten. A loopback
// connection is matched only within one network namespace.
func TestRecordsNameTheLocalPeer(t *testing.T) {
	f := newFixture(7, 8, 9)
	for _, pid := range []uint32{7, 8} {
		f.sel.infos[pid].NetNS = 4026531840
	}
	f.sel.infos[9].NetNS = 4026532000                                // another pod
	f.p.Handle(connEv(7, 5, 1, "127.0.0.1:40000", "127.0.0.1:8080")) // client 7
	f.p.Handle(connEv(8, 6, 2, "127.0.0.1:8080", "127.0.0.1:40000")) // server 8
	f.p.Handle(connEv(8, 9, 3, "127.0.0.1:8080", "127.0.0.1:40001")) // from elsewhere
	f.p.Handle(connEv(9, 4, 4, "127.0.0.1:40001", "127.0.0.1:8080")) // its own 127.0.0.1:8080
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, 1000, req))
	f.p.Handle(dataEv(probes.EventDataIn, 8, 6, 2, 2000, req))
	f.p.Handle(dataEv(probes.EventDataOut, 8, 6, 2, 3000, resp))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, 4000, resp))
	f.p.Handle(dataEv(probes.EventDataIn, 8, 9, 3, 5000, req))
	f.p.Handle(dataEv(probes.EventDataOut, 8, 9, 3, 6000, resp))
	if len(f.sink.recs) != 3 {
		t.Fatalf("%d records, want 3", len(f.sink.recs))
	}
	for i, want := range []struct {
		kind record.Kind
		pid  uint32
		peer uint32
	}{{record.KindServer, 8, 7}, {record.KindClient, 7, 8}, {record.KindServer, 8, 0}} {
		r := f.sink.recs[i]
		if r.Kind != want.kind || r.PID != want.pid || r.PeerPID != want.peer {
			t.Errorf("record %d: %v of %d, peer %d; want %v of %d, peer %d", i, r.Kind, r.PID, r.PeerPID, want.kind, want.pid, want.peer)
		}
	}
	f.p.processGone(7, 9000)
	f.p.Handle(dataEv(probes.EventDataIn, 8, 6, 2, 10000, req))
	f.p.Handle(dataEv(probes.EventDataOut, 8, 6, 2, 11000, resp))
	if r := f.sink.recs[len(f.sink.recs)-1]; r.PeerPID != 0 {
		t.Errorf("after the client process left, a record still names it: peer %d", r.PeerPID)
	}
}

// Pods of one node talk across network namespaces by their own addresses:
// those endpoints are unique on the node, whatever the namespace. A
// loopback connection whose namespace is unknown is never matched.
func TestRecordsNameThePeerAcrossNamespaces(t *testing.T) {
	f := newFixture(7, 8, 10, 11)
	f.sel.infos[7].NetNS, f.sel.infos[8].NetNS = 1, 2
	f.p.Handle(connEv(7, 5, 1, "10.1.0.7:40000", "10.1.0.8:8080"))
	f.p.Handle(connEv(8, 6, 2, "10.1.0.8:8080", "10.1.0.7:40000"))
	f.p.Handle(connEv(10, 5, 3, "127.0.0.1:40000", "127.0.0.1:8080")) // namespaces unknown
	f.p.Handle(connEv(11, 6, 4, "127.0.0.1:8080", "127.0.0.1:40000"))
	for _, c := range []struct {
		cpid, spid   uint32
		csock, ssock uint64
		cfd, sfd     uint32
		wantC, wantS uint32
	}{{7, 8, 1, 2, 5, 6, 8, 7}, {10, 11, 3, 4, 5, 6, 0, 0}} {
		f.sink.recs = nil
		f.p.Handle(dataEv(probes.EventDataOut, c.cpid, c.cfd, c.csock, 1000, req))
		f.p.Handle(dataEv(probes.EventDataIn, c.spid, c.sfd, c.ssock, 2000, req))
		f.p.Handle(dataEv(probes.EventDataOut, c.spid, c.sfd, c.ssock, 3000, resp))
		f.p.Handle(dataEv(probes.EventDataIn, c.cpid, c.cfd, c.csock, 4000, resp))
		if len(f.sink.recs) != 2 || f.sink.recs[0].PeerPID != c.wantS || f.sink.recs[1].PeerPID != c.wantC {
			t.Errorf("client %d, server %d: records %d, peers %v; want server→%d, client→%d", c.cpid, c.spid,
				len(f.sink.recs), peersOf(f.sink.recs), c.wantS, c.wantC)
		}
	}
}

func peersOf(rs []record.Record) []uint32 {
	var out []uint32
	for _, r := range rs {
		out = append(out, r.PeerPID)
	}
	return out
}

// An event stamped a little after the moment Tick reads the clock (the
// monotonic→wall offset is a measurement, off by as much as a preemption
// between its two clock readings) is not "idle for 2^64 ns": its connection
// stays open. (Under load this closed busy HTTP/2 connections mid-stream,
// and their HPACK state with them.)
func TestTickLeavesConnectionsWithEventsFromTheFuture(t *testing.T) {
	f := newFixture(7)
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	ahead := uint64(ts.Nano()) + uint64(time.Second)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:80", "10.0.0.2:5555"))
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, ahead, req))
	f.p.Tick()
	if n := f.stats.OpenConns.Load(); n != 1 || f.p.conns[connKey{7, 1}] == nil {
		t.Errorf("%d open connections after Tick, want the one", n)
	}
}
