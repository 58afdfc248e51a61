//go:build linux && amd64

// Package probes loads, attaches and reads ebpfred's kernel programs: the
// sys_exit raw tracepoint that captures socket I/O of tracked processes, and
// the process fork/exec/exit hooks. It owns the kernel maps; callers decide
// which processes are tracked.
package probes

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/ebpfred/ebpfred/internal/pidns"
)

// Options configure Load.
type Options struct {
	// RingBufferSize in bytes: a power of two, a multiple of the page size.
	RingBufferSize int
	// TrackExecs makes every newly exec'd process tracked provisionally
	// (FlagPending) until user space confirms or drops it; needed to catch
	// short-lived clients selected by executable name.
	TrackExecs bool
	// WakeupBytes: the reader is woken only when this many bytes wait in the
	// ring; otherwise it polls. Batching wakeups keeps the per-event cost low.
	WakeupBytes uint64
	// PIDNamespace is the namespace whose pids the programs report and
	// track (the collector's own; see internal/pidns). The zero value, like
	// the host's namespace, means the kernel's own pids, at no extra cost.
	// Tasks of other namespaces are ignored.
	PIDNamespace pidns.Namespace
	// AppRoutes attaches, with the TLS probes of a Go executable, the route
	// probes of the routers it links (ServeMux, gin, gorilla/mux).
	AppRoutes bool
	// GoContext attaches, with the probes of a Go executable, the runtime
	// and net/http probes that tell which server request a goroutine works
	// for (gocontext.c): the data path then sends an EventGoLink before a
	// Go handler's client request.
	GoContext bool
	// ContextPropagation loads the trace-context injection programs
	// (propagate.go): a traceparent header is inserted into the plaintext
	// HTTP/1 requests that tracked processes send, and the kernel reports
	// the span ids it chose in EventTrace events.
	ContextPropagation bool
	// Required: features whose refusal fails Load instead of leaving them
	// off (FeatureCapture always is).
	Required []Feature
	// CaptureHooks: "" picks the cheapest the kernel has; CaptureSockets or
	// CaptureSyscalls insist on one (tests run both).
	CaptureHooks string
	// Refuse is a test hook: the named features' programs are replaced by
	// invalid ones before loading, so that the kernel's verifier refuses
	// them, as it would refuse a program it cannot verify.
	Refuse []Feature
}

func (o Options) withDefaults() Options {
	if o.WakeupBytes == 0 {
		o.WakeupBytes = 256 << 10
	}
	return o
}

// requested lists the features these options ask for, in load order.
func (o Options) requested() []Feature {
	fs := []Feature{FeatureCapture, FeatureTLSOpenSSL, FeatureTLSGo}
	if o.AppRoutes {
		fs = append(fs, FeatureGoRoutes)
	}
	if o.GoContext {
		fs = append(fs, FeatureGoContext)
	}
	if o.ContextPropagation {
		fs = append(fs, FeaturePropagation)
	}
	return fs
}

// Tracking flags stored per tgid in the kernel.
const (
	FlagConfirmed uint32 = 1
	FlagPending   uint32 = 2
)

// Probes is a loaded and attached probe set.
type Probes struct {
	shared  *ebpf.Collection // the maps every object shares
	objects []*ebpf.Collection
	progs   map[string]*ebpf.Program // every loaded program, by name
	// the shared maps Go uses
	tracked, conns, counters, propNolink, events *ebpf.Map

	features []FeatureState // the requested features, in load order
	capture  string         // CaptureSockets or CaptureSyscalls
	links    []link.Link
	reader   *ringbuf.Reader
	stopRead sync.Once
	rec      ringbuf.Record
	ev       Event
	tls      tlsState
	prop     *propState // nil unless context propagation is on
}

// Load checks that this kernel can run ebpfred, loads the programs and
// attaches them. Capture is required: when it cannot run, the error is one
// sentence that says what to do. Each other feature the kernel refuses is
// left off (see Features) unless opts.Required lists it.
func Load(opts Options) (*Probes, error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, errors.New("this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): ebpfred needs a kernel built with CONFIG_DEBUG_INFO_BTF=y")
	}
	opts = opts.withDefaults()
	liftMemlock()
	l, err := newLoader(opts)
	if err != nil {
		return nil, err
	}
	p := &Probes{shared: l.shared, progs: map[string]*ebpf.Program{}}
	p.tracked = l.shared.Maps["tracked_pids"]
	p.conns = l.shared.Maps["conns"]
	p.counters = l.shared.Maps["counters"]
	p.propNolink = l.shared.Maps["prop_nolink"]
	p.events = l.shared.Maps["events"]
	if err := p.loadFeatures(l, opts); err != nil {
		p.Close()
		return nil, err
	}
	p.reader, err = ringbuf.NewReader(p.events)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("opening the event ring: %w", err)
	}
	return p, nil
}

