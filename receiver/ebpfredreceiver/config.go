package ebpfredreceiver

import (
	"github.com/ebpfred/ebpfred/internal/discovery"
	"github.com/ebpfred/ebpfred/internal/kube"

	"github.com/ebpfred/ebpfred/internal/routes"
	"github.com/ebpfred/ebpfred/internal/spans"

	"errors"
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/ebpfred/ebpfred/internal/portrange"
	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/protocols"
)

// Config is the ebpfred receiver configuration. Key names are part of the
// product (they follow Beyla's where Beyla has one): keep them.
type Config struct {
	// OpenPort selects processes that listen on any of these ports:
	// "80,443,8000-8999".
	OpenPort string `mapstructure:"open_port"`
	// ExecutableName is a regular expression on the executable path. When
	// both are set, a process must match both.
	ExecutableName string `mapstructure:"executable_name"`

	Metrics MetricsConfig `mapstructure:"metrics"`

	// Traces configures the spans (metrics always count every request).
	Traces TracesConfig `mapstructure:"traces"`

	// Discovery selects processes with Beyla-style selector lists; the
	// top-level open_port/executable_name are a shorthand for one entry.
	Discovery discovery.ServicesConfig `mapstructure:"discovery"`

	// Kubernetes metadata for selectors and resource attributes.
	Kubernetes kube.Config `mapstructure:"kubernetes"`

	// Routes turns paths into low-cardinality http.route values and drops
	// ignored paths (Beyla's keys).
	Routes routes.Config `mapstructure:"routes"`

	// RingBufferSize is the size in bytes of the kernel→collector event ring
	// (a power of two, multiple of the page size).
	RingBufferSize int `mapstructure:"ring_buffer_size"`

	// DiscoveryInterval is how often /proc is rescanned for processes to
	// instrument.
	DiscoveryInterval time.Duration `mapstructure:"discovery_interval"`

	// ContextPropagation (Beyla: ebpf.context_propagation) makes a request
	// that crosses instrumented services one trace. "headers": the kernel
	// inserts a W3C traceparent header into the plaintext HTTP/1.x requests
	// that instrumented processes send (the downstream service, instrumented
	// by its own collector, continues the trace), and links an outgoing
	// request to the server request its thread is answering (thread-per-
	// request servers; not Go, whose goroutines hop threads). Needs the
	// host's cgroup v2 hierarchy and CAP_NET_ADMIN, and changes the bytes
	// applications send. "disabled" (the default): nothing is injected.
	ContextPropagation string `mapstructure:"context_propagation"`

	// Protocols turns protocols off (or on): name → false. Every protocol
	// is on by default; detection is by content, never by port.
	Protocols map[string]bool `mapstructure:"protocols"`

	// Database configures what database CLIENT spans may carry.
	Database DatabaseConfig `mapstructure:"database"`

	// CaptureHooks chooses how socket I/O is seen: "auto" (the socket
	// tracepoints where the kernel has them, Linux 6.3+, else the syscall
	// exit), "sockets" or "syscalls" to insist on one.
	CaptureHooks string `mapstructure:"capture_hooks"`

	// RequiredFeatures lists the features whose refusal by the kernel stops
	// the receiver from starting. Any other feature the kernel cannot run
	// is left off, with a warning that says why and what is lost, and the
	// otelcol_ebpfred_feature_active gauge at 0. Capture is always required.
	RequiredFeatures []string `mapstructure:"required_features"`

	// refuseFeatures is a test hook (probes.Options.Refuse): the kernel's
	// verifier is made to refuse these features' programs.
	refuseFeatures []probes.Feature
}

// CaptureAuto is capture_hooks' default.
const CaptureAuto = "auto"

// Values of context_propagation.
const (
	PropagationDisabled = "disabled"
	PropagationHeaders  = "headers"
)

// TracesConfig configures the spans.
type TracesConfig struct {
	// Sampler chooses which requests become spans (OTEL_TRACES_SAMPLER
	// names); the default keeps every one.
	Sampler spans.SamplerConfig `mapstructure:"sampler"`
	// LinkInProcess makes a client request of a Go handler (from its own
	// goroutine or any goroutine it started) the child of the handler's
	// server span, through uprobes on the Go runtime and net/http (feature
	// go_context). On by default.
	LinkInProcess bool `mapstructure:"link_in_process"`
	// LinkSameNode makes the SERVER span of a request between two
	// instrumented processes of this node the child of the caller's CLIENT
	// span, from what the collector sees of both ends of the connection:
	// nothing is sent on the wire. On by default.
	LinkSameNode bool `mapstructure:"link_same_node"`
}

