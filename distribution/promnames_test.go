package distribution

import (
	"net/netip"
	"os"
	"path"
	"slices"
	"testing"

	"github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/collector/googlemanagedprometheus"
	prometheustranslator "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheus"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.yaml.in/yaml/v3"

	"github.com/ebpfred/ebpfred/internal/discovery"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/protocols"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/red"
	"github.com/ebpfred/ebpfred/internal/resource"
	"github.com/ebpfred/ebpfred/internal/servicegraph"
)

// promNames is what the exporters call one OTLP metric. The prometheus
// exporter adds unit and type suffixes by default (translation_strategy
// UnderscoreEscapingWithSuffixes) and none with
// UnderscoreEscapingWithoutSuffixes (or add_metric_suffixes: false); the
// googlemanagedprometheus exporter names a Cloud Monitoring metric type the
// same way, under prometheus.googleapis.com/ and with a kind suffix
// (metric.add_metric_suffixes, on by default).
type promNames struct {
	Prom, PromBare string
	GMP, GMPBare   string
}

// wantPromNames is every metric the receiver emits, by OTLP name. A name
// or unit changed in internal/red, in the self-telemetry or in
// metadata.yaml must be changed here too, and then in the dashboard and in
// its captured metric list (scripts/capture-metrics.sh): the tests below
// fail until all agree.
var wantPromNames = map[string]promNames{
	// RED histograms (internal/red). Histogram series add _bucket, _count
	// and _sum to the Prometheus name; in Managed Prometheus, PromQL names
	// them the same way.
	"http.server.request.duration":        hist("http_server_request_duration_seconds", "http_server_request_duration"),
	"http.server.request.body.size":       hist("http_server_request_body_size_bytes", "http_server_request_body_size"),
	"http.server.response.body.size":      hist("http_server_response_body_size_bytes", "http_server_response_body_size"),
	"http.client.request.duration":        hist("http_client_request_duration_seconds", "http_client_request_duration"),
	"http.client.request.body.size":       hist("http_client_request_body_size_bytes", "http_client_request_body_size"),
	"http.client.response.body.size":      hist("http_client_response_body_size_bytes", "http_client_response_body_size"),
	"rpc.server.call.duration":            hist("rpc_server_call_duration_seconds", "rpc_server_call_duration"),
	"rpc.client.call.duration":            hist("rpc_client_call_duration_seconds", "rpc_client_call_duration"),
	"db.client.operation.duration":        hist("db_client_operation_duration_seconds", "db_client_operation_duration"),
	"messaging.client.operation.duration": hist("messaging_client_operation_duration_seconds", "messaging_client_operation_duration"),
	// Beside them, per process, once its events were dropped (overload).
	"ebpfred.requests.possibly_lost": counter("ebpfred_requests_possibly_lost"),

	// Service graph (internal/servicegraph): the names Grafana's service
	// graph queries, as the servicegraph connector writes them.
	"traces_service_graph_request_total":        totalCounter("traces_service_graph_request_total"),
	"traces_service_graph_request_failed_total": totalCounter("traces_service_graph_request_failed_total"),
	"traces_service_graph_request_server":       hist("traces_service_graph_request_server_seconds", "traces_service_graph_request_server"),
	"traces_service_graph_request_client":       hist("traces_service_graph_request_client_seconds", "traces_service_graph_request_client"),

	// Self-telemetry (telemetry.go, tls.go; metadata.yaml). The collector's
	// own /metrics endpoint shows the OTLP names as they are; these are
	// their names once the collector's telemetry is exported through one of
	// the exporters (OTLP to a gateway, then prometheus or GMP).
	"otelcol_ebpfred_connections_open":       gauge("otelcol_ebpfred_connections_open"),
	"otelcol_ebpfred_events_dropped":         counter("otelcol_ebpfred_events_dropped"),
	"otelcol_ebpfred_events_read":            counter("otelcol_ebpfred_events_read"),
	"otelcol_ebpfred_feature_active":         gauge("otelcol_ebpfred_feature_active"),
	"otelcol_ebpfred_framing_lost":           counter("otelcol_ebpfred_framing_lost"),
	"otelcol_ebpfred_messages_truncated":     counter("otelcol_ebpfred_messages_truncated"),
	"otelcol_ebpfred_messages_unknown":       counter("otelcol_ebpfred_messages_unknown"),
	"otelcol_ebpfred_kernel_map_capacity":    gauge("otelcol_ebpfred_kernel_map_capacity"),
	"otelcol_ebpfred_kernel_map_entries":     gauge("otelcol_ebpfred_kernel_map_entries"),
	"otelcol_ebpfred_metric_overflow":        counter("otelcol_ebpfred_metric_overflow"),
	"otelcol_ebpfred_transfers_unrecognised": counter("otelcol_ebpfred_transfers_unrecognised"),
	"otelcol_ebpfred_parse_errors":           counter("otelcol_ebpfred_parse_errors"),
	"otelcol_ebpfred_processes_tracked":      gauge("otelcol_ebpfred_processes_tracked"),
	"otelcol_ebpfred_requests":               counter("otelcol_ebpfred_requests"),
	"otelcol_ebpfred_requests_incomplete":    counter("otelcol_ebpfred_requests_incomplete"),
	"otelcol_ebpfred_requests_possibly_lost": counter("otelcol_ebpfred_requests_possibly_lost"),
	"otelcol_ebpfred_spans_dropped":          counter("otelcol_ebpfred_spans_dropped"),
	"otelcol_ebpfred_same_node_links":        counter("otelcol_ebpfred_same_node_links"),
	"otelcol_ebpfred_service_graph_dropped":  counter("otelcol_ebpfred_service_graph_dropped"),
	"otelcol_ebpfred_client_spans_linked":    counter("otelcol_ebpfred_client_spans_linked"),
	"otelcol_ebpfred_client_spans_unlinked":  counter("otelcol_ebpfred_client_spans_unlinked"),
	"otelcol_ebpfred_tls_files_failed":       counter("otelcol_ebpfred_tls_files_failed"),
	"otelcol_ebpfred_tls_files_instrumented": counter("otelcol_ebpfred_tls_files_instrumented"),
	"otelcol_ebpfred_tls_no_socket":          counter("otelcol_ebpfred_tls_no_socket"),
}

