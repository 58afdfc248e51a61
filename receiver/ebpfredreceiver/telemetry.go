package ebpfredreceiver

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/pipeline"
)

// selfMetric is one instrument of the receiver's own telemetry, exported
// through the collector's internal telemetry (the Prometheus endpoint on
// :8888 by default) next to ObsReport's accepted/refused spans and points.
//
// The tables below and the telemetry section of metadata.yaml describe the
// same instruments; metadata_test.go fails when they disagree. The
// instrument is registered the way mdatagen's generated builder would
// register it from metadata.yaml: the name is "otelcol_" + the key, the
// description ends with the stability level in brackets.
type selfMetric struct {
	name        string
	description string
	unit        string
	stability   component.StabilityLevel
	// gauge: a value that goes up and down (an asynchronous int gauge);
	// otherwise a monotonic asynchronous int counter.
	gauge bool
	// read returns the current value, or false when there is none to
	// report (the part of the receiver that counts it is not running).
	read func(r *ebpfReceiver) (int64, bool)
	// points, instead of read: one value per attribute set.
	points func(r *ebpfReceiver) []selfPoint
}

// selfPoint is one value of a selfMetric with attributes.
type selfPoint struct {
	value int64
	attrs attribute.Set
}

// selfMetrics are registered at every start.
var selfMetrics = []selfMetric{
	{
		name: "otelcol_ebpfred_events_read", unit: "{event}", stability: component.StabilityLevelAlpha,
		description: "Events read from the kernel ring buffer.",
		read:        func(r *ebpfReceiver) (int64, bool) { return int64(r.stats.EventsRead.Load()), true },
	},
	{
		name: "otelcol_ebpfred_events_dropped", unit: "{event}", stability: component.StabilityLevelAlpha,
		description: "Events the kernel dropped because the ring buffer was full.",
		read: func(r *ebpfReceiver) (int64, bool) {
			c, err := r.probes.Counters()
			return int64(c.Dropped), err == nil
		},
	},
	{
		name: "otelcol_ebpfred_parse_errors", unit: "{message}", stability: component.StabilityLevelAlpha,
		description: "Malformed messages skipped; label protocol.",
		points:      perProtocol(func(s *pipeline.ProtocolStats) uint64 { return s.ParseErrors.Load() }),
	},
	{
		name: "otelcol_ebpfred_transfers_unrecognised", unit: "{transfer}", stability: component.StabilityLevelAlpha,
		description: "Transfers on instrumented connections that no enabled protocol recognised, or that their protocol's parser skipped.",
		read:        func(r *ebpfReceiver) (int64, bool) { return int64(r.stats.Unrecognised.Load()), true },
	},
	{
		name: "otelcol_ebpfred_requests_incomplete", unit: "{request}", stability: component.StabilityLevelAlpha,
		description: "Requests seen only in part and not reported (no response before the connection ended, a response without its request); label protocol.",
		points:      perProtocol(func(s *pipeline.ProtocolStats) uint64 { return s.Incomplete.Load() }),
	},
	{
		name: "otelcol_ebpfred_requests", unit: "{request}", stability: component.StabilityLevelAlpha,
		description: "Requests parsed; label protocol.",
		points:      perProtocol(func(s *pipeline.ProtocolStats) uint64 { return s.Requests.Load() }),
	},
	{
		name: "otelcol_ebpfred_processes_tracked", unit: "{process}", stability: component.StabilityLevelAlpha, gauge: true,
		description: "Processes currently instrumented.",
		read:        func(r *ebpfReceiver) (int64, bool) { return int64(r.disc.Count()), true },
	},
	{
		name: "otelcol_ebpfred_connections_open", unit: "{connection}", stability: component.StabilityLevelAlpha, gauge: true,
		description: "Connections currently followed.",
		read:        func(r *ebpfReceiver) (int64, bool) { return r.stats.OpenConns.Load(), true },
	},
	{
		name: "otelcol_ebpfred_metric_overflow", unit: "{request}", stability: component.StabilityLevelAlpha,
		description: "Requests counted in an overflow series because their service reached metrics.max_series_per_service.",
		read: func(r *ebpfReceiver) (int64, bool) {
			if r.agg == nil {
				return 0, false
			}
			return int64(r.agg.Overflowed()), true
		},
	},
	{
		name: "otelcol_ebpfred_spans_dropped", unit: "{span}", stability: component.StabilityLevelAlpha,
		description: "Spans dropped because the traces pipeline did not keep up (more than 262144 waiting).",
		read: func(r *ebpfReceiver) (int64, bool) {
			if r.spans == nil {
				return 0, false
			}
			return int64(r.spans.Dropped()), true
		},
	},
	{
		name: "otelcol_ebpfred_messages_truncated", unit: "{message}", stability: component.StabilityLevelAlpha,
		description: "Messages cut by the kernel's copy limit (what lay past the cut is reported unknown); label protocol.",
		points:      perProtocol(func(s *pipeline.ProtocolStats) uint64 { return s.Truncated.Load() }),
	},
	{
		name: "otelcol_ebpfred_messages_unknown", unit: "{message}", stability: component.StabilityLevelAlpha,
		description: "Messages recognised but not understood (their compression state or statement was never seen), reported with what could not be known left out; label protocol.",
		points:      perProtocol(func(s *pipeline.ProtocolStats) uint64 { return s.Unknown.Load() }),
	},
	{
		name: "otelcol_ebpfred_framing_lost", unit: "{event}", stability: component.StabilityLevelAlpha,
		description: "Times a parser lost its message boundaries and found them again; the requests involved count as incomplete; label protocol.",
		points:      perProtocol(func(s *pipeline.ProtocolStats) uint64 { return s.Desync.Load() }),
	},
	{
		name: "otelcol_ebpfred_requests_possibly_lost", unit: "{request}", stability: component.StabilityLevelAlpha,
		description: "Requests possibly missing from the metrics and spans, per service.name: the service's events that the kernel dropped because the ring buffer was full, one per event (at most 100 services, then _other).",
		points:      func(r *ebpfReceiver) []selfPoint { return r.lost.points() },
	},
	{
		name: "otelcol_ebpfred_kernel_map_entries", unit: "{entry}", stability: component.StabilityLevelAlpha, gauge: true,
		description: "Entries in each kernel hash map (label map: tracked_pids, conns, fd_socks, tls_calls, ...), counted at most every 10 s.",
		points: func(r *ebpfReceiver) []selfPoint {
			if r.probes == nil {
				return nil
			}
			return mapPoints(r.maps.get(r.probes), false)
		},
	},
	{
		name: "otelcol_ebpfred_kernel_map_capacity", unit: "{entry}", stability: component.StabilityLevelAlpha, gauge: true,
		description: "Capacity (max entries) of each kernel hash map (label map).",
		points: func(r *ebpfReceiver) []selfPoint {
			if r.probes == nil {
				return nil
			}
			return mapPoints(r.maps.get(r.probes), true)
		},
	},
	{
		name: "otelcol_ebpfred_feature_active", unit: "{feature}", stability: component.StabilityLevelAlpha, gauge: true,
		description: "1 when a requested feature runs, 0 when the kernel refused it (the reason is logged at start); label feature.",
		points: func(r *ebpfReceiver) []selfPoint {
			if r.probes == nil {
				return nil
			}
			var out []selfPoint
			for _, st := range r.probes.Features() {
				v := int64(0)
				if st.Active {
					v = 1
				}
				out = append(out, selfPoint{v, attribute.NewSet(attribute.String("feature", string(st.Feature)))})
			}
			return out
		},
	},
}

