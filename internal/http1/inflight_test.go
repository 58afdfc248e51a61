package http1

import (
	"testing"

	"github.com/ebpfred/ebpfred/internal/record"
)

// InFlight names the server request being answered only when it is
// certain: it had started by the time asked about, and no response ended
// after that time.
func TestInFlight(t *testing.T) {
	var emitted []*record.Record
	emit := func(r *record.Record) { emitted = append(emitted, r) }
	c := NewConn(testMeta, nil)
	feed := func(o op) { c.Feed(o.ev, emit) }

	if r := c.InFlight(100); r != nil {
		t.Fatalf("no request yet: got %+v", r)
	}
	feed(xfer(in, 100, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
	r := c.InFlight(150)
	if r == nil || r.Path != "/a" {
		t.Fatalf("in flight at 150: %+v, want /a", r)
	}
	if r := c.InFlight(99); r != nil {
		t.Errorf("at 99, before /a started: got %s", r.Path)
	}
	// the caller may set its ids; they reach the emitted record
	r.SpanID = [8]byte{1}
	// a response in progress: its request is the one being answered, not
	// the next one already read (pipelining)
	feed(xfer(out, 200, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"))
	feed(xfer(in, 210, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
	if r := c.InFlight(220); r == nil || r.Path != "/a" {
		t.Fatalf("at 220, response of /a in progress: %+v", r)
	}
	feed(xfer(out, 300, "0123456789"))
	if len(emitted) != 1 || emitted[0].SpanID != ([8]byte{1}) {
		t.Fatalf("emitted %d, want /a with the span id set while in flight", len(emitted))
	}
	// /b waits now; asked about a time when /a was being answered: /b
	// had started, but a response ended since, so it is not certain
	if r := c.InFlight(250); r != nil {
		t.Errorf("at 250 (/a still answered then): got %s", r.Path)
	}
	if r := c.InFlight(310); r == nil || r.Path != "/b" {
		t.Errorf("at 310: %+v, want /b", r)
	}

	// a client connection: its one request waiting for a response; none
	// when it pipelines
	cl := NewConn(testMeta, nil)
	cl.Feed(xfer(out, 100, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n").ev, emit)
	if r := cl.InFlight(150); r == nil || r.Path != "/c" || r.Kind != record.KindClient {
		t.Errorf("client connection: %+v, want /c", r)
	}
	cl.Feed(xfer(out, 160, "GET /d HTTP/1.1\r\nHost: x\r\n\r\n").ev, emit)
	if r := cl.InFlight(170); r != nil {
		t.Errorf("pipelining client: got %s", r.Path)
	}
}