const gmpPrefix = "prometheus.googleapis.com"

func hist(prom, bare string) promNames {
	return promNames{prom, bare, gmpPrefix + "/" + prom + "/histogram", gmpPrefix + "/" + bare + "/histogram"}
}

// counter: units in braces ({event}) are annotations and add no suffix.
func counter(name string) promNames {
	return promNames{name + "_total", name, gmpPrefix + "/" + name + "_total/counter", gmpPrefix + "/" + name + "/counter"}
}

// totalCounter: a counter whose OTLP name already ends in _total keeps it,
// suffixes or not.
func totalCounter(name string) promNames {
	return promNames{name, name, gmpPrefix + "/" + name + "/counter", gmpPrefix + "/" + name + "/counter"}
}

func gauge(name string) promNames {
	return promNames{name, name, gmpPrefix + "/" + name + "/gauge", gmpPrefix + "/" + name + "/gauge"}
}

// exporterLabels are the labels the prometheus exporter adds to every
// series of a metric: job and instance from the resource, and the
// instrumentation scope.
var exporterLabels = []string{"instance", "job", "otel_scope_name", "otel_scope_schema_url", "otel_scope_version"}

// emitted is one metric the receiver emits, with the union of the
// attribute keys of its points.
type emitted struct {
	metric pmetric.Metric // name, unit and type
	attrs  []string
}

