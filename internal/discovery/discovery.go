// Package discovery decides which processes ebpfred instruments and under
// which identity they are reported. It reads /proc: listening ports (through
// each network namespace's tcp tables and the process's socket fds), the
// executable path, the process's own OTEL_* environment, and its cgroup
// (container.id, k8s.pod.uid), which joins it to Kubernetes pod metadata
// when the receiver has some (internal/kube).
//
// Selection: a process is selected when it matches an include entry
// (Config.Criteria, the open_port/executable_name shorthand, then
// Config.Services) and no entry of Config.ExcludeServices. See
// ServicesConfig for the configuration side.
//
// Identity, first value found:
//
//	service.name:      the selecting entry's name → the process's
//	                   OTEL_SERVICE_NAME, then service.name in its
//	                   OTEL_RESOURCE_ATTRIBUTES → the pod annotation
//	                   resource.opentelemetry.io/service.name → the pod's
//	                   workload (deployment, replicaset, statefulset,
//	                   daemonset, cronjob, job, else the pod name) → the
//	                   executable name.
//	service.namespace: the entry's namespace → the process's
//	                   OTEL_RESOURCE_ATTRIBUTES service.namespace → the pod
//	                   annotation resource.opentelemetry.io/service.namespace
//	                   → k8s.namespace.name.
//
// The Kubernetes steps follow the semantic conventions' "how service.name /
// service.namespace should be calculated" for Kubernetes
// (https://opentelemetry.io/docs/specs/semconv/non-normative/k8s-attributes/),
// except the app.kubernetes.io/{instance,name} labels, which the
// conventions want opt-in and which are not used. service.instance.id stays
// per process (a UUID from host, pid and start time), which is finer than
// the conventions' namespace.pod.container and stays unambiguous for
// several processes in one container.
//
// Resource attributes in Info.Extra: host.id, container.id, and with pod
// metadata k8s.namespace.name, k8s.pod.name, k8s.pod.uid,
// k8s.container.name, k8s.node.name, k8s.{deployment,replicaset,
// statefulset,daemonset,job,cronjob}.name, plus every other
// resource.opentelemetry.io/<key> pod annotation as <key>.
package discovery

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebpfred/ebpfred/internal/kube"
	"github.com/ebpfred/ebpfred/internal/process"
)

// Criteria select processes: the receiver's top-level open_port /
// executable_name shorthand, one more selector entry in front of
// Config.Services. A process is selected when every set criterion matches;
// a Criteria with nothing set selects nothing.
type Criteria struct {
	// Ports reports whether a listening port selects the process (nil: any
	// process, whatever it listens on).
	Ports func(port uint16) bool
	// ExePath is matched against the executable's full path (nil: any).
	ExePath *regexp.Regexp
	// ServiceName overrides the discovered service.name when set.
	ServiceName string
}

// Config configures a Discovery.
type Config struct {
	Criteria Criteria
	// Services are selector entries (discovery.services); a process that
	// matches Criteria or any of them, and none of ExcludeServices, is
	// selected. The first entry that matches names the service.
	Services []Selector
	// ExcludeServices (discovery.exclude_services then
	// default_exclude_services) win over everything that selects.
	ExcludeServices []Selector
	// Exclude lists pids never instrumented (the collector itself).
	Exclude  []int
	HostName string
	// HostID is host.id; empty means read from /etc/machine-id, else
	// /var/lib/dbus/machine-id, else /sys/class/dmi/id/product_uuid.
	HostID string
	// Pods is the Kubernetes metadata (nil: none; k8s_* criteria then
	// match nothing).
	Pods     PodLookup
	ProcRoot string // "/proc" unless testing
}

const (
	// podWait is how long a selected process whose pod is not in the
	// Kubernetes cache keeps being looked up (its identity is completed
	// when the pod arrives).
	podWait = 10 * time.Minute
	// containerWait is how long a process whose pod is known but whose
	// container is not in the pod's status yet waits for the container
	// name.
	containerWait = 30 * time.Second
)

// pending is a selected process whose Kubernetes identity is incomplete.
type pending struct {
	since time.Time
	sel   *Selector // the entry that selected it
}

// Discovery keeps the set of selected processes. Scan and Evaluate may run on
// different goroutines; Lookup is lock-free for the hot path.
type Discovery struct {
	cfg        Config
	include    []Selector // Criteria (when set), then Services
	exclude    map[int]bool
	pods       PodLookup
	hostID     string
	bootNano   uint64
	clkTck     uint64
	now        func() time.Time
	selected   atomic.Pointer[map[uint32]*process.Info]
	mu         sync.Mutex          // serialises writers of selected and pending
	incomplete map[uint32]*pending // guarded by mu
	// listed: a test's hook, run by Scan between listing /proc and
	// taking mu (where an exec'd process can be selected meanwhile).
	listed func()
}

