package ebpfredreceiver

import (
	"context"

	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/probes"
)

// logTLS reports, once per file, whether a selected process's TLS code
// (libssl, statically linked OpenSSL, Go crypto/tls) could be instrumented.
func (r *ebpfReceiver) logTLS(pid uint32, path, kind string, err error) {
	switch {
	case err == nil:
		r.logger().Info("ebpfred: instrumenting TLS", zap.Uint32("pid", pid), zap.String("file", path), zap.String("library", kind))
	case probes.IsNoTLS(err):
		r.logger().Debug("ebpfred: no TLS code to instrument", zap.Uint32("pid", pid), zap.String("file", path), zap.Error(err))
	default:
		r.logger().Warn("ebpfred cannot see inside this program's TLS: its HTTPS traffic will not be reported",
			zap.Uint32("pid", pid), zap.String("file", path), zap.String("library", kind), zap.Error(err))
	}
}

// newTLSTelemetry exports the TLS instrumentation counters.
func newTLSTelemetry(r *ebpfReceiver) (metric.Registration, error) {
	m := r.set.TelemetrySettings.MeterProvider.Meter(metadata.ScopeName)
	ok, err1 := m.Int64ObservableCounter("otelcol_ebpfred_tls_files_instrumented",
		metric.WithDescription("Files (TLS libraries or executables) whose TLS functions got probes."), metric.WithUnit("{file}"))
	failed, err2 := m.Int64ObservableCounter("otelcol_ebpfred_tls_files_failed",
		metric.WithDescription("Files with TLS code that could not be instrumented (the reason is logged)."), metric.WithUnit("{file}"))
	noFD, err3 := m.Int64ObservableCounter("otelcol_ebpfred_tls_no_socket",
		metric.WithDescription("TLS reads/writes dropped because their socket was never seen (connections older than the probes)."), metric.WithUnit("{transfer}"))
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return nil, err
		}
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := r.probes.TLSStats()
		o.ObserveInt64(ok, int64(s.FilesInstrumented.Load()))
		o.ObserveInt64(failed, int64(s.FilesFailed.Load()))
		if c, err := r.probes.Counters(); err == nil {
			o.ObserveInt64(noFD, int64(c.TLSNoFD))
		}
		return nil
	}, ok, failed, noFD)
}
