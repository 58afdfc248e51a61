package kafka

import (
	"slices"
	"strconv"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/protocol/fuzzframe"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// The fuzz input: internal/protocol/fuzzframe's short format.

// FuzzConn checks what must hold whatever the bytes: no panic; each record
// emitted once, client side, starting before it ends; nothing after
// Close; Stats.Records the records emitted; an operation that is send or
// poll, a destination that is a topic's name, an error that is a Kafka
// error's name or code: never a message's bytes.
func FuzzConn(f *testing.F) {
	orders := []string{"orders"}
	seeds := [][]stream.Event{
		{whole(out, 1, produce(9, 1, -1, "orders")), whole(in, 2, produceResponse(9, 1, orders, 3))},
		{whole(out, 1, cat(produce(7, 1, -1, "orders"), produce(7, 2, 0, "orders"))), whole(in, 2, produceResponse(7, 1, orders, 0))},
		{whole(out, 1, fetch(12, 1, "orders")), whole(in, 2, fetchResponse(12, 1, "orders", 0, 1, records))},
		{whole(out, 1, fetch(4, 1, "orders", "audit")), whole(in, 2, fetchResponse(4, 1, "orders", 0, 0, records))},
		{whole(out, 1, cat(other(18, 3, 0), fetch(16, 1, "orders"))), whole(in, 2, cat(otherResponse(0), fetchResponse(16, 1, "orders", 7, 0, nil)))},
		{whole(out, 1, produce(13, 4, 1, "orders")), whole(in, 2, produceResponse(13, 4, orders, 0)[:4])},
	}
	for _, evs := range seeds {
		f.Add(fuzzframe.EncodeShort(evs))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st protocol.Stats
		c := NewConn(testMeta, &st, nil)
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
			if r.Operation != OpSend && r.Operation != OpPoll {
				t.Fatalf("operation %q", r.Operation)
			}
			if r.Target != "" && !topicChars([]byte(r.Target)) {
				t.Fatalf("destination %q is not a topic's name", r.Target)
			}
			if r.Status != "" && !knownError(r.Status) {
				t.Fatalf("error %q is not a Kafka error", r.Status)
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

func knownError(s string) bool {
	if s == "UNKNOWN_SERVER_ERROR" || slices.Contains(errorNames[1:], s) {
		return true
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= -32768 && n <= 32767
}
