package postgres

import (
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/protocol/fuzzframe"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// The fuzz input format: internal/protocol/fuzzframe.
type fuzzOp = fuzzframe.Op

func FuzzConn(f *testing.F) {
	for _, s := range scenarios() {
		if b := fuzzframe.Encode(protocol.Options{}, s.evs); len(b) <= 16<<10 {
			f.Add(b)
		}
	}
	f.Add(fuzzframe.Encode(protocol.Options{QueryText: true}, with(connected("shop"), []stream.Event{
		ev(out, 10, parse("s1", "SELECT * FROM t WHERE a = 'x' AND b = $1")+bind("p", "s1", "v")+execute("p")+syncMsg),
		ev(in, 20, parseComplete+bindComplete+dataRow("1")+complete("SELECT 1")+ready('I')),
	})))
	f.Fuzz(func(t *testing.T, data []byte) {
		opt, ops := fuzzframe.Decode(data)
		checkConn(t, opt, ops)
	})
}

// checkConn feeds ops and checks what must hold whatever the bytes: no
// panic, each record once and never after Close, times within what was
// fed, statuses of SQLSTATE shape, no text unless asked for, every bound
// kept, and Stats matching what was emitted.
func checkConn(t *testing.T, opt protocol.Options, ops []fuzzOp) {
	var st protocol.Stats
	c := NewConn(testMeta, &st, &opt)
	seen := map[*record.Record]bool{}
	emitted, closed := 0, false
	var latest uint64
	emit := func(r *record.Record) {
		switch {
		case closed:
			t.Fatalf("emitted after Close: %+v", *r)
		case seen[r]:
			t.Fatalf("emitted twice: %+v", *r)
		case r.StartUnixNano > r.EndUnixNano || r.EndUnixNano > latest || r.StartUnixNano == 0:
			t.Fatalf("times %d-%d, latest transfer at %d", r.StartUnixNano, r.EndUnixNano, latest)
		case r.Status != "" && r.Status != "_OTHER" && len(r.Status) != 5:
			t.Fatalf("status %q is not an SQLSTATE", r.Status)
		case !opt.QueryText && r.QueryText != "":
			t.Fatalf("query text %q not asked for", r.QueryText)
		case r.Kind != record.KindClient || r.Conv != Conventions:
			t.Fatalf("kind %v, conventions %v", r.Kind, r.Conv)
		}
		seen[r] = true
		emitted++
	}
	for _, o := range ops {
		switch {
		case o.Ev != nil:
			latest = max(latest, o.Ev.UnixNano)
			c.Feed(o.Ev, emit)
		case o.Close:
			latest = max(latest, o.T)
			c.Close(o.T, emit)
			closed = true
		case o.Flush:
			latest = max(latest, o.T)
			c.Flush(o.T, time.Second, emit)
		}
		if n := len(c.q) - c.head; n > maxQueue {
			t.Fatalf("%d requests in flight, over the bound %d", n, maxQueue)
		}
		if len(c.stmts) > maxStatements || len(c.portals) > maxStatements {
			t.Fatalf("%d statements, %d portals remembered, over the bound %d", len(c.stmts), len(c.portals), maxStatements)
		}
		for _, w := range []*walker{&c.out, &c.in} {
			if len(w.body) > max(w.keep, 0) && len(w.body) > keepText {
				t.Fatalf("a message body of %d bytes kept", len(w.body))
			}
		}
	}
	latest++
	c.Close(latest, emit)
	closed = true
	if st.Records != uint64(emitted) {
		t.Fatalf("Stats.Records = %d, emitted %d", st.Records, emitted)
	}
	if st.Unknown > st.Records {
		t.Fatalf("Stats.Unknown = %d, more than the %d records", st.Unknown, st.Records)
	}
}
