package spans

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
)

var (
	procA = &process.Info{PID: 10, ServiceName: "a"}
	procB = &process.Info{PID: 20, ServiceName: "b"}
)

// exchange returns the CLIENT record of process 10 and the SERVER record of
// process 20 for one request on connection 127.0.0.1:port → :8080, the
// client's lasting from start to end (µs after t0) and the server's from
// sStart to sEnd.
func exchange(port uint16, path string, start, sStart, sEnd, end uint64) (c, s *record.Record) {
	cli := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	srv := netip.MustParseAddrPort("127.0.0.1:8080")
	base := func(kind record.Kind) *record.Record {
		return httpRecord(kind, func(r *record.Record) {
			r.Path = path
			r.Route = fmt.Sprint(port) // tells exchanges apart in spans
			r.Local, r.Peer = srv, cli
			r.PID, r.PeerPID = 20, 10
			if kind == record.KindClient {
				r.Local, r.Peer = cli, srv
				r.PID, r.PeerPID = 10, 20
			}
		})
	}
	c, s = base(record.KindClient), base(record.KindServer)
	c.StartUnixNano, c.EndUnixNano = t0+start*1000, t0+end*1000
	s.StartUnixNano, s.EndUnixNano = t0+sStart*1000, t0+sEnd*1000
	return c, s
}

// k0 names the exchange on port 40000 in byKind's maps.
const k0 = "40000"

type gotSpan struct {
	kind       ptrace.SpanKind
	path       string
	trace      pcommon.TraceID
	id, parent pcommon.SpanID
	start, end uint64
	flags      uint32
}

func takeSpans(t *testing.T, b *Builder, all bool) []gotSpan {
	t.Helper()
	var td ptrace.Traces
	if all {
		td, _ = b.TakeAll()
	} else {
		td, _ = b.Take()
	}
	var out []gotSpan
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		ss := td.ResourceSpans().At(i).ScopeSpans().At(0).Spans()
		for j := 0; j < ss.Len(); j++ {
			s := ss.At(j)
			p, _ := s.Attributes().Get("http.route")
			out = append(out, gotSpan{s.Kind(), p.Str(), s.TraceID(), s.SpanID(), s.ParentSpanID(),
				uint64(s.StartTimestamp()), uint64(s.EndTimestamp()), s.Flags()})
		}
	}
	return out
}

// byKind splits spans into CLIENT and SERVER spans by exchange (the
// client's port).
func byKind(spans []gotSpan) (clients, servers map[string]gotSpan) {
	clients, servers = map[string]gotSpan{}, map[string]gotSpan{}
	for _, s := range spans {
		if s.kind == ptrace.SpanKindClient {
			clients[s.path] = s
		} else {
			servers[s.path] = s
		}
	}
	return clients, servers
}

func checkLinked(t *testing.T, c, s gotSpan) {
	t.Helper()
	if s.trace != c.trace || s.parent != c.id || c.id.IsEmpty() {
		t.Errorf("SERVER %s: trace %v parent %v; want CLIENT's trace %v and span %v", s.path, s.trace, s.parent, c.trace, c.id)
	}
	if s.start < c.start || s.end > c.end {
		t.Errorf("SERVER %s [%d, %d] is not inside its CLIENT [%d, %d]", s.path, s.start-t0, s.end-t0, c.start-t0, c.end-t0)
	}
	if s.flags&(flagContextHasRemote|flagContextIsRemote) != flagContextHasRemote|flagContextIsRemote || s.flags&flagSampled == 0 {
		t.Errorf("SERVER %s flags %#x: want a sampled, remote parent", s.path, s.flags)
	}
}

func checkUnlinked(t *testing.T, c, s gotSpan) {
	t.Helper()
	if s.trace == c.trace || s.parent == c.id {
		t.Errorf("SERVER %s was linked to CLIENT (trace %v parent %v)", s.path, s.trace, s.parent)
	}
}

// Either record can arrive first; the later one finds the earlier. Each
// end's time is read when its system call returns, so the server can
// appear to start before its client and end after it: the link keeps the
// child inside its parent by correcting the late reading.
func TestSameNodeLink(t *testing.T) {
	for _, serverFirst := range []bool{true, false} {
		t.Run(fmt.Sprint("server first ", serverFirst), func(t *testing.T) {
			b := NewBuilder(WithSameNodeLinks(true))
			c, s := exchange(40000, "/x", 100, 95, 900, 897)
			first, second := c, s
			firstP, secondP := procA, procB
			if serverFirst {
				first, second, firstP, secondP = s, c, procB, procA
			}
			b.Append(first, firstP)
			if got := takeSpans(t, b, false); len(got) != 0 || b.Waiting() != 1 {
				t.Fatalf("before its other end: %d spans out, %d waiting; want 0 and 1", len(got), b.Waiting())
			}
			b.Append(second, secondP)
			got := takeSpans(t, b, false)
			if len(got) != 2 {
				t.Fatalf("%d spans, want 2", len(got))
			}
			cs, ss := byKind(got)
			checkLinked(t, cs[k0], ss[k0])
			if cs[k0].start != t0+95_000 || ss[k0].end != t0+897_000 {
				t.Errorf("client starts at %d, server ends at %d; want the server's read (95000) and the client's read (897000)",
					cs[k0].start-t0, ss[k0].end-t0)
			}
			if cs[k0].end != t0+897_000 || ss[k0].start != t0+95_000 {
				t.Errorf("the exact readings moved: client end %d, server start %d", cs[k0].end-t0, ss[k0].start-t0)
			}
			if l := b.Links(); l != (LinkStats{Linked: 1}) {
				t.Errorf("stats %+v", l)
			}
		})
	}
}