// New returns a Discovery that has selected nothing yet.
func New(cfg Config) *Discovery {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	d := &Discovery{cfg: cfg, exclude: map[int]bool{}, clkTck: 100, now: time.Now,
		incomplete: map[uint32]*pending{}, hostID: cfg.HostID}
	if c := cfg.Criteria; c.Ports != nil || c.ExePath != nil {
		d.include = append(d.include, Selector{Name: c.ServiceName, Ports: c.Ports, ExePath: c.ExePath})
	}
	d.include = append(d.include, cfg.Services...)
	// A nil *kube.Store in the interface would look like Kubernetes is on.
	if s, ok := cfg.Pods.(*kube.Store); !ok || s != nil {
		d.pods = cfg.Pods
	}
	if d.hostID == "" {
		d.hostID = readHostID("/")
	}
	for _, p := range cfg.Exclude {
		d.exclude[p] = true
	}
	d.bootNano = readBootTime(cfg.ProcRoot)
	empty := map[uint32]*process.Info{}
	d.selected.Store(&empty)
	return d
}

// Lookup returns the identity of a selected process, or nil.
func (d *Discovery) Lookup(pid uint32) *process.Info {
	return (*d.selected.Load())[pid]
}

// Count returns how many processes are selected.
func (d *Discovery) Count() int { return len(*d.selected.Load()) }

// Scan walks /proc and returns the processes that became selected and those
// that are no longer (exited, no longer matching, or excluded once their
// Kubernetes metadata arrived). Those stay selected (Lookup finds them, and
// the next Scan reports them again) until Forget. A selected process whose Kubernetes
// metadata arrived since keeps its pid and service.instance.id; only its
// Info is replaced (Lookup returns the new one).
func (d *Discovery) Scan() (added []*process.Info, removed []uint32) {
	ents, err := os.ReadDir(d.cfg.ProcRoot)
	if err != nil {
		return nil, nil
	}
	if d.listed != nil {
		d.listed()
	}
	listedPIDs := make(map[uint32]bool, len(ents))
	listen := map[string]map[uint64]uint16{} // netns → listening socket inode → port
	next := map[uint32]*process.Info{}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := *d.selected.Load()
	present := make(map[uint32]bool, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		listedPIDs[uint32(pid)] = true
		if d.exclude[pid] {
			continue
		}
		present[uint32(pid)] = true
		if old, ok := cur[uint32(pid)]; ok && d.sameProcess(old) {
			// Selection is sticky for a process's life: a server that
			// stops listening for a moment keeps its identity.
			if p := d.incomplete[uint32(pid)]; p != nil {
				if info := d.complete(old, p, listen); info != nil {
					next[uint32(pid)] = info
				}
				continue
			}
			next[uint32(pid)] = old
			continue
		}
		if info, p := d.evaluate(uint32(pid), "", listen); info != nil {
			next[uint32(pid)] = info
			d.setIncomplete(uint32(pid), p)
			added = append(added, info)
		}
	}
	for pid, old := range cur {
		if _, ok := next[pid]; ok {
			continue
		}
		// A process selected after the listing (Evaluate, at its exec) is
		// not in it: it is gone only if it is.
		if !listedPIDs[pid] && d.sameProcess(old) {
			next[pid] = old
			continue
		}
		removed = append(removed, pid)
		// Still selected until the caller Forgets it: its last events may
		// not have been read yet (the collector can be seconds behind a
		// loaded machine), and they are still its own.
		next[pid] = old
	}
	for pid := range d.incomplete {
		if _, ok := next[pid]; !ok {
			delete(d.incomplete, pid)
		}
	}
	d.selected.Store(&next)
	return added, removed
}

