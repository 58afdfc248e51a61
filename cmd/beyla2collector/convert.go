package main

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// result is a converted configuration: the collector's YAML and the
// report for standard error.
type result struct {
	config []byte
	notes  []note
}

// converter builds the collector configuration from a source.
type converter struct {
	s   *source
	env environment

	recv       *omap // receivers.ebpfred
	processors *omap
	exporters  *omap
	extensions *omap
	telemetry  *omap // service.telemetry

	tracesExporters, metricsExporters []string

	// topEntry is the top-level selection when it carries a service name:
	// a discovery entry.
	topEntry *omap
}

// convert turns a Beyla configuration file (or the values of Beyla's Helm
// chart, whose config.data is one) and Beyla's environment variables into
// a collector configuration. env is "NAME=value" strings; a Helm values
// file's env: block counts as environment, under the variables in env.
func convert(input []byte, env []string) (*result, error) {
	var earlyNotes []note
	text, expanded := expandVars(string(input), env)
	for _, name := range expanded {
		earlyNotes = append(earlyNotes, note{key: "${" + name + "}",
			text: "expanded from the environment now, as Beyla expands it at start; the collector configuration holds the value"})
	}
	var root map[string]any
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		return nil, fmt.Errorf("not a YAML mapping: %w", err)
	}
	if root == nil {
		root = map[string]any{}
	}
	if cfg, valuesEnv, helmNotes, ok := fromHelmValues(root); ok {
		root = cfg
		env = append(valuesEnv, env...)
		earlyNotes = append(earlyNotes, helmNotes...)
	}

	s := &source{root: root, used: map[string]bool{}, fromEnv: map[string]string{}}
	s.notes = earlyNotes
	c := &converter{
		s: s, recv: newOmap(), processors: newOmap(), exporters: newOmap(), extensions: newOmap(), telemetry: newOmap(),
	}
	c.env = s.applyEnv(env)

	c.selection()
	c.discovery()
	c.routes()
	c.kubernetes()
	c.propagation()
	c.metricsSettings()
	c.tracesSettings()
	c.prometheus()
	c.otlp()
	c.tracePrinter()
	c.collectorSettings()
	s.leftovers()

	out, err := c.render()
	if err != nil {
		return nil, err
	}
	return &result{config: out, notes: s.notes}, nil
}

// fromHelmValues recognises the values of Beyla's Helm chart: the Beyla
// configuration is config.data and env: holds variables. Every other
// chart setting is reported (the collector is deployed with its own
// chart values, distribution/helm/values.yaml).
func fromHelmValues(root map[string]any) (cfg map[string]any, env []string, notes []note, ok bool) {
	config, isMap := root["config"].(map[string]any)
	if !isMap {
		return nil, nil, nil, false
	}
	data, isMap := config["data"].(map[string]any)
	if !isMap {
		return nil, nil, nil, false
	}
	keys := make([]string, 0, len(root))
	for k := range root {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch k {
		case "config":
			for ck := range config {
				if ck != "data" {
					notes = append(notes, note{key: "config." + ck, dropped: true,
						text: "a Helm chart setting: the collector's chart values are distribution/helm/values.yaml"})
				}
			}
		case "env":
			vars, isMap := root["env"].(map[string]any)
			if !isMap {
				notes = append(notes, note{key: "env", dropped: true, text: "expected NAME: value pairs"})
				continue
			}
			names := make([]string, 0, len(vars))
			for n := range vars {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				v, _ := scalar(vars[n])
				env = append(env, n+"="+v)
			}
		case "envValueFrom":
			vars, _ := root["envValueFrom"].(map[string]any)
			names := make([]string, 0, len(vars))
			for n := range vars {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				notes = append(notes, note{key: "envValueFrom." + n, dropped: true,
					text: "read from a Secret or ConfigMap when the pod starts, so its value is unknown here: run the converter with " + n + " set, or add it to the collector's environment and refer to it as ${env:" + n + "}"})
			}
		default:
			notes = append(notes, note{key: k, dropped: true,
				text: "a Helm chart setting, not Beyla configuration: the collector's chart values are distribution/helm/values.yaml"})
		}
	}
	return data, env, notes, true
}

