package main

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// envPaths maps Beyla's variables, without their prefix, to the YAML keys
// they override. Beyla reads BEYLA_X, OBI's OTEL_EBPF_X (which wins when
// both are set), and Beyla before 1.0 read some of them unprefixed.
var envPaths = map[string]string{
	"OPEN_PORT":                        "open_port",
	"EXECUTABLE_NAME":                  "executable_name",
	"SERVICE_NAME":                     "service_name",
	"SERVICE_NAMESPACE":                "service_namespace",
	"TARGET_PID":                       "target_pids",
	"PROMETHEUS_PORT":                  "prometheus_export.port",
	"PROMETHEUS_PATH":                  "prometheus_export.path",
	"PROMETHEUS_TTL":                   "prometheus_export.ttl",
	"PROMETHEUS_FEATURES":              "prometheus_export.features",
	"PROMETHEUS_INSTRUMENTATIONS":      "prometheus_export.instrumentations",
	"METRICS_INTERVAL":                 "otel_metrics_export.interval",
	"METRICS_FEATURES":                 "otel_metrics_export.features",
	"METRICS_INSTRUMENTATIONS":         "otel_metrics_export.instrumentations",
	"METRICS_TTL":                      "otel_metrics_export.ttl",
	"METRICS_REPORT_TARGET":            "otel_metrics_export.report_target",
	"METRICS_REPORT_PEER":              "otel_metrics_export.report_peer",
	"TRACES_INSTRUMENTATIONS":          "otel_traces_export.instrumentations",
	"KUBE_METADATA_ENABLE":             "attributes.kubernetes.enable",
	"KUBE_CLUSTER_NAME":                "attributes.kubernetes.cluster_name",
	"KUBE_INFORMERS_SYNC_TIMEOUT":      "attributes.kubernetes.informers_sync_timeout",
	"BPF_CONTEXT_PROPAGATION":          "ebpf.context_propagation",
	"BPF_TRACK_REQUEST_HEADERS":        "ebpf.track_request_headers",
	"BPF_WAKEUP_LEN":                   "ebpf.wakeup_len",
	"TRACE_PRINTER":                    "trace_printer",
	"LOG_LEVEL":                        "log_level",
	"LOG_FORMAT":                       "log_format",
	"DISCOVERY_POLL_INTERVAL":          "discovery.poll_interval",
	"SKIP_GO_SPECIFIC_TRACERS":         "discovery.skip_go_specific_tracers",
	"PROFILE_PORT":                     "profile_port",
	"INTERNAL_METRICS_PROMETHEUS_PORT": "internal_metrics.prometheus.port",
	"INTERNAL_METRICS_PROMETHEUS_PATH": "internal_metrics.prometheus.path",
	"NETWORK_METRICS":                  "network.enable",
	"ENFORCE_SYS_CAPS":                 "enforce_sys_caps",
	"SHUTDOWN_TIMEOUT":                 "shutdown_timeout",
}

// legacyNames are the unprefixed variables of Beyla before 1.0 that this
// converter reads. Others are too generic (LOG_LEVEL) to be taken as
// Beyla's.
var legacyNames = []string{"OPEN_PORT", "EXECUTABLE_NAME", "SERVICE_NAME", "SERVICE_NAMESPACE",
	"PROMETHEUS_PORT", "PROMETHEUS_PATH", "METRICS_INTERVAL", "KUBE_METADATA_ENABLE", "PRINT_TRACES"}

// otelPaths maps the standard OpenTelemetry variables Beyla reads to the
// YAML keys they override. OTEL_EXPORTER_OTLP_ENDPOINT, the protocols and
// the headers have no YAML key: otlp.go reads them from envOTLP.
var otelPaths = map[string]string{
	"OTEL_SERVICE_NAME":                                        "service_name",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":                       "otel_traces_export.endpoint",
	"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT":                      "otel_metrics_export.endpoint",
	"OTEL_TRACES_SAMPLER":                                      "otel_traces_export.sampler.name",
	"OTEL_TRACES_SAMPLER_ARG":                                  "otel_traces_export.sampler.arg",
	"OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": "otel_metrics_export.histogram_aggregation",
	"GRAFANA_CLOUD_SUBMIT":                                     "grafana.otlp.cloud_submit",
	"GRAFANA_CLOUD_ZONE":                                       "grafana.otlp.cloud_zone",
	"GRAFANA_CLOUD_INSTANCE_ID":                                "grafana.otlp.cloud_instance_id",
	"GRAFANA_CLOUD_API_KEY":                                    "grafana.otlp.cloud_api_key",
}

// envOTLPNames are the variables read directly by the exporter conversion.
var envOTLPNames = []string{
	"OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
}

// environment is what the conversion reads from the variables.
type environment struct {
	otlp           map[string]string // envOTLPNames that are set
	autoTargetExe  struct{ name, glob string }
	insecure       struct{ name, value string }
	printTraces    struct{ name, value string }
	metricExportMS struct{ name, value string } // OTEL_METRIC_EXPORT_INTERVAL, in milliseconds
}