// Keep-alive: records of several exchanges of one connection wait at once;
// each client finds the one server span inside it.
func TestSameNodeLinkKeepAlive(t *testing.T) {
	b := NewBuilder(WithSameNodeLinks(true))
	c1, s1 := exchange(40000, "/x", 100, 110, 200, 210)
	c2, s2 := exchange(40000, "/x", 300, 310, 400, 410)
	c3, s3 := exchange(40000, "/x", 5300, 5310, 5400, 5410)
	b.Append(s1, procB)
	b.Append(s2, procB)
	b.Append(c2, procA)
	b.Append(c1, procA)
	b.Append(c3, procA)
	b.Append(s3, procB)
	got := takeSpans(t, b, false)
	if len(got) != 6 || b.Waiting() != 0 {
		t.Fatalf("%d spans, %d waiting; want 6 and 0", len(got), b.Waiting())
	}
	servers := map[uint64]gotSpan{}
	clients := map[uint64]gotSpan{}
	for _, s := range got {
		if s.kind == ptrace.SpanKindServer {
			servers[(s.start-t0)/1000] = s
		} else {
			clients[(s.start-t0)/1000] = s
		}
	}
	for _, p := range [][2]uint64{{100, 110}, {300, 310}, {5300, 5310}} {
		checkLinked(t, clients[p[0]], servers[p[1]])
	}
}

// Never a wrong parent: two server spans that both fit one client span, or
// a different stream, method, path or status, or a server span that is not
// inside the client's, leave the spans unlinked.
func TestSameNodeNoLinkWhenUncertain(t *testing.T) {
	cases := []struct {
		name string
		mod  func(c, s *record.Record)
	}{
		{"other stream", func(c, s *record.Record) { c.StreamID, s.StreamID = 1, 3 }},
		{"another process's end", func(c, s *record.Record) { s.PID = 30 }},
		{"other method", func(c, s *record.Record) { s.Method = "POST" }},
		{"other path", func(c, s *record.Record) { s.Path = "/y" }},
		{"other status", func(c, s *record.Record) { s.StatusCode = 500 }},
		{"no response", func(c, s *record.Record) { c.StatusCode, s.StatusCode = 0, 0 }},
		{"server after client", func(c, s *record.Record) {
			s.StartUnixNano, s.EndUnixNano = c.EndUnixNano+uint64(time.Millisecond), c.EndUnixNano+uint64(3*time.Millisecond)
		}},
		{"server much longer", func(c, s *record.Record) { s.EndUnixNano = c.EndUnixNano + uint64(10*time.Millisecond) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(WithSameNodeLinks(true))
			c, s := exchange(40000, "/x", 100, 110, 200, 210)
			tc.mod(c, s)
			b.Append(s, procB)
			b.Append(c, procA)
			if b.Waiting() != 2 {
				t.Errorf("%d waiting, want both", b.Waiting())
			}
			got := takeSpans(t, b, true)
			if len(got) != 2 {
				t.Fatalf("%d spans, want 2", len(got))
			}
			cl, sv := got[0], got[1]
			if cl.kind != ptrace.SpanKindClient {
				cl, sv = sv, cl
			}
			checkUnlinked(t, cl, sv)
			if l := b.Links(); l.Linked != 0 || l.Unmatched != 2 {
				t.Errorf("stats %+v", l)
			}
		})
	}
	t.Run("two candidates", func(t *testing.T) {
		b := NewBuilder(WithSameNodeLinks(true))
		c, s1 := exchange(40000, "/x", 100, 110, 200, 210)
		_, s2 := exchange(40000, "/x", 100, 120, 190, 210)
		b.Append(s1, procB)
		b.Append(s2, procB)
		b.Append(c, procA)
		got := takeSpans(t, b, true)
		if len(got) != 3 {
			t.Fatalf("%d spans, want 3", len(got))
		}
		for _, s := range got {
			if !s.parent.IsEmpty() {
				t.Errorf("%v span got parent %v", s.kind, s.parent)
			}
		}
		if l := b.Links(); l.Ambiguous != 1 || l.Linked != 0 {
			t.Errorf("stats %+v", l)
		}
	})
}