// loadFeatures loads and attaches every requested feature. Propagation
// goes first: the capture programs are built with or without its half of
// the data path, and must know which before they load.
func (p *Probes) loadFeatures(l *loader, opts Options) error {
	fail := func(f Feature, err error) error {
		fe := &FeatureError{Feature: f, Err: err}
		p.features = append(p.features, FeatureState{Feature: f, Err: fe})
		if slices.Contains(opts.Required, f) {
			return fe
		}
		return nil
	}
	ok := func(f Feature) { p.features = append(p.features, FeatureState{Feature: f, Active: true}) }

	prop := opts.ContextPropagation
	var propErr error
	if prop {
		if propErr = p.loadPropagation(l); propErr != nil {
			prop = false
		}
	}
	if err := p.loadCapture(l, opts.CaptureHooks, &prop, &propErr); err != nil {
		return err // capture: the receiver cannot start
	}
	ok(FeatureCapture)

	uprobes := uprobeSupport()
	for _, f := range opts.requested() {
		switch f {
		case FeatureCapture:
			continue
		case FeaturePropagation:
			if prop {
				ok(f)
			} else if err := fail(f, propErr); err != nil {
				return err
			}
			continue
		}
		if uprobes != nil {
			if err := fail(f, uprobes); err != nil {
				return err
			}
			continue
		}
		coll, err := l.load(f, prop, nil)
		if err != nil {
			if err := fail(f, refused(err)); err != nil {
				return err
			}
			continue
		}
		p.keepObject(coll)
		ok(f)
	}
	return nil
}

// How capture sees socket I/O (bpf/core.c), in the order tried: the socket
// tracepoints where the kernel has them (Linux 6.3+), which leave every
// other system call of the host untouched, else the syscall exit.
var captureVariants = []struct {
	name  string
	hooks []rawTracepoint
}{
	{CaptureSockets, []rawTracepoint{{"sock_send_length", "ebpfred_sock_send"}, {"sock_recv_length", "ebpfred_sock_recv"}}},
	{CaptureSyscalls, []rawTracepoint{{"sys_exit", "ebpfred_sys_exit"}}},
}

// Capture hooks (Options.CaptureHooks).
const (
	CaptureSockets  = "sockets"
	CaptureSyscalls = "syscalls"
)

// captureCommon: the hooks both variants attach.
var captureCommon = []rawTracepoint{
	{"inet_sock_set_state", "ebpfred_sock_state"},
	{"sched_process_fork", "ebpfred_fork"},
	{"sched_process_exec", "ebpfred_exec"},
	{"sched_process_exit", "ebpfred_exit"},
}

type rawTracepoint struct{ name, prog string }

// loadCapture loads and attaches the first capture variant this kernel
// runs (only want, when set). With propagation loaded, the capture programs
// carry its half of the data path; a kernel that refuses only that half
// gets them without it, and propagation goes off (*prop, *propErr).
func (p *Probes) loadCapture(l *loader, want string, prop *bool, propErr *error) error {
	var errs []error
	for _, v := range captureVariants {
		if want != "" && want != v.name {
			continue
		}
		hooks := append(slices.Clone(v.hooks), captureCommon...)
		progs := make([]string, len(hooks))
		for i, h := range hooks {
			progs[i] = h.prog
		}
		core, err := l.load(FeatureCapture, *prop, progs)
		if err != nil && *prop {
			if core2, err2 := l.load(FeatureCapture, false, progs); err2 == nil {
				*propErr, core, err, *prop = refused(err), core2, nil, false
				_ = p.closePropagation()
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.name, err))
			continue
		}
		var links []link.Link
		for _, h := range hooks {
			lk, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: h.name, Program: core.Programs[h.prog]})
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: attaching to the raw tracepoint %s: %w", v.name, h.name, err))
				closeAll(links)
				core.Close()
				links = nil
				break
			}
			links = append(links, lk)
		}
		if links == nil {
			continue
		}
		p.keepObject(core)
		p.links = append(p.links, links...)
		p.capture = v.name
		return nil
	}
	return explainLoad(errors.Join(errs...))
}