// redMetrics runs the real RED aggregator with every optional attribute
// turned on and one overflow per family, and returns what it emits and the
// resource attribute keys of an instrumented process.
func redMetrics(t *testing.T) (map[string]emitted, []string) {
	t.Helper()
	agg := red.New(red.Config{
		DurationBuckets: []float64{0.1, 1}, SizeBuckets: []float64{100, 1000},
		ReportTarget: true, ReportPeer: true, ReportServerPort: true, HostName: "node-1",
		// One series per family, then the overflow series.
		MaxSeriesPerService: 2,
	}, 1)
	info := &process.Info{
		PID: 42, ServiceName: "checkout", ServiceNamespace: "shop", InstanceID: "inst-42",
		ExecutableName: "checkout", ExecutablePath: "/usr/bin/checkout", Command: "checkout",
		Extra: map[string]string{},
	}
	for _, k := range []string{discovery.AttrHostID, discovery.AttrContainerID, discovery.AttrK8sNamespaceName,
		discovery.AttrK8sPodName, discovery.AttrK8sPodUID, discovery.AttrK8sContainerName, discovery.AttrK8sNodeName,
		discovery.AttrK8sDeploymentName, discovery.AttrK8sReplicaSetName, discovery.AttrK8sStatefulSetName,
		discovery.AttrK8sDaemonSetName, discovery.AttrK8sJobName, discovery.AttrK8sCronJobName} {
		info.Extra[k] = "x"
	}
	for _, kind := range []record.Kind{record.KindServer, record.KindClient} {
		for _, conv := range protocols.Conventions() {
			for _, method := range []string{"POST", "GET"} { // the second one overflows
				agg.Add(&record.Record{
					Kind: kind, Conv: conv, PID: 42,
					StartUnixNano: 10, EndUnixNano: 20,
					Method: method, Path: "/shop.Cart/Add", Route: "/shop.Cart/Add", Scheme: "http", ProtoVersion: "2",
					Host: "cart", HostPort: 9000, StatusCode: 503,
					RequestBodySize: 10, ResponseBodySize: 20,
					Local:     netip.MustParseAddrPort("10.0.0.1:9000"),
					Peer:      netip.MustParseAddrPort("10.0.0.2:51000"),
					RPCMethod: "shop.Cart/" + method, RPCStatusCode: 13,
					// an operation messaging knows, so that its type is set
					Operation: map[string]string{"POST": "send", "GET": "poll"}[method],
					Target:    "carts", Namespace: "shop", Summary: method + " carts",
					Status: "40001",
				}, info)
			}
		}
	}
	agg.AddLost(info, 1)
	md := agg.Collect(30)
	if md.ResourceMetrics().Len() != 1 {
		t.Fatalf("%d resources, want 1", md.ResourceMetrics().Len())
	}
	rm := md.ResourceMetrics().At(0)
	var resAttrs []string
	for k := range rm.Resource().Attributes().All() {
		resAttrs = append(resAttrs, k)
	}
	out := map[string]emitted{}
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			e := emitted{metric: m}
			if m.Type() == pmetric.MetricTypeSum { // possibly_lost: no attributes
				out[m.Name()] = e
				continue
			}
			for _, dp := range m.Histogram().DataPoints().All() {
				for k := range dp.Attributes().All() {
					if !slices.Contains(e.attrs, k) {
						e.attrs = append(e.attrs, k)
					}
				}
			}
			slices.Sort(e.attrs)
			out[m.Name()] = e
		}
	}
	for name, e := range out {
		if e.metric.Type() == pmetric.MetricTypeHistogram && !slices.Contains(e.attrs, red.AttrOTelMetricOverflow) {
			t.Fatalf("%s has no overflow series: the aggregator's cap did not apply, so its attribute list is incomplete", name)
		}
	}
	return out, resAttrs
}

