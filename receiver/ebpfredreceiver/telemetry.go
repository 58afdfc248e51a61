package ebpfredreceiver

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ebpfred/ebpfred/internal/metadata"
)

// selfTelemetry exports the receiver's own counts through the collector's
// internal telemetry (the Prometheus endpoint on :8888 by default), next to
// ObsReport's accepted/refused spans and points.
type selfTelemetry struct {
	reg metric.Registration
}

func newSelfTelemetry(r *ebpfReceiver) (*selfTelemetry, error) {
	m := r.set.TelemetrySettings.MeterProvider.Meter(metadata.ScopeName)
	evRead, err1 := m.Int64ObservableCounter("otelcol_ebpfred_events_read",
		metric.WithDescription("Events read from the kernel ring buffer."), metric.WithUnit("{event}"))
	evDropped, err2 := m.Int64ObservableCounter("otelcol_ebpfred_events_dropped",
		metric.WithDescription("Events the kernel dropped because the ring buffer was full."), metric.WithUnit("{event}"))
	parseErr, err3 := m.Int64ObservableCounter("otelcol_ebpfred_parse_errors",
		metric.WithDescription("Malformed HTTP messages skipped."), metric.WithUnit("{message}"))
	nonHTTP, err4 := m.Int64ObservableCounter("otelcol_ebpfred_non_http",
		metric.WithDescription("Transfers on instrumented connections that were not HTTP, skipped."), metric.WithUnit("{transfer}"))
	incomplete, err5 := m.Int64ObservableCounter("otelcol_ebpfred_requests_incomplete",
		metric.WithDescription("Server requests that got no response before the connection ended."), metric.WithUnit("{request}"))
	records, err6 := m.Int64ObservableCounter("otelcol_ebpfred_requests",
		metric.WithDescription("Requests parsed."), metric.WithUnit("{request}"))
	procs, err7 := m.Int64ObservableGauge("otelcol_ebpfred_processes_tracked",
		metric.WithDescription("Processes currently instrumented."), metric.WithUnit("{process}"))
	conns, err8 := m.Int64ObservableGauge("otelcol_ebpfred_connections_open",
		metric.WithDescription("Connections currently followed."), metric.WithUnit("{connection}"))
	overflow, err9 := m.Int64ObservableCounter("otelcol_ebpfred_metric_overflow",
		metric.WithDescription("Requests counted in an overflow series because their service reached metrics.max_series_per_service."), metric.WithUnit("{request}"))
	spansDropped, err10 := m.Int64ObservableCounter("otelcol_ebpfred_spans_dropped",
		metric.WithDescription("Spans dropped because the traces pipeline did not keep up (more than 262144 waiting)."), metric.WithUnit("{span}"))
	h2Trunc, err11 := m.Int64ObservableCounter("otelcol_ebpfred_http2_truncated",
		metric.WithDescription("HTTP/2 header blocks cut by the copy limit (fields past the cut are reported unknown)."), metric.WithUnit("{block}"))
	h2Desync, err12 := m.Int64ObservableCounter("otelcol_ebpfred_http2_desync",
		metric.WithDescription("HTTP/2 frame boundaries lost; the parser resynchronises and counts the streams involved as incomplete."), metric.WithUnit("{event}"))
	features, err13 := m.Int64ObservableGauge("otelcol_ebpfred_feature_active",
		metric.WithDescription("1 when a requested feature runs, 0 when the kernel refused it (the reason is logged at start)."), metric.WithUnit("1"))
	for _, err := range []error{err1, err2, err3, err4, err5, err6, err7, err8, err9, err10, err11, err12, err13} {
		if err != nil {
			return nil, err
		}
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := &r.stats
		o.ObserveInt64(evRead, int64(s.EventsRead.Load()))
		if c, err := r.probes.Counters(); err == nil {
			o.ObserveInt64(evDropped, int64(c.Dropped))
		}
		o.ObserveInt64(parseErr, int64(s.ParseErrors.Load()))
		o.ObserveInt64(nonHTTP, int64(s.NonHTTP.Load()))
		o.ObserveInt64(incomplete, int64(s.Incomplete.Load()))
		o.ObserveInt64(records, int64(s.Records.Load()))
		o.ObserveInt64(procs, int64(r.disc.Count()))
		o.ObserveInt64(conns, s.OpenConns.Load())
		if r.agg != nil {
			o.ObserveInt64(overflow, int64(r.agg.Overflowed()))
		}
		if r.spans != nil {
			o.ObserveInt64(spansDropped, int64(r.spans.Dropped()))
		}
		o.ObserveInt64(h2Trunc, int64(s.H2Truncated.Load()))
		o.ObserveInt64(h2Desync, int64(s.H2Desync.Load()))
		for _, st := range r.probes.Features() {
			v := int64(0)
			if st.Active {
				v = 1
			}
			o.ObserveInt64(features, v, metric.WithAttributes(attribute.String("feature", string(st.Feature))))
		}
		return nil
	}, evRead, evDropped, parseErr, nonHTTP, incomplete, records, procs, conns, overflow, spansDropped, h2Trunc, h2Desync, features)
	if err != nil {
		return nil, err
	}
	return &selfTelemetry{reg: reg}, nil
}

func (t *selfTelemetry) close() error { return t.reg.Unregister() }