// CaptureHooks says how capture sees socket I/O: CaptureSockets or
// CaptureSyscalls.
func (p *Probes) CaptureHooks() string { return p.capture }

// keepObject takes a loaded object's programs into p.progs.
func (p *Probes) keepObject(c *ebpf.Collection) {
	p.objects = append(p.objects, c)
	maps.Copy(p.progs, c.Programs)
}

// RunCounts returns how many times each loaded program has run, by name:
// uprobe hits, for measurements. The kernel counts only while its BPF
// statistics are on (ebpf.EnableStats, or sysctl kernel.bpf_stats_enabled).
func (p *Probes) RunCounts() map[string]uint64 {
	out := make(map[string]uint64, len(p.progs))
	for name, prog := range p.progs {
		if st, err := prog.Stats(); err == nil {
			out[name] = st.RunCount
		}
	}
	return out
}

// Features says which requested features run, and why the others do not.
func (p *Probes) Features() []FeatureState { return slices.Clone(p.features) }

// Active says whether feature f was requested and runs.
func (p *Probes) Active(f Feature) bool {
	for _, s := range p.features {
		if s.Feature == f {
			return s.Active
		}
	}
	return false
}

// pidnsConsts are the values of bpf/pidns.h's constants, for every object
// that includes it: the kernel's own pids (zeros) in the host's namespace.
func pidnsConsts(ns pidns.Namespace) map[string]any {
	if ns.Ino == 0 || ns.Initial() {
		return map[string]any{"pidns_dev": uint64(0), "pidns_ino": uint64(0)}
	}
	return map[string]any{"pidns_dev": ns.Dev, "pidns_ino": ns.Ino}
}

func explainLoad(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("the kernel's verifier rejected an ebpfred program (a bug in ebpfred or an unsupported kernel; please report it with this message): %w", err)
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		if memlockErr := liftMemlock(); memlockErr != nil {
			return fmt.Errorf("the kernel refused to create eBPF maps (%v): this kernel charges them to the locked-memory limit, which could not be raised (%v); run the collector with CAP_SYS_RESOURCE or an unlimited RLIMIT_MEMLOCK (ulimit -l unlimited)", err, memlockErr)
		}
		return fmt.Errorf("the kernel refused to load eBPF programs (%v): run the collector as root, or with CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH", err)
	}
	return err
}

// refused says that the kernel refused a feature's programs, and why.
func refused(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("the kernel refused its programs (%s)", reason(err))
	}
	return explainLoad(err)
}

var memlock struct {
	once sync.Once
	err  error
}

// liftMemlock lifts RLIMIT_MEMLOCK, once: Linux before 5.11 charges eBPF
// maps to it; later kernels charge the memory cgroup, and there this does
// nothing. The error says why it could not be lifted.
func liftMemlock() error {
	memlock.once.Do(func() { memlock.err = rlimit.RemoveMemlock() })
	return memlock.err
}

// StopReading makes Read return, leaving the programs and maps in place
// (the reader's last housekeeping may still read them); Close then frees
// them.
func (p *Probes) StopReading() error {
	var err error
	p.stopRead.Do(func() {
		if p.reader != nil {
			err = p.reader.Close()
		}
	})
	return err
}

// Close detaches every program and frees every map. It is safe to call
// more than once and concurrently with Read (which then returns).
func (p *Probes) Close() error {
	var errs []error
	errs = append(errs, p.StopReading())
	errs = append(errs, p.closePropagation())
	errs = append(errs, p.closeTLS())
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	p.links = nil
	for _, c := range p.objects {
		c.Close()
	}
	p.objects, p.progs = nil, nil
	if p.shared != nil {
		p.shared.Close()
		p.shared = nil
	}
	return errors.Join(errs...)
}

// SetTracked tracks tgid with the given flags. A process the kernel already
// tracks (from its exec or fork) keeps its generation, and with it its
// cached connections; a new one gets a fresh generation, so that whatever
// an earlier process with the same tgid left in the connection cache is
// re-resolved rather than trusted.
func (p *Probes) SetTracked(tgid, flags uint32) error {
	var t coreTrack
	if err := p.tracked.Lookup(tgid, &t); err != nil || t.Gen == 0 {
		t.Gen = rand.Uint32() | 1
	}
	t.Flags = flags
	if err := p.tracked.Update(tgid, &t, ebpf.UpdateAny); err != nil {
		return err
	}
	if flags == FlagConfirmed {
		p.propTrack(tgid)
	}
	return nil
}

