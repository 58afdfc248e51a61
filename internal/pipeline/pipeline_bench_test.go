package pipeline

import (
	"syscall"
	"testing"

	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/protocols"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/red"
	"github.com/ebpfred/ebpfred/internal/routes"
	"github.com/ebpfred/ebpfred/internal/spans"
)

type fixedSel struct{ info *process.Info }

func (s fixedSel) Lookup(uint32) *process.Info           { return s.info }
func (s fixedSel) Evaluate(uint32, string) *process.Info { return s.info }
func (s fixedSel) Inherit(uint32, uint32) *process.Info  { return s.info }
func (s fixedSel) Forget(uint32)                         {}
func (nopTracker) Adopt(uint32) error                    { return nil }
func (nopTracker) Untrack(uint32) error                  { return nil }
func (nopTracker) CopyAll(uint64) error                  { return nil }

type nopTracker struct{}

type benchSink struct {
	agg   *red.Aggregator
	spans *spans.Builder
}

func (s *benchSink) Record(r *record.Record, p *process.Info, _ routes.Ignore) {
	if s.agg != nil {
		s.agg.Add(r, p)
	}
	if s.spans != nil {
		s.spans.Append(r, p)
	}
}
func (s *benchSink) ProcessGone(uint32) {}

// benchPipeline feeds one small keep-alive exchange (nginx-like request and
// response) per iteration, the way the reader does, and hands spans on
// every 1000 requests as the receiver's flush would.
func benchPipeline(b *testing.B, metrics, traces bool) {
	info := &process.Info{PID: 7, ServiceName: "nginx", InstanceID: "x", ExecutableName: "nginx"}
	sink := &benchSink{}
	if metrics {
		sink.agg = red.New(red.Config{DurationBuckets: []float64{0.005, 0.01, 0.1, 1}, SizeBuckets: []float64{0, 100, 1000}}, 1)
	}
	if traces {
		sink.spans = spans.NewBuilder()
	}
	p := New(sink, fixedSel{info}, nopTracker{}, &Stats{}, Options{Protocols: protocols.All})
	req := []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 21 Nov 2026 06:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
	p.Handle(&probes.Event{Type: probes.EventConn, Sock: 1, TGID: 7, FD: 5, Family: 2, LocalPort: 8080, RemotePort: 40000})
	in := probes.Event{Type: probes.EventDataIn, Sock: 1, TGID: 7, FD: 5, Len: uint32(len(req)), Payload: req, Tail: req[len(req)-8:]}
	out := probes.Event{Type: probes.EventDataOut, Sock: 1, TGID: 7, FD: 5, Len: uint32(len(resp)), Payload: resp, Tail: resp[len(resp)-8:]}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in.Mono = uint64(i) * 10000
		out.Mono = in.Mono + 5000
		p.Handle(&in)
		p.Handle(&out)
		if traces && i%1000 == 999 {
			sink.spans.Take()
		}
	}
}

func BenchmarkPipelineParseOnly(b *testing.B)    { benchPipeline(b, false, false) }
func BenchmarkPipelineMetrics(b *testing.B)      { benchPipeline(b, true, false) }
func BenchmarkPipelineMetricsSpans(b *testing.B) { benchPipeline(b, true, true) }

// BenchmarkPipelineSameNode: one request between two instrumented
// processes of the node (client 7, server 8, one keep-alive connection
// seen from both ends: four events), with metrics and spans, with and
// without same-node linking, in one run. The cost per iteration is that of
// both ends' records.
func BenchmarkPipelineSameNode(b *testing.B) {
	for _, link := range []bool{false, true} {
		b.Run(map[bool]string{false: "link=off", true: "link=on"}[link], func(b *testing.B) {
			info := &process.Info{PID: 7, ServiceName: "app", InstanceID: "x", ExecutableName: "app", NetNS: 1}
			sink := &benchSink{
				agg:   red.New(red.Config{DurationBuckets: []float64{0.005, 0.01, 0.1, 1}, SizeBuckets: []float64{0, 100, 1000}}, 1),
				spans: spans.NewBuilder(spans.WithSameNodeLinks(link)),
			}
			p := New(sink, fixedSel{info}, nopTracker{}, &Stats{}, Options{Protocols: protocols.All})
			req := []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: app\r\n\r\n")
			resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
			p.Handle(connEv(7, 5, 1, "127.0.0.1:40000", "127.0.0.1:8080"))
			p.Handle(connEv(8, 6, 2, "127.0.0.1:8080", "127.0.0.1:40000"))
			ev := func(typ probes.EventType, pid, fd uint32, sock uint64, b []byte) probes.Event {
				return probes.Event{Type: typ, Sock: sock, TGID: pid, FD: fd, Len: uint32(len(b)), Payload: b, Tail: b[len(b)-8:]}
			}
			cOut, sIn := ev(probes.EventDataOut, 7, 5, 1, req), ev(probes.EventDataIn, 8, 6, 2, req)
			sOut, cIn := ev(probes.EventDataOut, 8, 6, 2, resp), ev(probes.EventDataIn, 7, 5, 1, resp)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				t := uint64(i) * 10000
				cOut.Mono, sIn.Mono, sOut.Mono, cIn.Mono = t, t+1000, t+5000, t+6000
				p.Handle(&cOut)
				p.Handle(&sIn)
				p.Handle(&sOut)
				p.Handle(&cIn)
				if i%1000 == 999 {
					sink.spans.Take()
				}
			}
			// CPU time of the whole process (GC included): on a shared
			// machine, wall time per op mostly measures the neighbours.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			if l := sink.spans.Links(); link && l.Linked == 0 {
				b.Fatalf("nothing linked: %+v", l)
			}
		})
	}
}

// cpuTime is the CPU time the process used so far, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
