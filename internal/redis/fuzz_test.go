package redis

import (
	"slices"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/protocol/fuzzframe"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// The fuzz input: internal/protocol/fuzzframe's short format.

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
		f.Add(fuzzframe.EncodeShort(evs))
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
		for _, fe := range fuzzframe.DecodeShort(data) {
			c.Feed(&fe.Ev, emit)
			last = fe.Ev.UnixNano
			if fe.Flush {
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