// Adopt starts instrumenting a selected process: the kernel tracks its
// socket I/O from now on, and its TLS libraries get their probes without
// the caller waiting (parsing a large executable takes a while); Settle
// waits for them. This is the one place a process is taken on.
func (p *Probes) Adopt(pid uint32) error { return p.Track(pid, true) }

// Track tracks tgid as selected whether or not the kernel tracks it now,
// and with tls gives its TLS libraries their probes without waiting. Unlike
// Confirm it adds the entry when there is none: the caller knows the
// process still runs (see pipeline.confirm).
func (p *Probes) Track(tgid uint32, tls bool) error {
	if err := p.SetTracked(tgid, FlagConfirmed); err != nil {
		return err
	}
	if tls {
		p.InstrumentTLSAsync(tgid)
	}
	return nil
}

// Tracks reports whether the kernel tracks tgid, and with which flags.
func (p *Probes) Tracks(tgid uint32) (flags uint32, ok bool) {
	var t coreTrack
	if err := p.tracked.Lookup(tgid, &t); err != nil {
		return 0, false
	}
	return t.Flags, true
}

// Settle waits until the TLS instrumentation of every process adopted so
// far is done.
func (p *Probes) Settle() { p.tls.wg.Wait() }

// ErrNotTracked is Confirm's error when the kernel has no entry for the
// process.
var ErrNotTracked = errors.New("the kernel does not track the process")

// Confirm marks tgid, which the kernel tracks provisionally (its exec or
// fork hook added it), as selected. It never adds an entry: a process that
// has exited meanwhile (its exit hook removed it) stays untracked, rather
// than leaving an entry behind that no exit will remove; the error is then
// ErrNotTracked. With tls, its TLS libraries get their probes as in Adopt
// (a fork shares its parent's).
func (p *Probes) Confirm(tgid uint32, tls bool) error {
	var t coreTrack
	if err := p.tracked.Lookup(tgid, &t); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("confirm %d: %w", tgid, ErrNotTracked)
		}
		return err
	}
	t.Flags = FlagConfirmed
	if err := p.tracked.Update(tgid, &t, ebpf.UpdateExist); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) { // its exit came in between
			return fmt.Errorf("confirm %d: %w", tgid, ErrNotTracked)
		}
		return err
	}
	p.propTrack(tgid)
	if tls {
		p.InstrumentTLSAsync(tgid)
	}
	return nil
}

// Untrack stops tracking tgid. Its cached connections are left to the
// LRU: the next process with this tgid has another generation.
func (p *Probes) Untrack(tgid uint32) error {
	p.propUntrack(tgid)
	err := p.tracked.Delete(tgid)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		err = nil
	}
	return err
}

// CopyAll tells the kernel to copy the head of every transfer of the
// connection of socket sk, not only where a message may start: its
// protocol needs it (HTTP/2: frame headers can be anywhere). Used for
// connections recognised in user space, which the kernel did not see start.
// A connection the kernel already knows as HTTP/2 is left alone: the update
// writes the whole entry back, and would undo where the kernel's walk of its
// frames stands (conn_info.h2d) if the kernel moved it meanwhile.
func (p *Probes) CopyAll(sk uint64) error {
	var v coreConnInfo
	if err := p.conns.Lookup(sk, &v); err != nil {
		return err
	}
	if v.H2 != 0 {
		return nil
	}
	v.H2 = 1
	return p.conns.Update(sk, &v, ebpf.UpdateExist)
}

// TrackedCount returns the number of tgids in the kernel's tracked map.
func (p *Probes) TrackedCount() int {
	n := 0
	var k uint32
	var v coreTrack
	it := p.tracked.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	return n
}

// Counters are the kernel side's own counts, summed over CPUs.
type Counters struct {
	Dropped uint64
	// ConnsResolved: TCP sockets first seen (their endpoints read).
	ConnsResolved uint64
	// TLSNoFD: TLS plaintext dropped because the socket under the call
	// was never seen (a connection that was open before the probes), or
	// was closed before the call returned.
	TLSNoFD uint64
	// FDsResolved: syscall capture only, fds looked up in a process's fd
	// table (once per fd, again after the number is handed out anew).
	FDsResolved uint64
}

