package distribution

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// TestCollectorInPIDNamespace runs the built collector the way the sidecar
// manifest does: in a PID namespace of its own (unshare --pid --mount-proc,
// like a pod with shareProcessNamespace) together with the server it
// instruments: a Go server over HTTP, and a Python one over HTTPS (OpenSSL's
// probes key calls by thread, whose id is the namespace's too). Every
// request to them is one span and one histogram count, with process.pid as
// the namespace numbers the server; a server of the host on a port the
// collector also selects is not captured.
func TestCollectorInPIDNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the collector loads eBPF programs and unshare --pid needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	bin, err := filepath.Abs(collector(t))
	if err != nil {
		t.Fatal(err)
	}
	outside := testserver.StartGo(t)
	goserver := testserver.GoBinary(t, "goserver")
	port := freePort(t)
	// The interpreter itself, not a wrapper script that forks (pyenv).
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Skipf("needs python3: %v", err)
	}
	python := strings.TrimSpace(string(out))
	pyserver := filepath.Join(t.TempDir(), "pyserver.py")
	src, err := os.ReadFile(filepath.Join("..", "internal", "testserver", "pyserver.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pyserver, src, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, key := testserver.SelfSignedCert(t)
	tlsPort := freePort(t)
	dir := t.TempDir()
	telemetryPort := freePort(t)
	cfgPath := writeFileConfig(t, fmt.Sprintf("%d,%d,%d", port, tlsPort, outside.Port), dir, telemetryPort)
	// The shell starts the servers, then becomes the collector: pid 1 of
	// the namespace, whose exit ends the servers too.
	var logs bytes.Buffer
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
		`"$0" -addr "127.0.0.1:$1" & "$4" -u "$5" "$6" "$7" "$8" & exec "$2" --config "$3"`,
		goserver, strconv.Itoa(port), bin, cfgPath, python, pyserver, strconv.Itoa(tlsPort), cert, key)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c := children(cmd.Process.Pid); len(c) == 1 {
			syscall.Kill(c[0], syscall.SIGINT) // the collector
		}
		cmd.Wait()
		if t.Failed() {
			t.Logf("collector output:\n%s", logs.String())
		}
	})
	waitFor(t, "the collector to start", func() bool { return strings.Contains(logs.String(), "Everything is ready") })
	if !strings.Contains(logs.String(), "PID namespace of its own") {
		t.Error("the collector did not log that it runs in a PID namespace of its own")
	}

	// The servers' pids in the namespace, as the collector's /proc says.
	nsPID := map[int]int{} // port → pid
	waitFor(t, "the servers in the namespace", func() bool {
		c := children(cmd.Process.Pid)
		if len(c) != 1 {
			return false
		}
		for _, s := range children(c[0]) {
			exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", s))
			p := lastNSpid(t, s)
			if p == 0 || p == s {
				return false
			}
			if exe == goserver {
				nsPID[port] = p
			} else {
				nsPID[tlsPort] = p
			}
		}
		return len(nsPID) == 2
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	reqs := []testserver.Request{{Path: "/status/200"}, {Path: "/status/200?delay_ms=5"}, {Path: "/status/404"},
		{Method: "POST", Path: "/status/503", Body: []byte("x")}, {Method: "PUT", Path: "/status/201"}}
	testserver.Drive(t, base, reqs, true)
	const tlsReqs = 3
	for i := 0; i < tlsReqs; i++ {
		if out, err := exec.Command("curl", "-ksS", "-o", "/dev/null", "--max-time", "10",
			fmt.Sprintf("https://127.0.0.1:%d/status/200", tlsPort)).CombinedOutput(); err != nil {
			t.Fatalf("curl https: %v %s", err, out)
		}
	}
	want := map[string]int{fmt.Sprintf("http %d %d", port, nsPID[port]): len(reqs),
		fmt.Sprintf("https %d %d", tlsPort, nsPID[tlsPort]): tlsReqs}
	total := len(reqs) + tlsReqs
	testserver.Drive(t, outside.Base(), []testserver.Request{{Path: "/status/200"}, {Path: "/status/500"}, {Path: "/status/404"}}, true)
	metricsFile := filepath.Join(dir, "metrics.json")
	exports := len(readLines(t, metricsFile))

	waitFor(t, fmt.Sprintf("%d spans in the traces file", total), func() bool {
		return len(readSpans(t, filepath.Join(dir, "traces.json"))) >= total
	})
	// Two more exports (1 s apart) after the last request: the spans and
	// counts of every request are in by then, the host server's too if
	// they were captured.
	waitFor(t, "two metrics exports after the last request", func() bool {
		return len(readLines(t, metricsFile)) >= exports+2
	})
	count := lastServerCount(t, metricsFile)
	if count != uint64(total) {
		t.Errorf("http.server.request.duration count %d, want %d", count, total)
	}

	// Spans by scheme, server.port and process.pid.
	var u ptrace.JSONUnmarshaler
	got := map[string]int{}
	for _, line := range readLines(t, filepath.Join(dir, "traces.json")) {
		td, err := u.UnmarshalTraces(line)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			pid, _ := rs.Resource().Attributes().Get("process.pid")
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					a := ss.At(k).Attributes()
					scheme, _ := a.Get("url.scheme")
					p, _ := a.Get("server.port")
					got[fmt.Sprintf("%s %d %d", scheme.Str(), p.Int(), pid.Int())]++
				}
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("spans by url.scheme, server.port, process.pid: %v, want %v (the host's server is on port %d)", got, want, outside.Port)
	}
}

func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// lastNSpid is hostPID's pid in its own PID namespace (0 if it is gone).
func lastNSpid(t *testing.T, hostPID int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", hostPID))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "NSpid:" {
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	return 0
}
