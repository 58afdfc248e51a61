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
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
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
	// ContextPropagation loads the trace-context injection programs
	// (propagate.go): a traceparent header is inserted into the plaintext
	// HTTP/1 requests that tracked processes send, and the kernel reports
	// the span ids it chose in EventTrace events.
	ContextPropagation bool
}

// Tracking flags stored per tgid in the kernel.
const (
	FlagConfirmed uint32 = 1
	FlagPending   uint32 = 2
)

// Probes is a loaded and attached probe set.
type Probes struct {
	objs   bpfObjects
	links  []link.Link
	reader *ringbuf.Reader
	rec    ringbuf.Record
	ev     Event
	tls    tlsState
	// appRoutes: attach the route probes of Go routers (Options.AppRoutes).
	appRoutes bool
	prop      *propState // nil unless Options.ContextPropagation
}

// Load checks that this kernel can run ebpfred, loads the programs and
// attaches them. The error is one sentence that says what to do.
func Load(opts Options) (*Probes, error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, errors.New("this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): ebpfred needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux 5.8 or later)")
	}
	spec, err := loadBpf()
	if err != nil {
		return nil, fmt.Errorf("reading the embedded eBPF object: %w", err)
	}
	if opts.RingBufferSize > 0 {
		spec.Maps["events"].MaxEntries = uint32(opts.RingBufferSize)
	}
	if opts.WakeupBytes == 0 {
		opts.WakeupBytes = 256 << 10
	}
	consts := map[string]any{
		"self_tgid":    uint32(os.Getpid()),
		"wakeup_bytes": opts.WakeupBytes,
		"track_execs":  uint8(0),
		"propagation":  uint8(0),
	}
	maps.Copy(consts, pidnsConsts(opts.PIDNamespace))
	if opts.TrackExecs {
		consts["track_execs"] = uint8(1)
	}
	if opts.ContextPropagation {
		consts["propagation"] = uint8(1)
	} else {
		shrinkPropagationMaps(spec)
	}
	for name, v := range consts {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	p := &Probes{appRoutes: opts.AppRoutes}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, explainLoad(err)
	}
	attach := []struct {
		name string
		prog *ebpf.Program
	}{
		{"sys_exit", p.objs.EbpfredSysExit},
		{"sched_process_fork", p.objs.EbpfredFork},
		{"sched_process_exec", p.objs.EbpfredExec},
		{"sched_process_exit", p.objs.EbpfredExit},
	}
	for _, a := range attach {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: a.name, Program: a.prog})
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("attaching to the raw tracepoint %s: %w", a.name, explainLoad(err))
		}
		p.links = append(p.links, l)
	}
	if opts.ContextPropagation {
		if err := p.loadPropagation(opts.PIDNamespace); err != nil {
			p.Close()
			return nil, err
		}
	}
	p.reader, err = ringbuf.NewReader(p.objs.Events)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("opening the event ring: %w", err)
	}
	return p, nil
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
		return fmt.Errorf("the kernel's verifier rejected an ebpfred program (a bug in ebpfred or an unsupported kernel; please report it with this log): %w", err)
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("the kernel refused to load eBPF programs (%v): run the collector as root, or with CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH", err)
	}
	return err
}

// Close detaches every program and frees every map. It is safe to call
// more than once and concurrently with Read (which then returns).
func (p *Probes) Close() error {
	var errs []error
	if p.reader != nil {
		errs = append(errs, p.reader.Close())
	}
	errs = append(errs, p.closePropagation())
	errs = append(errs, p.closeTLS())
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	p.links = nil
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}

// SetTracked tracks tgid with the given flags. A process the kernel already
// tracks (from its exec or fork) keeps its generation, and with it its
// cached connections; a new one gets a fresh generation, so that whatever
// an earlier process with the same tgid left in the connection cache is
// re-resolved rather than trusted.
func (p *Probes) SetTracked(tgid, flags uint32) error {
	var t bpfTrack
	if err := p.objs.TrackedPids.Lookup(tgid, &t); err != nil || t.Gen == 0 {
		t.Gen = rand.Uint32() | 1
	}
	t.Flags = flags
	if err := p.objs.TrackedPids.Update(tgid, &t, ebpf.UpdateAny); err != nil {
		return err
	}
	if flags == FlagConfirmed {
		p.propTrack(tgid)
	}
	return nil
}

// Untrack stops tracking tgid. Its cached connections are left to the
// LRU: the next process with this tgid has another generation.
func (p *Probes) Untrack(tgid uint32) error {
	p.propUntrack(tgid)
	err := p.objs.TrackedPids.Delete(tgid)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		err = nil
	}
	return err
}

// MarkHTTP2 tells the kernel that (tgid, fd) carries HTTP/2, so that it
// copies the head of every transfer (frame headers can be anywhere). Used
// for connections recognised from their frames, which were open before the
// probes saw their preface.
func (p *Probes) MarkHTTP2(tgid, fd uint32) error {
	k := bpfConnKey{Tgid: tgid, Fd: fd}
	var v bpfConnInfo
	if err := p.objs.Conns.Lookup(&k, &v); err != nil {
		return err
	}
	v.H2 = 1
	return p.objs.Conns.Update(&k, &v, ebpf.UpdateExist)
}

// TrackedCount returns the number of tgids in the kernel's tracked map.
func (p *Probes) TrackedCount() int {
	n := 0
	var k uint32
	var v bpfTrack
	it := p.objs.TrackedPids.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	return n
}

// Counters are the kernel side's own counts, summed over CPUs.
type Counters struct {
	Dropped, ConnsResolved uint64
	// TLSNoFD: TLS plaintext dropped because the socket under the call
	// was never seen (a connection that was open before the probes), or
	// was closed before the call returned.
	TLSNoFD uint64
}

// Counters reads the per-CPU counters.
func (p *Probes) Counters() (Counters, error) {
	var c Counters
	dst := []*uint64{&c.Dropped, &c.ConnsResolved, &c.TLSNoFD}
	for i, d := range dst {
		var per []uint64
		if err := p.objs.Counters.Lookup(uint32(i), &per); err != nil {
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
		copy(e.Trace.TraceID[:], b[40:56])
		copy(e.Trace.SpanID[:], b[56:64])
		copy(e.Trace.ParentID[:], b[64:72])
		e.Trace.Flags = b[72]
		e.Trace.Role = TraceRole(b[73])
		return true
	}
	if e.Type == EventConn {
		if len(b) < connSize {
			return false
		}
		e.Len, e.Payload, e.Tail = 0, nil, nil
		e.Family = le.Uint16(b[32:])
		e.LocalPort = le.Uint16(b[34:])
		e.RemotePort = le.Uint16(b[36:])
		copy(e.LocalAddr[:], b[40:56])
		copy(e.RemoteAddr[:], b[56:72])
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
