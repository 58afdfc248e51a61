package ebpfredreceiver

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/ebpfred/ebpfred/internal/discovery"
	"github.com/ebpfred/ebpfred/internal/kube"
	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/protocols"
	"github.com/ebpfred/ebpfred/internal/routes"
	"github.com/ebpfred/ebpfred/internal/spans"
)

// nothingSelected is the error of a config that selects no process.
const nothingSelected = `open_port, executable_name and discovery.services are all empty, so no process would be instrumented; set one, e.g. open_port: "80,443,8000-8999"`

// TestLoadConfig unmarshals every instance of testdata/config.yaml the way
// the collector does, then compares the whole struct and the exact
// validation error.
func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	withDefaults := func(edit func(*Config)) *Config {
		cfg := createDefaultConfig().(*Config)
		edit(cfg)
		return cfg
	}

	tests := []struct {
		name    string
		want    *Config
		wantErr string // exact text of the validation error; "" if valid
	}{
		{
			name:    "",
			want:    createDefaultConfig().(*Config),
			wantErr: nothingSelected,
		},
		{
			name: "minimal",
			want: withDefaults(func(c *Config) { c.OpenPort = "8080" }),
		},
		{
			name: "custom",
			want: &Config{
				OpenPort:       " 80, 443 ,8000-8999 ",
				ExecutableName: `^/usr/(local/)?bin/(node|python3(\.[0-9]+)?)$`,
				Metrics: MetricsConfig{
					Interval:         15 * time.Second,
					DurationBuckets:  []float64{0.001, 0.01, 0.1, 1, 10},
					SizeBuckets:      []float64{0, 1024, 1048576},
					ReportTarget:     true,
					ReportPeer:       true,
					ReportServerPort: true,

					MaxSeriesPerService: 500,
					ServiceGraph:        ServiceGraphConfig{Enabled: true},
				},
				Traces: TracesConfig{Sampler: spans.SamplerConfig{Name: "parentbased_traceidratio", Arg: "0.1"}, LinkSameNode: false},
				Discovery: discovery.ServicesConfig{
					Services:               []discovery.SelectorConfig{{Name: "checkout", OpenPorts: "8080", ExePathRegexp: "java"}},
					ExcludeServices:        []discovery.SelectorConfig{{ExePathRegexp: "sidecar"}},
					DefaultExcludeServices: discovery.DefaultExcludeServices(),
				},
				Kubernetes: func() kube.Config { k := kube.DefaultConfig(); k.Enable = kube.EnableFalse; return k }(),
				Routes: routes.Config{
					Patterns:        []string{"/users/{id}", "/users/:id/basket/{product}", "/static/*"},
					IgnoredPatterns: []string{"/health", "/metrics"},
					IgnoreMode:      "metrics",
					Unmatched:       "heuristic",
					FromApplication: false,
				},
				RingBufferSize:     32 << 20,
				DiscoveryInterval:  5 * time.Second,
				ContextPropagation: PropagationHeaders,
				CaptureHooks:       "syscalls",
				RequiredFeatures:   []string{"context_propagation"},
				Database:           DatabaseConfig{QueryText: true},
			},
		},
		{
			name:    "reversed_range",
			want:    withDefaults(func(c *Config) { c.OpenPort = "80,90-80" }),
			wantErr: `open_port: "90-80": range end before start; write "80-90"`,
		},
		{
			name:    "bad_regexp",
			want:    withDefaults(func(c *Config) { c.ExecutableName = "(node|python" }),
			wantErr: `executable_name: "(node|python": not a valid Go regular expression (missing closing )); see https://pkg.go.dev/regexp/syntax`,
		},
		{
			// An explicit empty list replaces the defaults rather than
			// falling back to them.
			name: "empty_buckets",
			want: withDefaults(func(c *Config) {
				c.OpenPort = "80"
				c.Metrics.DurationBuckets = []float64{}
			}),
			wantErr: `metrics.duration_buckets: []: empty; list at least one boundary, or remove the key to get the defaults`,
		},
		{
			name: "infinite_bucket",
			want: withDefaults(func(c *Config) {
				c.OpenPort = "80"
				c.Metrics.SizeBuckets = []float64{0, 1024, math.Inf(1)}
			}),
			wantErr: `metrics.size_buckets: [0, 1024, +Inf]: boundary 2 (+Inf) is not a finite number; remove it (the histogram always has buckets below the first and above the last boundary)`,
		},
		{
			name: "all_wrong",
			want: &Config{
				OpenPort:       "0",
				ExecutableName: "[",
				Metrics: MetricsConfig{
					Interval:        0,
					DurationBuckets: []float64{1, 0.5},
					SizeBuckets:     []float64{1, 1},

					MaxSeriesPerService: -1,
				},
				Traces: TracesConfig{Sampler: spans.SamplerConfig{Name: "traceidratio"}, LinkInProcess: true, LinkSameNode: true},
				Discovery: discovery.ServicesConfig{
					Services:               []discovery.SelectorConfig{{OpenPorts: "90-80"}},
					DefaultExcludeServices: discovery.DefaultExcludeServices(),
				},
				Kubernetes:         kube.DefaultConfig(),
				Routes:             routes.Config{Unmatched: "sometimes", FromApplication: true},
				RingBufferSize:     5000,
				DiscoveryInterval:  -time.Second,
				ContextPropagation: "on",
				CaptureHooks:       "hooks",
				RequiredFeatures:   []string{"tls"},
			},
			wantErr: strings.Join([]string{
				`open_port: "0": port out of range; ports go from 1 to 65535`,
				`executable_name: "[": not a valid Go regular expression (missing closing ]); see https://pkg.go.dev/regexp/syntax`,
				`discovery.services[0].open_ports: "90-80": range end before start; write "80-90"`,
				`metrics.interval: 0s: must be greater than zero; e.g. 60s`,
				`metrics.duration_buckets: [1, 0.5]: not strictly increasing (0.5 after 1); sort the boundaries and remove duplicates`,
				`metrics.size_buckets: [1, 1]: not strictly increasing (1 after 1); sort the boundaries and remove duplicates`,
				`metrics.max_series_per_service: -1: must be 0 (no cap) or more; e.g. 2000`,
				`routes.unmatched: "sometimes": use one of unset, path, wildcard, heuristic`,
				`traces.sampler.arg: "": traceidratio needs a ratio from 0 to 1, e.g. "0.1" keeps one trace in ten`,
				`ring_buffer_size: 5000: must be a power of two from 4096 (the page size) to 2147483648; e.g. 8192`,
				`discovery_interval: -1s: must be greater than zero; e.g. 1s`,
				`context_propagation: "on": use headers (insert traceparent headers into outgoing HTTP/1 requests) or disabled (the default)`,
				`capture_hooks: "hooks": use auto (the cheapest this kernel has; the default), sockets (the socket tracepoints, Linux 6.3+) or syscalls (the syscall exit, any kernel)`,
				`required_features: "tls" is not a feature; the features are capture, tls_openssl, tls_go, go_routes, go_context, context_propagation`,
			}, "\n"),
		},
	}
	for _, tt := range tests {
		id := component.NewIDWithName(metadata.Type, tt.name)
		t.Run(id.String(), func(t *testing.T) {
			sub, err := cm.Sub(id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			assert.Equal(t, tt.want, cfg)

			err = confmap.Validate(cfg)
			if tt.wantErr == "" {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tt.wantErr)
			}
		})
	}
}