// selection converts the top-level selection: open_port, executable_name,
// BEYLA_AUTO_TARGET_EXE, and the service name they get.
func (c *converter) selection() {
	s := c.s
	openPort := s.ports("open_port")
	exe := s.str("executable_name")
	if g := c.env.autoTargetExe; g.name != "" && strings.TrimSpace(g.glob) != "" {
		re, err := globToRegexp(strings.TrimSpace(g.glob))
		switch {
		case err != nil:
			s.notes = append(s.notes, note{key: g.name, dropped: true, text: err.Error()})
		case exe != "":
			s.drop([]string{"executable_name"}, "%s is also set and is used instead", g.name)
			exe = re
		default:
			exe = re
		}
	}
	name, ns := s.str("service_name"), s.str("service_namespace")
	if name == "" && ns == "" {
		if openPort != "" {
			c.recv.set("open_port", openPort)
		}
		if exe != "" {
			c.recv.set("executable_name", exe)
		}
		return
	}
	if openPort == "" && exe == "" {
		for _, k := range []string{"service_name", "service_namespace"} {
			if _, ok := s.lookup([]string{k}); ok {
				s.drop([]string{k}, "names what open_port or executable_name select, and neither is set; set name/namespace on the discovery entries instead")
			}
		}
		return
	}
	// The receiver's top-level selection carries no name: the same
	// selection as a discovery entry does.
	e := newOmap()
	if name != "" {
		e.set("name", name)
	}
	if ns != "" {
		e.set("namespace", ns)
	}
	if openPort != "" {
		e.set("open_ports", openPort)
	}
	if exe != "" {
		e.set("exe_path_regexp", exe)
	}
	c.topEntry = e
}

// discovery converts discovery.services (regular expressions) and
// discovery.instrument (globs) and their exclusion lists into the
// receiver's discovery section, whose values are regular expressions.
func (c *converter) discovery() {
	s := c.s
	var include, exclude, defExclude []*omap
	if c.topEntry != nil {
		include = append(include, c.topEntry)
	}
	defSet := false
	for _, l := range []struct {
		key     string
		glob    bool
		exclude bool
		dst     *[]*omap
	}{
		{"services", false, false, &include},
		{"instrument", true, false, &include},
		{"exclude_services", false, true, &exclude},
		{"exclude_instrument", true, true, &exclude},
		{"default_exclude_services", false, true, &defExclude},
		{"default_exclude_instrument", true, true, &defExclude},
	} {
		entries, ok := s.items("discovery", l.key)
		if !ok {
			continue
		}
		if strings.HasPrefix(l.key, "default_") {
			defSet = true
		}
		if len(entries) == 0 {
			s.used["discovery."+l.key] = true
		}
		for i := range entries {
			if e := c.entry([]string{"discovery", l.key, idx(i)}, l.glob, l.exclude); e != nil {
				*l.dst = append(*l.dst, e)
			}
		}
	}
	if d, ok := s.duration("discovery", "poll_interval"); ok {
		c.recv.set("discovery_interval", d.String())
	}
	if len(include)+len(exclude) == 0 && !defSet {
		return
	}
	disc := c.recv.child("discovery")
	if len(include) > 0 {
		disc.set("services", include)
	}
	if len(exclude) > 0 {
		disc.set("exclude_services", exclude)
	}
	if defSet {
		// A list set in Beyla replaces Beyla's defaults, as
		// default_exclude_services replaces ebpfred's.
		disc.set("default_exclude_services", defExclude)
		if len(defExclude) == 0 {
			s.note([]string{"discovery"}, "default_exclude_services: [] removes ebpfred's default exclusions too (telemetry agents, Kubernetes system namespaces), as the Beyla list removed Beyla's")
		}
	}
}

// k8sKeys are the Kubernetes criteria Beyla's entries and ebpfred's share.
var k8sKeys = []string{"k8s_namespace", "k8s_pod_name", "k8s_container_name", "k8s_deployment_name", "k8s_replicaset_name",
	"k8s_statefulset_name", "k8s_daemonset_name", "k8s_job_name", "k8s_cronjob_name", "k8s_owner_name"}

