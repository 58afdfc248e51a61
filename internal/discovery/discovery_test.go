package discovery

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startListener runs a python process listening on a free port, with env.
func startListener(t *testing.T, env ...string) (pid int, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	pid, err = startListenerOn(t, port, env...)
	if err != nil {
		t.Fatal(err)
	}
	return pid, port
}

// startListenerOn runs a python process listening on port, with env.
func startListenerOn(t *testing.T, port int, env ...string) (int, error) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	cmd := exec.Command("python3", "-c", fmt.Sprintf(
		"import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',%d))\ns.listen()\nprint('up',flush=True)\ntime.sleep(60)", port))
	cmd.Env = append(os.Environ(), env...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 3)
	if _, err := out.Read(buf); err != nil {
		return 0, fmt.Errorf("listener on %d did not come up: %w", port, err)
	}
	return cmd.Process.Pid, nil
}

func TestScanSelectsByPortAndExe(t *testing.T) {
	pid, port := startListener(t, "OTEL_SERVICE_NAME=checkout", "OTEL_RESOURCE_ATTRIBUTES=service.namespace=shop,deployment.environment=x")
	pid2, port2 := startListener(t)

	cases := []struct {
		name string
		crit Criteria
		want map[int]bool
	}{
		{"port", Criteria{Ports: func(p uint16) bool { return int(p) == port }}, map[int]bool{pid: true, pid2: false}},
		{"both ports", Criteria{Ports: func(p uint16) bool { return int(p) == port || int(p) == port2 }}, map[int]bool{pid: true, pid2: true}},
		{"port and exe", Criteria{Ports: func(p uint16) bool { return int(p) == port }, ExePath: regexp.MustCompile("python")}, map[int]bool{pid: true, pid2: false}},
		{"port and other exe", Criteria{Ports: func(p uint16) bool { return int(p) == port }, ExePath: regexp.MustCompile("^/nonexistent$")}, map[int]bool{pid: false, pid2: false}},
		{"nothing set selects nothing", Criteria{}, map[int]bool{pid: false, pid2: false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := New(Config{Criteria: tc.crit, HostName: "h", Exclude: []int{os.Getpid()}})
			d.Scan()
			for p, want := range tc.want {
				if got := d.Lookup(uint32(p)) != nil; got != want {
					t.Errorf("pid %d selected = %v, want %v", p, got, want)
				}
			}
		})
	}

	d := New(Config{Criteria: Criteria{Ports: func(p uint16) bool { return int(p) == port }}, HostName: "h"})
	added, _ := d.Scan()
	if len(added) != 1 {
		t.Fatalf("added %d, want 1", len(added))
	}
	info := added[0]
	if info.ServiceName != "checkout" || info.ServiceNamespace != "shop" {
		t.Errorf("service %q namespace %q, want the process's OTEL_* values", info.ServiceName, info.ServiceNamespace)
	}
	if !strings.HasPrefix(info.ExecutableName, "python3") || info.InstanceID == "" || info.StartTimeUnixNano == 0 {
		t.Errorf("identity: %+v", info)
	}
	if d2 := New(Config{Criteria: Criteria{Ports: func(p uint16) bool { return int(p) == port }}, HostName: "h"}); true {
		a2, _ := d2.Scan()
		if len(a2) != 1 || a2[0].InstanceID != info.InstanceID {
			t.Errorf("instance id not stable for one process: %v", a2)
		}
	}
	// A second scan adds nothing; an exit is reported as removed.
	if a, r := d.Scan(); len(a) != 0 || len(r) != 0 {
		t.Errorf("rescan: added %v removed %v", a, r)
	}
	p, _ := os.FindProcess(pid)
	p.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for d.startTime(uint32(pid)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the killed process does not exit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Reported removed, but still selected until the pipeline Forgets it
	// (the ring may still hold its last events).
	if _, r := d.Scan(); len(r) != 1 || r[0] != uint32(pid) || d.Lookup(uint32(pid)) == nil {
		t.Fatalf("just exited: removed %v, selected %v; want it reported and still selected", r, d.Lookup(uint32(pid)) != nil)
	}
	d.Forget(uint32(pid))
	if d.Lookup(uint32(pid)) != nil {
		t.Fatal("still selected after Forget")
	}
}

func TestServiceNameFallsBackToExecutable(t *testing.T) {
	pid, port := startListener(t)
	d := New(Config{Criteria: Criteria{Ports: func(p uint16) bool { return int(p) == port }}})
	d.Scan()
	info := d.Lookup(uint32(pid))
	if info == nil || info.ServiceName != info.ExecutableName {
		t.Fatalf("info %+v: service.name should be the executable name", info)
	}
	d = New(Config{Criteria: Criteria{Ports: func(p uint16) bool { return int(p) == port }, ServiceName: "cfg"}})
	d.Scan()
	if info := d.Lookup(uint32(pid)); info == nil || info.ServiceName != "cfg" {
		t.Fatalf("configured name not used: %+v", info)
	}
}

func TestExcludedNeverSelected(t *testing.T) {
	d := New(Config{Criteria: Criteria{ExePath: regexp.MustCompile(".")}, Exclude: []int{os.Getpid()}})
	d.Scan()
	if d.Lookup(uint32(os.Getpid())) != nil || d.Evaluate(uint32(os.Getpid()), "") != nil {
		t.Fatal("the collector's own process was selected")
	}
}

func TestReadEnvAndListening(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "environ")
	os.WriteFile(env, []byte("A=1\x00OTEL_RESOURCE_ATTRIBUTES=service.name=fromattrs, service.namespace=ns\x00B=2\x00"), 0o600)
	if e := readEnv(env); e.serviceName != "fromattrs" || e.serviceNamespace != "ns" {
		t.Errorf("readEnv = %+v", e)
	}
	os.WriteFile(env, []byte("OTEL_SERVICE_NAME=direct\x00OTEL_RESOURCE_ATTRIBUTES=service.name=fromattrs\x00"), 0o600)
	if e := readEnv(env); e.serviceName != "direct" {
		t.Errorf("OTEL_SERVICE_NAME must win: %+v", e)
	}
	tcp := filepath.Join(dir, "tcp")
	os.WriteFile(tcp, []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F91 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 20 4 30 10 -1
`), 0o600)
	m := map[uint64]uint16{}
	readListening(tcp, m)
	if len(m) != 1 || m[12345] != 8080 {
		t.Errorf("listening = %v, want {12345: 8080}", m)
	}
}

// A restarted service keeps its service.name and gets a new
// service.instance.id: the id is per process start.
// A process exec'd and selected (Evaluate) while a scan was under way is
// not in that scan's listing of /proc: the scan must not report it removed
// (the pipeline would stop following it for good: psql lost its last
// queries so in the PostgreSQL e2e test, one run in eight).
func TestScanKeepsProcessSelectedAfterListing(t *testing.T) {
	d := New(Config{Criteria: Criteria{ExePath: regexp.MustCompile("python")}, HostName: "h", Exclude: []int{os.Getpid()}})
	var pid int
	d.listed = func() {
		pid, _ = startListener(t)
		if d.Evaluate(uint32(pid), "") == nil {
			t.Fatal("the new process is not selected")
		}
	}
	_, removed := d.Scan()
	for _, r := range removed {
		if r == uint32(pid) {
			t.Fatalf("pid %d, selected during the scan and running, reported removed", pid)
		}
	}
	if d.Lookup(uint32(pid)) == nil {
		t.Fatalf("pid %d no longer selected after the scan", pid)
	}
	d.listed = nil
	p, _ := os.FindProcess(pid)
	p.Kill()
	p.Wait()
	if _, removed := d.Scan(); len(removed) != 1 || removed[0] != uint32(pid) {
		t.Errorf("after its exit: removed %v, want [%d]", removed, pid)
	}
	// Its last events may still be on their way: it stays selected until
	// Forget.
	if d.Lookup(uint32(pid)) == nil {
		t.Errorf("pid %d forgotten before Forget", pid)
	}
	d.Forget(uint32(pid))
	if _, removed := d.Scan(); len(removed) != 0 || d.Lookup(uint32(pid)) != nil {
		t.Errorf("after Forget: removed %v, selected %v", removed, d.Lookup(uint32(pid)) != nil)
	}
}

func TestRestartKeepsNameNewInstance(t *testing.T) {
	pid1, port := startListener(t, "OTEL_SERVICE_NAME=payments")
	d := New(Config{Criteria: Criteria{Ports: func(p uint16) bool { return int(p) == port }}, HostName: "h"})
	d.Scan()
	first := d.Lookup(uint32(pid1))
	if first == nil {
		t.Fatal("first instance not selected")
	}
	p, _ := os.FindProcess(pid1)
	p.Kill()
	p.Wait()
	// The same service again, on the same port.
	deadline := time.Now().Add(5 * time.Second)
	var pid2 int
	for {
		var err error
		if pid2, err = startListenerOn(t, port, "OTEL_SERVICE_NAME=payments"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d not free again: %v", port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	added, removed := d.Scan()
	if len(removed) != 1 || removed[0] != uint32(pid1) || len(added) != 1 || added[0].PID != uint32(pid2) {
		t.Fatalf("added %v removed %v", added, removed)
	}
	second := added[0]
	if second.ServiceName != "payments" || second.InstanceID == first.InstanceID || second.InstanceID == "" {
		t.Errorf("restart: name %q (want payments), instance %q (first %q): want the same name and a new instance",
			second.ServiceName, second.InstanceID, first.InstanceID)
	}
}