// graphMetrics runs the real service graph over a request between two
// instrumented services and one from an unknown caller, and returns what it
// emits.
func graphMetrics(t *testing.T) map[string]emitted {
	t.Helper()
	g := servicegraph.New(1, "node-1")
	a, b := &process.Info{PID: 1, ServiceName: "a"}, &process.Info{PID: 2, ServiceName: "b"}
	conv := protocols.Conventions()[0]
	for _, kind := range []record.Kind{record.KindClient, record.KindServer} {
		r := &record.Record{Kind: kind, Conv: conv, StartUnixNano: 10, EndUnixNano: 20, Method: "GET", StatusCode: 503,
			Peer: netip.MustParseAddrPort("10.0.0.2:80")}
		if kind == record.KindClient {
			g.Add(r, a, b)
		} else {
			g.Add(r, b, nil)
		}
	}
	md := pmetric.NewMetrics()
	g.AppendTo(md, 30)
	out := map[string]emitted{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				e := emitted{metric: m}
				attrs := func(a pcommon.Map) {
					for k := range a.All() {
						if !slices.Contains(e.attrs, k) {
							e.attrs = append(e.attrs, k)
						}
					}
				}
				if m.Type() == pmetric.MetricTypeSum {
					for _, dp := range m.Sum().DataPoints().All() {
						attrs(dp.Attributes())
					}
				} else {
					for _, dp := range m.Histogram().DataPoints().All() {
						attrs(dp.Attributes())
					}
				}
				slices.Sort(e.attrs)
				out[m.Name()] = e
			}
		}
	}
	if len(out) != 4 {
		t.Fatalf("the service graph emitted %d metrics, want 4", len(out))
	}
	return out
}

// selfTelemetryMetrics returns the receiver's own metrics as metadata.yaml
// describes them (receiver/ebpfredreceiver/metadata_test.go holds the code
// to metadata.yaml); they carry no attributes.
func selfTelemetryMetrics(t *testing.T) map[string]emitted {
	t.Helper()
	raw, err := os.ReadFile("../metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Telemetry struct {
			Metrics map[string]struct {
				Unit  string                    `yaml:"unit"`
				Sum   *struct{ Monotonic bool } `yaml:"sum"`
				Gauge *struct{}                 `yaml:"gauge"`
			} `yaml:"metrics"`
		} `yaml:"telemetry"`
	}
	if err := yaml.Unmarshal(raw, &md); err != nil {
		t.Fatal(err)
	}
	out := map[string]emitted{}
	for key, def := range md.Telemetry.Metrics {
		m := pmetric.NewMetric()
		m.SetName("otelcol_" + key)
		m.SetUnit(def.Unit)
		switch {
		case def.Sum != nil:
			m.SetEmptySum().SetIsMonotonic(def.Sum.Monotonic)
		case def.Gauge != nil:
			m.SetEmptyGauge()
		default:
			t.Fatalf("metadata.yaml %s: neither sum nor gauge", key)
		}
		out[m.Name()] = emitted{metric: m}
	}
	return out
}

// translatorMetric is what the prometheus and googlemanagedprometheus
// exporters hand otlptranslator for m, as prometheusremotewrite's
// TranslatorMetricFromOtelMetric (prometheus v0.313.2) builds it. That
// package is not imported: it would bring the remote-write clients (AWS,
// Azure and Google SDKs) into go.mod for three lines. Contrib's
// translator, which reads the pmetric type itself, must agree with the
// result (promName), which checks this mapping too.
func translatorMetric(m pmetric.Metric) otlptranslator.Metric {
	tm := otlptranslator.Metric{Name: m.Name(), Unit: m.Unit(), Type: otlptranslator.MetricTypeUnknown}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		tm.Type = otlptranslator.MetricTypeGauge
	case pmetric.MetricTypeSum:
		tm.Type = otlptranslator.MetricTypeNonMonotonicCounter
		if m.Sum().IsMonotonic() {
			tm.Type = otlptranslator.MetricTypeMonotonicCounter
		}
	case pmetric.MetricTypeHistogram:
		tm.Type = otlptranslator.MetricTypeHistogram
	}
	return tm
}

// promName is the name the prometheus exporter gives m. The exporter
// builds it with prometheus/otlptranslator; contrib's translator must say
// the same.
func promName(t *testing.T, m pmetric.Metric, suffixes bool) string {
	t.Helper()
	namer := otlptranslator.MetricNamer{WithMetricSuffixes: suffixes}
	got, err := namer.Build(translatorMetric(m))
	if err != nil {
		t.Fatalf("%s: %v", m.Name(), err)
	}
	if contrib := prometheustranslator.BuildCompliantName(m, "", suffixes); contrib != got {
		t.Errorf("%s (suffixes %v): pkg/translator/prometheus says %s, the exporters' otlptranslator %s", m.Name(), suffixes, contrib, got)
	}
	return got
}

