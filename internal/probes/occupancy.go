//go:build linux && amd64

package probes

import (
	"slices"
	"strings"

	"github.com/cilium/ebpf"
)

// MapUse is how full one kernel hash map is.
type MapUse struct {
	Name     string
	Entries  int
	Capacity int
}

// MapOccupancy counts the entries of every hash map the loaded programs
// use (tracked_pids, conns, fd_socks, the TLS, Go route and propagation
// tables, pid_drops), sorted by name. It walks each map key by key: a few
// tens of milliseconds for a full 65536-entry map, so call it off the data
// path and not often (self-telemetry caches it).
func (p *Probes) MapOccupancy() []MapUse {
	seen := map[string]bool{}
	var out []MapUse
	add := func(name string, m *ebpf.Map) {
		if m == nil || seen[name] || strings.HasPrefix(name, ".") {
			return
		}
		switch m.Type() {
		case ebpf.Hash, ebpf.LRUHash, ebpf.PerCPUHash, ebpf.LRUCPUHash:
		default:
			return
		}
		seen[name] = true
		out = append(out, MapUse{Name: name, Entries: countEntries(m), Capacity: int(m.MaxEntries())})
	}
	if p.shared != nil {
		for name, m := range p.shared.Maps {
			add(name, m)
		}
	}
	for _, c := range p.objects {
		for name, m := range c.Maps {
			add(name, m)
		}
	}
	if p.prop != nil && p.prop.coll != nil {
		for name, m := range p.prop.coll.Maps {
			add(name, m)
		}
	}
	slices.SortFunc(out, func(a, b MapUse) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// countEntries walks m's keys. An LRU map whose entries change meanwhile
// may restart the walk; it stops at the map's capacity.
func countEntries(m *ebpf.Map) int {
	n := 0
	var key any // nil: the first key
	for n < int(m.MaxEntries()) {
		next, err := m.NextKeyBytes(key)
		if err != nil || next == nil {
			break
		}
		key = next
		n++
	}
	return n
}

// ProcessDrops returns, per process (tgid), how many of its events the
// kernel had no room for in the ring since it was first counted.
func (p *Probes) ProcessDrops() map[uint32]uint64 {
	out := map[uint32]uint64{}
	m := p.shared.Maps["pid_drops"]
	var k uint32
	var v uint64
	it := m.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	return out
}

// TakeProcessDrops returns process tgid's count of dropped events and
// forgets it (the process is gone; its tgid may come back for another).
func (p *Probes) TakeProcessDrops(tgid uint32) uint64 {
	m := p.shared.Maps["pid_drops"]
	var v uint64
	if err := m.Lookup(tgid, &v); err != nil {
		return 0
	}
	_ = m.Delete(tgid) // gone already: the LRU made room
	return v
}