// HTTP/2: concurrent streams of one connection with the same path and
// overlapping times are told apart by stream id.
func TestSameNodeLinkStreams(t *testing.T) {
	b := NewBuilder(WithSameNodeLinks(true))
	c1, s1 := exchange(40000, "/x", 100, 110, 400, 410)
	c3, s3 := exchange(40000, "/x", 105, 115, 395, 405)
	c1.StreamID, s1.StreamID, c3.StreamID, s3.StreamID = 1, 1, 3, 3
	s1.ResponseBodySize, c1.ResponseBodySize = 1, 1 // to tell them apart below
	b.Append(s3, procB)
	b.Append(s1, procB)
	b.Append(c1, procA)
	b.Append(c3, procA)
	got := takeSpans(t, b, false)
	if len(got) != 4 {
		t.Fatalf("%d spans, want 4", len(got))
	}
	var cl, sv [2]gotSpan
	for _, s := range got {
		i := 0
		if (s.start-t0)/1000 == 105 || (s.start-t0)/1000 == 115 {
			i = 1
		}
		if s.kind == ptrace.SpanKindClient {
			cl[i] = s
		} else {
			sv[i] = s
		}
	}
	checkLinked(t, cl[0], sv[0])
	checkLinked(t, cl[1], sv[1])
}

// Records with no instrumented peer never wait; with linking off nothing
// does.
func TestSameNodeOnlyLocalPeersWait(t *testing.T) {
	b := NewBuilder(WithSameNodeLinks(true))
	c, s := exchange(40000, "/x", 100, 110, 200, 210)
	c.PeerPID, s.PeerPID = 0, 0
	b.Append(c, procA)
	b.Append(s, procB)
	if got := takeSpans(t, b, false); len(got) != 2 {
		t.Errorf("%d spans out at once, want 2", len(got))
	}
	off := NewBuilder()
	c, s = exchange(40000, "/x", 100, 110, 200, 210)
	off.Append(s, procB)
	off.Append(c, procA)
	got := takeSpans(t, off, false)
	if len(got) != 2 {
		t.Fatalf("%d spans, want 2", len(got))
	}
	if got[0].trace == got[1].trace {
		t.Error("linked with linking off")
	}
}

// A record whose other end never comes goes on after linkWait, unlinked.
func TestSameNodeWaitIsBounded(t *testing.T) {
	b := NewBuilder(WithSameNodeLinks(true))
	now := time.Unix(1000, 0)
	b.now = func() time.Time { return now }
	takeSpans(t, b, false) // the wait counts from here
	_, s := exchange(40000, "/x", 100, 110, 200, 210)
	now = now.Add(100 * time.Millisecond)
	b.Append(s, procB)
	now = now.Add(-100 * time.Millisecond)
	now = now.Add(linkWait - time.Millisecond)
	if got := takeSpans(t, b, false); len(got) != 0 {
		t.Fatalf("%d spans before linkWait, want 0", len(got))
	}
	now = now.Add(time.Millisecond)
	got := takeSpans(t, b, false)
	if len(got) != 1 || !got[0].parent.IsEmpty() {
		t.Fatalf("after linkWait: %+v; want the server span, a root", got)
	}
	if l := b.Links(); l.Unmatched != 1 || b.Waiting() != 0 {
		t.Errorf("stats %+v, %d waiting", l, b.Waiting())
	}
}

