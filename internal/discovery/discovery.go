// Package discovery decides which processes ebpfred instruments and under
// which identity they are reported. It reads /proc: listening ports (through
// each network namespace's tcp tables and the process's socket fds), the
// executable path, and the process's own OTEL_* environment.
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

	"github.com/ebpfred/ebpfred/internal/process"
)

// Criteria select processes. A process is selected when every set criterion
// matches; a Criteria with nothing set selects nothing.
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
	// Exclude lists pids never instrumented (the collector itself).
	Exclude  []int
	HostName string
	ProcRoot string // "/proc" unless testing
}

// Discovery keeps the set of selected processes. Scan and Evaluate may run on
// different goroutines; Lookup is lock-free for the hot path.
type Discovery struct {
	cfg      Config
	exclude  map[int]bool
	bootNano uint64
	clkTck   uint64

	mu       sync.Mutex // serialises writers of selected
	selected atomic.Pointer[map[uint32]*process.Info]
}

// New returns a Discovery that has selected nothing yet.
func New(cfg Config) *Discovery {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	d := &Discovery{cfg: cfg, exclude: map[int]bool{}, clkTck: 100}
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
// that are no longer (exited or no longer matching).
func (d *Discovery) Scan() (added []*process.Info, removed []uint32) {
	ents, err := os.ReadDir(d.cfg.ProcRoot)
	if err != nil {
		return nil, nil
	}
	listen := map[string]map[uint64]uint16{} // netns → listening socket inode → port
	next := map[uint32]*process.Info{}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := *d.selected.Load()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || d.exclude[pid] {
			continue
		}
		if old, ok := cur[uint32(pid)]; ok && d.sameProcess(old) {
			// Selection is sticky for a process's life: a server that
			// stops listening for a moment keeps its identity.
			next[uint32(pid)] = old
			continue
		}
		if info := d.evaluate(uint32(pid), "", listen); info != nil {
			next[uint32(pid)] = info
			added = append(added, info)
		}
	}
	for pid := range cur {
		if _, ok := next[pid]; !ok {
			removed = append(removed, pid)
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
	info := d.evaluate(pid, exeHint, map[string]map[uint64]uint16{})
	d.store(pid, info)
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

func (d *Discovery) sameProcess(info *process.Info) bool {
	st := d.startTime(info.PID)
	return st != 0 && st == info.StartTimeUnixNano
}

func (d *Discovery) evaluate(pid uint32, exeHint string, listen map[string]map[uint64]uint16) *process.Info {
	c := d.cfg.Criteria
	if c.Ports == nil && c.ExePath == nil {
		return nil
	}
	dir := filepath.Join(d.cfg.ProcRoot, strconv.Itoa(int(pid)))
	exe, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil {
		if exeHint == "" {
			return nil // kernel thread, gone, or not ours to read
		}
		exe = exeHint
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if c.ExePath != nil && !c.ExePath.MatchString(exe) {
		return nil
	}
	if c.Ports != nil && !d.listensOn(dir, c.Ports, listen) {
		return nil
	}
	return d.identify(pid, dir, exe)
}

// listensOn reports whether the process holds a listening TCP socket on a
// selected port.
func (d *Discovery) listensOn(dir string, ports func(uint16) bool, cache map[string]map[uint64]uint16) bool {
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

func (d *Discovery) identify(pid uint32, dir, exe string) *process.Info {
	info := &process.Info{
		PID:            pid,
		ExecutablePath: exe,
		ExecutableName: filepath.Base(exe),
	}
	if cmd, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		if i := bytes.IndexByte(cmd, 0); i >= 0 {
			cmd = cmd[:i]
		}
		info.Command = string(cmd)
	}
	env := readEnv(filepath.Join(dir, "environ"))
	info.ServiceName = d.cfg.Criteria.ServiceName
	if info.ServiceName == "" {
		info.ServiceName = env.serviceName
	}
	if info.ServiceName == "" {
		info.ServiceName = info.ExecutableName
	}
	info.ServiceNamespace = env.serviceNamespace
	info.StartTimeUnixNano = d.startTime(pid)
	info.InstanceID = d.instanceID(pid, info.StartTimeUnixNano)
	return info
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
	b, err := os.ReadFile(filepath.Join(d.cfg.ProcRoot, strconv.Itoa(int(pid)), "stat"))
	if err != nil {
		return 0
	}
	// comm may contain spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0 // exited (a zombie not yet reaped counts as gone)
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64) // field 22: starttime
	if err != nil {
		return 0
	}
	return d.bootNano + ticks*(1e9/d.clkTck)
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
