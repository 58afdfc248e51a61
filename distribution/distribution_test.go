// Package distribution tests the otelcol-ebpfred collector that ocb builds
// from builder-config.yaml, and the configurations shipped beside it.
package distribution

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// binaryEnv overrides where the distribution binary is looked for.
const binaryEnv = "OTELCOL_EBPFRED"

// collector returns the path of the built distribution, or skips the test
// when it has not been built.
func collector(t *testing.T) string {
	t.Helper()
	path := os.Getenv(binaryEnv)
	if path == "" {
		path = filepath.Join("..", "bin", "otelcol-ebpfred")
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no collector binary at %s (%v): run `make build` first, or `make test`, which builds it; or set %s", path, err, binaryEnv)
	}
	return path
}

// run runs the collector with args and returns its combined output.
func run(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestValidateConfigs runs `validate` on every collector configuration
// shipped under distribution/: a shipped config that the shipped collector
// refuses is the first bug a user meets. YAML files that are not collector
// configurations (Kubernetes manifests, Helm values) are searched for
// collector configurations embedded in a ConfigMap's data, and otherwise
// skipped.
func TestValidateConfigs(t *testing.T) {
	bin := collector(t)
	var found []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		configs, err := collectorConfigs(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		if len(configs) == 0 {
			t.Logf("%s: no collector configuration in it; not validated", path)
		}
		for name, cfg := range configs {
			found = append(found, name)
			t.Run(name, func(t *testing.T) {
				if cfg != path {
					// Embedded in a manifest: give validate a file of its own.
					file := filepath.Join(t.TempDir(), "config.yaml")
					if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
						t.Fatal(err)
					}
					cfg = file
				}
				if out, err := run(t, bin, "validate", "--config", cfg); err != nil {
					t.Errorf("otelcol-ebpfred validate --config %s: %v\n%s", name, err, out)
				}
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(found, "config.yaml") {
		t.Fatalf("distribution/config.yaml is not among the collector configurations found: %v", found)
	}
}

// collectorConfigs returns the collector configurations in a YAML file: the
// file's own path when the file is one, or name → content for those
// embedded in the data of Kubernetes ConfigMaps it holds.
func collectorConfigs(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	configs := map[string]string{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		if isCollectorConfig(doc) {
			configs[path] = path
			continue
		}
		if doc["kind"] != "ConfigMap" {
			continue
		}
		data, _ := doc["data"].(map[string]any)
		for key, v := range data {
			text, ok := v.(string)
			if !ok {
				continue
			}
			var embedded map[string]any
			if yaml.Unmarshal([]byte(text), &embedded) == nil && isCollectorConfig(embedded) {
				configs[path+"#"+key] = text
			}
		}
	}
	return configs, nil
}

// isCollectorConfig tells a collector configuration by its service
// section.
func isCollectorConfig(doc map[string]any) bool {
	service, ok := doc["service"].(map[string]any)
	if !ok {
		return false
	}
	_, ok = service["pipelines"]
	return ok
}

// components is the part of `otelcol-ebpfred components` output we check.
type components struct {
	Receivers  []component `yaml:"receivers"`
	Processors []component `yaml:"processors"`
	Exporters  []component `yaml:"exporters"`
	Connectors []component `yaml:"connectors"`
	Extensions []component `yaml:"extensions"`
	Providers  []struct {
		Scheme string `yaml:"scheme"`
	} `yaml:"providers"`
}

type component struct {
	Name   string `yaml:"name"`
	Module string `yaml:"module"`
}

// TestComponents checks that the distribution contains what
// builder-config.yaml promises, under the names users write in configs.
func TestComponents(t *testing.T) {
	bin := collector(t)
	out, err := run(t, bin, "components")
	if err != nil {
		t.Fatalf("otelcol-ebpfred components: %v\n%s", err, out)
	}
	var got components
	if err := yaml.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("components output is not YAML: %v\n%s", err, out)
	}

	names := func(cs []component) []string {
		var n []string
		for _, c := range cs {
			n = append(n, c.Name)
		}
		return n
	}
	var schemes []string
	for _, p := range got.Providers {
		schemes = append(schemes, p.Scheme)
	}
	for _, kind := range []struct {
		kind string
		got  []string
		want []string
	}{
		{"receivers", names(got.Receivers), []string{"ebpfred", "otlp"}},
		{"processors", names(got.Processors), []string{"batch", "memory_limiter", "resource", "k8s_attributes"}},
		{"exporters", names(got.Exporters), []string{"debug", "otlp_grpc", "otlp_http", "file", "prometheus", "googlemanagedprometheus", "googlecloud"}},
		{"connectors", names(got.Connectors), []string{"span_metrics", "service_graph"}},
		{"extensions", names(got.Extensions), []string{"health_check", "pprof", "zpages"}},
		{"providers", schemes, []string{"env", "file", "yaml"}},
	} {
		for _, w := range kind.want {
			if !slices.Contains(kind.got, w) {
				t.Errorf("%s: %q missing; the distribution has %v", kind.kind, w, kind.got)
			}
		}
	}

	// Our receiver must come from this checkout's module, not from a
	// published version that a broken replace would silently pick up.
	for _, r := range got.Receivers {
		if r.Name == "ebpfred" && r.Module != "github.com/ebpfred/ebpfred v0.0.0" {
			t.Errorf("ebpfred receiver module = %q, want github.com/ebpfred/ebpfred v0.0.0", r.Module)
		}
	}
}
