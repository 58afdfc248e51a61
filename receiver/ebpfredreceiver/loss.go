package ebpfredreceiver

import (
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ebpfred/ebpfred/internal/probes"
)

// maxLostServices bounds the service.name values of
// otelcol_ebpfred_requests_possibly_lost; losses of further services are
// counted under lostOtherService.
const (
	maxLostServices  = 100
	lostOtherService = "_other"
)

// lostCounts: requests possibly lost, per service.name, for self-telemetry.
type lostCounts struct {
	mu    sync.Mutex
	total uint64
	by    map[string]uint64
}

func (l *lostCounts) add(service string, n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[string]uint64{}
	}
	if _, ok := l.by[service]; !ok && len(l.by) >= maxLostServices {
		service = lostOtherService
	}
	l.by[service] += n
	l.total += n
}

func (l *lostCounts) points() []selfPoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]selfPoint, 0, len(l.by))
	for svc, n := range l.by {
		out = append(out, selfPoint{int64(n), attribute.NewSet(attribute.String("service.name", svc))})
	}
	return out
}

// Total returns every request counted as possibly lost.
func (l *lostCounts) Total() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// mapsEvery: how often kernel map occupancy is counted at most (a walk of
// every hash map's keys; a full 65536-entry map takes tens of ms).
const mapsEvery = 10 * time.Second

// mapsCache keeps the last count of kernel map occupancy.
type mapsCache struct {
	mu   sync.Mutex
	at   time.Time
	last []probes.MapUse
}

func (c *mapsCache) get(p *probes.Probes) []probes.MapUse {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || time.Since(c.at) >= mapsEvery {
		c.last, c.at = p.MapOccupancy(), time.Now()
	}
	return c.last
}

func mapPoints(uses []probes.MapUse, capacity bool) []selfPoint {
	out := make([]selfPoint, 0, len(uses))
	for _, u := range uses {
		v := u.Entries
		if capacity {
			v = u.Capacity
		}
		out = append(out, selfPoint{int64(v), attribute.NewSet(attribute.String("map", u.Name))})
	}
	return out
}