// Propagation already chose ids: a link never contradicts them.
func TestSameNodeLinkWithKernelIDs(t *testing.T) {
	kernelClient := func(c *record.Record) {
		// the CLIENT span of a thread-per-request server's handler:
		// the kernel chose its ids, under SERVER(A)
		c.TraceID, c.SpanID, c.TraceFlags = incomingTrace, [8]byte{1, 1, 1, 1, 1, 1, 1, 1}, 1
		c.HasTraceParent, c.ParentSpanID = true, [8]byte{2, 2, 2, 2, 2, 2, 2, 2}
	}
	t.Run("already linked on the wire", func(t *testing.T) {
		b := NewBuilder(WithSameNodeLinks(true))
		c, s := exchange(40000, "/x", 100, 110, 200, 210)
		kernelClient(c)
		s.HasTraceParent, s.TraceID, s.ParentSpanID, s.TraceFlags = true, c.TraceID, c.SpanID, 1
		s.SpanID = [8]byte{3, 3, 3, 3, 3, 3, 3, 3}
		b.Append(s, procB)
		b.Append(c, procA)
		cs, ss := byKind(takeSpans(t, b, false))
		checkLinked(t, cs[k0], ss[k0])
		if ss[k0].id != [8]byte{3, 3, 3, 3, 3, 3, 3, 3} || cs[k0].parent != [8]byte{2, 2, 2, 2, 2, 2, 2, 2} {
			t.Errorf("ids changed: server %v, client parent %v", ss[k0].id, cs[k0].parent)
		}
	})
	t.Run("server continued another caller", func(t *testing.T) {
		b := NewBuilder(WithSameNodeLinks(true))
		c, s := exchange(40000, "/x", 100, 110, 200, 210)
		kernelClient(c)
		withTraceParent(s) // an SDK in the client sent its own
		b.Append(s, procB)
		b.Append(c, procA)
		_, ss := byKind(takeSpans(t, b, false))
		if ss[k0].parent != incomingParent {
			t.Errorf("server parent %v, want the wire's %v", ss[k0].parent, incomingParent)
		}
		if l := b.Links(); l.Ambiguous != 1 || l.Linked != 0 {
			t.Errorf("stats %+v", l)
		}
	})
	t.Run("server ids chosen by the kernel, client a root", func(t *testing.T) {
		b := NewBuilder(WithSameNodeLinks(true))
		c, s := exchange(40000, "/x", 100, 110, 200, 210)
		s.TraceID, s.SpanID, s.TraceFlags = incomingTrace, [8]byte{3, 3, 3, 3, 3, 3, 3, 3}, 1
		b.Append(c, procA)
		b.Append(s, procB)
		cs, ss := byKind(takeSpans(t, b, false))
		checkLinked(t, cs[k0], ss[k0])
		if ss[k0].trace != incomingTrace || ss[k0].id != [8]byte{3, 3, 3, 3, 3, 3, 3, 3} || !cs[k0].parent.IsEmpty() {
			t.Errorf("server trace %v span %v, client parent %v: the client should have joined the server's trace",
				ss[k0].trace, ss[k0].id, cs[k0].parent)
		}
	})
	t.Run("both ids chosen by the kernel", func(t *testing.T) {
		b := NewBuilder(WithSameNodeLinks(true))
		c, s := exchange(40000, "/x", 100, 110, 200, 210)
		kernelClient(c)
		s.TraceID, s.SpanID, s.TraceFlags = [16]byte{9}, [8]byte{3, 3, 3, 3, 3, 3, 3, 3}, 1
		b.Append(c, procA)
		b.Append(s, procB)
		cs, ss := byKind(takeSpans(t, b, false))
		checkUnlinked(t, cs[k0], ss[k0])
	})
}

// One sampling decision per linked pair: a ratio sampler keeps or drops
// the CLIENT span and its SERVER child together.
func TestSameNodeLinkSamplesPairs(t *testing.T) {
	b := NewBuilder(WithSameNodeLinks(true), WithSampler(SamplerConfig{Name: "traceidratio", Arg: "0.5"}))
	const n = 400
	for i := 0; i < n; i++ {
		c, s := exchange(uint16(30000+i), "/x", 100, 110, 200, 210)
		b.Append(s, procB)
		b.Append(c, procA)
	}
	cs, ss := byKind(takeSpans(t, b, true))
	if len(cs) != len(ss) || len(cs) == 0 || len(cs) == n {
		t.Fatalf("%d client and %d server spans kept of %d pairs: want equal numbers, some but not all", len(cs), len(ss), n)
	}
	for p, c := range cs {
		s, ok := ss[p]
		if !ok {
			t.Errorf("%s: CLIENT kept without its SERVER", p)
			continue
		}
		checkLinked(t, c, s)
	}
}

// BenchmarkSameNodeLink: the cost of a linked request (both ends appended
// and built) against the same records with linking off, in one run.
func BenchmarkSameNodeLink(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("link=%v", on), func(b *testing.B) {
			bl := NewBuilder(WithSameNodeLinks(on))
			c, s := exchange(40000, "/x", 100, 110, 200, 210)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				bl.Append(s, procB)
				bl.Append(c, procA)
				if i%256 == 255 {
					bl.Take()
				}
			}
		})
	}
}

// BenchmarkSameNodeAppend: the reader goroutine's share (Append of both
// ends), linked against not linked, in one run.
func BenchmarkSameNodeAppend(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("link=%v", on), func(b *testing.B) {
			bl := NewBuilder(WithSameNodeLinks(on))
			c, s := exchange(40000, "/x", 100, 110, 200, 210)
			b.ReportAllocs()
			var cpu int64
			for i := 0; i < b.N; i++ {
				if i%1024 == 0 {
					cpu -= cpuTime()
				}
				bl.Append(s, procB)
				bl.Append(c, procA)
				if i%1024 == 1023 || i == b.N-1 {
					cpu += cpuTime()
					b.StopTimer()
					bl.Take()
					b.StartTimer()
				}
			}
			// process CPU time: on a shared machine wall time mostly
			// measures the neighbours
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time the process used so far, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
