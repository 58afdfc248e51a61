package discovery

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/kube"
)

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted
// (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts), or "".
func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mount-point ... - fstype source options
		l := sc.Text()
		i := strings.Index(l, " - ")
		if i < 0 {
			continue
		}
		f := strings.Fields(l[:i])
		if after := strings.Fields(l[i+3:]); len(after) > 0 && after[0] == "cgroup2" && len(f) >= 5 {
			return f[4]
		}
	}
	return ""
}

// testCgroup creates a cgroup path below a directory of its own, moves
// pid into it and removes everything when the test ends (after the
// process cleanups registered before it, which run later: t.Cleanup is
// LIFO, so callers start the process first).
func testCgroup(t *testing.T, root, rel string, pid int) {
	t.Helper()
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Skipf("cannot create a cgroup under %s: %v", root, err)
	}
	t.Cleanup(func() {
		// The process is killed by its own cleanup, registered earlier and
		// so run later: move it out first so the directories can go.
		os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
		for d := dir; d != root && d != "." && d != "/"; d = filepath.Dir(d) {
			err := os.Remove(d)
			// The leaf is EBUSY while the kernel still counts the moved
			// process; a parent is EBUSY while a sibling test cgroup is
			// left, whose own cleanup removes the rest.
			for i := 0; i < 50 && d == dir && errors.Is(err, syscall.EBUSY); i++ {
				time.Sleep(20 * time.Millisecond)
				err = os.Remove(d)
			}
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return
			}
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatalf("moving pid %d into %s: %v", pid, dir, err)
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if !strings.Contains(string(b), rel) {
		t.Fatalf("pid %d not in %s: %s", pid, rel, b)
	}
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// mutablePods is a PodLookup whose pods the test changes between scans.
type mutablePods struct {
	mu   sync.Mutex
	pods map[string]*kube.Pod // container ID → pod
}

func (m *mutablePods) set(id string, p *kube.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p == nil {
		delete(m.pods, id)
		return
	}
	m.pods[id] = p
}

func (m *mutablePods) ByContainerID(id string) *kube.Pod {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.pods[id]; p != nil {
		v := *p
		return &v
	}
	return nil
}

func (m *mutablePods) ByUID(uid string) *kube.Pod {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pods {
		if p.UID == uid {
			v := *p
			v.ContainerName = ""
			return &v
		}
	}
	return nil
}

func TestContainerAndPodFromARealCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root")
	}
	root := cgroup2Mount()
	if root == "" {
		t.Skip("no cgroup v2 hierarchy mounted")
	}
	base := "ebpfred-test-" + strconv.Itoa(os.Getpid())
	containerID := randomHex(t, 64)
	podUID := strings.Join([]string{randomHex(t, 8), randomHex(t, 4), randomHex(t, 4), randomHex(t, 4), randomHex(t, 12)}, "-")
	dockerID := randomHex(t, 64)

	api := startServer(t, "api", 0)
	testCgroup(t, root, filepath.Join(base, "kubepods-besteffort-pod"+strings.ReplaceAll(podUID, "-", "_")+".slice",
		"cri-containerd-"+containerID+".scope"), api.pid)
	legacy := startServer(t, "legacy", 0)
	testCgroup(t, root, filepath.Join(base, "docker-"+dockerID+".scope"), legacy.pid)

	ports := func(s server) []SelectorConfig {
		return []SelectorConfig{{OpenPorts: strconv.Itoa(s.port)}}
	}
	pods := &mutablePods{pods: map[string]*kube.Pod{}}

	// Without Kubernetes metadata: the IDs from the cgroup path only.
	inc, _ := mustCompile(t, ServicesConfig{Services: append(ports(api), ports(legacy)...)})
	d := New(Config{Services: inc, Pods: pods, HostName: "h"})
	added, _ := d.Scan()
	if len(added) != 2 {
		t.Fatalf("added %d processes, want 2", len(added))
	}
	first := d.Lookup(uint32(api.pid))
	if first.Extra[AttrContainerID] != containerID || first.Extra[AttrK8sPodUID] != podUID {
		t.Errorf("api: container.id %q k8s.pod.uid %q, want %q %q", first.Extra[AttrContainerID], first.Extra[AttrK8sPodUID], containerID, podUID)
	}
	if first.ServiceName != "api" || first.Extra[AttrK8sNamespaceName] != "" {
		t.Errorf("api before its pod is known: %q %v", first.ServiceName, first.Extra)
	}
	if l := d.Lookup(uint32(legacy.pid)); l.Extra[AttrContainerID] != dockerID || l.Extra[AttrK8sPodUID] != "" {
		t.Errorf("legacy: %v, want container.id %q and no pod", l.Extra, dockerID)
	}

	// The pod arrives: the next scan completes the identity in place.
	pods.set(containerID, &kube.Pod{
		UID: podUID, Name: "checkout-7d4b9c-x2x9z", Namespace: "shop", NodeName: "node-1", ContainerName: "app",
		ReplicaSet: "checkout-7d4b9c", Deployment: "checkout",
	})
	if a, r := d.Scan(); len(a) != 0 || len(r) != 0 {
		t.Errorf("completing an identity added %v removed %v", a, r)
	}
	got := d.Lookup(uint32(api.pid))
	if got.ServiceName != "checkout" || got.ServiceNamespace != "shop" || got.InstanceID != first.InstanceID ||
		got.Extra[AttrK8sDeploymentName] != "checkout" || got.Extra[AttrK8sContainerName] != "app" ||
		got.Extra[AttrK8sNodeName] != "node-1" || got.Extra[AttrContainerID] != containerID {
		t.Errorf("completed identity: %+v", got)
	}
	if len(d.incomplete) != 0 {
		t.Errorf("still waiting for %v", d.incomplete)
	}

	// A selector on Kubernetes metadata, and an exclusion that only holds
	// once the pod is known.
	inc, _ = mustCompile(t, ServicesConfig{Services: []SelectorConfig{{K8sDeploymentName: "^checkout$"}}})
	d = New(Config{Services: inc, Pods: pods})
	d.Scan()
	if d.Lookup(uint32(api.pid)) == nil || d.Lookup(uint32(legacy.pid)) != nil {
		t.Error("k8s_deployment_name selected the wrong processes")
	}

	pods.set(containerID, nil)
	inc, exc := mustCompile(t, ServicesConfig{Services: ports(api), ExcludeServices: []SelectorConfig{{K8sNamespace: "^shop$"}}})
	d = New(Config{Services: inc, ExcludeServices: exc, Pods: pods})
	if a, _ := d.Scan(); len(a) != 1 {
		t.Fatalf("before its pod is known the process is selected; added %v", a)
	}
	pods.set(containerID, &kube.Pod{UID: podUID, Name: "p", Namespace: "shop", ContainerName: "app"})
	if _, r := d.Scan(); len(r) != 1 || r[0] != uint32(api.pid) {
		t.Errorf("excluded once its pod is known: removed %v", r)
	}
}
