//go:build !(linux && amd64)

package probes

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/ebpfred/ebpfred/internal/pidns"
)

// Options configure Load.
type Options struct {
	RingBufferSize int
	TrackExecs     bool
	WakeupBytes    uint64
	PIDNamespace   pidns.Namespace
	AppRoutes      bool
	// ContextPropagation, Required, Refuse: see the Linux build.
	ContextPropagation bool
	Required           []Feature
	Refuse             []Feature
}

const (
	FlagConfirmed uint32 = 1
	FlagPending   uint32 = 2
)

// ErrNotTracked: see the Linux build.
var ErrNotTracked = errors.New("the kernel does not track the process")

// Probes is unavailable on this platform.
type Probes struct{}

// Counters are the kernel side's own counts.
type Counters struct{ Dropped, ConnsResolved, TLSNoFD, FDsResolved uint64 }

// Load always fails here: ebpfred's probes are built for Linux on x86_64.
func Load(Options) (*Probes, error) {
	return nil, errors.New("ebpfred runs only on Linux x86_64 (its eBPF programs are built for that target)")
}

func (p *Probes) Close() error                    { return nil }
func (p *Probes) Confirm(uint32, bool) error      { return nil }
func (p *Probes) Track(uint32, bool) error        { return nil }
func (p *Probes) Tracks(uint32) (uint32, bool)    { return 0, false }
func (p *Probes) StopReading() error              { return nil }
func (p *Probes) ProcessDrops() map[uint32]uint64 { return nil }
func (p *Probes) TakeProcessDrops(uint32) uint64  { return 0 }
func (p *Probes) MapOccupancy() []MapUse          { return nil }

// MapUse is how full one kernel hash map is.
type MapUse struct {
	Name              string
	Entries, Capacity int
}

func (p *Probes) SetTracked(uint32, uint32) error                { return nil }
func (p *Probes) Untrack(uint32) error                           { return nil }
func (p *Probes) CopyAll(uint64) error                           { return nil }
func (p *Probes) Adopt(uint32) error                             { return nil }
func (p *Probes) Settle()                                        {}
func (p *Probes) TrackedCount() int                              { return 0 }
func (p *Probes) Counters() (Counters, error)                    { return Counters{}, nil }
func (p *Probes) Read(time.Duration, func(*Event), func()) error { return nil }

// TLSStats count TLS instrumentation outcomes.
type TLSStats struct{ FilesInstrumented, FilesFailed atomic.Uint64 }

// TLSLog receives TLS instrumentation news.
type TLSLog func(pid uint32, path, kind string, err error)

func (p *Probes) SetTLSLog(TLSLog)            {}
func (p *Probes) TLSStats() *TLSStats         { return &TLSStats{} }
func (p *Probes) InstrumentTLS(uint32) error  { return nil }
func (p *Probes) InstrumentTLSAsync(uint32)   {}
func (p *Probes) TLSInstrumented(uint32) bool { return false }
func IsNoTLS(error) bool                      { return false }

// PropagationCgroup, PropagationVariant: propagation is never on here.
func (p *Probes) PropagationCgroup() string  { return "" }
func (p *Probes) PropagationVariant() string { return "" }

func (p *Probes) Features() []FeatureState { return nil }
func (p *Probes) Active(Feature) bool      { return false }