// Counters reads the per-CPU counters.
func (p *Probes) Counters() (Counters, error) {
	var c Counters
	dst := []*uint64{&c.Dropped, &c.ConnsResolved, &c.TLSNoFD, &c.FDsResolved}
	for i, d := range dst {
		var per []uint64
		if err := p.counters.Lookup(uint32(i), &per); err != nil {
			return c, err
		}
		for _, v := range per {
			*d += v
		}
	}
	return c, nil
}

// Read delivers events to handle until Close. Between events, and at least
// every poll interval, it calls tick (housekeeping on the same goroutine, so
// the caller's state needs no locks). The *Event and its Payload are only
// valid during the call to handle.
func (p *Probes) Read(poll time.Duration, handle func(*Event), tick func()) error {
	next := time.Now().Add(poll)
	p.reader.SetDeadline(next)
	for n := 0; ; n++ {
		err := p.reader.ReadInto(&p.rec)
		switch {
		case err == nil:
			if decode(p.rec.RawSample, &p.ev) {
				handle(&p.ev)
			}
			// Under load the ring never runs dry: tick on time anyway,
			// looking at the clock only every 256 events.
			if n&255 == 0 && time.Now().After(next) {
				tick()
				next = time.Now().Add(poll)
				p.reader.SetDeadline(next)
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			tick()
			next = time.Now().Add(poll)
			p.reader.SetDeadline(next)
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		default:
			return err
		}
	}
}

func decode(b []byte, e *Event) bool {
	if len(b) < hdrSize {
		return false
	}
	le := binary.LittleEndian
	e.Mono = le.Uint64(b[0:])
	e.Sock = le.Uint64(b[8:])
	e.TGID = le.Uint32(b[16:])
	e.FD = le.Uint32(b[20:])
	e.Type = EventType(b[30] &^ eventFlagTLS)
	e.TLS = b[30]&eventFlagTLS != 0
	if e.Type == EventTrace {
		if len(b) < traceSize {
			return false
		}
		e.Len, e.Payload, e.Tail = 0, nil, nil
		copy(e.Trace.TraceID[:], b[hdrSize:hdrSize+16])
		copy(e.Trace.SpanID[:], b[hdrSize+16:hdrSize+24])
		copy(e.Trace.ParentID[:], b[hdrSize+24:hdrSize+32])
		e.Trace.Flags = b[hdrSize+32]
		e.Trace.Role = TraceRole(b[hdrSize+33])
		return true
	}
	if e.Type == EventGoLink {
		if len(b) < goLinkSize {
			return false
		}
		// Mono and Len name the transfer the link is about
		e.Len, e.Payload, e.Tail = le.Uint32(b[24:]), nil, nil
		e.ParentSock = le.Uint64(b[hdrSize:])
		e.Since = le.Uint64(b[hdrSize+8:])
		return true
	}
	if e.Type == EventConn {
		if len(b) < connSize {
			return false
		}
		e.Len, e.Payload, e.Tail = 0, nil, nil
		e.Family = le.Uint16(b[hdrSize:])
		e.LocalPort = le.Uint16(b[hdrSize+2:])
		e.RemotePort = le.Uint16(b[hdrSize+4:])
		copy(e.LocalAddr[:], b[hdrSize+8:hdrSize+24])
		copy(e.RemoteAddr[:], b[hdrSize+24:hdrSize+40])
		return true
	}
	e.Addr = nil
	if e.Type == EventRouteStream {
		if len(b) < hdrSize+routeMax+addrMax {
			return false
		}
		e.Len = le.Uint32(b[24:])
		e.Payload = b[hdrSize : hdrSize+min(int(le.Uint16(b[28:])), routeMax)]
		e.Addr = b[hdrSize+routeMax : hdrSize+routeMax+min(int(b[31]), addrMax)]
		e.Tail = nil
		return true
	}
	e.Len = le.Uint32(b[24:])
	pl := int(le.Uint16(b[28:]))
	if hdrSize+pl > len(b) {
		pl = len(b) - hdrSize
	}
	e.Payload = b[hdrSize : hdrSize+pl]
	tl := min(int(b[31]), 8)
	e.Tail = b[32 : 32+tl]
	if tl == 0 && pl > 0 && pl == int(e.Len) {
		// The payload holds the whole transfer: its tail is the tail.
		e.Tail = e.Payload[max(pl-8, 0):]
	}
	return true
}
