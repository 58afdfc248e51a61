package ebpfredreceiver

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/testserver"
)

// closedTraces is a traces pipeline that can be shut down: a call after that
// is counted (a real exporter would crash on it, as the file exporter did).
type closedTraces struct {
	consumertest.TracesSink
	closed atomic.Bool
	late   atomic.Int64
}

func (c *closedTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if c.closed.Load() {
		c.late.Add(1)
		return nil
	}
	return c.TracesSink.ConsumeTraces(ctx, td)
}

type closedMetrics struct {
	consumertest.MetricsSink
	closed atomic.Bool
	late   atomic.Int64
}

func (c *closedMetrics) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if c.closed.Load() {
		c.late.Add(1)
		return nil
	}
	return c.MetricsSink.ConsumeMetrics(ctx, md)
}

// lastCount is the http.server.request.duration count of the newest export.
func (c *closedMetrics) lastCount() uint64 {
	all := c.AllMetrics()
	if len(all) == 0 {
		return 0
	}
	md := all[len(all)-1]
	var n uint64
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Name() != "http.server.request.duration" {
					continue
				}
				dps := ms.At(k).Histogram().DataPoints()
				for d := 0; d < dps.Len(); d++ {
					n += dps.At(d).Count()
				}
			}
		}
	}
	return n
}

// TestShutdownPerSignal (issue 15): the collector shuts the pipelines'
// components down in no fixed order across pipelines, so the pipeline that
// stops first must get its pending data at its own stop, and its consumer
// must never be called again while the other pipeline keeps the probes
// running; the last one gets everything handled until the probes stop.
func TestShutdownPerSignal(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGo(t)
	batch := []testserver.Request{{Path: "/status/200"}, {Path: "/status/404"}, {Method: "POST", Path: "/status/503"}}
	for _, tracesFirst := range []bool{true, false} {
		name := "metrics-first"
		if tracesFirst {
			name = "traces-first"
		}
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.OpenPort = strconv.Itoa(srv.Port)
			cfg.DiscoveryInterval = 200 * time.Millisecond
			// The export loop keeps trying both signals while they stop.
			cfg.Metrics.Interval = 50 * time.Millisecond
			f := NewFactory()
			set := receivertest.NewNopSettings(metadata.Type)
			traces, metrics := &closedTraces{}, &closedMetrics{}
			tr, err := f.CreateTraces(context.Background(), set, cfg, traces)
			if err != nil {
				t.Fatal(err)
			}
			mr, err := f.CreateMetrics(context.Background(), set, cfg, metrics)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []component.Component{tr, mr} {
				if err := c.Start(context.Background(), nil); err != nil {
					t.Fatal(err)
				}
			}
			shut := func(c component.Component, closed *atomic.Bool) {
				if err := c.Shutdown(context.Background()); err != nil {
					t.Error(err)
				}
				closed.Store(true) // the pipeline's exporter goes away now
			}
			first, firstClosed, second, secondClosed := component.Component(mr), &metrics.closed, component.Component(tr), &traces.closed
			if tracesFirst {
				first, firstClosed, second, secondClosed = tr, &traces.closed, mr, &metrics.closed
			}
			t.Cleanup(func() { _ = tr.Shutdown(context.Background()); _ = mr.Shutdown(context.Background()) })

			testserver.Drive(t, srv.Base(), batch, false)
			waitUntil(t, "the first requests' spans", func() bool { return traces.SpanCount() >= len(batch) })
			shut(first, firstClosed)
			// Records keep flowing for the other pipeline.
			testserver.Drive(t, srv.Base(), batch, false)
			if tracesFirst {
				waitUntil(t, "the metrics of every request", func() bool { return metrics.lastCount() >= uint64(2*len(batch)) })
			} else {
				waitUntil(t, "the spans of every request", func() bool { return traces.SpanCount() >= 2*len(batch) })
			}
			time.Sleep(200 * time.Millisecond) // a few more export ticks after the first pipeline stopped
			shut(second, secondClosed)

			if n := traces.late.Load() + metrics.late.Load(); n != 0 {
				t.Errorf("%d consumer calls after their pipeline shut down (traces %d, metrics %d)", n, traces.late.Load(), metrics.late.Load())
			}
			wantSpans, wantCount := 2*len(batch), uint64(2*len(batch))
			if tracesFirst {
				wantSpans = len(batch)
			} else {
				wantCount = uint64(len(batch))
			}
			if got := traces.SpanCount(); got != wantSpans {
				t.Errorf("%d spans, want %d", got, wantSpans)
			}
			if got := metrics.lastCount(); got != wantCount {
				t.Errorf("last metrics export counts %d requests, want %d", got, wantCount)
			}
		})
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