// Evaluate checks one process now (after exec, or on its first event) and
// selects it when it matches. exeHint is used when /proc/<pid>/exe cannot be
// read (the process may already be gone).
func (d *Discovery) Evaluate(pid uint32, exeHint string) *process.Info {
	if d.exclude[int(pid)] {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	info, p := d.evaluate(pid, exeHint, map[string]map[uint64]uint16{})
	d.store(pid, info)
	d.setIncomplete(pid, p)
	return info
}

// Inherit selects a forked child under its parent's service identity.
func (d *Discovery) Inherit(child, parent uint32) *process.Info {
	p := d.Lookup(parent)
	if p == nil || d.exclude[int(child)] {
		return nil
	}
	info := *p
	info.PID = child
	info.StartTimeUnixNano = d.startTime(child)
	info.InstanceID = d.instanceID(child, info.StartTimeUnixNano)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.store(child, &info)
	if pp := d.incomplete[parent]; pp != nil {
		d.setIncomplete(child, &pending{since: pp.since, sel: pp.sel})
	}
	return &info
}

// Forget drops a process (it exited).
func (d *Discovery) Forget(pid uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.store(pid, nil)
}

// store replaces pid's entry (nil deletes) copy-on-write. Callers hold mu.
func (d *Discovery) store(pid uint32, info *process.Info) {
	if info == nil {
		delete(d.incomplete, pid)
	}
	cur := *d.selected.Load()
	if _, had := cur[pid]; !had && info == nil {
		return
	}
	next := make(map[uint32]*process.Info, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	if info == nil {
		delete(next, pid)
	} else {
		next[pid] = info
	}
	d.selected.Store(&next)
}

// setIncomplete records (p != nil) or clears whether pid waits for its
// Kubernetes metadata. Callers hold mu.
func (d *Discovery) setIncomplete(pid uint32, p *pending) {
	if p == nil {
		delete(d.incomplete, pid)
		return
	}
	d.incomplete[pid] = p
}

func (d *Discovery) sameProcess(info *process.Info) bool {
	st := d.startTime(info.PID)
	return st != 0 && st == info.StartTimeUnixNano
}

// Running reports whether the process info names still runs: same pid,
// same start time, and not exiting. A process that has begun to exit
// (PF_EXITING, set before the kernel's sched_process_exit hook runs) is
// not running: whatever tracks it from now on may miss its exit.
func (d *Discovery) Running(info *process.Info) bool {
	st, exiting := d.stat(info.PID)
	return st != 0 && st == info.StartTimeUnixNano && !exiting
}

// evaluate returns the identity of pid when it is to be instrumented, and
// whether that identity still waits for Kubernetes metadata.
func (d *Discovery) evaluate(pid uint32, exeHint string, listen map[string]map[uint64]uint16) (*process.Info, *pending) {
	if len(d.include) == 0 {
		return nil, nil
	}
	dir := filepath.Join(d.cfg.ProcRoot, strconv.Itoa(int(pid)))
	exe, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil {
		if exeHint == "" {
			return nil, nil // kernel thread, gone, or not ours to read
		}
		exe = exeHint
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	c := &candidate{d: d, pid: pid, dir: dir, exe: exe, listen: listen}
	sel := d.match(c)
	if sel == nil {
		return nil, nil
	}
	info := d.identify(c, sel)
	if d.waitsForPod(c) {
		return info, &pending{since: d.now(), sel: sel}
	}
	return info, nil
}

// match returns the first include entry c matches, unless an exclusion
// matches too.
func (d *Discovery) match(c *candidate) *Selector {
	for i := range d.include {
		if d.include[i].matches(c) {
			if d.excluded(c) {
				return nil
			}
			return &d.include[i]
		}
	}
	return nil
}

func (d *Discovery) excluded(c *candidate) bool {
	for i := range d.cfg.ExcludeServices {
		if d.cfg.ExcludeServices[i].matches(c) {
			return true
		}
	}
	return false
}

// waitsForPod reports whether c runs in a pod whose metadata (or whose
// container's) is not in the cache yet.
func (d *Discovery) waitsForPod(c *candidate) bool {
	if d.pods == nil {
		return false
	}
	ids := c.cgroup()
	if ids.PodUID == "" && ids.ContainerID == "" {
		return false
	}
	p := c.pod()
	if p == nil {
		return ids.PodUID != "" // a container outside Kubernetes never gets a pod
	}
	return ids.ContainerID != "" && p.ContainerName == ""
}

// complete re-identifies a selected process whose Kubernetes metadata was
// missing, once it is there (or the wait is over). It returns nil when the
// metadata now excludes the process. Callers hold mu.
func (d *Discovery) complete(old *process.Info, p *pending, listen map[string]map[uint64]uint16) *process.Info {
	dir := filepath.Join(d.cfg.ProcRoot, strconv.Itoa(int(old.PID)))
	c := &candidate{d: d, pid: old.PID, dir: dir, exe: old.ExecutablePath, listen: listen}
	waited := d.now().Sub(p.since)
	pod := c.pod()
	switch {
	case pod == nil && waited < podWait:
		return old
	case pod == nil:
		delete(d.incomplete, old.PID) // give up: keep the identity it has
		return old
	case pod.ContainerName == "" && c.cgroup().ContainerID != "" && waited < containerWait:
		return old
	}
	delete(d.incomplete, old.PID)
	if d.excluded(c) {
		return nil
	}
	sel := p.sel
	for i := range d.include {
		if d.include[i].matches(c) {
			sel = &d.include[i]
			break
		}
	}
	info := d.identify(c, sel)
	info.StartTimeUnixNano, info.InstanceID = old.StartTimeUnixNano, old.InstanceID
	return info
}

// listensOn reports whether the process holds a listening TCP socket on a
// selected port.
func listensOn(dir string, ports func(uint16) bool, cache map[string]map[uint64]uint16) bool {
	ns, err := os.Readlink(filepath.Join(dir, "ns", "net"))
	if err != nil {
		return false
	}
	byInode, ok := cache[ns]
	if !ok {
		byInode = map[uint64]uint16{}
		for _, f := range []string{"net/tcp", "net/tcp6"} {
			readListening(filepath.Join(dir, f), byInode)
		}
		cache[ns] = byInode
	}
	if len(byInode) == 0 {
		return false
	}
	any := false
	for _, port := range byInode {
		if ports(port) {
			any = true
			break
		}
	}
	if !any {
		return false
	}
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		ino, err := strconv.ParseUint(l[len("socket:["):len(l)-1], 10, 64)
		if err != nil {
			continue
		}
		if port, ok := byInode[ino]; ok && ports(port) {
			return true
		}
	}
	return false
}

// readListening adds the LISTEN sockets of a /proc/net/tcp{,6} table.
func readListening(path string, into map[uint64]uint16) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" { // 0A = TCP_LISTEN
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		if i < 0 {
			continue
		}
		port, err1 := strconv.ParseUint(f[1][i+1:], 16, 16)
		ino, err2 := strconv.ParseUint(f[9], 10, 64)
		if err1 == nil && err2 == nil && ino != 0 {
			into[ino] = uint16(port)
		}
	}
}

