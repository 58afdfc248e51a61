package memcached

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
// emitted once, client side, starting before it ends; nothing after Close;
// Stats.Records the records emitted; an operation from the command table
// or _OTHER, never a key or a value; a query text of the operation and "?"
// only.
func FuzzConn(f *testing.F) {
	for _, evs := range [][]stream.Event{
		{whole(out, 1, "set k 0 0 1\r\nv\r\nget k j\r\n"), whole(in, 2, "STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n")},
		{whole(out, 1, "stats\r\nversion\r\nincr n 5\r\n"), whole(in, 2, "STAT pid 1\r\nEND\r\nVERSION 1\r\n6\r\n")},
		{whole(out, 1, "ms k 2\r\nhi\r\nmg k v\r\nmn\r\n"), whole(in, 2, "HD\r\nVA 2\r\nhi\r\nMN\r\n")},
		{whole(out, 1, "bogus\r\ndelete k noreply\r\nmg k q\r\n"), whole(in, 2, "ERROR\r\n")},
	} {
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
			if _, ok := commands[r.Operation]; !ok && r.Operation != opOther {
				t.Fatalf("operation %q is not a command's name", r.Operation)
			}
			if q := strings.TrimPrefix(r.QueryText, r.Operation); strings.Trim(q, " ?…") != "" {
				t.Fatalf("query text %q holds more than %q and \"?\"", r.QueryText, r.Operation)
			}
			emitted = append(emitted, r)
		}
		t0 := uint64(1000)
		for _, tr := range fuzzframe.DecodeShort(data) {
			t0 = tr.Ev.UnixNano
			c.Feed(&tr.Ev, emit)
			if tr.Flush {
				c.Flush(t0+1e9, 1, emit)
			}
		}
		c.Close(t0+1, emit)
		closed = true
		c.Flush(t0+1e12, 0, emit)
		c.Close(t0+2, emit)
		if st.Records != uint64(len(emitted)) {
			t.Fatalf("Stats.Records %d, emitted %d", st.Records, len(emitted))
		}
	})
}
