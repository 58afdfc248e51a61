package discovery

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// listenEnv makes the test binary a listener (see TestMain): it lets the
// tests run servers under executable names of their choosing, without any
// interpreter installed.
const listenEnv = "DISCOVERY_TEST_LISTEN"

func TestMain(m *testing.M) {
	if addr := os.Getenv(listenEnv); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("up", ln.Addr().(*net.TCPAddr).Port)
		io.Copy(io.Discard, os.Stdin) // until the test closes our stdin
		os.Exit(0)
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// namedBinary returns the path of a copy of the test binary called name.
func namedBinary(t *testing.T, name string) string {
	t.Helper()
	binOnce.Do(func() { binDir, binErr = os.MkdirTemp("", "ebpfred-discovery-") })
	if binErr != nil {
		t.Fatal(binErr)
	}
	dst := filepath.Join(binDir, name)
	if _, err := os.Stat(dst); err == nil {
		return dst
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Link(self, dst); err != nil { // a hard link keeps its own name in /proc/<pid>/exe
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

type server struct {
	pid  int
	port int
	exe  string
}

// startServer runs the test binary as name, listening on 127.0.0.1:port
// (0: any), with env added.
func startServer(t *testing.T, name string, port int, env ...string) server {
	t.Helper()
	exe := namedBinary(t, name)
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), fmt.Sprintf("%s=127.0.0.1:%d", listenEnv, port)), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 2 || f[0] != "up" {
		t.Fatalf("%s did not start: %q %v", name, line, err)
	}
	p, _ := strconv.Atoi(f[1])
	return server{pid: cmd.Process.Pid, port: p, exe: exe}
}

// freePorts returns n consecutive TCP ports free on 127.0.0.1 right now.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for base := 20000 + os.Getpid()%20000; base < 60000; base += n {
		ok := true
		for i := 0; i < n && ok; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

func TestSelectorsOnRealProcesses(t *testing.T) {
	p := freePorts(t, 4)
	backend := startServer(t, "backend", p)
	worker := startServer(t, "worker", p+1)
	gateway := startServer(t, "gateway", p+2, "OTEL_SERVICE_NAME=gw-from-env", "OTEL_RESOURCE_ATTRIBUTES=service.namespace=edge")
	agent := startServer(t, "otelcol-contrib", p+3)
	all := []server{backend, worker, gateway, agent}
	dir := regexpQuote(binDir)

	tests := []struct {
		name     string
		criteria Criteria
		cfg      ServicesConfig
		want     map[int]string // pid → service.name; the others must not be selected
	}{
		{"one port", Criteria{}, ServicesConfig{Services: []SelectorConfig{{OpenPorts: strconv.Itoa(p)}}},
			map[int]string{backend.pid: "backend"}},
		{"a range", Criteria{}, ServicesConfig{Services: []SelectorConfig{{OpenPorts: fmt.Sprintf("%d-%d", p, p+1)}}},
			map[int]string{backend.pid: "backend", worker.pid: "worker"}},
		{"exe regexp", Criteria{}, ServicesConfig{Services: []SelectorConfig{{ExePathRegexp: "^" + dir + "/(worker|gateway)$"}}},
			map[int]string{worker.pid: "worker", gateway.pid: "gw-from-env"}},
		{"port and exe in one entry", Criteria{}, ServicesConfig{Services: []SelectorConfig{{OpenPorts: fmt.Sprintf("%d-%d", p, p+3), ExePathRegexp: "/backend$"}}},
			map[int]string{backend.pid: "backend"}},
		{"exclude wins", Criteria{}, ServicesConfig{
			Services:        []SelectorConfig{{OpenPorts: fmt.Sprintf("%d-%d", p, p+3)}},
			ExcludeServices: []SelectorConfig{{ExePathRegexp: "^" + dir + "/worker$"}},
		}, map[int]string{backend.pid: "backend", gateway.pid: "gw-from-env", agent.pid: "otelcol-contrib"}},
		{"default exclusion of telemetry agents", Criteria{}, ServicesConfig{
			Services:               []SelectorConfig{{OpenPorts: fmt.Sprintf("%d-%d", p, p+3)}},
			DefaultExcludeServices: DefaultExcludeServices(),
		}, map[int]string{backend.pid: "backend", worker.pid: "worker", gateway.pid: "gw-from-env"}},
		{"names: entry first, then OTEL_SERVICE_NAME", Criteria{}, ServicesConfig{Services: []SelectorConfig{
			{Name: "named", OpenPorts: strconv.Itoa(p)},
			{OpenPorts: fmt.Sprintf("%d-%d", p, p+2)},
		}}, map[int]string{backend.pid: "named", worker.pid: "worker", gateway.pid: "gw-from-env"}},
		{"shorthand plus entries", Criteria{Ports: func(x uint16) bool { return int(x) == p }, ServiceName: "short"},
			ServicesConfig{Services: []SelectorConfig{{ExePathRegexp: "^" + dir + "/worker$"}}},
			map[int]string{backend.pid: "short", worker.pid: "worker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc, exc := mustCompile(t, tt.cfg)
			d := New(Config{Criteria: tt.criteria, Services: inc, ExcludeServices: exc, HostName: "h", Exclude: []int{os.Getpid()}})
			d.Scan()
			for _, s := range all {
				info := d.Lookup(uint32(s.pid))
				want, ok := tt.want[s.pid]
				if (info != nil) != ok {
					t.Errorf("%s selected = %v, want %v", filepath.Base(s.exe), info != nil, ok)
					continue
				}
				if info != nil && info.ServiceName != want {
					t.Errorf("%s service.name = %q, want %q", filepath.Base(s.exe), info.ServiceName, want)
				}
			}
			// Evaluate (the exec / first-event path) decides the same.
			d2 := New(Config{Criteria: tt.criteria, Services: inc, ExcludeServices: exc, HostName: "h"})
			for _, s := range all {
				if _, want := tt.want[s.pid]; (d2.Evaluate(uint32(s.pid), "") != nil) != want {
					t.Errorf("Evaluate(%s) selected = %v, want %v", filepath.Base(s.exe), !want, want)
				}
			}
		})
	}

	inc, _ := mustCompile(t, ServicesConfig{Services: []SelectorConfig{{OpenPorts: strconv.Itoa(p + 2)}}})
	d := New(Config{Services: inc, HostName: "h"})
	added, _ := d.Scan()
	if len(added) != 1 {
		t.Fatalf("added %d, want 1", len(added))
	}
	info := added[0]
	if info.ServiceNamespace != "edge" {
		t.Errorf("service.namespace %q, want the process's OTEL_RESOURCE_ATTRIBUTES value", info.ServiceNamespace)
	}
	if info.ExecutablePath != gateway.exe || info.ExecutableName != "gateway" || info.Command != gateway.exe {
		t.Errorf("process attributes: %+v", info)
	}
	if id := readHostID("/"); info.Extra[AttrHostID] != id {
		t.Errorf("host.id = %q, want %q", info.Extra[AttrHostID], id)
	}
	if _, ok := info.Extra[AttrContainerID]; ok {
		t.Errorf("container.id on a host process: %v", info.Extra)
	}
}

// regexpQuote quotes a path for use in a regular expression.
func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Running is true for the process an identity names while it runs, and
// false once it has exited (a zombie not yet reaped included) or when the
// pid names another process (another start time).
func TestRunning(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep executable")
	}
	cmd := exec.Command(sleep, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	pid := uint32(cmd.Process.Pid)
	d := New(Config{Criteria: Criteria{ExePath: regexp.MustCompile(".")}})
	info := d.Evaluate(pid, "")
	if info == nil {
		t.Fatalf("pid %d not selected", pid)
	}
	if !d.Running(info) {
		t.Errorf("pid %d runs, Running says no", pid)
	}
	other := *info
	other.StartTimeUnixNano += 1e9
	if d.Running(&other) {
		t.Errorf("pid %d with another start time: Running says yes", pid)
	}
	cmd.Process.Kill()
	for d.startTime(pid) != 0 { // until it is a zombie
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		t.Fatalf("zombie %d not in /proc: %v", pid, err)
	}
	if d.Running(info) {
		t.Errorf("pid %d exited (not reaped), Running says yes", pid)
	}
	cmd.Wait()
	reaped = true
	if d.Running(info) {
		t.Errorf("pid %d reaped, Running says yes", pid)
	}
}
