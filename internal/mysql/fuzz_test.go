package mysql

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// A fuzz input is a flags byte (bit 0: report query text), then ops, each a
// control byte, a 2-byte big-endian content length and the content (cut at
// the input's end). Lengths, not separators, frame the ops: PostgreSQL
// messages hold every byte value. The control byte:
//
//	bits 0-1  0 transfer in, 1 transfer out, 2 Close, 3 Flush
//	bit 2     length-only transfer: Len is the content length times
//	          1 + bits 5-7, Tail the content's last 8 bytes
//	bit 3     the kernel copied only the first half of the content
//	bit 4     the clock steps by 1 ms before the op (else by 1 ns)
type fuzzOp struct {
	ev    *stream.Event
	close bool
	flush bool
	t     uint64
}

func decodeFuzz(data []byte) (protocol.Options, []fuzzOp) {
	var opt protocol.Options
	if len(data) == 0 {
		return opt, nil
	}
	opt.QueryText = data[0]&1 == 1
	data = data[1:]
	var ops []fuzzOp
	t := uint64(1_000_000)
	for len(data) >= 3 {
		ctl := data[0]
		n := int(binary.BigEndian.Uint16(data[1:3]))
		data = data[3:]
		content := data[:min(n, len(data))]
		data = data[len(content):]
		if ctl&0x10 != 0 {
			t += 1_000_000
		} else {
			t++
		}
		dir := stream.Ingress
		if ctl&1 == 1 {
			dir = stream.Egress
		}
		tail := content[max(0, len(content)-8):]
		switch {
		case ctl&3 == 2:
			ops = append(ops, fuzzOp{close: true, t: t})
		case ctl&3 == 3:
			ops = append(ops, fuzzOp{flush: true, t: t})
		case len(content) == 0:
		case ctl&4 != 0:
			ops = append(ops, fuzzOp{ev: &stream.Event{Dir: dir, UnixNano: t, Len: len(content) * (1 + int(ctl>>5)), Tail: tail}})
		default:
			p := content
			if ctl&8 != 0 {
				p = content[:len(content)/2]
			}
			ops = append(ops, fuzzOp{ev: &stream.Event{Dir: dir, UnixNano: t, Len: len(content), Payload: p, Tail: tail}})
		}
	}
	return opt, ops
}

// encodeFuzz writes transfers copied whole in the fuzz input format.
func encodeFuzz(opt protocol.Options, evs []stream.Event) []byte {
	b := []byte{0}
	if opt.QueryText {
		b[0] = 1
	}
	for _, e := range evs {
		data := e.Payload
		if len(data) > 0xffff {
			continue
		}
		ctl := byte(0)
		if e.Dir == stream.Egress {
			ctl = 1
		}
		if len(e.Payload) < e.Len {
			ctl |= 8 // roughly: the half of what was copied
		}
		b = append(b, ctl)
		b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
		b = append(b, data...)
	}
	return b
}

func FuzzConn(f *testing.F) {
	for _, s := range scenarios() {
		if b := encodeFuzz(protocol.Options{}, s.evs); len(b) <= 16<<10 {
			f.Add(b)
		}
	}
	f.Add(encodeFuzz(protocol.Options{QueryText: true}, with(connected("shop"), []stream.Event{
		ev(out, 10, prepare("SELECT * FROM t WHERE a = 'x' AND b = ?")+execute(0xffffffff, "v")),
		ev(in, 20, prepareOK(1, []string{"?"}, []string{"a"}, false)+pkt(1, "\x01")+colDef(2, "a")+eof(3, 2)+row(4, "1")+eof(5, 2)),
	})))
	f.Fuzz(func(t *testing.T, data []byte) {
		opt, ops := decodeFuzz(data)
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
		case o.ev != nil:
			latest = max(latest, o.ev.UnixNano)
			c.Feed(o.ev, emit)
		case o.close:
			latest = max(latest, o.t)
			c.Close(o.t, emit)
			closed = true
		case o.flush:
			latest = max(latest, o.t)
			c.Flush(o.t, time.Second, emit)
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
