//go:build linux && amd64

package probes

// Trace-context propagation (context_propagation: headers): the cgroup
// sock_ops + sk_msg programs of bpf/propagate.c, loaded and attached only
// when Options.ContextPropagation is set. They share tracked_pids and the
// propagation maps with the capture object (bpf/propagate.h).

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/ebpfred/ebpfred/internal/golang"
)

// propState is the loaded injection object and its attachments.
type propState struct {
	coll     *ebpf.Collection
	cgroup   []link.Link // sock_ops (and connect hooks) on the cgroup v2 root
	skMsg    bool        // sk_msg attached to the sockhash
	cgroupV2 string
	variant  string
}

// How a tracked process's new connections are recognised: where sock_ops
// programs may ask for the current process, sock_ops does it all; before
// that (Linux 6.1), cgroup connect hooks see the connecting process and
// sock_ops only the establishment.
var propVariants = []struct {
	name   string
	attach []cgroupHook
}{
	{"sock_ops", []cgroupHook{{"ebpfred_sockops", ebpf.AttachCGroupSockOps}}},
	{"connect hooks", []cgroupHook{
		{"ebpfred_sockops_established", ebpf.AttachCGroupSockOps},
		{"ebpfred_connect4", ebpf.AttachCGroupInet4Connect},
		{"ebpfred_connect6", ebpf.AttachCGroupInet6Connect},
	}},
}

// loadPropagation loads and attaches the injection programs, with the
// shared maps (tracked_pids and the propagation maps of bpf/propagate.h),
// trying each way of recognising connections in turn. Load calls it before
// the capture programs: they are built with or without propagation's half
// of the data path, depending on its outcome.
func (p *Probes) loadPropagation(l *loader) error {
	root, unmount, err := cgroupV2Root()
	if err != nil {
		return err
	}
	// A mount of our own is only needed to name the cgroup while attaching:
	// the attachment holds the cgroup itself.
	defer unmount()
	where := root
	if strings.HasPrefix(root, os.TempDir()) {
		where = "the cgroup v2 root (mounted privately at " + root + " to attach)"
	}
	var errs []string
	for _, v := range propVariants {
		progs := []string{"ebpfred_sk_msg"}
		for _, a := range v.attach {
			progs = append(progs, a.prog)
		}
		coll, err := l.load(FeaturePropagation, true, progs)
		if err != nil {
			errs = append(errs, v.name+": "+reason(err))
			continue
		}
		p.prop = &propState{coll: coll, cgroupV2: where, variant: v.name}
		return p.attachPropagation(root, v.attach)
	}
	return fmt.Errorf("the kernel refused its programs (%s)", strings.Join(errs, "; "))
}

// cgroupHook is a program attached to the cgroup v2 root.
type cgroupHook struct {
	prog string
	typ  ebpf.AttachType
}

func (p *Probes) attachPropagation(root string, attach []cgroupHook) error {
	st := p.prop
	// sk_msg first: a socket that enters the sockhash before it has a
	// verdict program would be left out of injection until it is re-added.
	err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  st.coll.Maps["prop_socks"].FD(),
		Program: st.coll.Programs["ebpfred_sk_msg"],
		Attach:  ebpf.AttachSkMsgVerdict,
	})
	if err != nil {
		_ = p.closePropagation()
		return fmt.Errorf("attaching the sk_msg program to its sockhash: %w", explainProp(err))
	}
	st.skMsg = true
	for _, a := range attach {
		lk, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: a.typ, Program: st.coll.Programs[a.prog]})
		if err != nil {
			_ = p.closePropagation()
			return fmt.Errorf("attaching %s to the cgroup v2 root %s: %w", a.prog, root, explainProp(err))
		}
		st.cgroup = append(st.cgroup, lk)
	}
	return nil
}

// explainProp says what to do when the kernel refuses the propagation
// programs: sock_ops, sk_msg and sockhash maps are networking objects, which
// take CAP_NET_ADMIN on top of what the capture programs need.
func explainProp(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("the kernel refused (%v): propagation needs CAP_NET_ADMIN besides the capabilities capture needs; add it, or set context_propagation: disabled", err)
	}
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return explainLoad(err)
	}
	return fmt.Errorf("%w (or set context_propagation: disabled)", err)
}

