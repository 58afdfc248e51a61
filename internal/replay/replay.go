package replay

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/pipeline"
	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/protocols"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/red"
	"github.com/ebpfred/ebpfred/internal/routes"
	"github.com/ebpfred/ebpfred/internal/spans"
)

// HostName is the host.name of every replayed resource: what the recording
// machine was called does not belong in a golden file.
const HostName = "replay"

// Options are a replay's equivalents of the receiver's settings.
type Options struct {
	// DurationBuckets and SizeBuckets are the histograms' bounds; the
	// receiver's defaults when nil.
	DurationBuckets, SizeBuckets []float64
	// Routes as in the receiver's routes: block.
	Routes routes.Config
}

// Result is what a replay produced: every span (none sampled out), the
// metrics as collected once after the last event, and the pipeline's
// self-telemetry.
type Result struct {
	Traces  ptrace.Traces
	Metrics pmetric.Metrics
	Stats   *pipeline.Stats
}

// seed fixes the span and trace ids a replay draws: the same stream gives
// the same ids every time.
var seed = [32]byte{'e', 'b', 'p', 'f', 'r', 'e', 'd', ' ', 'r', 'e', 'p', 'l', 'a', 'y'}

// Run feeds the events, in order, through the pipeline (every protocol
// enabled), the span builder and the RED aggregator, as the receiver does,
// then ends every connection as if the stream stopped there.
func Run(h Header, evs []probes.Event, opt Options) (*Result, error) {
	if len(evs) == 0 {
		return nil, fmt.Errorf("replay: no events")
	}
	if opt.DurationBuckets == nil {
		opt.DurationBuckets = red.DefaultDurationBuckets
	}
	if opt.SizeBuckets == nil {
		opt.SizeBuckets = red.DefaultSizeBuckets
	}
	router, err := routes.New(opt.Routes)
	if err != nil {
		return nil, err
	}
	protos, err := protocols.Select(nil)
	if err != nil {
		return nil, err
	}
	start := evs[0].Mono + h.WallOffset
	end := start
	for i := range evs {
		end = max(end, evs[i].Mono+h.WallOffset)
	}
	s := &sink{
		agg: red.New(red.Config{DurationBuckets: opt.DurationBuckets, SizeBuckets: opt.SizeBuckets,
			HostName: HostName}, start),
		spans: spans.NewBuilder(spans.WithHostName(HostName), spans.WithSeed(seed)),
	}
	sel := newSelection(h)
	st := &pipeline.Stats{}
	p := pipeline.New(s, sel, tracker{}, st, pipeline.Options{Protocols: protos, Router: router,
		WallOffset: h.WallOffset})
	for i := range evs {
		p.Handle(&evs[i])
	}
	p.Finish()
	td, _ := s.spans.Take()
	return &Result{Traces: td, Metrics: s.agg.Collect(end), Stats: st}, nil
}

// sink does what the receiver's Record does, for every record.
type sink struct {
	agg   *red.Aggregator
	spans *spans.Builder
}

func (s *sink) Record(r *record.Record, p *process.Info, ign routes.Ignore) {
	if !ign.Metrics() {
		s.agg.Add(r, p)
	}
	if !ign.Traces() {
		s.spans.Append(r, p)
	}
}

func (s *sink) ProcessGone(pid uint32) { s.agg.Forget(pid) }

// selection is discovery as it was while recording: the header's
// processes, and their children (forks) under their parent's identity.
type selection struct {
	infos map[uint32]*process.Info
}

func newSelection(h Header) *selection {
	s := &selection{infos: map[uint32]*process.Info{}}
	for _, p := range h.Processes {
		s.infos[p.PID] = &process.Info{PID: p.PID, ServiceName: p.ServiceName,
			ExecutableName: p.ExecutableName, InstanceID: fmt.Sprintf("replay-%d", p.PID)}
	}
	return s
}

func (s *selection) Lookup(pid uint32) *process.Info             { return s.infos[pid] }
func (s *selection) Evaluate(pid uint32, _ string) *process.Info { return s.infos[pid] }
func (s *selection) Forget(uint32)                               {}

func (s *selection) Inherit(child, parent uint32) *process.Info {
	p := s.infos[parent]
	if p == nil {
		return nil
	}
	c := *p
	c.PID = child
	s.infos[child] = &c
	return &c
}

// tracker stands in for the probes: a replay steers no kernel.
type tracker struct{}

func (tracker) Adopt(uint32) error   { return nil }
func (tracker) Untrack(uint32) error { return nil }
func (tracker) CopyAll(uint64) error { return nil }