// entry converts one discovery entry at p; nil when nothing of it
// converts (the entry would then select everything or nothing).
func (c *converter) entry(p []string, glob, exclude bool) *omap {
	s := c.s
	if _, ok := s.mapping(p...); !ok {
		return nil
	}
	at := func(k string) []string { return append(slices.Clone(p), k) }
	// pattern turns a Beyla value into ebpfred's regular expression.
	pattern := func(key []string, v string) (string, bool) {
		if !glob {
			return v, true
		}
		re, err := globToRegexp(v)
		if err != nil {
			s.drop(key, "%v", err)
			return "", false
		}
		return re, true
	}
	e := newOmap()
	criteria := 0
	for _, k := range []string{"name", "namespace"} {
		if v := s.str(at(k)...); v != "" {
			if exclude {
				s.drop(at(k), "an exclusion names nothing (ebpfred refuses the key there)")
				continue
			}
			e.set(k, v)
		}
	}
	if v := s.ports(at("open_ports")...); v != "" {
		e.set("open_ports", v)
		criteria++
	}
	exePath, exeRegexp := s.str(at("exe_path")...), ""
	if !glob {
		exeRegexp = s.str(at("exe_path_regexp")...)
	}
	if exePath != "" && exeRegexp != "" {
		s.drop(at("exe_path"), "exe_path_regexp is also set and is used instead")
		exePath = ""
	}
	if exePath != "" {
		if re, ok := pattern(at("exe_path"), exePath); ok {
			e.set("exe_path_regexp", re)
			criteria++
		}
	} else if exeRegexp != "" {
		e.set("exe_path_regexp", exeRegexp)
		criteria++
	}
	if b, ok := s.boolean(at("containers_only")...); ok && b {
		e.set("containers_only", true)
		criteria++
	}
	for _, k := range k8sKeys {
		if v := s.str(at(k)...); v != "" {
			if re, ok := pattern(at(k), v); ok {
				e.set(k, re)
				criteria++
			}
		}
	}
	for _, k := range []string{"k8s_pod_labels", "k8s_pod_annotations"} {
		m, ok := s.mapping(at(k)...)
		if !ok {
			continue
		}
		out := map[string]string{}
		for mk, mv := range m {
			v, isScalar := scalar(mv)
			key := append(at(k), mk)
			s.used[pathString(key)] = true
			if !isScalar {
				s.drop(key, "expected a single value, found %s", describe(mv))
				continue
			}
			if re, ok := pattern(key, v); ok {
				out[mk] = re
			}
		}
		if len(out) > 0 {
			e.set(k, out)
			criteria++
		}
	}
	if criteria == 0 {
		s.used[pathString(p)] = true
		s.drop(p, "none of its criteria has an ebpfred equivalent, and an entry without criteria is refused; the entry is left out")
		return nil
	}
	return e
}

// routes converts the routes section, whose keys ebpfred shares.
func (c *converter) routes() {
	s := c.s
	if _, ok := s.mapping("routes"); !ok {
		return
	}
	r := c.recv.child("routes")
	for _, k := range []string{"patterns", "ignored_patterns"} {
		if l, ok := s.list("routes", k); ok && len(l) > 0 {
			r.set(k, l)
		}
	}
	if m := s.str("routes", "ignore_mode"); m != "" {
		r.set("ignore_mode", m)
	}
	switch u := s.str("routes", "unmatched"); u {
	case "unset", "path", "wildcard", "heuristic":
		r.set("unmatched", u)
	case "low-cardinality":
		r.set("unmatched", "heuristic")
		s.note([]string{"routes", "unmatched"}, "low-cardinality is converted to heuristic, ebpfred's nearest (ids, numbers and random-looking segments become *)")
	case "":
		// Beyla's default; ebpfred's is unset (no http.route).
		r.set("unmatched", "heuristic")
		s.note([]string{"routes"}, "unmatched is not set: Beyla's default, heuristic, is written out (ebpfred's default is unset)")
	default:
		s.drop([]string{"routes", "unmatched"}, "%q: not a value Beyla accepts", u)
	}
}

