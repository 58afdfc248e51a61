package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// readEnv reads NAME.env: one NAME=value per line, # comments.
func readEnv(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			env = append(env, l)
		}
	}
	return env
}

// TestGolden converts every testdata/NAME.beyla.yaml with the variables of
// NAME.env and compares the configuration with NAME.collector.yaml and the
// report with NAME.stderr (go test -update rewrites them). The
// distribution tests run `otelcol-ebpfred validate` on every
// NAME.collector.yaml.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.beyla.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.beyla.yaml")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".beyla.yaml")
		t.Run(name, func(t *testing.T) {
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			env := readEnv(t, filepath.Join("testdata", name+".env"))
			var stdout, stderr bytes.Buffer
			if err := convertTo(input, env, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", name+".collector.yaml"), stdout.Bytes())
			golden(t, filepath.Join("testdata", name+".stderr"), stderr.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/beyla2collector -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./cmd/beyla2collector -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestEveryKeyAccounted: every key of every input is either in the
// output's making or named on standard error; a key the converter does
// not know is reported, never dropped.
func TestEveryKeyAccounted(t *testing.T) {
	input := []byte(`
open_port: 80
some_future_key: 1
discovery:
  services:
    - open_ports: 80
      brand_new_selector: x
routes:
  patterns: [/a]
  new_route_option: true
otel_traces_export:
  endpoint: http://c:4318
  sampler: {name: always_on, surprise: 1}
`)
	res, err := convert(input, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dropped []string
	for _, n := range res.notes {
		if n.dropped {
			dropped = append(dropped, n.key)
		}
	}
	want := []string{"discovery.services[0].brand_new_selector", "otel_traces_export.sampler.surprise",
		"routes.new_route_option", "some_future_key"}
	if !slices.Equal(dropped, want) {
		t.Errorf("reported %q, want %q", dropped, want)
	}
}

// TestEnvironmentPrecedence: Beyla's order (OTEL_EBPF_ over BEYLA_ over
// Beyla 0.x's unprefixed names, every variable over the file), and the
// shell over a Helm values file's env block.
func TestEnvironmentPrecedence(t *testing.T) {
	res, err := convert([]byte("open_port: 1\n"), []string{"OPEN_PORT=2", "BEYLA_OPEN_PORT=3", "OTEL_EBPF_OPEN_PORT=4"})
	if err != nil {
		t.Fatal(err)
	}
	if got := receiverKey(t, res.config, "open_port"); got != "4" {
		t.Errorf("open_port %q, want 4 (OTEL_EBPF_OPEN_PORT)", got)
	}
	var reported []string
	for _, n := range res.notes {
		reported = append(reported, n.String())
	}
	for _, want := range []string{
		"not converted: OPEN_PORT: BEYLA_OPEN_PORT is also set and takes precedence",
		"not converted: BEYLA_OPEN_PORT: OTEL_EBPF_OPEN_PORT is also set and takes precedence",
	} {
		if !slices.Contains(reported, want) {
			t.Errorf("report lacks %q: %q", want, reported)
		}
	}

	values := []byte("env:\n  BEYLA_OPEN_PORT: \"5\"\nconfig:\n  data:\n    open_port: 1\n")
	res, err = convert(values, []string{"BEYLA_OPEN_PORT=6"})
	if err != nil {
		t.Fatal(err)
	}
	if got := receiverKey(t, res.config, "open_port"); got != "6" {
		t.Errorf("open_port %q, want 6 (the shell's BEYLA_OPEN_PORT over the values' env)", got)
	}
}

func receiverKey(t *testing.T, config []byte, key string) string {
	t.Helper()
	var c struct {
		Receivers struct {
			Ebpfred map[string]any `yaml:"ebpfred"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(config, &c); err != nil {
		t.Fatal(err)
	}
	s, _ := scalar(c.Receivers.Ebpfred[key])
	return s
}

// TestCommandLine runs the command as a user would, on a file, with -o.
func TestCommandLine(t *testing.T) {
	out := filepath.Join(t.TempDir(), "collector.yaml")
	var stdout, stderr bytes.Buffer
	if err := run("testdata/example.beyla.yaml", out, true, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/example.collector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || stdout.Len() != 0 {
		t.Errorf("-o wrote %q (stdout %q), want testdata/example.collector.yaml", got, stdout.String())
	}
	wantErr, _ := os.ReadFile("testdata/example.stderr")
	if stderr.String() != string(wantErr) {
		t.Errorf("stderr %q, want %q", stderr.String(), wantErr)
	}
	if err := run("testdata/missing.yaml", "", true, &stdout, &stderr); err == nil {
		t.Error("a missing file converted without error")
	}
	if _, err := convert([]byte("- a list\n"), nil); err == nil {
		t.Error("a YAML list converted without error")
	}
}

// TestPrometheusWithoutPort: Beyla serves nothing without a port, so its
// path and ttl are reported as doing nothing, and no exporter is made.
func TestPrometheusWithoutPort(t *testing.T) {
	res, err := convert([]byte("open_port: 80\nprometheus_export:\n  path: /m\n  ttl: 1m\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range res.notes {
		got = append(got, n.String())
	}
	for _, k := range []string{"path", "ttl"} {
		want := "not converted: prometheus_export." + k + ": no port is set, so Beyla serves no Prometheus endpoint"
		if !slices.Contains(got, want) {
			t.Errorf("report lacks %q: %q", want, got)
		}
	}
	if bytes.Contains(res.config, []byte("prometheus:")) {
		t.Errorf("a prometheus exporter without a port:\n%s", res.config)
	}
}
