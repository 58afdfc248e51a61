package distribution

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A user's own builder config, as the README's Deploy section tells them to
// write it: only the components they want, our receiver by a plain gomod
// line, and a replaces line to a checkout (until a version is published).
// It must build with ocb and list ebpfred.
func TestUserBuilderConfigBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a collector (about a minute with warm caches)")
	}
	ocb, err := filepath.Abs(filepath.Join("..", "bin", "tools", "ocb-v0.159.0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ocb); err != nil {
		t.Skipf("no ocb at %s (%v): run make build first, or make test, which does", ocb, err)
	}
	checkout, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := `dist:
  name: my-collector
  description: a platform team's own collector with ebpfred
  output_path: ` + filepath.Join(dir, "out") + `
receivers:
  - gomod: github.com/ebpfred/ebpfred v0.0.0
    import: github.com/ebpfred/ebpfred/receiver/ebpfredreceiver
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v0.159.0
processors:
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor v0.159.0
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider v1.65.0
replaces:
  - github.com/ebpfred/ebpfred => ` + checkout + `
`
	path := filepath.Join(dir, "builder-config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ocb, "--config", path)
	cmd.Env = append(os.Environ(), "GOPROXY=https://proxy.golang.org")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ocb: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(dir, "out", "my-collector"), "components").CombinedOutput()
	if err != nil {
		t.Fatalf("components: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "name: ebpfred") {
		t.Errorf("components of the user's build lack ebpfred:\n%s", out)
	}
}