// DatabaseConfig configures what database CLIENT spans may carry.
type DatabaseConfig struct {
	// QueryText adds db.query.text to database CLIENT spans: the statement
	// with every literal replaced by "?" (PostgreSQL), the command with a
	// "?" for each argument (Redis, memcached). Off by default: statements
	// can hold personal data, and the span name (db.query.summary) already
	// says the operation and the table.
	QueryText bool `mapstructure:"query_text"`
}

// ServiceGraphConfig configures the service graph metrics.
type ServiceGraphConfig struct {
	// Enabled adds the traces_service_graph_* metrics (the names Grafana's
	// service graph and the servicegraph connector use), counted from every
	// request, sampled or not. Off by default.
	Enabled bool `mapstructure:"enabled"`
}

// MetricsConfig configures the RED metrics.
type MetricsConfig struct {
	// Interval between two exports of the cumulative metrics.
	Interval time.Duration `mapstructure:"interval"`
	// DurationBuckets are explicit histogram boundaries in seconds.
	DurationBuckets []float64 `mapstructure:"duration_buckets"`
	// SizeBuckets are explicit histogram boundaries in bytes.
	SizeBuckets []float64 `mapstructure:"size_buckets"`
	// ReportTarget adds url.path to metrics (high cardinality: off by default).
	ReportTarget bool `mapstructure:"report_target"`
	// ReportPeer adds client.address to server metrics (off by default).
	ReportPeer bool `mapstructure:"report_peer"`
	// ReportServerPort adds server.port, the local port a request came in
	// on, to server metrics, HTTP and RPC (off by default: one series per
	// port the process serves).
	ReportServerPort bool `mapstructure:"report_server_port"`
	// MaxSeriesPerService caps the series of each metric family of one
	// process, the overflow series (otel.metric.overflow=true) included;
	// 0 means no cap.
	MaxSeriesPerService int `mapstructure:"max_series_per_service"`
	// ServiceGraph: the edges between services, as metrics.
	ServiceGraph ServiceGraphConfig `mapstructure:"service_graph"`
}

var _ confmap.Validator = (*Config)(nil)

const (
	// minRingBufferSize is one 4 KiB page: the kernel wants the ring size
	// to be a power-of-two multiple of the page size. Where pages are larger
	// (arm64 with 16K/64K pages) the kernel's own check at load time is the
	// stricter one.
	minRingBufferSize int64 = 4096
	// maxRingBufferSize is the largest power of two that fits the kernel's
	// 32-bit max_entries.
	maxRingBufferSize int64 = 1 << 31
)

// exampleOpenPort is the selection suggested when nothing is selected.
const exampleOpenPort = "80,443,8000-8999"

