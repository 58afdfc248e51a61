package distribution

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
)

// extensionsConfig is the part of a collector configuration that wires the
// health and debugging extensions.
type extensionsConfig struct {
	Extensions map[string]struct {
		Endpoint string `yaml:"endpoint"`
		Path     string `yaml:"path"`
	} `yaml:"extensions"`
	Service struct {
		Extensions []string `yaml:"extensions"`
	} `yaml:"service"`
}

// healthEndpoint is where a configuration's health_check answers.
type healthEndpoint struct {
	host string // as written, e.g. ${env:MY_POD_IP}
	port int
	path string
}

// checkExtensions checks the extensions of a collector configuration:
// health_check defined and started, pprof and zpages defined on loopback
// and started only when debugOn. It returns health_check's endpoint.
func checkExtensions(t *testing.T, what, cfg string, debugOn bool) healthEndpoint {
	t.Helper()
	var c extensionsConfig
	if err := yaml.Unmarshal([]byte(cfg), &c); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	hc, ok := c.Extensions["health_check"]
	if !ok {
		t.Fatalf("%s: no health_check extension", what)
	}
	if !slices.Contains(c.Service.Extensions, "health_check") {
		t.Errorf("%s: health_check is defined but not in service.extensions %v: it would not start", what, c.Service.Extensions)
	}
	host, port, err := splitEndpoint(hc.Endpoint)
	if err != nil {
		t.Fatalf("%s: health_check endpoint %q: %v", what, hc.Endpoint, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("%s: health_check endpoint %q: port: %v", what, hc.Endpoint, err)
	}
	path := hc.Path
	if path == "" {
		path = "/" // the extension's default
	}

	for _, name := range []string{"pprof", "zpages"} {
		ext, ok := c.Extensions[name]
		if !ok {
			t.Errorf("%s: no %s extension defined", what, name)
			continue
		}
		// Profiles and internal state are for whoever can reach the
		// collector's own loopback (a shell on the host, kubectl
		// port-forward), not for the network.
		h, _, err := splitEndpoint(ext.Endpoint)
		if err != nil {
			t.Errorf("%s: %s endpoint %q: %v", what, name, ext.Endpoint, err)
		} else if h != "localhost" && !net.ParseIP(h).IsLoopback() {
			t.Errorf("%s: %s listens on %q, want a loopback address", what, name, ext.Endpoint)
		}
		if on := slices.Contains(c.Service.Extensions, name); on != debugOn {
			t.Errorf("%s: %s in service.extensions: %v, want %v", what, name, on, debugOn)
		}
	}
	for _, name := range c.Service.Extensions {
		if _, ok := c.Extensions[name]; !ok {
			t.Errorf("%s: service.extensions names %s, which is not defined", what, name)
		}
	}
	return healthEndpoint{host: host, port: p, path: path}
}

// splitEndpoint splits HOST:PORT where HOST may be an ${env:VAR}
// reference (which net.SplitHostPort refuses for its colon).
func splitEndpoint(ep string) (host, port string, err error) {
	if h, ok := strings.CutPrefix(ep, "${"); ok {
		end := strings.Index(h, "}")
		if end < 0 || !strings.HasPrefix(h[end+1:], ":") {
			return "", "", fmt.Errorf("want ${env:VAR}:PORT")
		}
		return ep[:end+3], h[end+2:], nil
	}
	return net.SplitHostPort(ep)
}

// checkProbe checks that a container probe asks health_check: HTTP GET on
// its port and path.
func checkProbe(t *testing.T, what string, c *corev1.Container, p *corev1.Probe, h healthEndpoint) {
	t.Helper()
	if p == nil {
		t.Errorf("%s: no probe", what)
		return
	}
	if p.HTTPGet == nil {
		t.Errorf("%s: %+v, want an httpGet on health_check", what, p.ProbeHandler)
		return
	}
	port := p.HTTPGet.Port.IntValue()
	if name := p.HTTPGet.Port.StrVal; name != "" {
		i := slices.IndexFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == name })
		if i < 0 {
			t.Errorf("%s: port %q is not a port of container %s", what, name, c.Name)
			return
		}
		port = int(c.Ports[i].ContainerPort)
	}
	if port != h.port || p.HTTPGet.Path != h.path {
		t.Errorf("%s asks :%d%s; health_check answers on :%d%s", what, port, p.HTTPGet.Path, h.port, h.path)
	}
}

// TestDefaultConfigExtensions checks what `make run` serves besides the
// pipelines: health on 127.0.0.1:13133 (the README names it), pprof and
// zPages started, everything on loopback.
func TestDefaultConfigExtensions(t *testing.T) {
	raw, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := checkExtensions(t, "config.yaml", string(raw), true)
	if h.host != "127.0.0.1" || h.port != 13133 || h.path != "/" {
		t.Errorf("config.yaml: health_check on %s:%d%s, want 127.0.0.1:13133/", h.host, h.port, h.path)
	}
}

