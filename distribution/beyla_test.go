package distribution

import (
	"path/filepath"
	"slices"
	"testing"
)

// beylaGoldenDir holds beyla2collector's conversions of Beyla
// configurations (cmd/beyla2collector's TestGolden keeps them equal to
// what the converter writes).
const beylaGoldenDir = "../cmd/beyla2collector/testdata"

// TestBeylaConversionsValidate runs `validate` on every collector
// configuration beyla2collector produced from the Beyla examples: the
// converter's output must be accepted as it is.
func TestBeylaConversionsValidate(t *testing.T) {
	bin := collector(t)
	configs, err := filepath.Glob(filepath.Join(beylaGoldenDir, "*.collector.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cfg := range configs {
		name := filepath.Base(cfg)
		names = append(names, name)
		t.Run(name, func(t *testing.T) {
			if out, err := run(t, bin, "validate", "--config", cfg); err != nil {
				t.Errorf("otelcol-ebpfred validate --config %s: %v\n%s", cfg, err, out)
			}
		})
	}
	// The conversions the issue asks for: Helm values selecting by
	// Kubernetes namespace and pod with a sampler and OTLP endpoints, and
	// OPEN_PORT=8080 BEYLA_PROMETHEUS_PORT=9400 alone.
	for _, want := range []string{"helm-values.collector.yaml", "env-only.collector.yaml"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s is missing from %s (found %v)", want, beylaGoldenDir, names)
		}
	}
}