// kubernetes converts attributes.kubernetes.
func (c *converter) kubernetes() {
	s := c.s
	k := []string{"attributes", "kubernetes"}
	if v := s.str(append(k, "enable")...); v != "" {
		switch strings.ToLower(v) {
		case "true", "false":
			c.recv.child("kubernetes").set("enable", strings.EqualFold(v, "true"))
		case "autodetect":
			c.recv.child("kubernetes").set("enable", "autodetect")
		default:
			s.drop(append(k, "enable"), "%q: Beyla accepts true, false or autodetect", v)
		}
	}
	if v := s.str(append(k, "kubeconfig_path")...); v != "" {
		c.recv.child("kubernetes").set("kubeconfig_path", v)
	}
	if d, ok := s.duration(append(k, "informers_sync_timeout")...); ok {
		c.recv.child("kubernetes").set("informers_sync_timeout", d.String())
	}
	if v := s.str(append(k, "cluster_name")...); v != "" {
		// The receiver does not know the cluster: the resource processor
		// adds it to every span and metric, as Beyla does.
		c.processors.child("resource").set("attributes", []*omap{
			newOmap().set("key", "k8s.cluster.name").set("value", v).set("action", "upsert"),
		})
	}
}

// propagation converts ebpf.context_propagation.
func (c *converter) propagation() {
	s := c.s
	p := []string{"ebpf", "context_propagation"}
	v := strings.ToLower(s.str(p...))
	if v == "" {
		return
	}
	modes := strings.Split(strings.ReplaceAll(v, " ", ""), ",")
	headers := slices.Contains(modes, "headers") || slices.Contains(modes, "all")
	other := slices.ContainsFunc(modes, func(m string) bool { return m == "tcp" || m == "ip" || m == "all" })
	switch {
	case slices.Equal(modes, []string{"disabled"}):
		c.recv.set("context_propagation", "disabled")
	case headers:
		c.recv.set("context_propagation", "headers")
		s.note(p, "headers needs CAP_NET_ADMIN in the collector's container (README, context_propagation)")
		if other {
			s.drop(p, "%q: only the headers part converts; ebpfred does not propagate in TCP options", v)
		}
	case other:
		s.drop(p, "%q: ebpfred propagates context in HTTP headers only, not in TCP options", v)
	default:
		s.drop(p, "%q: not a value Beyla accepts", v)
	}
}

// metricsSettings converts what shapes the RED metrics: interval,
// buckets, optional attributes, metric groups.
func (c *converter) metricsSettings() {
	s := c.s
	m := func() *omap { return c.recv.child("metrics") }
	if d, ok := s.duration("otel_metrics_export", "interval"); ok {
		m().set("interval", d.String())
	}
	// Buckets: the OTLP and the Prometheus exporters each have theirs in
	// Beyla; ebpfred has one set, and one size set for both body sizes.
	var dur, size []float64
	var durFrom, sizeFrom []string
	for _, sec := range []string{"otel_metrics_export", "prometheus_export"} {
		for _, h := range []struct {
			key  string
			dst  *[]float64
			from *[]string
		}{
			{"duration_histogram", &dur, &durFrom},
			{"request_size_histogram", &size, &sizeFrom},
			{"response_size_histogram", &size, &sizeFrom},
		} {
			p := []string{sec, "buckets", h.key}
			b, ok := s.floats(p...)
			if !ok {
				continue
			}
			if *h.dst != nil && !slices.Equal(*h.dst, b) {
				s.drop(p, "differs from %s; ebpfred has one set of %s boundaries", pathString(*h.from), strings.TrimSuffix(h.key, "_histogram"))
				continue
			}
			*h.dst, *h.from = b, p
		}
	}
	if dur != nil {
		m().set("duration_buckets", dur)
	}
	if size != nil {
		m().set("size_buckets", size)
	}
	// Beyla 1.x: url.path and client.address on metrics.
	for _, k := range []string{"report_target", "report_peer"} {
		for _, sec := range []string{"otel_metrics_export", "prometheus_export"} {
			if b, ok := s.boolean(sec, k); ok && b {
				m().set(k, true)
			}
		}
	}
	for _, sec := range []string{"otel_metrics_export", "prometheus_export"} {
		c.features([]string{sec, "features"})
		c.instrumentations([]string{sec, "instrumentations"})
	}
	c.instrumentations([]string{"otel_traces_export", "instrumentations"})
	p := []string{"otel_metrics_export", "histogram_aggregation"}
	switch v := s.str(p...); v {
	case "", "explicit_bucket_histogram":
	default:
		s.drop(p, "%q: ebpfred emits explicit-bucket histograms", v)
	}
}

