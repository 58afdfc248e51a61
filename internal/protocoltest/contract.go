// Package protocoltest is the contract every protocol's parser keeps, as
// one test each protocol package runs on its own conversations.
package protocoltest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Conversation is the transfers of one connection, in order, and what the
// protocol must make of them.
type Conversation struct {
	Name   string
	Meta   stream.Meta
	Events []stream.Event
	// Options for the parser.
	Options protocol.Options
	// Requests is how many requests the conversation carries: after Close
	// each is either emitted or counted Incomplete, never both, never
	// neither. (A request counted Unknown is emitted, with what could not
	// be known left out.)
	Requests int
}

// Contract checks, for every conversation, that proto's parser
//   - recognises the conversation's first transfer (Detect says Yes, or
//     Maybe and then Yes once the next transfers are joined to it);
//   - emits each request at most once, with the protocol's conventions, a
//     kind, and a start not after its end;
//   - emits nothing after Close (nor on a second Close or a Flush);
//   - counts in its Stats exactly the records it emitted, and accounts for
//     every request: emitted + Incomplete == Requests, Unknown <= emitted.
func Contract(t *testing.T, proto *protocol.Protocol, convs []Conversation) {
	t.Helper()
	for _, c := range convs {
		t.Run(c.Name, func(t *testing.T) { run(t, proto, c) })
	}
}

func run(t *testing.T, proto *protocol.Protocol, c Conversation) {
	if len(c.Events) == 0 {
		t.Fatal("a conversation needs transfers")
	}
	var joined []byte
	verdict := protocol.Maybe
	for i := 0; i < len(c.Events) && verdict == protocol.Maybe; i++ {
		joined = append(joined, c.Events[i].Payload...)
		verdict = proto.Detect(joined, c.Events[0].Dir, true)
	}
	if verdict != protocol.Yes {
		t.Errorf("Detect of the first transfers %q: %v, want Yes", clip(joined), verdict)
	}

	var st protocol.Stats
	p := proto.New(c.Meta, &st, &c.Options)
	var emitted []*record.Record
	closed := false
	emit := func(r *record.Record) {
		switch {
		case closed:
			t.Errorf("emitted after Close: %+v", *r)
		case slices.Contains(emitted, r):
			t.Errorf("emitted the same record twice: %+v", *r)
		}
		if !slices.Contains(proto.Conventions, r.Conv) {
			t.Errorf("record with conventions %T, not one of the protocol's", r.Conv)
		}
		if r.Kind != record.KindServer && r.Kind != record.KindClient {
			t.Errorf("record of kind %v", r.Kind)
		}
		if r.StartUnixNano > r.EndUnixNano {
			t.Errorf("record starts at %d, after its end %d", r.StartUnixNano, r.EndUnixNano)
		}
		emitted = append(emitted, r) // never released: a reused record would show
	}
	var last uint64
	for i := range c.Events {
		ev := c.Events[i] // the parser may keep nothing of it
		p.Feed(&ev, emit)
		last = max(last, ev.UnixNano)
	}
	p.Close(last+1, emit)
	closed = true
	p.Flush(last+1<<40, 0, emit)
	p.Close(last+2, emit)

	if st.Records != uint64(len(emitted)) {
		t.Errorf("Stats.Records = %d, emitted %d", st.Records, len(emitted))
	}
	if got := uint64(len(emitted)) + st.Incomplete; c.Requests >= 0 && got != uint64(c.Requests) {
		t.Errorf("%d requests: emitted %d + incomplete %d = %d", c.Requests, len(emitted), st.Incomplete, got)
	}
	if st.Unknown > uint64(len(emitted)) {
		t.Errorf("Stats.Unknown = %d, more than the %d records emitted (an unknown request is emitted, with what could not be known left out)", st.Unknown, len(emitted))
	}
}

func clip(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%s…", b[:40])
	}
	return string(b)
}
