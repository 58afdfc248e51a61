package http1

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/httpfield"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Fuzz input: segments separated by 0xff, so that mutations of the HTTP
// text inside keep the structure. Each segment is a control byte and content:
//
//	bits 0-1  0 transfer in, 1 transfer out, 2 Close, 3 Flush (idle: one µs
//	          per content byte)
//	bit 2     length-only transfer: Len is the content length times
//	          1 + bits 5-7, Tail the content's last 8 bytes
//	bit 3     copy the first half of the content whatever it looks like
//	          (otherwise the kernel's rule decides)
//	bit 4     the clock steps by 1 ms before the op (else by 1 ns)
func decodeOps(data []byte) []op {
	var ops []op
	t := uint64(1_000_000)
	for len(data) > 0 {
		seg := data
		if k := bytes.IndexByte(data, 0xff); k >= 0 {
			seg, data = data[:k], data[k+1:]
		} else {
			data = nil
		}
		if len(seg) == 0 {
			continue
		}
		ctl, content := seg[0], seg[1:]
		if ctl&0x10 != 0 {
			t += 1_000_000
		} else {
			t++
		}
		dir := stream.Ingress
		if ctl&1 == 1 {
			dir = stream.Egress
		}
		switch {
		case ctl&3 == 2:
			ops = append(ops, closeAt(t))
		case ctl&3 == 3:
			ops = append(ops, flushAt(t, time.Duration(len(content))*time.Microsecond))
		case len(content) == 0:
		case ctl&4 != 0:
			n := len(content) * (1 + int(ctl>>5))
			ops = append(ops, op{ev: &stream.Event{Dir: dir, UnixNano: t, Len: n, Tail: content[max(0, len(content)-8):]}})
		default:
			o := xfer(dir, t, string(content))
			if ctl&8 != 0 {
				o.ev.Payload = content[:len(content)/2]
			}
			ops = append(ops, o)
		}
	}
	return ops
}

// encodeOps writes ops in the fuzz input format (times are not kept, flush
// idle times only roughly; length-only transfers become filler bytes).
func encodeOps(ops []op) []byte {
	var b []byte
	for _, o := range ops {
		if len(b) > 0 {
			b = append(b, 0xff)
		}
		switch {
		case o.close:
			b = append(b, 2)
		case o.flush:
			b = append(b, 0x13)
			b = append(b, bytes.Repeat([]byte{'.'}, int(min(o.idle/time.Microsecond, 64)))...)
		case len(o.ev.Payload) == 0 && len(o.ev.Tail) < o.ev.Len:
			b = append(b, byte(o.ev.Dir-1)|4)
			b = append(b, bytes.Repeat([]byte{'x'}, o.ev.Len-len(o.ev.Tail))...)
			b = append(b, o.ev.Tail...)
		default:
			data := o.ev.Payload
			if len(data) < o.ev.Len {
				data = append(append([]byte(nil), data...), bytes.Repeat([]byte{'x'}, o.ev.Len-len(data))...)
			}
			b = append(b, byte(o.ev.Dir-1))
			b = append(b, data...)
		}
	}
	return b
}

func FuzzConn(f *testing.F) {
	for _, ops := range seedOps() {
		f.Add(encodeOps(ops))
	}
	for _, s := range append(connScenarios(), edgeScenarios()...) {
		if b := encodeOps(s.ops); len(b) <= 16<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkConn(t, decodeOps(data))
	})
}