// TestRunDefaultConfig runs the collector with `make run`'s configuration
// (distribution/config.yaml), its ports moved to free ones and its files to
// a temporary directory so that it cannot collide with a collector already
// running here, and asks the extensions what a user would: health_check
// says the collector is available once it is ready, pprof and zPages
// answer. TestDefaultConfigExtensions checks the ports as written.
// runDefaultConfig runs the collector with distribution/config.yaml, its
// ports moved to free ones and its files to a temporary directory, after
// mutate (when not nil) changed the decoded configuration, with extra
// command-line arguments; it returns once the collector is ready, with the
// extensions' addresses. The collector is stopped at the test's end.
func runDefaultConfig(t *testing.T, mutate func(cfg map[string]any, addr map[string]string), args ...string) map[string]string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the collector loads eBPF programs, which needs root (CI runs as root)")
	}
	bin := collector(t)
	raw, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := map[string]string{}
	for _, name := range []string{"health_check", "pprof", "zpages"} {
		addr[name] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		setIn(t, cfg, addr[name], "extensions", name, "endpoint")
	}
	setIn(t, cfg, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "exporters", "prometheus", "endpoint")
	setIn(t, cfg, filepath.Join(dir, "traces.jsonl"), "exporters", "file/traces", "path")
	setIn(t, cfg, filepath.Join(dir, "metrics.jsonl"), "exporters", "file/metrics", "path")
	readers := getIn(t, cfg, "service", "telemetry", "metrics", "readers").([]any)
	setIn(t, readers[0].(map[string]any), freePort(t), "pull", "exporter", "prometheus", "port")
	if mutate != nil {
		mutate(cfg, addr)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, out, 0o600); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	cmd := exec.Command(bin, append([]string{"--config", cfgPath}, args...)...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("collector output:\n%s", logs.String())
		}
	})
	waitFor(t, "the collector to start", func() bool { return strings.Contains(logs.String(), "Everything is ready") })
	return addr
}

// health_check's component-status view (the v2 behaviour, behind the
// extension's feature gate): the ebpfred receiver is in each pipeline,
// with the status it reports (StatusOK while it captures everything;
// the receiver's tests cover the recoverable errors).
func TestHealthCheckComponentStatus(t *testing.T) {
	addr := runDefaultConfig(t, func(cfg map[string]any, addr map[string]string) {
		ext := getIn(t, cfg, "extensions").(map[string]any)
		ext["health_check"] = map[string]any{"http": map[string]any{
			"endpoint": addr["health_check"],
			"status":   map[string]any{"enabled": true, "path": "/status"},
		}}
	}, "--feature-gates=+extension.healthcheck.useComponentStatus")
	type status struct {
		Healthy    bool               `json:"healthy"`
		Status     string             `json:"status"`
		Error      string             `json:"error"`
		Components map[string]*status `json:"components"`
	}
	var st status
	waitFor(t, "ebpfred's status in both pipelines", func() bool {
		code, body := httpGet(t, "http://"+addr["health_check"]+"/status?verbose")
		st = status{}
		if code != http.StatusOK || json.Unmarshal(body, &st) != nil {
			return false
		}
		for _, p := range []string{"pipeline:traces", "pipeline:metrics"} {
			pl := st.Components[p]
			if pl == nil || pl.Components["receiver:ebpfred"] == nil || pl.Components["receiver:ebpfred"].Status != "StatusOK" {
				return false
			}
		}
		return true
	})
	if !st.Healthy {
		t.Errorf("collector not healthy: %+v", st)
	}
}

func TestRunDefaultConfig(t *testing.T) {
	addr := runDefaultConfig(t, nil)

	// What `curl 127.0.0.1:13133/` shows a user of `make run`.
	code, body := httpGet(t, "http://"+addr["health_check"]+"/")
	var health struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &health); err != nil {
		t.Errorf("health_check body %q: %v", body, err)
	}
	if code != http.StatusOK || health.Status != "Server available" {
		t.Errorf("health_check: %d %q, want 200 and status \"Server available\"", code, body)
	}
	for _, url := range []string{
		"http://" + addr["pprof"] + "/debug/pprof/",
		"http://" + addr["zpages"] + "/debug/servicez",
	} {
		if code, body := httpGet(t, url); code != http.StatusOK {
			t.Errorf("GET %s: %d %q, want 200", url, code, body)
		}
	}
}

// httpGet returns the status and body of a GET.
func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, body
}

// getIn returns the value at path in a decoded YAML document.
func getIn(t *testing.T, doc map[string]any, path ...string) any {
	t.Helper()
	var v any = doc
	for i, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v is not a mapping", path[:i])
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("no %v", path[:i+1])
		}
	}
	return v
}

// setIn replaces the value at path, which must exist.
func setIn(t *testing.T, doc map[string]any, value any, path ...string) {
	t.Helper()
	parent, ok := getIn(t, doc, path[:len(path)-1]...).(map[string]any)
	if !ok {
		t.Fatalf("%v is not a mapping", path[:len(path)-1])
	}
	if _, ok := parent[path[len(path)-1]]; !ok {
		t.Fatalf("no %v", path)
	}
	parent[path[len(path)-1]] = value
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