// instanceID is stable for one process's life and different for the next
// process with the same pid, as service.instance.id must be.
func (d *Discovery) instanceID(pid uint32, start uint64) string {
	h := sha1.Sum([]byte(fmt.Sprintf("%s/%d/%d", d.cfg.HostName, pid, start)))
	h[6] = h[6]&0x0f | 0x50 // a version-5 UUID
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

type envInfo struct{ serviceName, serviceNamespace string }

// readEnv extracts what the process says about itself through the
// OpenTelemetry SDK environment variables.
func readEnv(path string) envInfo {
	var e envInfo
	b, err := os.ReadFile(path)
	if err != nil {
		return e
	}
	var attrs string
	for _, kv := range bytes.Split(b, []byte{0}) {
		s := string(kv)
		switch {
		case strings.HasPrefix(s, "OTEL_SERVICE_NAME="):
			e.serviceName = s[len("OTEL_SERVICE_NAME="):]
		case strings.HasPrefix(s, "OTEL_RESOURCE_ATTRIBUTES="):
			attrs = s[len("OTEL_RESOURCE_ATTRIBUTES="):]
		}
	}
	for _, kv := range strings.Split(attrs, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "service.name":
			if e.serviceName == "" {
				e.serviceName = strings.TrimSpace(v)
			}
		case "service.namespace":
			e.serviceNamespace = strings.TrimSpace(v)
		}
	}
	return e
}

// startTime returns when the process started, in Unix ns (0 if unknown).
func (d *Discovery) startTime(pid uint32) uint64 {
	st, _ := d.stat(pid)
	return st
}

// pfExiting is the kernel's PF_EXITING task flag (include/linux/sched.h).
const pfExiting = 0x4

// stat returns when the process started, in Unix ns (0 if unknown or
// gone), and whether it has begun to exit.
func (d *Discovery) stat(pid uint32) (start uint64, exiting bool) {
	b, err := os.ReadFile(filepath.Join(d.cfg.ProcRoot, strconv.Itoa(int(pid)), "stat"))
	if err != nil {
		return 0, false
	}
	// comm may contain spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false // exited (a zombie not yet reaped counts as gone)
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64) // field 22: starttime
	if err != nil {
		return 0, false
	}
	flags, _ := strconv.ParseUint(f[6], 10, 32) // field 9: flags
	return d.bootNano + ticks*(1e9/d.clkTck), flags&pfExiting != 0
}

func readBootTime(proc string) uint64 {
	b, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "btime ") {
			s, _ := strconv.ParseUint(strings.TrimSpace(line[6:]), 10, 64)
			return s * 1e9
		}
	}
	return 0
}
