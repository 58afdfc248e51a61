//go:build linux && amd64

package probes

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// The objects and which feature owns which of their programs. A feature
// is loaded on its own, so a program the kernel refuses takes down only its
// feature; the objects share their maps (bpf/maps.h), created once.
type featureDef struct {
	feature Feature
	spec    func() (*ebpf.CollectionSpec, error)
	// programs: the object's programs that make up the feature; nil: all.
	programs []string
}

var featureDefs = []featureDef{
	{FeatureCapture, loadCore, nil},
	{FeatureTLSOpenSSL, loadTls, []string{"ebpfred_ssl_read", "ebpfred_ssl_read_ex", "ebpfred_ssl_write",
		"ebpfred_ssl_write_ex", "ebpfred_ssl_handshake", "ebpfred_ssl_handshake_ret", "ebpfred_ssl_ret",
		"ebpfred_ssl_free"}},
	{FeatureTLSGo, loadTls, []string{"ebpfred_go_tls_read", "ebpfred_go_tls_write", "ebpfred_go_tls_handshake",
		"ebpfred_go_tls_handshake_ret", "ebpfred_go_tls_ret"}},
	{FeatureGoRoutes, loadGoroutes, nil},
	{FeatureGoContext, loadGocontext, nil},
	{FeaturePropagation, loadProp, nil},
}

func defOf(f Feature) featureDef {
	for _, d := range featureDefs {
		if d.feature == f {
			return d
		}
	}
	panic("probes: no definition for feature " + string(f))
}

// loader creates the shared maps and loads features' programs against them.
type loader struct {
	opts   Options
	shared *ebpf.Collection // the maps of bpf/maps.h, and nothing else
}

// propagationMaps are declared in every object but used only with
// context propagation; an LRU hash preallocates all its entries, so they
// are made one entry each when propagation is off.
var propagationMaps = []string{"thread_ctx", "injected", "prop_nolink", "sock_ctx"}

// goContextMaps are likewise used only by the go_context feature.
var goContextMaps = []string{"go_srv", "go_ctxs", "go_wl", "go_pc"}

// newLoader creates the shared maps from the core object's declarations.
func newLoader(opts Options) (*loader, error) {
	spec, err := loadCore()
	if err != nil {
		return nil, fmt.Errorf("reading the embedded eBPF object: %w", err)
	}
	ms := &ebpf.CollectionSpec{Maps: map[string]*ebpf.MapSpec{}, Types: spec.Types, ByteOrder: spec.ByteOrder}
	for name, m := range spec.Maps {
		if !strings.HasPrefix(name, ".") { // .rodata: each object has its own constants
			ms.Maps[name] = m.Copy()
		}
	}
	if opts.RingBufferSize > 0 {
		ms.Maps["events"].MaxEntries = uint32(opts.RingBufferSize)
	}
	if !opts.ContextPropagation {
		for _, name := range propagationMaps {
			ms.Maps[name].MaxEntries = 1
		}
	}
	if !opts.GoContext {
		for _, name := range goContextMaps {
			ms.Maps[name].MaxEntries = 1
		}
	}
	coll, err := ebpf.NewCollection(ms)
	if err != nil {
		return nil, explainLoad(err)
	}
	return &loader{opts: opts, shared: coll}, nil
}

func (l *loader) close() {
	if l.shared != nil {
		l.shared.Close()
	}
}

// consts are the values of the objects' load-time constants; an object
// sets those it declares.
func (l *loader) consts(propagation bool) map[string]any {
	c := map[string]any{
		"self_tgid":    uint32(os.Getpid()),
		"wakeup_bytes": l.opts.WakeupBytes,
		"track_execs":  uint8(0),
		"propagation":  uint8(0),
		"go_context":   uint8(0),
	}
	maps.Copy(c, pidnsConsts(l.opts.PIDNamespace))
	if l.opts.TrackExecs {
		c["track_execs"] = uint8(1)
	}
	if propagation {
		c["propagation"] = uint8(1)
	}
	if l.opts.GoContext {
		c["go_context"] = uint8(1)
	}
	return c
}