var beylaPrefix = regexp.MustCompile(`^(BEYLA_(OTEL_)?|OTEL_EBPF_)`)

// applyEnv applies Beyla's variables from env ("NAME=value", later entries
// winning) to the configuration, as Beyla does at start: a variable
// overrides the YAML key it stands for. Variables that are not Beyla's
// (PATH, HOME…) are ignored; Beyla's that have no equivalent are reported.
func (s *source) applyEnv(env []string) environment {
	vars := map[string]string{}
	var names []string
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if _, seen := vars[k]; !seen {
			names = append(names, k)
		}
		vars[k] = v
	}
	slices.Sort(names)

	e := environment{otlp: map[string]string{}}
	// Lowest precedence first: unprefixed, BEYLA_, OTEL_EBPF_, then the
	// standard variables (OTEL_SERVICE_NAME wins over BEYLA_SERVICE_NAME).
	rank := func(name string) int {
		switch {
		case otelPaths[name] != "":
			return 3
		case strings.HasPrefix(name, "OTEL_EBPF_"):
			return 2
		case strings.HasPrefix(name, "BEYLA_"):
			return 1
		}
		return 0
	}
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	setBy := map[string]string{} // YAML path → variable

	apply := func(name, path string) {
		p := strings.Split(path, ".")
		if prev, ok := setBy[path]; ok && vars[prev] != vars[name] {
			s.notes = append(s.notes, note{key: prev, text: name + " is also set and takes precedence", dropped: true})
		}
		setBy[path] = name
		s.set(p, vars[name], name)
	}
	for _, name := range names {
		value := vars[name]
		switch {
		case beylaPrefix.MatchString(name) || slices.Contains(legacyNames, name):
			canon := beylaPrefix.ReplaceAllString(name, "")
			switch {
			case canon == "AUTO_TARGET_EXE":
				e.autoTargetExe.name, e.autoTargetExe.glob = name, value
			case canon == "INSECURE_SKIP_VERIFY":
				e.insecure.name, e.insecure.value = name, value
			case canon == "PRINT_TRACES":
				e.printTraces.name, e.printTraces.value = name, value
			case envPaths[canon] != "":
				apply(name, envPaths[canon])
			default:
				s.notes = append(s.notes, note{key: name, dropped: true,
					text: "not a Beyla variable this converter knows, or one with no ebpfred equivalent"})
			}
		case name == "OTEL_GO_AUTO_TARGET_EXE":
			if e.autoTargetExe.name == "" {
				e.autoTargetExe.name, e.autoTargetExe.glob = name, value
			}
		case name == "OTEL_METRIC_EXPORT_INTERVAL":
			e.metricExportMS.name, e.metricExportMS.value = name, value
		case slices.Contains(envOTLPNames, name):
			e.otlp[name] = value
		case otelPaths[name] != "":
			// OTEL_SERVICE_NAME wins over BEYLA_SERVICE_NAME in Beyla.
			apply(name, otelPaths[name])
		case name == "KUBECONFIG":
			s.notes = append(s.notes, note{key: name, dropped: true,
				text: "Beyla would read it as attributes.kubernetes.kubeconfig_path, but in a shell it is more likely kubectl's: set kubernetes.kubeconfig_path in the receiver if the collector runs outside a pod"})
		case strings.HasPrefix(name, "OTEL_") || strings.HasPrefix(name, "GRAFANA_CLOUD_"):
			s.notes = append(s.notes, note{key: name, dropped: true,
				text: "not a variable this converter knows Beyla to read"})
		}
	}
	// Beyla's METRICS_INTERVAL wins over the SDK's variable.
	if e.metricExportMS.name != "" {
		if _, set := setBy["otel_metrics_export.interval"]; set {
			s.notes = append(s.notes, note{key: e.metricExportMS.name, dropped: true,
				text: setBy["otel_metrics_export.interval"] + " is also set and takes precedence"})
		} else if ms, err := strconv.Atoi(strings.TrimSpace(e.metricExportMS.value)); err == nil && ms > 0 {
			s.set([]string{"otel_metrics_export", "interval"}, strconv.Itoa(ms)+"ms", e.metricExportMS.name)
		} else {
			s.notes = append(s.notes, note{key: e.metricExportMS.name, dropped: true,
				text: strconv.Quote(e.metricExportMS.value) + " is not a number of milliseconds"})
		}
	}
	return e
}

// expandVars replaces ${NAME}, ${env:NAME} and ${NAME:-default} in a
// Beyla configuration file with the variable's value, as Beyla does
// before reading the file; $${…} stands for a literal ${…}. It returns the
// names it expanded.
func expandVars(content string, env []string) (string, []string) {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var expanded []string
	out := varRef.ReplaceAllStringFunc(content, func(m string) string {
		if strings.HasPrefix(m, "$$") {
			return m[1:]
		}
		sub := varRef.FindStringSubmatch(m)
		v := vars[sub[1]]
		if v == "" {
			v = sub[3]
		}
		if !slices.Contains(expanded, sub[1]) {
			expanded = append(expanded, sub[1])
		}
		return v
	})
	return out, expanded
}

var varRef = regexp.MustCompile(`\$?\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)