// gmpName is the Cloud Monitoring metric type the googlemanagedprometheus
// exporter writes m to.
func gmpName(t *testing.T, m pmetric.Metric, suffixes bool) string {
	t.Helper()
	compliant := promName(t, m, suffixes)
	name, err := googlemanagedprometheus.GetMetricName(m.Name(), compliant, m)
	if err != nil {
		t.Fatalf("%s: %v", m.Name(), err)
	}
	return path.Join(gmpPrefix, name)
}

// labelName is the label the exporters make of an attribute key.
func labelName(t *testing.T, key string) string {
	t.Helper()
	namer := otlptranslator.LabelNamer{PreserveMultipleUnderscores: !prometheustranslator.DropSanitizationGate.IsEnabled()}
	got, err := namer.Build(key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if contrib := prometheustranslator.NormalizeLabel(key); contrib != got {
		t.Errorf("attribute %s: pkg/translator/prometheus says %s, the exporters' otlptranslator %s", key, contrib, got)
	}
	return got
}

// TestPrometheusNames runs every metric and attribute the receiver emits
// through the translators and checks the names against wantPromNames, and
// that no two names collide, with or without suffixes, in either exporter.
func TestPrometheusNames(t *testing.T) {
	redMs, resAttrs := redMetrics(t)
	all := selfTelemetryMetrics(t)
	for name, e := range redMs {
		all[name] = e
	}
	graphMs := graphMetrics(t)
	for name, e := range graphMs {
		all[name] = e
	}

	for name, e := range all {
		want, ok := wantPromNames[name]
		if !ok {
			t.Errorf("the receiver emits %s (unit %q), which wantPromNames does not list", name, e.metric.Unit())
			continue
		}
		got := promNames{
			Prom: promName(t, e.metric, true), PromBare: promName(t, e.metric, false),
			GMP: gmpName(t, e.metric, true), GMPBare: gmpName(t, e.metric, false),
		}
		if got != want {
			t.Errorf("%s:\n translated %+v\n want       %+v", name, got, want)
		}
	}
	for name := range wantPromNames {
		if _, ok := all[name]; !ok {
			t.Errorf("wantPromNames lists %s, which the receiver does not emit", name)
		}
	}

	// Series names: no two metrics may end up with the same one, which
	// Prometheus would merge or refuse. Histograms take three names each.
	for _, suffixes := range []bool{true, false} {
		owner := map[string]string{"target_info": "the resource"}
		for name, e := range all {
			base := promName(t, e.metric, suffixes)
			series := []string{base}
			if e.metric.Type() == pmetric.MetricTypeHistogram {
				series = []string{base + "_bucket", base + "_count", base + "_sum"}
			}
			for _, s := range series {
				if o, taken := owner[s]; taken {
					t.Errorf("suffixes %v: %s and %s both become the series %s", suffixes, o, name, s)
				}
				owner[s] = name
			}
		}
		gmp := map[string]string{}
		for name, e := range all {
			g := gmpName(t, e.metric, suffixes)
			if o, taken := gmp[g]; taken {
				t.Errorf("suffixes %v: %s and %s both become the Managed Prometheus metric %s", suffixes, o, name, g)
			}
			gmp[g] = name
		}
	}

	// Labels: within a series, no two attributes may become the same label,
	// nor take one the exporter sets itself.
	for name, e := range redMs {
		checkLabels(t, name, e.attrs, append(slices.Clone(exporterLabels), "le"))
	}
	for name, e := range graphMs {
		checkLabels(t, name, e.attrs, append(slices.Clone(exporterLabels), "le"))
		if want := []string{"client", "connection_type", "server"}; !slices.Equal(e.attrs, want) {
			t.Errorf("%s labels %v, want the connector's %v", name, e.attrs, want)
		}
	}
	var resLabels []string
	for _, k := range resAttrs {
		switch k {
		case resource.AttrServiceName, resource.AttrServiceNamespace, resource.AttrServiceInstanceID:
			continue // job and instance
		}
		resLabels = append(resLabels, k)
	}
	checkLabels(t, "target_info", resLabels, []string{"instance", "job"})
}

// checkLabels fails when two attribute keys, or a key and a label the
// exporter sets, become one label.
func checkLabels(t *testing.T, metric string, attrs, reserved []string) {
	t.Helper()
	seen := map[string]string{}
	for _, l := range reserved {
		seen[l] = "the exporter's own " + l
	}
	for _, a := range attrs {
		l := labelName(t, a)
		if o, taken := seen[l]; taken {
			t.Errorf("%s: attribute %s and %s both become the label %s", metric, a, o, l)
		}
		seen[l] = "attribute " + a
	}
}

// translatedSeries returns the series names the prometheus exporter (with
// its default suffixes) gives the RED metrics and target_info, each with
// the labels it can carry: what a dashboard may query.
func translatedSeries(t *testing.T) map[string][]string {
	t.Helper()
	redMs, resAttrs := redMetrics(t)
	out := map[string][]string{}
	for _, e := range redMs {
		if e.metric.Type() != pmetric.MetricTypeHistogram {
			// ebpfred.requests.possibly_lost appears only under overload,
			// which a capture run does not cause; TestPrometheusNames
			// checks its name, and the dashboard does not query it.
			continue
		}
		base := promName(t, e.metric, true)
		labels := slices.Clone(exporterLabels)
		for _, a := range e.attrs {
			labels = append(labels, labelName(t, a))
		}
		for _, s := range []string{"_count", "_sum"} {
			out[base+s] = sortedCopy(labels)
		}
		out[base+"_bucket"] = sortedCopy(append(labels, "le"))
	}
	labels := []string{"instance", "job"}
	for _, k := range resAttrs {
		switch k {
		case resource.AttrServiceName, resource.AttrServiceNamespace, resource.AttrServiceInstanceID:
			continue
		}
		labels = append(labels, labelName(t, k))
	}
	out["target_info"] = sortedCopy(labels)
	return out
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

// TestCapturedMatchesTranslator: the metric list captured from a real run
// (dashboards/testdata/metrics.txt) has exactly the series the translator
// predicts, and only labels it predicts. A run cannot show the optional
// attributes (url.path, client.address, a server's server.port, the
// overflow), so the prediction
// may have more labels than the capture, never fewer.
func TestCapturedMatchesTranslator(t *testing.T) {
	predicted := translatedSeries(t)
	got := captured(t)
	for name, labels := range got {
		want, ok := predicted[name]
		if !ok {
			t.Errorf("%s has %s, which the translator does not predict: the receiver's names changed since the capture (re-run scripts/capture-metrics.sh) or the capture is wrong", capturedFile, name)
			continue
		}
		for _, l := range labels {
			if !slices.Contains(want, l) {
				t.Errorf("%s: %s has label %s, which the translator does not predict (it predicts %v)", capturedFile, name, l, want)
			}
		}
	}
	for name := range predicted {
		if _, ok := got[name]; !ok {
			t.Errorf("the translator predicts %s, which %s lacks: re-run scripts/capture-metrics.sh", name, capturedFile)
		}
	}
}

// allowedSeries is what the dashboard may query: the series and labels
// both the translator predicts and the captured run showed.
func allowedSeries(t *testing.T) map[string][]string {
	t.Helper()
	predicted := translatedSeries(t)
	out := map[string][]string{}
	for name, labels := range captured(t) {
		want, ok := predicted[name]
		if !ok {
			continue // TestCapturedMatchesTranslator says why
		}
		var both []string
		for _, l := range labels {
			if slices.Contains(want, l) {
				both = append(both, l)
			}
		}
		out[name] = both
	}
	if len(out) == 0 {
		t.Fatalf("no series is both predicted by the translator and in %s", capturedFile)
	}
	return out
}
