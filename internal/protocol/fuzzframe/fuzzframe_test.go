package fuzzframe

import (
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// What Encode writes, Decode reads back: the same transfers in order, with
// times that only move forward, and the query-text flag.
func TestRoundTrip(t *testing.T) {
	evs := []stream.Event{
		{Dir: stream.Egress, Len: 3, Payload: []byte("abc")},
		{Dir: stream.Ingress, Len: 2, Payload: []byte{0, 0xff}},
	}
	opt, ops := Decode(Encode(protocol.Options{QueryText: true}, evs))
	if !opt.QueryText || len(ops) != 2 {
		t.Fatalf("query text %v, %d ops; want true, 2", opt.QueryText, len(ops))
	}
	for i, o := range ops {
		if o.Ev == nil || o.Ev.Dir != evs[i].Dir || string(o.Ev.Payload) != string(evs[i].Payload) || o.Ev.Len != evs[i].Len {
			t.Errorf("op %d: %+v, want %+v", i, o.Ev, evs[i])
		}
	}
	if ops[1].Ev.UnixNano <= ops[0].Ev.UnixNano {
		t.Errorf("times %d then %d: not increasing", ops[0].Ev.UnixNano, ops[1].Ev.UnixNano)
	}
	// A close and a flush (control bytes 2 and 3) with no content.
	if _, ops := Decode([]byte{0, 2, 0, 0, 3, 0, 0}); len(ops) != 2 || !ops[0].Close || !ops[1].Flush {
		t.Errorf("close and flush: %+v", ops)
	}
}