// TestLoadConfigUnknownKey: a misspelt key is refused while unmarshalling,
// before Validate runs.
func TestLoadConfigUnknownKey(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, "typo").String())
	require.NoError(t, err)
	err = sub.Unmarshal(createDefaultConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "open_ports")
}

// TestLoadConfigServerPortNotBool: metrics.report_server_port is a boolean
// (report the port or not), not a port number; anything else is refused
// while unmarshalling, with this exact text.
func TestLoadConfigServerPortNotBool(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, "server_port_not_bool").String())
	require.NoError(t, err)
	err = sub.Unmarshal(createDefaultConfig())
	require.Error(t, err)
	assert.Equal(t, "decoding failed due to the following error(s):\n\n"+
		"'metrics.report_server_port' expected type 'bool', got unconvertible type 'int'", err.Error())
}

// maxRing is a variable so that int(maxRing) compiles where int is 32 bits
// (where the tests that use it skip).
var maxRing = maxRingBufferSize

// TestValidate covers each rule on its own, starting from a valid config.
func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" if valid
		int64   bool   // the value does not fit a 32-bit int
	}{
		{name: "open_port only", edit: func(c *Config) {}},
		{name: "executable_name only", edit: func(c *Config) { c.OpenPort, c.ExecutableName = "", "nginx$" }},
		{name: "both", edit: func(c *Config) { c.ExecutableName = "nginx$" }},
		{name: "whole port range", edit: func(c *Config) { c.OpenPort = "1-65535" }},
		{
			name:    "nothing selected",
			edit:    func(c *Config) { c.OpenPort = "" },
			wantErr: nothingSelected,
		},
		{
			name:    "blank open_port selects nothing",
			edit:    func(c *Config) { c.OpenPort = "  " },
			wantErr: nothingSelected,
		},
		{
			name:    "open_port reversed range",
			edit:    func(c *Config) { c.OpenPort = "90-80" },
			wantErr: `open_port: "90-80": range end before start; write "80-90"`,
		},
		{
			name:    "open_port port too big",
			edit:    func(c *Config) { c.OpenPort = "80,65536" },
			wantErr: `open_port: "65536": port out of range; ports go from 1 to 65535`,
		},
		{
			name:    "open_port not a number",
			edit:    func(c *Config) { c.OpenPort = "http" },
			wantErr: `open_port: "http": not a port number; write ports (1-65535) and ranges like 8000-8999, separated by commas`,
		},
		{
			name:    "open_port empty item",
			edit:    func(c *Config) { c.OpenPort = "80,,443" },
			wantErr: `open_port: "80,,443": item 2 is empty; remove the extra comma`,
		},
		{
			name:    "executable_name bad repetition",
			edit:    func(c *Config) { c.ExecutableName = "node**" },
			wantErr: "executable_name: \"node**\": not a valid Go regular expression (invalid nested repetition operator: `**`); see https://pkg.go.dev/regexp/syntax",
		},
		{
			name:    "executable_name Perl lookahead",
			edit:    func(c *Config) { c.ExecutableName = "^(?!java)" },
			wantErr: "executable_name: \"^(?!java)\": not a valid Go regular expression (invalid or unsupported Perl syntax: `(?!`); see https://pkg.go.dev/regexp/syntax",
		},
		{
			name:    "metrics.interval zero",
			edit:    func(c *Config) { c.Metrics.Interval = 0 },
			wantErr: `metrics.interval: 0s: must be greater than zero; e.g. 60s`,
		},
		{
			name:    "metrics.interval negative",
			edit:    func(c *Config) { c.Metrics.Interval = -10 * time.Second },
			wantErr: `metrics.interval: -10s: must be greater than zero; e.g. 60s`,
		},
		{
			name:    "duration_buckets nil",
			edit:    func(c *Config) { c.Metrics.DurationBuckets = nil },
			wantErr: `metrics.duration_buckets: []: empty; list at least one boundary, or remove the key to get the defaults`,
		},
		{
			name:    "duration_buckets decreasing",
			edit:    func(c *Config) { c.Metrics.DurationBuckets = []float64{0.1, 0.5, 0.25} },
			wantErr: `metrics.duration_buckets: [0.1, 0.5, 0.25]: not strictly increasing (0.25 after 0.5); sort the boundaries and remove duplicates`,
		},
		{
			name:    "duration_buckets NaN",
			edit:    func(c *Config) { c.Metrics.DurationBuckets = []float64{math.NaN(), 1} },
			wantErr: `metrics.duration_buckets: [NaN, 1]: boundary 0 (NaN) is not a finite number; remove it (the histogram always has buckets below the first and above the last boundary)`,
		},
		{
			name:    "duration_buckets -Inf",
			edit:    func(c *Config) { c.Metrics.DurationBuckets = []float64{math.Inf(-1), 1} },
			wantErr: `metrics.duration_buckets: [-Inf, 1]: boundary 0 (-Inf) is not a finite number; remove it (the histogram always has buckets below the first and above the last boundary)`,
		},
		{
			name: "single bucket boundary",
			edit: func(c *Config) { c.Metrics.DurationBuckets = []float64{1} },
		},
		{
			name:    "size_buckets duplicate",
			edit:    func(c *Config) { c.Metrics.SizeBuckets = []float64{0, 1024, 1024, 4096} },
			wantErr: `metrics.size_buckets: [0, 1024, 1024, 4096]: not strictly increasing (1024 after 1024); sort the boundaries and remove duplicates`,
		},
		{
			name:    "size_buckets empty",
			edit:    func(c *Config) { c.Metrics.SizeBuckets = []float64{} },
			wantErr: `metrics.size_buckets: []: empty; list at least one boundary, or remove the key to get the defaults`,
		},
		{
			name: "ring_buffer_size one page",
			edit: func(c *Config) { c.RingBufferSize = 4096 },
		},
		{
			name:  "ring_buffer_size largest",
			edit:  func(c *Config) { c.RingBufferSize = int(maxRing) },
			int64: true,
		},
		{
			name:    "ring_buffer_size not a power of two",
			edit:    func(c *Config) { c.RingBufferSize = 10_000_000 },
			wantErr: `ring_buffer_size: 10000000: must be a power of two from 4096 (the page size) to 2147483648; e.g. 16777216`,
		},
		{
			name:    "ring_buffer_size below a page",
			edit:    func(c *Config) { c.RingBufferSize = 2048 },
			wantErr: `ring_buffer_size: 2048: must be a power of two from 4096 (the page size) to 2147483648; e.g. 4096`,
		},
		{
			name:    "ring_buffer_size zero",
			edit:    func(c *Config) { c.RingBufferSize = 0 },
			wantErr: `ring_buffer_size: 0: must be a power of two from 4096 (the page size) to 2147483648; e.g. 16777216`,
		},
		{
			name:    "ring_buffer_size too big",
			edit:    func(c *Config) { c.RingBufferSize = int(2 * maxRing) },
			wantErr: `ring_buffer_size: 4294967296: must be a power of two from 4096 (the page size) to 2147483648; e.g. 2147483648`,
			int64:   true,
		},
		{
			name:    "discovery_interval zero",
			edit:    func(c *Config) { c.DiscoveryInterval = 0 },
			wantErr: `discovery_interval: 0s: must be greater than zero; e.g. 1s`,
		},
		{
			name: "context_propagation headers",
			edit: func(c *Config) { c.ContextPropagation = PropagationHeaders },
		},
		{
			name:    "context_propagation empty",
			edit:    func(c *Config) { c.ContextPropagation = "" },
			wantErr: `context_propagation: "": use headers (insert traceparent headers into outgoing HTTP/1 requests) or disabled (the default)`,
		},
		{
			name:    "context_propagation Beyla's other values",
			edit:    func(c *Config) { c.ContextPropagation = "all" },
			wantErr: `context_propagation: "all": use headers (insert traceparent headers into outgoing HTTP/1 requests) or disabled (the default)`,
		},
		{
			name: "protocols: one off",
			edit: func(c *Config) { c.Protocols = map[string]bool{"http2": false} },
		},
		{
			name:    "protocols misspelt",
			edit:    func(c *Config) { c.Protocols = map[string]bool{"HTTP": false} },
			wantErr: `protocols: "HTTP": not a protocol; the protocols are ` + strings.Join(protocols.Names(), ", "),
		},
		{
			name: "capture_hooks syscalls",
			edit: func(c *Config) { c.CaptureHooks = "syscalls" },
		},
		{
			name:    "capture_hooks misspelt",
			edit:    func(c *Config) { c.CaptureHooks = "socket" },
			wantErr: `capture_hooks: "socket": use auto (the cheapest this kernel has; the default), sockets (the socket tracepoints, Linux 6.3+) or syscalls (the syscall exit, any kernel)`,
		},
		{
			name: "required_features",
			edit: func(c *Config) {
				c.ContextPropagation = PropagationHeaders
				c.RequiredFeatures = []string{"capture", "tls_openssl", "tls_go", "go_routes", "context_propagation"}
			},
		},
		{
			name:    "required_features misspelt",
			edit:    func(c *Config) { c.RequiredFeatures = []string{"tls-go"} },
			wantErr: `required_features: "tls-go" is not a feature; the features are capture, tls_openssl, tls_go, go_routes, go_context, context_propagation`,
		},
		{
			name:    "required_features: propagation that is off",
			edit:    func(c *Config) { c.RequiredFeatures = []string{"context_propagation"} },
			wantErr: `required_features: "context_propagation": context_propagation is "disabled", so it never runs; set context_propagation: headers, or remove it from the list`,
		},
		{
			name: "required_features: routes that are off",
			edit: func(c *Config) {
				c.Routes.FromApplication = false
				c.RequiredFeatures = []string{"go_routes"}
			},
			wantErr: `required_features: "go_routes": routes.from_application is false, so it never runs; set it to true, or remove it from the list`,
		},
		{
			name: "two problems",
			edit: func(c *Config) {
				c.OpenPort = ""
				c.DiscoveryInterval = 0
			},
			wantErr: nothingSelected + "\n" + `discovery_interval: 0s: must be greater than zero; e.g. 1s`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.int64 && strconv.IntSize < 64 {
				t.Skip("needs a 64-bit int")
			}
			cfg := createDefaultConfig().(*Config)
			cfg.OpenPort = "80,443"
			tt.edit(cfg)
			err := cfg.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tt.wantErr)
			}
		})
	}
}
