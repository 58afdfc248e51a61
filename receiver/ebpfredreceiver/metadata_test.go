package ebpfredreceiver

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.yaml.in/yaml/v3"

	"github.com/ebpfred/ebpfred/internal/metadata"
)

// metadataFile is the component's metadata, in mdatagen's schema, at the
// repository root.
const metadataFile = "../../metadata.yaml"

// metadataYAML is the part of mdatagen's schema that metadata.yaml uses.
type metadataYAML struct {
	Type   string `yaml:"type"`
	Status struct {
		Class     string              `yaml:"class"`
		Stability map[string][]string `yaml:"stability"`
		// Documentation only: nothing in the code to compare them with.
		Distributions        []string `yaml:"distributions"`
		UnsupportedPlatforms []string `yaml:"unsupported_platforms"`
	} `yaml:"status"`
	Telemetry struct {
		Metrics map[string]telemetryMetricYAML `yaml:"metrics"`
	} `yaml:"telemetry"`
}

type telemetryMetricYAML struct {
	Enabled     bool                     `yaml:"enabled"`
	Stability   component.StabilityLevel `yaml:"stability"`
	Description string                   `yaml:"description"`
	Unit        *string                  `yaml:"unit"`
	Prefix      string                   `yaml:"prefix"`
	Sum         *struct {
		ValueType string `yaml:"value_type"`
		Monotonic bool   `yaml:"monotonic"`
		Async     bool   `yaml:"async"`
	} `yaml:"sum"`
	Gauge *struct {
		ValueType string `yaml:"value_type"`
		Async     bool   `yaml:"async"`
	} `yaml:"gauge"`
}

