package pipeline

import (
	"slices"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/probes"
)

// Discovery notices a process gone while its last events are still in the
// ring (the reader behind on a loaded machine): they are still parsed and
// reported, and the process is let go once the events read have reached
// the moment discovery noticed. psql lost its last queries so in the
// PostgreSQL end-to-end test.
func TestRemovedWaitsForTheProcessEvents(t *testing.T) {
	f := newFixture(7)
	wall := uint64(time.Now().UnixNano())
	mono := func(at uint64) uint64 { return at - f.p.offset }
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:40000", "10.0.0.2:80"))
	f.p.Handle(dataEv(probes.EventDataOut, 7, 5, 1, mono(wall-2e9), "GET /a HTTP/1.1\r\nHost: shop\r\n\r\n"))

	f.p.Removed([]uint32{7})
	f.p.Tick() // events were read since the last Tick: the reader may be behind
	if len(f.sel.forgot) != 0 || len(f.sink.gone) != 0 {
		t.Fatalf("let go before its events were read: forgot %v, gone %v", f.sel.forgot, f.sink.gone)
	}
	f.p.Handle(dataEv(probes.EventDataIn, 7, 5, 1, mono(wall-1e9), resp))
	if len(f.sink.recs) != 1 || f.sink.recs[0].StatusCode != 200 {
		t.Fatalf("the late response: records %+v, want one 200", f.sink.recs)
	}
	// An event from after the removal: everything before it was read.
	f.p.Handle(&probes.Event{Type: probes.EventConn, TGID: 9, Mono: mono(uint64(time.Now().UnixNano()) + 1e6)})
	f.p.Tick()
	if !slices.Equal(f.sel.forgot, []uint32{7}) || !slices.Equal(f.sink.gone, []uint32{7}) {
		t.Errorf("caught up: forgot %v, gone %v; want [7]", f.sel.forgot, f.sink.gone)
	}
}

// A Tick with no event read since the previous one finds the ring idle:
// every event was read, the removal applies.
func TestRemovedIdleRing(t *testing.T) {
	f := newFixture(7)
	f.p.Handle(connEv(7, 5, 1, "10.0.0.1:40000", "10.0.0.2:80"))
	f.p.Tick()
	f.p.Removed([]uint32{7})
	if len(f.sel.forgot) != 0 {
		t.Fatalf("forgot %v at once", f.sel.forgot)
	}
	f.p.Tick()
	if !slices.Equal(f.sel.forgot, []uint32{7}) {
		t.Errorf("forgot %v on an idle Tick, want [7]", f.sel.forgot)
	}
}

// Events keep coming but none from after the removal (a reader far
// behind): removalWait bounds the wait.
func TestRemovedWaitsAtMostRemovalWait(t *testing.T) {
	f := newFixture(7)
	f.p.Removed([]uint32{7})
	f.p.removals[0].at -= uint64(removalWait)
	f.p.lastEvent = 0
	f.p.Handle(connEv(8, 5, 1, "10.0.0.1:40000", "10.0.0.2:80"))
	f.p.Tick()
	if !slices.Equal(f.sel.forgot, []uint32{7}) {
		t.Errorf("forgot %v after removalWait, want [7]", f.sel.forgot)
	}
}
