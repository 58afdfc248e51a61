package main

import "strings"

// Why a Beyla key has no equivalent, by path ("[]" stands for any list
// index). A key matches its own entry, else the nearest parent's.
var reasons = map[string]string{
	"log_config":                 "prints Beyla's configuration at start; the collector has no such setting",
	"shutdown_timeout":           "Beyla's own shutdown; the collector has no such setting",
	"enforce_sys_caps":           "ebpfred always checks its privileges at start and refuses to start, in one sentence, without them",
	"channel_buffer_len":         "tunes Beyla's internal queues; ebpfred's are not configurable",
	"channel_send_timeout":       "tunes Beyla's internal queues; ebpfred's are not configurable",
	"channel_send_timeout_panic": "tunes Beyla's internal queues; ebpfred's are not configurable",
	"target_pids":                "ebpfred selects processes by port, executable path or Kubernetes metadata, not by fixed PIDs",
	"ebpf":                       "tunes Beyla's kernel programs; ebpfred's are different (its one knob is ring_buffer_size)",
	"network":                    "network flow metrics: ebpfred measures HTTP and gRPC requests only",
	"stats":                      "TCP statistics metrics: ebpfred measures HTTP and gRPC requests only",
	"filter":                     "attribute filters: ebpfred emits a fixed set of semantic-convention attributes",
	"name_resolver":              "ebpfred takes server.address from the Host/:authority header or the peer address; it does no DNS or Kubernetes name resolution",
	"grafana":                    "the Grafana Cloud shortcut: export with OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS instead (the converter turns those into an otlp_http exporter)",
	"nodejs":                     "Node.js-specific tracing: ebpfred has none",
	"javaagent":                  "Java agent injection: ebpfred injects nothing into applications",
	"injector":                   "SDK injection: ebpfred injects nothing into applications",
	"jvm_runtime_metrics":        "JVM runtime metrics: ebpfred measures HTTP and gRPC requests only",
	"processes":                  "process metrics: use the collector's hostmetrics receiver (not in this build)",
	"topology":                   "inter-cluster connection spans: ebpfred has none",
	"sigil_export":               "AI observability export: ebpfred has none",
	"health_check":               "Beyla's own health endpoint: the collector's health_check extension plays this role (distribution/config.yaml)",
	"metrics":                    "metric groups: ebpfred emits the application RED metrics and the service graph (metrics.service_graph) only; span metrics come from the collector's span_metrics connector",
	"internal_metrics":           "Beyla's internal metrics: the collector's own telemetry (service.telemetry) reports ebpfred's counters",

	"attributes":                                     "decorates Beyla's telemetry; ebpfred has no such setting",
	"attributes.instance_id":                         "ebpfred's service.instance.id is a unique id per process start, not configurable",
	"attributes.select":                              "attribute selection: ebpfred emits a fixed set of semantic-convention attributes (README, What it measures)",
	"attributes.host_id":                             "ebpfred reads host.id from the machine id; a resource processor can override it",
	"attributes.extra_group_attributes":              "ebpfred emits a fixed set of attributes",
	"attributes.rename_unresolved_hosts":             "ebpfred leaves server.address as the peer's address when no host name is known",
	"attributes.rename_unresolved_hosts_incoming":    "ebpfred leaves server.address as the peer's address when no host name is known",
	"attributes.rename_unresolved_hosts_outgoing":    "ebpfred leaves server.address as the peer's address when no host name is known",
	"attributes.metric_span_names_limit":             "span metrics are not ebpfred's (see the span_metrics connector)",
	"attributes.sensitive_query_params":              "ebpfred never reports query strings",
	"attributes.metadata_retry":                      "ebpfred's Kubernetes metadata comes from an informer that retries by itself",
	"attributes.kubernetes":                          "no equivalent in ebpfred's kubernetes section",
	"attributes.kubernetes.meta_restrict_local_node": "ebpfred always watches only the pods of its own node",
	"attributes.kubernetes.disable_informers":        "ebpfred runs one informer on its node's pods and none other",
	"attributes.kubernetes.meta_cache_address":       "ebpfred talks to the API server itself; there is no metadata cache service",
	"attributes.kubernetes.resource_labels":          "ebpfred takes service.name in a fixed order (README, Selecting processes and naming services)",
	"attributes.kubernetes.service_name_template":    "ebpfred takes service.name in a fixed order (README, Selecting processes and naming services)",

	"discovery":                                                 "no equivalent in ebpfred's discovery section",
	"discovery.survey":                                          "survey mode: ebpfred instruments what it selects and has no discovery-only mode",
	"discovery.skip_go_specific_tracers":                        "ebpfred's capture is the same for every language; its Go-specific probes are routes.from_application and Go TLS",
	"discovery.exclude_otel_instrumented_services":              "ebpfred does not look for OpenTelemetry SDKs in processes; exclude them with discovery.exclude_services",
	"discovery.exclude_otel_instrumented_services_span_metrics": "span metrics are not ebpfred's",
	"discovery.min_process_age":                                 "ebpfred selects a process at its first rescan (discovery_interval) or at exec",
	"discovery.bpf_pid_filter_off":                              "ebpfred always filters by PID in the kernel",
	"discovery.route_harvester_timeout":                         "ebpfred learns Go routes from the running router (routes.from_application), it harvests none",
	"discovery.disabled_route_harvesters":                       "ebpfred learns Go routes from the running router (routes.from_application), it harvests none",
	"discovery.route_harvester_advanced":                        "ebpfred learns Go routes from the running router (routes.from_application), it harvests none",
	"discovery.java_harvest_delay":                              "ebpfred harvests no Java routes",
	"discovery.excluded_linux_system_paths":                     "ebpfred has no such list; exclude executables with discovery.exclude_services",
	"discovery.default_otlp_grpc_port":                          "ebpfred does not look for OpenTelemetry SDKs in processes",
	"discovery.process_context_poll_interval":                   "ebpfred has no such setting",
	"discovery.services[].languages":                            "ebpfred selects by port, executable path and Kubernetes metadata, not by language",
	"discovery.services[].cmd_args":                             "ebpfred selects by executable path, not by command-line arguments",
	"discovery.services[].target_pids":                          "ebpfred selects by port, executable path and Kubernetes metadata, not by PID",
	"discovery.services[].container_name":                       "ebpfred selects containers by Kubernetes metadata (k8s_container_name) or containers_only, not by runtime container name",
	"discovery.services[].exports":                              "per-service signals: ebpfred sends every selected service to every pipeline it is in (use two receivers, ebpfred/a and ebpfred/b, for different selections)",
	"discovery.services[].sampler":                              "per-service sampling: ebpfred has one traces.sampler (use two receivers for two samplers)",
	"discovery.services[].routes":                               "per-service routes: ebpfred has one routes section",
	"discovery.services[].metrics":                              "per-service metric groups: ebpfred emits the application RED metrics only",

	"routes":                              "no equivalent in ebpfred's routes section",
	"routes.wildcard_char":                "ebpfred's heuristic always writes *",
	"routes.max_path_segment_cardinality": "ebpfred's heuristic has a fixed segment limit (20)",

	"otel_metrics_export":                                     "no equivalent for ebpfred's metrics or the otlp exporters",
	"otel_metrics_export.ttl":                                 "ebpfred drops a process's series when the process exits",
	"otel_metrics_export.exponential_histogram":               "ebpfred emits explicit-bucket histograms",
	"otel_metrics_export.reporters_cache_len":                 "tunes Beyla's exporter; the collector's exporters have their own queues",
	"otel_metrics_export.otel_sdk_log_level":                  "the collector's log level is service.telemetry.logs.level (log_level converts to it)",
	"otel_metrics_export.allow_service_graph_self_references": "ebpfred's service graph always counts a service's calls to itself",
	"otel_metrics_export.extra_span_resource_attributes":      "span metrics are not ebpfred's",
	"otel_metrics_export.buckets":                             "histograms ebpfred does not emit",

	"otel_traces_export":                     "no equivalent for ebpfred's traces or the otlp exporters",
	"otel_traces_export.batch_max_size":      "batching is the batch processor's (in the generated pipelines)",
	"otel_traces_export.queue_size":          "queueing is the exporter's sending_queue",
	"otel_traces_export.batch_timeout":       "batching is the batch processor's (in the generated pipelines)",
	"otel_traces_export.reporters_cache_len": "tunes Beyla's exporter; the collector's exporters have their own queues",
	"otel_traces_export.otel_sdk_log_level":  "the collector's log level is service.telemetry.logs.level (log_level converts to it)",

	"prometheus_export":                                     "no equivalent in the prometheus exporter",
	"prometheus_export.disable_build_info":                  "the collector exports no Beyla build info",
	"prometheus_export.service_cache_size":                  "span metrics are not ebpfred's",
	"prometheus_export.allow_service_graph_self_references": "ebpfred's service graph always counts a service's calls to itself",
	"prometheus_export.exemplar_filter":                     "ebpfred's histograms carry no exemplars",
	"prometheus_export.native_histogram":                    "ebpfred emits explicit-bucket histograms",
	"prometheus_export.extra_resource_attributes":           "the generated prometheus exporter copies every resource attribute to the series (resource_to_telemetry_conversion)",
	"prometheus_export.extra_span_resource_attributes":      "span metrics are not ebpfred's",
	"prometheus_export.buckets":                             "histograms ebpfred does not emit",
}

func init() {
	// Every discovery list has the keys of discovery.services entries.
	entry := map[string]string{}
	for k, v := range reasons {
		if rest, ok := strings.CutPrefix(k, "discovery.services[]."); ok {
			entry[rest] = v
		}
	}
	for _, list := range []string{"exclude_services", "default_exclude_services", "instrument", "exclude_instrument", "default_exclude_instrument"} {
		for k, v := range entry {
			reasons["discovery."+list+"[]."+k] = v
		}
	}
}

// reasonFor returns why the key at path (list indexes as "[]") was not
// converted.
func reasonFor(path string) string {
	for p := path; ; {
		if r, ok := reasons[p]; ok && r != "" {
			return r
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return "not a Beyla key this converter knows (misspelt, or from a Beyla version it does not know)"
}
