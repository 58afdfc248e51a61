package distribution

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// netns is a network namespace made for a test: one "host" of a small
// network on this machine.
type netns struct {
	t    *testing.T
	name string
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newNetns(t *testing.T, name string) *netns {
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	sh(t, "ip", "-n", name, "link", "set", "lo", "up")
	return &netns{t: t, name: name}
}

// link joins two namespaces with a veth pair and addresses both ends.
func link(t *testing.T, a *netns, aIf, aAddr string, b *netns, bIf, bAddr string) {
	sh(t, "ip", "link", "add", aIf, "netns", a.name, "type", "veth", "peer", "name", bIf, "netns", b.name)
	sh(t, "ip", "-n", a.name, "addr", "add", aAddr+"/24", "dev", aIf)
	sh(t, "ip", "-n", b.name, "addr", "add", bAddr+"/24", "dev", bIf)
	sh(t, "ip", "-n", a.name, "link", "set", aIf, "up")
	sh(t, "ip", "-n", b.name, "link", "set", bIf, "up")
}

// start runs a command inside the namespace, with its own hostname (a UTS
// namespace) when hostname is set; it is killed at cleanup.
func (n *netns) start(hostname, logPath string, args ...string) *exec.Cmd {
	n.t.Helper()
	full := []string{"netns", "exec", n.name}
	if hostname != "" {
		full = append(full, "unshare", "--uts", "--", "sh", "-c", `hostname "$0" && exec "$@"`, hostname)
	}
	full = append(full, args...)
	cmd := exec.Command("ip", full...)
	logf, err := os.Create(logPath)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
		logf.Close()
		if n.t.Failed() {
			b, _ := os.ReadFile(logPath)
			n.t.Logf("%s (in %s):\n%s", strings.Join(args, " "), n.name, tail(b, 4000))
		}
	})
	return cmd
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Agent → gateway on one machine: two "nodes" (network namespaces with
// their own hostnames), each running an instrumented server and an agent
// collector that exports OTLP to a gateway collector in a third namespace.
// The gateway receives both nodes' spans and metrics, each under its node's
// host.name and its own service instance.
//
// A request crossing the two nodes is TestCrossNodeTrace.
func TestAgentToGateway(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces and eBPF need root (CI runs as root)")
	}
	testserver.Require(t, "ip", "unshare", "curl")
	bin, err := filepath.Abs(collector(t))
	if err != nil {
		t.Fatal(err)
	}
	server := testserver.GoBinary(t, "goserver")
	dir := t.TempDir()
	id := fmt.Sprintf("%04x", rand.IntN(1<<16))
	gw := newNetns(t, "ebpfred-gw-"+id)
	nodes := []*netns{newNetns(t, "ebpfred-na-"+id), newNetns(t, "ebpfred-nb-"+id)}
	link(t, nodes[0], "ea"+id, "10.231.1.1", gw, "ga"+id, "10.231.1.2")
	link(t, nodes[1], "eb"+id, "10.231.2.1", gw, "gb"+id, "10.231.2.2")

	gwConf := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(gwConf, []byte(fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
exporters:
  file/traces:
    path: %[1]s/gw-traces.json
  file/metrics:
    path: %[1]s/gw-metrics.json
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {receivers: [otlp], exporters: [file/traces]}
    metrics: {receivers: [otlp], exporters: [file/metrics]}
`, dir)), 0o600)
	gw.start("", filepath.Join(dir, "gateway.log"), bin, "--config", gwConf)

	type node struct {
		ns       *netns
		host     string
		port     int
		gateway  string
		requests []string
	}
	spec := []node{
		{nodes[0], "node-a", 18081, "10.231.1.2:4317", []string{"/status/200", "/status/200", "/status/200"}},
		{nodes[1], "node-b", 18082, "10.231.2.2:4317", []string{"/status/404", "/status/503"}},
	}
	for _, n := range spec {
		n.ns.start("", filepath.Join(dir, n.host+"-server.log"), server, "-addr", fmt.Sprintf("127.0.0.1:%d", n.port))
		conf := filepath.Join(dir, n.host+".yaml")
		os.WriteFile(conf, []byte(fmt.Sprintf(`
receivers:
  ebpfred:
    open_port: "%d"
    metrics:
      interval: 1s
exporters:
  otlp_grpc:
    endpoint: http://%s
    tls:
      insecure: true
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {receivers: [ebpfred], exporters: [otlp_grpc]}
    metrics: {receivers: [ebpfred], exporters: [otlp_grpc]}
`, n.port, n.gateway)), 0o600)
		log := filepath.Join(dir, n.host+"-agent.log")
		n.ns.start(n.host, log, bin, "--config", conf)
		waitFor(t, n.host+"'s agent to start", func() bool {
			b, _ := os.ReadFile(log)
			return bytes.Contains(b, []byte("Everything is ready"))
		})
	}
	for _, n := range spec {
		for _, p := range n.requests {
			sh(t, "ip", "netns", "exec", n.ns.name, "curl", "-s", "-o", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d%s", n.port, p))
		}
	}

	// The gateway's files hold both nodes' spans and cumulative metrics.
	spansBy := map[string]int{}
	waitFor(t, "5 spans at the gateway", func() bool {
		clear(spansBy)
		for _, l := range readLines(t, filepath.Join(dir, "gw-traces.json")) {
			countSpansByHost(t, l, spansBy)
		}
		return spansBy["node-a"]+spansBy["node-b"] >= 5
	})
	if spansBy["node-a"] != 3 || spansBy["node-b"] != 2 {
		t.Errorf("spans by host.name at the gateway: %v, want node-a 3, node-b 2", spansBy)
	}
	counts := map[string]uint64{}
	waitFor(t, "both nodes' metrics at the gateway", func() bool {
		clear(counts)
		lastCountsByHost(t, readLines(t, filepath.Join(dir, "gw-metrics.json")), counts)
		return counts["node-a 200"] == 3 && counts["node-b 404"] == 1 && counts["node-b 503"] == 1
	})
}

// A request crossing two nodes forms one trace at the gateway: a Python
// server (thread-per-request) on node A calls a Go server on node B over a
// direct link; each node's agent instruments its own server with
// context_propagation: headers. The gateway holds SERVER(A) → CLIENT(A→B)
// → SERVER(B), one trace id, each span the parent of the next.
func TestCrossNodeTrace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces and eBPF need root (CI runs as root)")
	}
	testserver.Require(t, "ip", "unshare", "curl", "python3")
	bin, err := filepath.Abs(collector(t))
	if err != nil {
		t.Fatal(err)
	}
	goServer := testserver.GoBinary(t, "goserver")
	pyServer := testserver.PythonScript(t)
	dir := t.TempDir()
	id := fmt.Sprintf("%04x", rand.IntN(1<<16))
	gw := newNetns(t, "ebpfred-gw-"+id)
	na, nb := newNetns(t, "ebpfred-na-"+id), newNetns(t, "ebpfred-nb-"+id)
	link(t, na, "ea"+id, "10.232.1.1", gw, "ga"+id, "10.232.1.2")
	link(t, nb, "eb"+id, "10.232.2.1", gw, "gb"+id, "10.232.2.2")
	link(t, na, "xa"+id, "10.232.3.1", nb, "xb"+id, "10.232.3.2") // node A → node B

	gwConf := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(gwConf, []byte(fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
exporters:
  file/traces:
    path: %s/gw-traces.json
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {receivers: [otlp], exporters: [file/traces]}
`, dir)), 0o600)
	gw.start("", filepath.Join(dir, "gateway.log"), bin, "--config", gwConf)

	na.start("", filepath.Join(dir, "node-a-server.log"), "python3", "-u", pyServer, "10.232.3.1:18091")
	nb.start("", filepath.Join(dir, "node-b-server.log"), goServer, "-addr", "10.232.3.2:18092")
	for _, n := range []struct {
		ns            *netns
		host, gateway string
		port          int
	}{
		{na, "node-a", "10.232.1.2:4317", 18091},
		{nb, "node-b", "10.232.2.2:4317", 18092},
	} {
		conf := filepath.Join(dir, n.host+".yaml")
		os.WriteFile(conf, []byte(fmt.Sprintf(`
receivers:
  ebpfred:
    open_port: "%d"
    context_propagation: headers
exporters:
  otlp_grpc:
    endpoint: http://%s
    tls:
      insecure: true
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {receivers: [ebpfred], exporters: [otlp_grpc]}
`, n.port, n.gateway)), 0o600)
		log := filepath.Join(dir, n.host+"-agent.log")
		n.ns.start(n.host, log, bin, "--config", conf)
		waitFor(t, n.host+"'s agent to start", func() bool {
			b, _ := os.ReadFile(log)
			return bytes.Contains(b, []byte("Everything is ready"))
		})
	}
	// Both servers listen (the agents selected them at start): the first
	// request's connection from A to B is opened after A is instrumented.
	out, err := exec.Command("ip", "netns", "exec", na.name, "curl", "-s", "--retry", "5", "--retry-connrefused",
		"http://10.232.3.1:18091/proxy?to=http://10.232.3.2:18092/status/200").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "proxied 200") {
		t.Fatalf("curl through node A to node B: %v: %s", err, out)
	}

	type seen struct {
		host string
		span ptrace.Span
	}
	var spans []seen
	waitFor(t, "the three spans of the request at the gateway", func() bool {
		spans = spans[:0]
		var u ptrace.JSONUnmarshaler
		for _, l := range readLines(t, filepath.Join(dir, "gw-traces.json")) {
			td, err := u.UnmarshalTraces(l)
			if err != nil {
				t.Fatalf("traces file: %v", err)
			}
			for i := 0; i < td.ResourceSpans().Len(); i++ {
				rs := td.ResourceSpans().At(i)
				host, _ := rs.Resource().Attributes().Get("host.name")
				for j := 0; j < rs.ScopeSpans().Len(); j++ {
					ss := rs.ScopeSpans().At(j).Spans()
					for k := 0; k < ss.Len(); k++ {
						spans = append(spans, seen{host.AsString(), ss.At(k)})
					}
				}
			}
		}
		return len(spans) >= 3
	})
	var serverA, client, serverB *ptrace.Span
	for i := range spans {
		s := &spans[i].span
		path, _ := s.Attributes().Get("url.path")
		switch {
		case spans[i].host == "node-a" && s.Kind() == ptrace.SpanKindServer && path.AsString() == "/proxy":
			serverA = s
		case spans[i].host == "node-a" && s.Kind() == ptrace.SpanKindClient:
			client = s
		case spans[i].host == "node-b" && s.Kind() == ptrace.SpanKindServer && path.AsString() == "/status/200":
			serverB = s
		}
	}
	if serverA == nil || client == nil || serverB == nil || len(spans) != 3 {
		for _, s := range spans {
			t.Logf("%s %s %s trace %s span %s parent %s", s.host, s.span.Kind(), s.span.Name(), s.span.TraceID(), s.span.SpanID(), s.span.ParentSpanID())
		}
		t.Fatalf("want exactly SERVER(A) /proxy, CLIENT(A→B), SERVER(B) /status/200 at the gateway")
	}
	if client.TraceID() != serverA.TraceID() || serverB.TraceID() != serverA.TraceID() {
		t.Errorf("trace ids: SERVER(A) %s, CLIENT %s, SERVER(B) %s; want one trace", serverA.TraceID(), client.TraceID(), serverB.TraceID())
	}
	if client.ParentSpanID() != serverA.SpanID() {
		t.Errorf("CLIENT's parent %s, want SERVER(A) %s", client.ParentSpanID(), serverA.SpanID())
	}
	if serverB.ParentSpanID() != client.SpanID() {
		t.Errorf("SERVER(B)'s parent %s, want CLIENT %s", serverB.ParentSpanID(), client.SpanID())
	}
}
