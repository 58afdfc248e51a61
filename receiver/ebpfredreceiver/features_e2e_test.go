package ebpfredreceiver

import (
	"go.opentelemetry.io/collector/component/componentstatus"

	"context"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/testserver"
)

// A feature the kernel refuses costs only that feature: with the verifier
// made to refuse the Go route probes, the receiver starts, says so in one
// warning that names the feature, the kernel's reason and what is lost,
// exports otelcol_ebpfred_feature_active{feature="go_routes"} 0 (the
// others 1), and still counts a Go server's requests exactly (without
// their ServeMux routes).
func TestRefusedFeatureKeepsCapture(t *testing.T) {
	requireRoot(t)
	srv := testserver.StartGo(t)
	core, logs := observer.New(zapcore.WarnLevel)
	reader := sdkmetric.NewManualReader()
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	set.TelemetrySettings.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	h := startReceiverWith(t, set, func(c *Config) {
		c.OpenPort = strconv.Itoa(srv.Port)
		c.refuseFeatures = []probes.Feature{probes.FeatureGoRoutes}
	})

	// Health: each pipeline's component reports the degraded feature.
	for _, host := range []*statusHost{h.tracesHost, h.metricsHost} {
		host.waitStatus(t, componentstatus.StatusRecoverableError, "running without go_routes")
	}

	var warned []string
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "go_routes") {
			warned = append(warned, e.Message)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "go_routes is off: ") ||
		!strings.Contains(warned[0], "the kernel refused its programs") || !strings.Contains(warned[0], "http.route") {
		t.Errorf("warnings about go_routes: %q; want one that names it, the verifier's reason and what is lost", warned)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "otelcol_ebpfred_feature_active" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				f, _ := dp.Attributes.Value(attribute.Key("feature"))
				got[f.AsString()] = dp.Value
			}
		}
	}
	want := map[string]int64{"capture": 1, "tls_openssl": 1, "tls_go": 1, "go_routes": 0}
	for f, v := range want {
		if g, ok := got[f]; !ok || g != v {
			t.Errorf("otelcol_ebpfred_feature_active{feature=%q} = %d (present %v), want %d; all: %v", f, g, ok, v, got)
		}
	}

	checkServerOn(t, h, srv, false)
}

// A required feature that the kernel refuses stops the start, with the
// same sentence.
func TestRequiredFeatureRefused(t *testing.T) {
	requireRoot(t)
	cfg := createDefaultConfig().(*Config)
	cfg.OpenPort = "1"
	cfg.RequiredFeatures = []string{"tls_go"}
	cfg.refuseFeatures = []probes.Feature{probes.FeatureTLSGo}
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Start(context.Background(), nil)
	if err == nil {
		r.Shutdown(context.Background())
		t.Fatal("started although a required feature was refused")
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "ebpfred cannot start: tls_go is off: ") ||
		!strings.Contains(msg, "HTTPS of Go programs") || !strings.Contains(msg, "required_features lists tls_go") {
		t.Errorf("error %q", msg)
	}
}