// features checks a Beyla metric group list: ebpfred emits "application"
// and, as Beyla's "application_service_graph", its service graph
// (metrics.service_graph), with the same traces_service_graph_* names.
func (c *converter) features(p []string) {
	l, ok := c.s.list(p...)
	if !ok {
		return
	}
	var missing []string
	for _, f := range l {
		switch f {
		case "application":
		case "application_service_graph":
			c.recv.child("metrics").child("service_graph").set("enabled", true)
		default:
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		c.s.drop(p, "%s: ebpfred emits the application group (HTTP and gRPC RED metrics) and the service graph (application_service_graph) only; span metrics can come from the collector's span_metrics connector", strings.Join(missing, ", "))
	}
}

// instrumentations checks a Beyla instrumentation list: ebpfred covers
// HTTP and gRPC.
func (c *converter) instrumentations(p []string) {
	l, ok := c.s.list(p...)
	if !ok {
		return
	}
	var missing []string
	for _, i := range l {
		if i != "*" && i != "http" && i != "grpc" {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		c.s.drop(p, "%s: ebpfred instruments HTTP and gRPC only", strings.Join(missing, ", "))
	}
	if !slices.Contains(l, "*") && !(slices.Contains(l, "http") && slices.Contains(l, "grpc")) {
		c.s.note(p, "ebpfred reports both HTTP and gRPC whatever the list says")
	}
}

// tracesSettings converts the trace sampler.
func (c *converter) tracesSettings() {
	s := c.s
	name := strings.ToLower(s.str("otel_traces_export", "sampler", "name"))
	arg := s.str("otel_traces_export", "sampler", "arg")
	if name == "" {
		if arg != "" {
			s.drop([]string{"otel_traces_export", "sampler", "arg"}, "no sampler name to go with it")
		}
		return
	}
	sampler := c.recv.child("traces").child("sampler").set("name", name)
	if arg != "" {
		sampler.set("arg", arg)
	}
}

// prometheus converts prometheus_export's endpoint.
func (c *converter) prometheus() {
	s := c.s
	portStr := s.str("prometheus_export", "port")
	if portStr == "" || portStr == "0" {
		for _, k := range []string{"path", "ttl"} {
			if _, ok := s.take("prometheus_export", k); ok {
				s.drop([]string{"prometheus_export", k}, "no port is set, so Beyla serves no Prometheus endpoint")
			}
		}
		return
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		s.drop([]string{"prometheus_export", "port"}, "%q is not a port", portStr)
		return
	}
	if path := s.str("prometheus_export", "path"); path != "" && path != "/metrics" {
		s.drop([]string{"prometheus_export", "path"}, "%q: the prometheus exporter serves /metrics only", path)
	}
	e := newOmap().set("endpoint", "0.0.0.0:"+portStr)
	// Beyla's series carry the service and Kubernetes attributes as
	// labels; this exporter puts them on target_info unless told to copy
	// them to every series.
	e.set("resource_to_telemetry_conversion", newOmap().set("enabled", true))
	if d, ok := s.duration("prometheus_export", "ttl"); ok {
		e.set("metric_expiration", d.String())
	}
	c.exporters.set("prometheus", e)
	c.exporters.comment("prometheus", "Beyla's Prometheus endpoint (prometheus_export.port), on every interface as Beyla's.")
	c.metricsExporters = append(c.metricsExporters, "prometheus")
}

// tracePrinter converts trace_printer (and Beyla 0.x PRINT_TRACES) to the
// debug exporter.
func (c *converter) tracePrinter() {
	s := c.s
	v := strings.ToLower(s.str("trace_printer"))
	if pt := c.env.printTraces; pt.name != "" {
		if b, err := strconv.ParseBool(pt.value); err == nil && b && v == "" {
			v = "text"
		}
	}
	switch v {
	case "", "disabled":
		return
	case "text", "counter", "json", "json_indent":
	default:
		s.drop([]string{"trace_printer"}, "%q: not a value Beyla accepts", v)
		return
	}
	c.exporters.set("debug", newOmap().set("verbosity", "detailed"))
	c.exporters.comment("debug", "trace_printer: every span on the collector's console, in the debug exporter's format.")
	c.tracesExporters = append(c.tracesExporters, "debug")
	s.note([]string{"trace_printer"}, "%s: printed by the debug exporter, in its own format", v)
}

// collectorSettings converts what configures the process itself: logs,
// the profiling port, internal metrics.
func (c *converter) collectorSettings() {
	s := c.s
	if v := s.str("log_level"); v != "" {
		lvl := strings.ToLower(v)
		switch lvl {
		case "debug", "info", "warn", "error":
			c.telemetry.child("logs").set("level", lvl)
		default:
			s.drop([]string{"log_level"}, "%q: Beyla accepts DEBUG, INFO, WARN or ERROR", v)
		}
	}
	switch v := strings.ToLower(s.str("log_format")); v {
	case "":
	case "text":
		c.telemetry.child("logs").set("encoding", "console")
	case "json":
		c.telemetry.child("logs").set("encoding", "json")
	default:
		s.drop([]string{"log_format"}, "%q: Beyla accepts text or json", v)
	}
	if v := s.str("profile_port"); v != "" && v != "0" {
		if port, err := strconv.Atoi(v); err == nil && port > 0 && port < 65536 {
			c.extensions.set("pprof", newOmap().set("endpoint", "127.0.0.1:"+v))
			c.extensions.comment("pprof", "profile_port: Go's /debug/pprof, on loopback only.")
		} else {
			s.drop([]string{"profile_port"}, "%q is not a port", v)
		}
	}
	if v := s.str("internal_metrics", "prometheus", "port"); v != "" && v != "0" {
		if port, err := strconv.Atoi(v); err == nil && port > 0 && port < 65536 {
			c.telemetry.child("metrics").set("readers", []*omap{newOmap().set("pull", newOmap().set("exporter",
				newOmap().set("prometheus", newOmap().set("host", "0.0.0.0").set("port", port))))})
			s.note([]string{"internal_metrics", "prometheus", "port"}, "the collector's own metrics (ebpfred's counters among them, named otelcol_ebpfred_*) are served there instead of Beyla's")
		} else {
			s.drop([]string{"internal_metrics", "prometheus", "port"}, "%q is not a port", v)
		}
		if p := s.str("internal_metrics", "prometheus", "path"); p != "" && p != "/metrics" {
			s.drop([]string{"internal_metrics", "prometheus", "path"}, "%q: the collector serves its metrics at /metrics only", p)
		}
	}
}

// render writes the collector configuration.
func (c *converter) render() ([]byte, error) {
	root := newOmap()
	root.child("receivers").set("ebpfred", c.recv)
	procs := []string{}
	if c.processors.has("resource") {
		procs = append(procs, "resource")
	}
	c.processors.set("batch", newOmap())
	procs = append(procs, "batch")
	root.set("processors", c.processors)

	if len(c.tracesExporters)+len(c.metricsExporters) == 0 {
		c.exporters.set("debug", newOmap().set("verbosity", "basic"))
		c.exporters.comment("debug", "Beyla's configuration exports nothing (Beyla itself would refuse it): replace this.")
		c.metricsExporters = append(c.metricsExporters, "debug")
		c.s.notes = append(c.s.notes, note{key: "exporters",
			text: "Beyla's configuration sets no exporter (no prometheus_export.port, no OTLP endpoint, no trace_printer): the output sends metrics to the debug exporter; replace it"})
	}
	root.set("exporters", c.exporters)
	if !c.extensions.empty() {
		root.set("extensions", c.extensions)
	}

	service := root.child("service")
	if !c.extensions.empty() {
		service.set("extensions", slices.Clone(c.extensions.keys))
	}
	pipelines := service.child("pipelines")
	for _, p := range []struct {
		name      string
		exporters []string
	}{{"traces", c.tracesExporters}, {"metrics", c.metricsExporters}} {
		if len(p.exporters) == 0 {
			continue
		}
		pipelines.set(p.name, newOmap().
			set("receivers", []string{"ebpfred"}).
			set("processors", procs).
			set("exporters", p.exporters))
	}
	if !c.telemetry.empty() {
		service.set("telemetry", c.telemetry)
	}

	n, err := node(root)
	if err != nil {
		return nil, err
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n},
		HeadComment: "Collector configuration for otelcol-ebpfred, converted from a Beyla configuration\n" +
			"by beyla2collector (github.com/ebpfred/ebpfred/cmd/beyla2collector).\n" +
			"What it could not convert, it listed on its standard error."}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
