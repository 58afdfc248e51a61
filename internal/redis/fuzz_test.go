package redis

import (
	"slices"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// A fuzz input is a list of transfers, each a header byte and a length
// byte and then that many bytes. The header's bit 0 is the direction; bits
// 1-2 what the kernel copied: 0 all of it, 1 its first half, 2 nothing but
// its last 8 bytes (and the transfer is 37 times longer), 3 all of it and
// then an idle Flush.

func encodeEvents(evs []stream.Event) []byte {
	var b []byte
	for _, ev := range evs {
		h := byte(0)
		if ev.Dir == out {
			h = 1
		}
		for p := ev.Payload; len(p) > 0; p = p[min(len(p), 255):] {
			n := min(len(p), 255)
			b = append(b, h, byte(n))
			b = append(b, p[:n]...)
		}
	}
	return b
}

type fuzzEvent struct {
	ev    stream.Event
	flush bool
}

func decodeEvents(data []byte) []fuzzEvent {
	var evs []fuzzEvent
	t := uint64(1000)
	for len(data) >= 2 {
		h, n := data[0], int(data[1])
		data = data[2:]
		n = min(n, len(data))
		if n == 0 {
			continue
		}
		b := data[:n:n]
		data = data[n:]
		t += uint64(h>>3) + 1
		ev := whole(in, t, string(b))
		if h&1 == 1 {
			ev.Dir = out
		}
		fe := fuzzEvent{ev: ev}
		switch h >> 1 & 3 {
		case 1:
			fe.ev.Payload = fe.ev.Payload[:n/2]
		case 2:
			fe.ev.Payload = nil
			fe.ev.Len = 37 * n
		case 3:
			fe.flush = true
		}
		evs = append(evs, fe)
	}
	return evs
}

// FuzzConn checks what must hold whatever the bytes: no panic; each record
// emitted once, client side, starting before it ends; nothing after
// Close; Stats.Records the records emitted; an operation from the command
// table (or a module's, or _OTHER), never a key or a value; a query text
// that is its operation and "?" only.
func FuzzConn(f *testing.F) {
	seeds := [][]stream.Event{
		{whole(out, 1, cmd("SET", "k", "v")+cmd("GET", "k")), whole(in, 2, "+OK\r\n$1\r\nv\r\n")},
		{whole(out, 1, cmd("CLIENT", "SETNAME", "x")+cmd("SELECT", "2")), whole(in, 2, "+OK\r\n-ERR DB index is out of range\r\n")},
		{whole(out, 1, cmd("HELLO", "3")), whole(in, 2, "%1\r\n$5\r\nproto\r\n:3\r\n>2\r\n$1\r\na\r\n_\r\n|1\r\n+a\r\n:1\r\n")},
		{whole(out, 1, cmd("SUBSCRIBE", "c")), whole(in, 2, "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n")},
		{whole(out, 1, cmd("EVAL", "s", "0")), whole(in, 2, "!9\r\nERR boom\r\n*2\r\n*1\r\n,1.5\r\n(12\r\n")},
		{whole(out, 1, cmd("JSON.GET", "k")+cmd("CLIENT", "REPLY", "OFF")), whole(in, 2, "$-1\r\n")},
	}
	for _, evs := range seeds {
		f.Add(encodeEvents(evs))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st protocol.Stats
		c := NewConn(testMeta, &st, &protocol.Options{QueryText: true})
		var emitted []*record.Record
		closed := false
		emit := func(r *record.Record) {
			if closed {
				t.Fatalf("emitted after Close: %+v", *r)
			}
			if slices.Contains(emitted, r) {
				t.Fatalf("emitted twice: %+v", *r)
			}
			if r.Kind != record.KindClient || r.Conv != Conventions || r.StartUnixNano > r.EndUnixNano {
				t.Fatalf("record %+v", *r)
			}
			if !knownOperation(r.Operation) {
				t.Fatalf("operation %q is not a command's name", r.Operation)
			}
			if q := strings.TrimPrefix(r.QueryText, r.Operation); strings.Trim(q, " ?…") != "" {
				t.Fatalf("query text %q holds more than %q and \"?\"", r.QueryText, r.Operation)
			}
			emitted = append(emitted, r)
		}
		var last uint64
		for _, fe := range decodeEvents(data) {
			c.Feed(&fe.ev, emit)
			last = fe.ev.UnixNano
			if fe.flush {
				c.Flush(last+1e9, 1, emit)
			}
		}
		c.Close(last+1, emit)
		closed = true
		c.Flush(last+1e12, 0, emit)
		c.Close(last+2, emit)
		if st.Records != uint64(len(emitted)) {
			t.Fatalf("Stats.Records %d, emitted %d", st.Records, len(emitted))
		}
	})
}

// knownOperation: a command of the table, a container's subcommand, a
// module's command (a dot in it: its name as the client wrote it, which
// the module defines) or _OTHER.
func knownOperation(op string) bool {
	if op == opOther || strings.Contains(op, ".") {
		return op != ""
	}
	container, sub, two := strings.Cut(op, " ")
	if _, ok := commands[container]; !ok {
		return false
	}
	return !two || sub == "REPLY" || slices.Contains(subcommandNames[container], sub)
}