// perProtocol reads one count of every enabled protocol, labelled with the
// protocol's name.
func perProtocol(count func(*pipeline.ProtocolStats) uint64) func(*ebpfReceiver) []selfPoint {
	return func(r *ebpfReceiver) []selfPoint {
		out := make([]selfPoint, 0, len(r.stats.PerProtocol))
		for i := range r.stats.PerProtocol {
			s := &r.stats.PerProtocol[i]
			out = append(out, selfPoint{int64(count(s)), attribute.NewSet(attribute.String("protocol", s.Name))})
		}
		return out
	}
}

// selfTelemetry is the registration of selfMetrics.
type selfTelemetry struct {
	reg metric.Registration
}

func newSelfTelemetry(r *ebpfReceiver) (*selfTelemetry, error) {
	reg, err := registerSelfMetrics(r.set.TelemetrySettings.MeterProvider.Meter(metadata.ScopeName), selfMetrics, r)
	if err != nil {
		return nil, err
	}
	return &selfTelemetry{reg: reg}, nil
}

func (t *selfTelemetry) close() error { return t.reg.Unregister() }

// registerSelfMetrics creates the instruments of table on m and one
// callback that observes them all from r.
func registerSelfMetrics(m metric.Meter, table []selfMetric, r *ebpfReceiver) (metric.Registration, error) {
	insts := make([]metric.Int64Observable, len(table))
	observables := make([]metric.Observable, len(table))
	var errs []error
	for i, sm := range table {
		desc := metric.WithDescription(sm.description + " [" + sm.stability.String() + "]")
		unit := metric.WithUnit(sm.unit)
		var err error
		if sm.gauge {
			insts[i], err = m.Int64ObservableGauge(sm.name, desc, unit)
		} else {
			insts[i], err = m.Int64ObservableCounter(sm.name, desc, unit)
		}
		errs = append(errs, err)
		observables[i] = insts[i]
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for i, sm := range table {
			if sm.points != nil {
				for _, p := range sm.points(r) {
					o.ObserveInt64(insts[i], p.value, metric.WithAttributeSet(p.attrs))
				}
			} else if v, ok := sm.read(r); ok {
				o.ObserveInt64(insts[i], v)
			}
		}
		return nil
	}, observables...)
}
