package main

import (
	"bytes"
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// otlpExporter is one signal's OTLP exporter before naming.
type otlpExporter struct {
	kind string // otlp_grpc or otlp_http
	cfg  *omap
	// headers written into cfg, and the variables they came from, for
	// the report once the exporter is named.
	headers, headersFrom []string
}

// otlp converts otel_traces_export and otel_metrics_export (and the
// standard OTEL_EXPORTER_OTLP_* variables) to otlp_grpc or otlp_http
// exporters, one per signal, or one for both when they are the same.
func (c *converter) otlp() {
	built := map[string]*otlpExporter{}
	for _, sig := range []struct{ name, section string }{
		{"traces", "otel_traces_export"},
		{"metrics", "otel_metrics_export"},
	} {
		if e := c.otlpSignal(sig.name, sig.section); e != nil {
			built[sig.name] = e
		}
	}
	if len(built) == 0 {
		return
	}
	t, m := built["traces"], built["metrics"]
	add := func(name string, e *otlpExporter) {
		c.exporters.set(name, e.cfg)
		if len(e.headers) > 0 {
			c.s.notes = append(c.s.notes, note{key: strings.Join(e.headersFrom, ", "),
				text: "header values (" + strings.Join(e.headers, ", ") + ") are written into the " + name + " exporter; if they are credentials, move them to the collector's environment and write ${env:NAME} instead"})
		}
	}
	if t != nil && m != nil && t.kind == m.kind && sameYAML(t.cfg, m.cfg) {
		add(t.kind, t)
		c.tracesExporters = append(c.tracesExporters, t.kind)
		c.metricsExporters = append(c.metricsExporters, t.kind)
		return
	}
	if t != nil {
		add(t.kind+"/traces", t)
		c.tracesExporters = append(c.tracesExporters, t.kind+"/traces")
	}
	if m != nil {
		add(m.kind+"/metrics", m)
		c.metricsExporters = append(c.metricsExporters, m.kind+"/metrics")
	}
}

func sameYAML(a, b *omap) bool {
	na, err1 := node(a)
	nb, err2 := node(b)
	if err1 != nil || err2 != nil {
		return false
	}
	ya, _ := yaml.Marshal(na)
	yb, _ := yaml.Marshal(nb)
	return bytes.Equal(ya, yb)
}

// otlpSignal builds the exporter of one signal, nil when Beyla would not
// export it (no endpoint).
func (c *converter) otlpSignal(signal, section string) *otlpExporter {
	s := c.s
	upper := strings.ToUpper(signal)
	endpoint := s.str(section, "endpoint")
	common := strings.TrimSpace(c.env.otlp["OTEL_EXPORTER_OTLP_ENDPOINT"])
	yamlProto := s.str(section, "protocol")
	insecure, _ := s.boolean(section, "insecure_skip_verify")
	if v := c.env.insecure; v.name != "" && strings.EqualFold(strings.TrimSpace(v.value), "true") {
		insecure = true
	}
	backoff := map[string]string{}
	for _, k := range []string{"backoff_initial_interval", "backoff_max_interval", "backoff_max_elapsed_time"} {
		if d, ok := s.duration(section, k); ok {
			backoff[strings.TrimPrefix(k, "backoff_")] = d.String()
		}
	}
	if endpoint == "" && common == "" {
		for _, k := range []string{"protocol", "insecure_skip_verify", "backoff_initial_interval", "backoff_max_interval", "backoff_max_elapsed_time"} {
			if _, ok := s.lookup([]string{section, k}); ok {
				s.drop([]string{section, k}, "no %s endpoint is set, so Beyla exports no %s", signal, signal)
			}
		}
		return nil
	}
	raw, key := endpoint, []string{section, "endpoint"}
	if endpoint == "" {
		raw = common
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if endpoint == "" {
			s.notes = append(s.notes, note{key: "OTEL_EXPORTER_OTLP_ENDPOINT", dropped: true,
				text: raw + ": Beyla wants a URL with a scheme and a host (http://collector:4318)"})
		} else {
			s.drop(key, "%s: Beyla wants a URL with a scheme and a host (http://collector:4318)", raw)
		}
		return nil
	}

	proto := yamlProto
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_" + upper + "_PROTOCOL"} {
		if v := strings.TrimSpace(c.env.otlp[name]); v != "" {
			proto = v
		}
	}
	if proto == "" {
		// Beyla's guess: a port ending in 4317 speaks gRPC, anything
		// else HTTP with protobuf.
		proto = "http/protobuf"
		if strings.HasSuffix(u.Port(), "4317") {
			proto = "grpc"
		}
	}

	cfg := newOmap()
	e := &otlpExporter{cfg: cfg}
	switch proto {
	case "grpc":
		e.kind = "otlp_grpc"
		host := u.Host
		if u.Port() == "" {
			host += map[string]string{"http": ":80", "https": ":443"}[u.Scheme]
		}
		cfg.set("endpoint", host)
		tls := newOmap()
		if u.Scheme == "http" {
			tls.set("insecure", true)
		}
		if insecure {
			tls.set("insecure_skip_verify", true)
		}
		if !tls.empty() {
			cfg.set("tls", tls)
		}
	case "http/protobuf", "http/json":
		e.kind = "otlp_http"
		clean := strings.TrimSuffix(raw, "/")
		if endpoint == "" {
			// The common endpoint: /v1/traces or /v1/metrics is added,
			// as Beyla and the exporter both do.
			cfg.set("endpoint", clean)
		} else {
			// A signal's own endpoint is used as it is.
			cfg.set(signal+"_endpoint", clean)
		}
		if proto == "http/json" {
			cfg.set("encoding", "json")
		}
		if insecure {
			cfg.set("tls", newOmap().set("insecure_skip_verify", true))
		}
	default:
		s.drop([]string{section, "protocol"}, "%q: Beyla accepts grpc, http/protobuf or http/json", proto)
		return nil
	}

	headers := map[string]string{}
	var from []string
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_" + upper + "_HEADERS"} {
		v := c.env.otlp[name]
		if strings.TrimSpace(v) == "" {
			continue
		}
		from = append(from, name)
		for _, kv := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				s.notes = append(s.notes, note{key: name, dropped: true, text: "an item is not key=value; it is left out"})
				continue
			}
			// The SDK convention: values are URL-encoded.
			if dec, err := url.QueryUnescape(strings.TrimSpace(val)); err == nil {
				val = dec
			}
			headers[strings.TrimSpace(k)] = val
		}
	}
	if len(headers) > 0 {
		cfg.set("headers", headers)
		keys := make([]string, 0, len(headers))
		for k := range headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		e.headers, e.headersFrom = keys, from
	}
	if len(backoff) > 0 {
		r := newOmap().set("enabled", true)
		for _, k := range []string{"initial_interval", "max_interval", "max_elapsed_time"} {
			if v, ok := backoff[k]; ok {
				r.set(k, v)
			}
		}
		cfg.set("retry_on_failure", r)
	}
	return e
}