func loadMetadata(t *testing.T) (metadataYAML, []string) {
	t.Helper()
	raw, err := os.ReadFile(metadataFile)
	if err != nil {
		t.Fatal(err)
	}
	var md metadataYAML
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true) // a key this test does not know is a key it does not check
	if err := dec.Decode(&md); err != nil {
		t.Fatalf("%s: %v", metadataFile, err)
	}
	// mdatagen refuses telemetry metrics whose keys are not sorted.
	var doc struct {
		Telemetry struct {
			Metrics yaml.Node `yaml:"metrics"`
		} `yaml:"telemetry"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 0; i < len(doc.Telemetry.Metrics.Content); i += 2 {
		keys = append(keys, doc.Telemetry.Metrics.Content[i].Value)
	}
	return md, keys
}

// TestMetadataIdentity: the type and stability of metadata.yaml are those
// of internal/metadata and of the factory the collector registers.
func TestMetadataIdentity(t *testing.T) {
	md, _ := loadMetadata(t)
	if md.Type != metadata.Type.String() {
		t.Errorf("metadata.yaml type %q, internal/metadata.Type %q", md.Type, metadata.Type)
	}
	if md.Status.Class != "receiver" {
		t.Errorf("metadata.yaml status.class %q, want receiver", md.Status.Class)
	}
	want := map[string]component.StabilityLevel{}
	for level, signals := range md.Status.Stability {
		var l component.StabilityLevel
		if err := l.UnmarshalText([]byte(level)); err != nil {
			t.Errorf("metadata.yaml status.stability: %v", err)
			continue
		}
		for _, s := range signals {
			want[s] = l
		}
	}
	f := NewFactory()
	if f.Type() != metadata.Type {
		t.Errorf("factory type %q, internal/metadata.Type %q", f.Type(), metadata.Type)
	}
	for _, c := range []struct {
		signal        string
		code, factory component.StabilityLevel
	}{
		{"traces", metadata.TracesStability, f.TracesStability()},
		{"metrics", metadata.MetricsStability, f.MetricsStability()},
		{"logs", component.StabilityLevelUndefined, f.LogsStability()},
	} {
		if w := want[c.signal]; c.code != w || c.factory != w {
			t.Errorf("%s stability: metadata.yaml %v, internal/metadata %v, factory %v", c.signal, w, c.code, c.factory)
		}
	}
}

// registered is what the collector's telemetry sees of one instrument.
type registered struct {
	Name, Description, Unit string
	Kind                    string // "sum monotonic int" or "gauge int"
}

// registeredSelfTelemetry registers the receiver's self-telemetry tables
// the way Start does, on an SDK meter provider, with every value readable,
// and returns what one collection exports.
func registeredSelfTelemetry(t *testing.T, tables ...[]selfMetric) map[string]registered {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	meter := tel.NewTelemetrySettings().MeterProvider.Meter(metadata.ScopeName)
	for _, table := range tables {
		table = slices.Clone(table)
		for i := range table {
			table[i].read = func(*ebpfReceiver) (int64, bool) { return 1, true }
			table[i].points = nil
		}
		if _, err := registerSelfMetrics(meter, table, nil); err != nil {
			t.Fatal(err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := tel.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]registered{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != metadata.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, metadata.ScopeName)
		}
		for _, m := range sm.Metrics {
			r := registered{Name: m.Name, Description: m.Description, Unit: m.Unit}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				r.Kind = fmt.Sprintf("sum monotonic=%v int", d.IsMonotonic)
			case metricdata.Gauge[int64]:
				r.Kind = "gauge int"
			default:
				r.Kind = fmt.Sprintf("%T", m.Data)
			}
			if _, dup := out[m.Name]; dup {
				t.Errorf("%s registered twice", m.Name)
			}
			out[m.Name] = r
		}
	}
	return out
}

// expectedFromMetadata is what mdatagen's generated builder would register
// for the telemetry metrics of metadata.yaml.
func expectedFromMetadata(t *testing.T, md metadataYAML) map[string]registered {
	t.Helper()
	out := map[string]registered{}
	for key, m := range md.Telemetry.Metrics {
		name := "otelcol_" + key
		if m.Prefix != "" {
			name = m.Prefix + key
		}
		if !m.Enabled {
			t.Errorf("metadata.yaml %s: enabled: false, but the receiver always registers its telemetry", key)
		}
		if m.Stability == component.StabilityLevelUndefined {
			t.Errorf("metadata.yaml %s: no stability (mdatagen requires one)", key)
		}
		if m.Unit == nil {
			t.Errorf("metadata.yaml %s: no unit (mdatagen requires one)", key)
			m.Unit = new(string)
		}
		r := registered{Name: name, Description: m.Description + " [" + m.Stability.String() + "]", Unit: *m.Unit}
		switch {
		case m.Sum != nil && m.Gauge == nil:
			r.Kind = fmt.Sprintf("sum monotonic=%v %s", m.Sum.Monotonic, m.Sum.ValueType)
			if !m.Sum.Async {
				t.Errorf("metadata.yaml %s: sum.async false; the receiver's instruments are all observable", key)
			}
		case m.Gauge != nil && m.Sum == nil:
			r.Kind = "gauge " + m.Gauge.ValueType
			if !m.Gauge.Async {
				t.Errorf("metadata.yaml %s: gauge.async false; the receiver's instruments are all observable", key)
			}
		default:
			t.Errorf("metadata.yaml %s: want exactly one of sum and gauge", key)
		}
		out[name] = r
	}
	return out
}

// TestMetadataTelemetry: the instruments telemetry.go and tls.go register
// are exactly the telemetry metrics of metadata.yaml, with the names,
// descriptions, units, stability and kinds mdatagen would generate from it.
func TestMetadataTelemetry(t *testing.T) {
	md, keys := loadMetadata(t)
	if !slices.IsSorted(keys) {
		t.Errorf("metadata.yaml telemetry.metrics keys are not sorted (mdatagen refuses them): %v", keys)
	}
	want := expectedFromMetadata(t, md)
	got := registeredSelfTelemetry(t, selfMetrics, tlsMetrics)
	compareRegistered(t, got, want)
}

func compareRegistered(t *testing.T, got, want map[string]registered) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("metadata.yaml lists %s, which the receiver does not register", name)
			continue
		}
		if g != w {
			t.Errorf("%s:\n registered %+v\n metadata   %+v", name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("the receiver registers %s, which metadata.yaml does not list", name)
		}
	}
}

// readmeMetric is a row of README.md's self-telemetry table.
var readmeMetric = regexp.MustCompile("(?m)^\\| `(otelcol_ebpfred_[a-z0-9_]+)` \\|")

// TestMetadataReadme: README.md's self-telemetry table lists the same
// metrics, under the names the collector's telemetry endpoint shows.
func TestMetadataReadme(t *testing.T) {
	md, _ := loadMetadata(t)
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var inReadme []string
	for _, m := range readmeMetric.FindAllStringSubmatch(string(raw), -1) {
		inReadme = append(inReadme, m[1])
	}
	var inMetadata []string
	for key := range md.Telemetry.Metrics {
		inMetadata = append(inMetadata, "otelcol_"+key)
	}
	slices.Sort(inReadme)
	slices.Sort(inMetadata)
	if !slices.Equal(inReadme, inMetadata) {
		t.Errorf("README.md's self-telemetry table lists\n %v\nmetadata.yaml\n %v", inReadme, inMetadata)
	}
}
