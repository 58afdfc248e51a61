package ebpfredreceiver

import (
	"go.opentelemetry.io/collector/component"
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

// tlsMetrics are the TLS instrumentation counters (see selfMetric).
var tlsMetrics = []selfMetric{
	{
		name: "otelcol_ebpfred_tls_files_instrumented", unit: "{file}", stability: component.StabilityLevelAlpha,
		description: "Files (TLS libraries or executables) whose TLS functions got probes.",
		read:        func(r *ebpfReceiver) (int64, bool) { return int64(r.probes.TLSStats().FilesInstrumented.Load()), true },
	},
	{
		name: "otelcol_ebpfred_tls_files_failed", unit: "{file}", stability: component.StabilityLevelAlpha,
		description: "Files with TLS code that could not be instrumented (the reason is logged).",
		read:        func(r *ebpfReceiver) (int64, bool) { return int64(r.probes.TLSStats().FilesFailed.Load()), true },
	},
	{
		name: "otelcol_ebpfred_tls_no_socket", unit: "{transfer}", stability: component.StabilityLevelAlpha,
		description: "TLS reads/writes dropped because their socket was never seen (connections older than the probes).",
		read: func(r *ebpfReceiver) (int64, bool) {
			c, err := r.probes.Counters()
			return int64(c.TLSNoFD), err == nil
		},
	},
}

// newTLSTelemetry exports the TLS instrumentation counters.
func newTLSTelemetry(r *ebpfReceiver) (metric.Registration, error) {
	return registerSelfMetrics(r.set.TelemetrySettings.MeterProvider.Meter(metadata.ScopeName), tlsMetrics, r)
}
