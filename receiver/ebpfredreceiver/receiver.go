package ebpfredreceiver

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

// ebpfReceiver is one running probe set feeding a traces and/or a metrics
// pipeline.
type ebpfReceiver struct {
	set     receiver.Settings
	cfg     *Config
	traces  consumer.Traces
	metrics consumer.Metrics
}

func newReceiver(set receiver.Settings, cfg *Config) (*ebpfReceiver, error) {
	return &ebpfReceiver{set: set, cfg: cfg}, nil
}

func (r *ebpfReceiver) Start(context.Context, component.Host) error {
	return errors.New("ebpfred: not wired yet")
}

func (r *ebpfReceiver) Shutdown(context.Context) error { return nil }