// spec returns feature f's object spec, reduced to programs (nil: the
// feature's), with its constants set and the shared maps in place of its
// own declarations.
func (l *loader) spec(f Feature, propagation bool, programs []string) (*ebpf.CollectionSpec, map[string]*ebpf.Map, error) {
	def := defOf(f)
	spec, err := def.spec()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the embedded eBPF object of %s: %w", f, err)
	}
	if programs == nil {
		programs = def.programs
	}
	if programs != nil {
		for name := range spec.Programs {
			if !slices.Contains(programs, name) {
				delete(spec.Programs, name)
			}
		}
		for _, name := range programs {
			if spec.Programs[name] == nil {
				return nil, nil, fmt.Errorf("the eBPF object of %s has no program %s", f, name)
			}
		}
	}
	for name, v := range l.consts(propagation) {
		if vs := spec.Variables[name]; vs != nil {
			if err := vs.Set(v); err != nil {
				return nil, nil, fmt.Errorf("setting %s: %w", name, err)
			}
		}
	}
	repl := map[string]*ebpf.Map{}
	for name, ms := range spec.Maps {
		if m := l.shared.Maps[name]; m != nil {
			ms.MaxEntries = m.MaxEntries()
			repl[name] = m
		}
	}
	if slices.Contains(l.opts.Refuse, f) {
		for _, ps := range spec.Programs {
			makeInvalid(ps)
		}
	}
	return spec, repl, nil
}

// load loads feature f's programs (nil: all of them).
func (l *loader) load(f Feature, propagation bool, programs []string) (*ebpf.Collection, error) {
	spec, repl, err := l.spec(f, propagation, programs)
	if err != nil {
		return nil, err
	}
	return ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: repl})
}

// makeInvalid replaces a program by one that every verifier refuses (it
// reads above its stack frame): Options.Refuse, so that tests see the
// kernel refuse a feature for real.
func makeInvalid(ps *ebpf.ProgramSpec) {
	ps.Instructions = asm.Instructions{
		asm.LoadMem(asm.R0, asm.RFP, 8, asm.DWord).WithSymbol(ps.Name),
		asm.Return(),
	}
}

// uprobeSupport says whether this kernel can attach uprobes at all
// (CONFIG_UPROBE_EVENTS): through the uprobe PMU, or tracefs's
// uprobe_events.
func uprobeSupport() error {
	for _, p := range []string{"/sys/bus/event_source/devices/uprobe/type", "/sys/kernel/tracing/uprobe_events",
		"/sys/kernel/debug/tracing/uprobe_events"} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	return errors.New("this kernel has no uprobes (CONFIG_UPROBE_EVENTS is off: no /sys/bus/event_source/devices/uprobe)")
}

// ProgramStats is what the verifier reported of one program: its stack,
// all its subprograms together, and the instructions it processed. Kernels
// differ in how they add up stacks (some give some programs a private
// stack), so the sum is the number to keep well under 512.
type ProgramStats struct {
	Feature Feature
	Program string
	// Err is the kernel's refusal, "" when it loaded.
	Err string
	// Stack: the verifier's per-subprogram depths ("248+0+72") and their sum.
	Stack    string
	StackSum int
	// Insns: instructions the verifier processed (the limit is 1,000,000).
	Insns int
	// Xlated: instructions of the loaded program (bpftool's xlated size / 8).
	Xlated int
}

var (
	statStack = regexp.MustCompile(`stack depth ([0-9+]+)`)
	statInsns = regexp.MustCompile(`processed (\d+) insns`)
)

// VerifierStats loads every program of the requested features (capture
// always) one at a time, with the constants opts implies, and returns what
// the verifier said of each: the table that shows a program creeping
// towards a limit before a kernel refuses it.
func VerifierStats(opts Options) ([]ProgramStats, error) {
	opts = opts.withDefaults()
	liftMemlock()
	l, err := newLoader(opts)
	if err != nil {
		return nil, err
	}
	defer l.close()
	var out []ProgramStats
	for _, f := range opts.requested() {
		spec, repl, err := l.spec(f, opts.ContextPropagation, nil)
		if err != nil {
			return nil, err
		}
		for _, name := range slices.Sorted(maps.Keys(spec.Programs)) {
			one := spec.Copy()
			for other := range one.Programs {
				if other != name {
					delete(one.Programs, other)
				}
			}
			st := ProgramStats{Feature: f, Program: name}
			coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{
				MapReplacements: repl,
				Programs:        ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats},
			})
			if err != nil {
				st.Err = reason(err)
				var ve *ebpf.VerifierError
				if errors.As(err, &ve) {
					parseStats(strings.Join(ve.Log, "\n"), &st)
				}
				out = append(out, st)
				continue
			}
			prog := coll.Programs[name]
			parseStats(prog.VerifierLog, &st)
			if info, err := prog.Info(); err == nil {
				if insns, err := info.Instructions(); err == nil {
					st.Xlated = len(insns)
				}
			}
			coll.Close()
			out = append(out, st)
		}
	}
	return out, nil
}

func parseStats(log string, st *ProgramStats) {
	if m := statStack.FindStringSubmatch(log); m != nil {
		st.Stack = m[1]
		st.StackSum = 0
		for _, part := range strings.Split(m[1], "+") {
			n, _ := strconv.Atoi(part)
			st.StackSum += n
		}
	}
	if m := statInsns.FindStringSubmatch(log); m != nil {
		st.Insns, _ = strconv.Atoi(m[1])
	}
}
