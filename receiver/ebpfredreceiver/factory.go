// Package ebpfredreceiver is the ebpfred OpenTelemetry Collector receiver:
// it loads eBPF probes that watch unmodified applications' HTTP traffic and
// turns it into OTLP spans and RED metrics.
package ebpfredreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/ebpfred/ebpfred/internal/discovery"
	"github.com/ebpfred/ebpfred/internal/kube"
	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/red"
	"github.com/ebpfred/ebpfred/internal/routes"
	"github.com/ebpfred/ebpfred/internal/sharedcomponent"
)

// receivers shares one running instance (one probe set) between the traces
// and metrics pipelines of the same component ID.
var receivers = sharedcomponent.NewMap[*Config, *ebpfReceiver]()

// NewFactory returns the ebpfred receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithTraces(createTraces, metadata.TracesStability),
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

// DefaultDurationBuckets are the semconv-recommended boundaries (seconds)
// for http.server.request.duration (red.DefaultDurationBuckets).
var DefaultDurationBuckets = red.DefaultDurationBuckets

// DefaultSizeBuckets are boundaries (bytes) for body size histograms
// (red.DefaultSizeBuckets).
var DefaultSizeBuckets = red.DefaultSizeBuckets

func createDefaultConfig() component.Config {
	return &Config{
		Metrics: MetricsConfig{
			Interval:        60 * time.Second,
			DurationBuckets: append([]float64(nil), DefaultDurationBuckets...),
			SizeBuckets:     append([]float64(nil), DefaultSizeBuckets...),
			// A bill-protecting default: one process rarely needs more.
			MaxSeriesPerService: 2000,
		},
		Discovery:          discovery.ServicesConfig{DefaultExcludeServices: discovery.DefaultExcludeServices()},
		Kubernetes:         kube.DefaultConfig(),
		Routes:             routes.Config{FromApplication: true},
		RingBufferSize:     16 << 20,
		DiscoveryInterval:  time.Second,
		ContextPropagation: PropagationDisabled,
		CaptureHooks:       CaptureAuto,
	}
}

// Each pipeline gets a user of the shared instance of its own: its consumer
// is called only between its own Start and Shutdown (which flushes what is
// pending for it), whatever order the collector stops the pipelines'
// components in.

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	r, err := receivers.LoadOrStore(cfg.(*Config), func() (*ebpfReceiver, error) {
		return newReceiver(set, cfg.(*Config))
	})
	if err != nil {
		return nil, err
	}
	r.Unwrapped.traces = next
	return r.User(sharedcomponent.Hooks{Attach: r.Unwrapped.attachTraces, Detach: r.Unwrapped.detachTraces}), nil
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r, err := receivers.LoadOrStore(cfg.(*Config), func() (*ebpfReceiver, error) {
		return newReceiver(set, cfg.(*Config))
	})
	if err != nil {
		return nil, err
	}
	r.Unwrapped.metrics = next
	return r.User(sharedcomponent.Hooks{Attach: r.Unwrapped.attachMetrics, Detach: r.Unwrapped.detachMetrics}), nil
}
