package mysql

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
		ev(out, 10, prepare("SELECT * FROM t WHERE a = 'x' AND b = ?")+execute(0xffffffff, "v")),
		ev(in, 20, prepareOK(1, []string{"?"}, []string{"a"}, false)+pkt(1, "\x01")+colDef(2, "a")+eof(3, 2)+row(4, "1")+eof(5, 2)),
	})))
	f.Fuzz(func(t *testing.T, data []byte) {
		opt, ops := fuzzframe.Decode(data)
		checkConn(t, opt, ops)
	})
}

// checkConn feeds ops and checks what must hold whatever the bytes: no
// panic, each record once and never after Close, times within what was
// fed, statuses that are error numbers, no text unless asked for, every
// bound kept, nothing of the handshake kept, and Stats matching what was
// emitted.
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
		case r.Status != "" && r.Status != "_OTHER" && !errorNumber(r.Status):
			t.Fatalf("status %q is not an error number", r.Status)
		case !opt.QueryText && r.QueryText != "":
			t.Fatalf("query text %q not asked for", r.QueryText)
		case r.Kind != record.KindClient || r.Conv != MySQL && r.Conv != MariaDB:
			t.Fatalf("kind %v, conventions %v", r.Kind, r.Conv)
		case len(r.Namespace) > maxNamespace:
			t.Fatalf("namespace of %d bytes", len(r.Namespace))
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
			t.Fatalf("%d commands in flight, over the bound %d", n, maxQueue)
		}
		if len(c.stmts) > maxStatements {
			t.Fatalf("%d statements remembered, over the bound %d", len(c.stmts), maxStatements)
		}
		for _, w := range []*walker{&c.out, &c.in} {
			if len(w.body) > keepText {
				t.Fatalf("a packet body of %d bytes kept", len(w.body))
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

func errorNumber(s string) bool {
	if len(s) == 0 || len(s) > 5 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