// closePropagation detaches sock_ops first (no new sockets enter the
// sockhash), then takes every socket out of the sockhash, then detaches
// sk_msg and frees the maps. The middle step is not optional: a socket's
// sk_msg program is copied into the socket when it enters the map, so
// neither detaching the program nor closing the map (freed later, when the
// kernel drops its last reference) stops injection on connections that stay
// open. Measured: without it, a request written after Close still got a
// traceparent. A socket taken out gets its plain TCP send path back.
func (p *Probes) closePropagation() error {
	st := p.prop
	if st == nil {
		return nil
	}
	p.prop = nil
	var errs []error
	for _, lk := range st.cgroup {
		errs = append(errs, lk.Close())
	}
	socks := st.coll.Maps["prop_socks"]
	errs = append(errs, emptySockhash(socks))
	if st.skMsg {
		errs = append(errs, link.RawDetachProgram(link.RawDetachProgramOptions{
			Target:  socks.FD(),
			Program: st.coll.Programs["ebpfred_sk_msg"],
			Attach:  ebpf.AttachSkMsgVerdict,
		}))
	}
	st.coll.Close()
	return errors.Join(errs...)
}

// emptySockhash deletes every entry of m. Keys are collected first: deleting
// while iterating a hash can make the iteration restart or skip.
func emptySockhash(m *ebpf.Map) error {
	if m == nil {
		return nil
	}
	var keys []uint64
	var k uint64
	it := m.Iterate()
	var v uint64
	for it.Next(&k, &v) {
		keys = append(keys, k)
	}
	var errs []error
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	if err := it.Err(); err != nil {
		errs = append(errs, fmt.Errorf("listing the propagation sockhash: %w", err))
	}
	return errors.Join(errs...)
}

// PropagationVariant says how propagation recognises a tracked process's
// connections ("sock_ops", or "connect hooks" on kernels whose sock_ops
// programs have no pid helper); "" when propagation is off.
func (p *Probes) PropagationVariant() string {
	if p.prop == nil {
		return ""
	}
	return p.prop.variant
}

// PropagationCgroup returns the cgroup v2 directory the sock_ops program is
// attached to, "" when propagation is off.
func (p *Probes) PropagationCgroup() string {
	if p.prop == nil {
		return ""
	}
	return p.prop.cgroupV2
}

// propTrack tells the injection side about a newly tracked process: a Go
// executable's requests are injected but never linked to the server span
// its thread read last (see prop_nolink in bpf/propagate.h).
func (p *Probes) propTrack(tgid uint32) {
	if p.prop == nil {
		return
	}
	if isGoProcess(tgid) {
		_ = p.propNolink.Update(tgid, uint8(1), ebpf.UpdateAny)
	} else {
		_ = p.propNolink.Delete(tgid)
	}
}

func (p *Probes) propUntrack(tgid uint32) {
	if p.prop != nil {
		_ = p.propNolink.Delete(tgid)
	}
}

func isGoProcess(tgid uint32) bool {
	f, err := elf.Open(fmt.Sprintf("/proc/%d/exe", tgid))
	if err != nil {
		return false
	}
	defer f.Close()
	return golang.IsGo(f)
}

// cgroupV2Root finds where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup
// on unified hosts, /sys/fs/cgroup/unified on hybrid ones). Where none is
// visible (`ip netns exec` remounts /sys without it; a v1-only host) it
// mounts one of its own in a temporary directory, which unmount removes.
// That mount shows the root of our cgroup namespace: the host's root unless
// we run in a container with its own (which must then mount the host's).
func cgroupV2Root() (root string, unmount func(), err error) {
	unmount = func() {}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", unmount, fmt.Errorf("reading the mount table: %w", err)
	}
	defer f.Close()
	if root, err = findCgroupV2(f); err != nil || root != "" {
		return root, unmount, err
	}
	dir, err := os.MkdirTemp("", "ebpfred-cgroup2-")
	if err == nil {
		if err = unix.Mount("none", dir, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err == nil {
			return dir, func() { _ = unix.Unmount(dir, unix.MNT_DETACH); _ = os.Remove(dir) }, nil
		}
		_ = os.Remove(dir)
	}
	return "", unmount, fmt.Errorf("it needs the cgroup v2 hierarchy: none is mounted here, and mounting one failed (%v); mount it (mount -t cgroup2 none /sys/fs/cgroup/unified; in Kubernetes, mount the host's /sys/fs/cgroup), or set context_propagation: disabled", err)
}

// findCgroupV2 returns the mount point of the first cgroup2 entry of a
// mountinfo table (proc(5)): "... mountpoint ... - cgroup2 source opts".
func findCgroupV2(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		if fs, _, _ := strings.Cut(post, " "); fs != "cgroup2" {
			continue
		}
		fields := strings.Fields(pre)
		if len(fields) < 5 {
			continue
		}
		return unescapeMount(fields[4]), nil
	}
	return "", sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline and
// backslash.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v<<3 | byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