// seedOps are small scenarios of the table tests.
func seedOps() [][]op {
	return [][]op{
		{xfer(in, 1, getA+getB), xfer(out, 2, ok5+notFnd), closeAt(3)},
		{xfer(out, 1, "POST /x HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"), xfer(in, 2, "HTTP/1.1 100 Continue\r\n\r\n"), xfer(out, 3, "abc"), xfer(in, 4, ok0), closeAt(5)},
		{xfer(in, 1, getA), xfer(out, 2, chunked+"5\r\nhello\r\n"), blob(out, 3, 1031, ""), xfer(out, 4, "0\r\n\r\n"), xfer(in, 5, getB)},
		{xfer(in, 1, getA), xfer(out, 2, chunked+"3\r\nabc\r\n0\r\nX: 1\r\n\r\n"), flushAt(100, 10)},
		{xfer(in, 1, "HEAD / HTTP/1.1\r\n\r\n"), xfer(out, 2, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")},
		{xfer(out, 1, "GET / HTTP/1.0\r\n\r\n"), xfer(in, 2, "HTTP/1.0 200 OK\r\n\r\nbody"), blob(in, 3, 100, ""), closeAt(4)},
		{xfer(in, 1, "GET / HTTP/1.1\r\nCookie: "+strings.Repeat("c", 1200)+"\r\n\r\n"), xfer(out, 2, ok0)},
		{xfer(out, 1, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), xfer(in, 2, "HTTP/1.1 101 Switching Protocols\r\n\r\n")},
		{xfer(in, 1, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")},
		{xfer(in, 1, "GET /a HTTP/1.1\r\n"), xfer(in, 2, "\r\n"), xfer(out, 3, "HTTP/1.1 200 OK\r\n"), blob(out, 4, 30, "")},
		{xfer(in, 1, "POST /a HTTP/1.1\r\nContent-Length: 1500\r\n\r\n"+strings.Repeat("b", 1500)+getB), xfer(out, 2, ok0), xfer(out, 3, ok0)},
	}
}

var knownMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true, "CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true}

// checkConn feeds ops and checks what must hold whatever the input.
func checkConn(t *testing.T, ops []op) {
	var stats Stats
	c := NewConn(testMeta, &stats)
	var emitted []*record.Record
	var copies []record.Record
	seen := map[*record.Record]bool{}
	var latest uint64
	emit := func(r *record.Record) {
		if seen[r] {
			t.Fatalf("record emitted twice: %+v", *r)
		}
		seen[r] = true
		checkRecord(t, r, latest)
		if n := len(emitted); n > 0 {
			prev := emitted[n-1]
			if r.Kind != prev.Kind {
				t.Fatalf("kind changed from %v to %v", prev.Kind, r.Kind)
			}
			if r.StartUnixNano < prev.StartUnixNano {
				t.Fatalf("records out of request order: start %d after %d", r.StartUnixNano, prev.StartUnixNano)
			}
		}
		emitted = append(emitted, r)
		copies = append(copies, *r)
	}
	closed := false
	for _, o := range ops {
		before := len(emitted)
		switch {
		case o.ev != nil:
			latest = max(latest, o.ev.UnixNano)
			c.Feed(o.ev, emit)
		case o.close:
			latest = max(latest, o.t)
			c.Close(o.t, emit)
		case o.flush:
			latest = max(latest, o.t)
			c.Flush(o.t, o.idle, emit)
		}
		if closed && len(emitted) != before {
			t.Fatalf("records emitted after Close")
		}
		closed = closed || o.close
		if len(c.req.hbuf) > maxHead || len(c.resp.hbuf) > maxHead {
			t.Fatalf("header buffer over its bound: %d, %d", len(c.req.hbuf), len(c.resp.hbuf))
		}
		if c.queue.len() > maxPending {
			t.Fatalf("pipeline over its bound: %d", c.queue.len())
		}
	}
	latest++
	c.Close(latest, emit)
	for i, r := range emitted {
		if *r != copies[i] {
			t.Fatalf("record changed after emit:\n  was %+v\n  now %+v", copies[i], *r)
		}
	}
	if stats.Records != uint64(len(emitted)) {
		t.Fatalf("Stats.Records = %d, emitted %d", stats.Records, len(emitted))
	}
}

func checkRecord(t *testing.T, r *record.Record, latest uint64) {
	t.Helper()
	fail := func(why string) { t.Fatalf("%s: %+v", why, *r) }
	switch {
	case r.EndUnixNano < r.StartUnixNano:
		fail("end before start")
	case r.EndUnixNano > latest:
		fail("end after the last event")
	case r.Kind != record.KindServer && r.Kind != record.KindClient:
		fail("bad kind")
	case r.Conv != httpconv.Conventions || r.PID != testMeta.PID || r.RPCStatusCode != -1 || r.Scheme != "http":
		fail("bad constant fields")
	case r.Local != testMeta.Local || r.Peer != testMeta.Peer:
		fail("bad endpoints")
	case r.StatusCode == 0 && (r.ErrorType != ErrorConnectionClosed || r.Kind != record.KindClient):
		fail("no status without a client connection_closed error")
	case r.StatusCode != 0 && r.ErrorType != "":
		fail("status and error type")
	case r.StatusCode != 0 && r.StatusCode != 101 && (r.StatusCode < 200 || r.StatusCode > 999):
		fail("interim or invalid status")
	case knownMethods[r.Method] && r.MethodOriginal != "":
		fail("original method with a known method")
	case !knownMethods[r.Method] && (r.Method != httpfield.MethodOther || r.MethodOriginal == ""):
		fail("unknown method without _OTHER")
	case r.RequestBodySize < -1 || r.ResponseBodySize < -1:
		fail("bad body size")
	case r.ProtoVersion != "" && r.ProtoVersion != "1.0" && r.ProtoVersion != "1.1":
		fail("bad version")
	case r.HostPort < 0 || r.HostPort > 65535:
		fail("bad port")
	case strings.ContainsAny(r.Path, "?#") || (r.Path != "" && r.Path != "*" && r.Path[0] != '/'):
		fail("bad path")
	case r.HasTraceParent && (r.TraceID == [16]byte{} || r.ParentSpanID == [8]byte{}):
		fail("zero trace ids")
	}
}

// TestSeedsRoundTrip keeps the fuzz encoding honest.
func TestSeedsRoundTrip(t *testing.T) {
	for i, ops := range seedOps() {
		got, _, _ := run(t, decodeOps(encodeOps(ops)))
		want, _, _ := run(t, ops)
		if len(got) != len(want) {
			t.Errorf("seed %d: %d records after a round trip, want %d", i, len(got), len(want))
		}
		checkConn(t, ops)
	}
}