// Validate reports every problem of the configuration at once. Each message
// names the key, the value, and what to write instead.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if cfg.OpenPort != "" {
		if _, err := portrange.Parse(cfg.OpenPort); err != nil {
			add("open_port: %w", err)
		}
	}
	if cfg.ExecutableName != "" {
		if _, err := regexp.Compile(cfg.ExecutableName); err != nil {
			add("executable_name: %q: not a valid Go regular expression (%v); see https://pkg.go.dev/regexp/syntax", cfg.ExecutableName, regexpProblem(cfg.ExecutableName, err))
		}
	}
	if strings.TrimSpace(cfg.OpenPort) == "" && cfg.ExecutableName == "" && len(cfg.Discovery.Services) == 0 {
		add("open_port, executable_name and discovery.services are all empty, so no process would be instrumented; set one, e.g. open_port: %q", exampleOpenPort)
	}
	if err := cfg.Discovery.Check(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Kubernetes.Check(); err != nil {
		errs = append(errs, err)
	}
	if k := cfg.Discovery.UsesKubernetes(); k != "" && cfg.Kubernetes.Enable == kube.EnableFalse {
		add("%s: needs Kubernetes metadata, but kubernetes.enable is false; set kubernetes.enable: autodetect, or remove the key", k)
	}

	if cfg.Metrics.Interval <= 0 {
		add("metrics.interval: %s: must be greater than zero; e.g. 60s", cfg.Metrics.Interval)
	}
	if err := checkBuckets(cfg.Metrics.DurationBuckets); err != nil {
		add("metrics.duration_buckets: %s: %w", formatBuckets(cfg.Metrics.DurationBuckets), err)
	}
	if err := checkBuckets(cfg.Metrics.SizeBuckets); err != nil {
		add("metrics.size_buckets: %s: %w", formatBuckets(cfg.Metrics.SizeBuckets), err)
	}

	if cfg.Metrics.MaxSeriesPerService < 0 {
		add("metrics.max_series_per_service: %d: must be 0 (no cap) or more; e.g. 2000", cfg.Metrics.MaxSeriesPerService)
	}
	if err := cfg.Routes.Check(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Traces.Sampler.Check(); err != nil {
		errs = append(errs, err)
	}

	// int64: the bounds must compile where int is 32 bits.
	if n := int64(cfg.RingBufferSize); n < minRingBufferSize || n > maxRingBufferSize || n&(n-1) != 0 {
		add("ring_buffer_size: %d: must be a power of two from %d (the page size) to %d; e.g. %d", n, minRingBufferSize, maxRingBufferSize, suggestRingBufferSize(n))
	}

	if cfg.DiscoveryInterval <= 0 {
		add("discovery_interval: %s: must be greater than zero; e.g. 1s", cfg.DiscoveryInterval)
	}
	switch cfg.ContextPropagation {
	case PropagationDisabled, PropagationHeaders:
	default:
		add("context_propagation: %q: use %s (insert traceparent headers into outgoing HTTP/1 requests) or %s (the default)", cfg.ContextPropagation, PropagationHeaders, PropagationDisabled)
	}
	if _, err := protocols.Select(cfg.Protocols); err != nil {
		add("protocols: %w", err)
	}
	switch cfg.CaptureHooks {
	case CaptureAuto, probes.CaptureSockets, probes.CaptureSyscalls:
	default:
		add("capture_hooks: %q: use %s (the cheapest this kernel has; the default), %s (the socket tracepoints, Linux 6.3+) or %s (the syscall exit, any kernel)", cfg.CaptureHooks, CaptureAuto, probes.CaptureSockets, probes.CaptureSyscalls)
	}
	for _, name := range cfg.RequiredFeatures {
		f, err := probes.ParseFeature(name)
		switch {
		case err != nil:
			add("required_features: %w", err)
		case f == probes.FeaturePropagation && cfg.ContextPropagation != PropagationHeaders:
			add("required_features: %q: context_propagation is %q, so it never runs; set context_propagation: %s, or remove it from the list", name, cfg.ContextPropagation, PropagationHeaders)
		case f == probes.FeatureGoRoutes && !cfg.Routes.FromApplication:
			add("required_features: %q: routes.from_application is false, so it never runs; set it to true, or remove it from the list", name)
		}
	}
	return errors.Join(errs...)
}

// checkBuckets checks explicit histogram boundaries.
func checkBuckets(b []float64) error {
	if len(b) == 0 {
		return errors.New("empty; list at least one boundary, or remove the key to get the defaults")
	}
	for i, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("boundary %d (%v) is not a finite number; remove it (the histogram always has buckets below the first and above the last boundary)", i, v)
		}
		if i > 0 && v <= b[i-1] {
			return fmt.Errorf("not strictly increasing (%v after %v); sort the boundaries and remove duplicates", v, b[i-1])
		}
	}
	return nil
}

// formatBuckets writes boundaries the way a YAML flow list would, so the
// message can be pasted back.
func formatBuckets(b []float64) string {
	parts := make([]string, len(b))
	for i, v := range b {
		parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// suggestRingBufferSize returns the power of two nearest above n within the
// allowed range, or the default when n is not positive.
func suggestRingBufferSize(n int64) int64 {
	switch {
	case n <= 0:
		return 16 << 20
	case n <= minRingBufferSize:
		return minRingBufferSize
	case n >= maxRingBufferSize:
		return maxRingBufferSize
	}
	return 1 << bits.Len64(uint64(n-1))
}

// regexpProblem says what is wrong with expr without the "error parsing
// regexp" prefix that the message around it makes redundant, quoting the
// faulty part only when it is not the whole expression.
func regexpProblem(expr string, err error) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	if se.Expr == expr {
		return se.Code.String()
	}
	return fmt.Sprintf("%s: `%s`", se.Code, se.Expr)
}
