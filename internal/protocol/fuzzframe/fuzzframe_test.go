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

// The short format: transfers longer than 255 bytes come back in pieces,
// in order, directions kept; header bits 1-2 set to 3 ask for a Flush.
func TestShortRoundTrip(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = byte(i)
	}
	evs := []stream.Event{{Dir: stream.Egress, Payload: long}, {Dir: stream.Ingress, Payload: []byte("ok")}}
	got := DecodeShort(EncodeShort(evs))
	if len(got) != 3 || len(got[0].Ev.Payload) != 255 || len(got[1].Ev.Payload) != 45 || string(got[2].Ev.Payload) != "ok" {
		t.Fatalf("%d transfers: %+v", len(got), got)
	}
	if got[0].Ev.Dir != stream.Egress || got[2].Ev.Dir != stream.Ingress || got[2].Ev.UnixNano <= got[1].Ev.UnixNano {
		t.Errorf("directions or times wrong: %+v", got)
	}
	if tr := DecodeShort([]byte{6, 1, 'x'}); len(tr) != 1 || !tr[0].Flush {
		t.Errorf("header 6: %+v, want a transfer then a Flush", tr)
	}
}
