package ebpfredreceiver

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/testserver"
)

// bpfObject is one eBPF object this process holds a descriptor of.
type bpfObject struct {
	kind string // "prog", "map", "link", "perf_event" (an uprobe)
	id   int    // the kernel's object id (0 for perf events)
}

func (o bpfObject) String() string { return fmt.Sprintf("%s %d", o.kind, o.id) }

// heldBPF lists the eBPF programs, maps and links (and the perf events
// uprobes are attached through) that this process holds descriptors of:
// what the kernel keeps alive for it. Other processes' objects (another
// collector on the machine) are not ours to count.
func heldBPF(t *testing.T) []bpfObject {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []bpfObject
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the descriptor ReadDir itself used
		}
		var kind, idKey string
		switch target {
		case "anon_inode:bpf-prog":
			kind, idKey = "prog", "prog_id:"
		case "anon_inode:bpf-map":
			kind, idKey = "map", "map_id:"
		case "anon_inode:bpf_link":
			kind, idKey = "link", "link_id:"
		case "anon_inode:[perf_event]":
			kind = "perf_event"
		default:
			continue
		}
		o := bpfObject{kind: kind}
		if info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", e.Name())); err == nil && idKey != "" {
			for _, line := range strings.Split(string(info), "\n") {
				if v, ok := strings.CutPrefix(line, idKey); ok {
					o.id, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
		}
		out = append(out, o)
	}
	return out
}

// bpftoolIDs lists the ids bpftool shows of kind (prog, map, link): every
// such object alive in the kernel, whoever holds it.
func bpftoolIDs(t *testing.T, kind string) map[int]string {
	t.Helper()
	out, err := exec.Command("bpftool", "-j", kind, "show").Output()
	if err != nil {
		t.Fatalf("bpftool %s show: %v", kind, err)
	}
	var objs []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(out, &objs); err != nil {
		t.Fatalf("bpftool %s show: %v\n%s", kind, err, out)
	}
	ids := map[int]string{}
	for _, o := range objs {
		ids[o.ID] = o.Name
	}
	return ids
}

// After Shutdown nothing of the receiver remains: no descriptor of a
// program, map, link or uprobe in this process, and none of the objects
// it had is alive in the kernel (bpftool). Every feature runs, so that
// every kind of attachment is there to leak: socket capture, OpenSSL and Go
// TLS uprobes on a Go HTTPS server, Go route probes, the propagation
// programs on the cgroup.
func TestCleanExit(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "bpftool", "curl")
	before := heldBPF(t)
	srv := testserver.StartGoTLS(t)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = strconv.Itoa(srv.Port)
		c.ContextPropagation = PropagationHeaders
		c.RequiredFeatures = []string{"tls_go", "context_propagation"}
	})
	waitTracked(t, h, srv.PID)
	if out, err := exec.Command("curl", "-sk", "-o", "/dev/null", srv.URL("/status/200")).CombinedOutput(); err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if spans := h.waitSpans(1, nil); len(spans) != 1 {
		t.Fatalf("%d spans of one HTTPS request, want 1: the TLS probes did not run", len(spans))
	}
	running := heldBPF(t)
	kinds := map[string]int{}
	for _, o := range running {
		kinds[o.kind]++
	}
	t.Logf("while running, this process holds %v", kinds)
	if kinds["prog"] == 0 || kinds["map"] == 0 || kinds["link"] == 0 || kinds["perf_event"] == 0 {
		t.Fatalf("while running, this process holds %v: the check below would prove nothing", kinds)
	}
	h.stop()
	if left := subtract(heldBPF(t), before); len(left) > 0 {
		t.Errorf("after Shutdown this process still holds %v", left)
	}
	// The kernel frees a closed object after an RCU grace period, from a
	// work queue: wait for that, a few seconds at most.
	var alive []string
	stopped := time.Now()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		alive = nil
		for _, kind := range []string{"prog", "map", "link"} {
			ids := bpftoolIDs(t, kind)
			for _, o := range running {
				if o.kind == kind && !slices.Contains(before, o) {
					if name, ok := ids[o.id]; ok {
						alive = append(alive, fmt.Sprintf("%s %d (%s)", kind, o.id, name))
					}
				}
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("the kernel freed the receiver's objects %v after Shutdown", time.Since(stopped).Round(100*time.Millisecond))
	if len(alive) > 0 {
		t.Errorf("10 s after Shutdown the kernel still has %v", slices.Compact(slices.Sorted(slices.Values(alive))))
	}
}

// A Start that fails half-way (a required feature refused after capture
// and OpenSSL TLS were loaded and attached, or propagation refused before
// anything else) leaves nothing behind either.
func TestCleanExitAfterFailedStart(t *testing.T) {
	requireRoot(t)
	for _, f := range []probes.Feature{probes.FeatureTLSGo, probes.FeaturePropagation} {
		t.Run(string(f), func(t *testing.T) {
			before := heldBPF(t)
			cfg := createDefaultConfig().(*Config)
			cfg.OpenPort = "1"
			cfg.ContextPropagation = PropagationHeaders
			cfg.RequiredFeatures = []string{string(f)}
			cfg.refuseFeatures = []probes.Feature{f}
			set := receivertest.NewNopSettings(metadata.Type)
			rcv, err := NewFactory().CreateTraces(context.Background(), set, cfg, new(consumertest.TracesSink))
			if err != nil {
				t.Fatal(err)
			}
			err = rcv.Start(context.Background(), nil)
			if err == nil {
				_ = rcv.Shutdown(context.Background())
				t.Fatalf("Start succeeded with %s required and refused", f)
			}
			t.Logf("Start failed as it should: %v", err)
			if left := subtract(heldBPF(t), before); len(left) > 0 {
				t.Errorf("after the failed Start this process still holds %v", left)
			}
			// The collector calls Shutdown after a failed Start too.
			if err := rcv.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown after a failed Start: %v", err)
			}
		})
	}
}

func subtract(a, b []bpfObject) []bpfObject {
	var out []bpfObject
	for _, o := range a {
		if !slices.Contains(b, o) {
			out = append(out, o)
		}
	}
	return out
}
