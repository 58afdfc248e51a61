package http2

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/httpfield"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Fuzz input: a sequence of ops, each
//
//	ctl byte | content length (2 bytes, big endian) | hidden (2 bytes) | content
//
// ctl bits 0-1: 0 transfer in, 1 transfer out, 2 Close, 3 Flush (idle: one
// µs per content byte); bit 2: the clock steps 1 ms before the op (else
// 1 ns). A transfer's Payload is the content and its Len adds hidden bytes
// the kernel did not copy.
func decodeOps(data []byte) []op {
	var ops []op
	t := uint64(1_000_000)
	for len(data) >= 5 {
		ctl := data[0]
		n := min(int(binary.BigEndian.Uint16(data[1:3])), len(data)-5)
		hidden := int(binary.BigEndian.Uint16(data[3:5]))
		content := data[5 : 5+n]
		data = data[5+n:]
		if ctl&4 != 0 {
			t += 1_000_000
		} else {
			t++
		}
		switch ctl & 3 {
		case 2:
			ops = append(ops, closeAt(t))
		case 3:
			ops = append(ops, flushAt(t, time.Duration(n)*time.Microsecond))
		default:
			if n+hidden == 0 {
				continue
			}
			dir := stream.Ingress
			if ctl&1 == 1 {
				dir = stream.Egress
			}
			ops = append(ops, op{ev: &stream.Event{Dir: dir, UnixNano: t, Len: n + hidden, Payload: content}})
		}
	}
	return ops
}

// encodeOps writes ops in the fuzz input format (times are not kept).
func encodeOps(ops []op) []byte {
	var b []byte
	for _, o := range ops {
		var ctl byte
		var content []byte
		hidden := 0
		switch {
		case o.close:
			ctl = 2
		case o.flush:
			ctl = 3 | 4
			content = make([]byte, min(o.idle/time.Microsecond, 1<<10))
		default:
			ctl = byte(o.ev.Dir - 1)
			content = o.ev.Payload
			hidden = o.ev.Len - len(content)
		}
		b = append(b, ctl)
		b = binary.BigEndian.AppendUint16(b, uint16(len(content)))
		b = binary.BigEndian.AppendUint16(b, uint16(min(hidden, 1<<16-1)))
		b = append(b, content...)
	}
	return b
}

func FuzzFrames(f *testing.F) {
	for _, s := range connScenarios() {
		f.Add(encodeOps(s.ops))
	}
	c, s := newPeer(), newPeer()
	f.Add(encodeOps(append(connStart(c, s, in),
		xfer(in, 100, c.headersSplit(1, false, 5, grpcReq(sayHello, "traceparent", traceparnt)...), c.data(1, true, 3)),
		xfer(out, 110, s.headers(1, false, grpcResp...), s.data(1, false, 5000), s.headers(1, true, grpcOK...)),
	)))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkConn(t, decodeOps(data))
	})
}

var knownMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true}

// checkConn feeds ops and checks what must hold whatever the input.
func checkConn(t *testing.T, ops []op) {
	t.Helper()
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
		if n := len(emitted); n > 0 && r.Kind != emitted[n-1].Kind {
			t.Fatalf("kind changed from %v to %v", emitted[n-1].Kind, r.Kind)
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
		checkBounds(t, c)
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

// checkBounds checks the memory bounds of a Conn.
func checkBounds(t *testing.T, c *Conn) {
	t.Helper()
	if len(c.streams) > maxStreams || len(c.free) > maxStreams {
		t.Fatalf("%d streams, %d free", len(c.streams), len(c.free))
	}
	for i := range c.sides {
		s := &c.sides[i]
		if len(s.blk.buf) > maxBlock || cap(s.blk.buf) > 2*maxBlock {
			t.Fatalf("header block buffer %d/%d", len(s.blk.buf), cap(s.blk.buf))
		}
		if s.tbl.size > maxTableStore || len(s.tbl.data) > 2*maxTableStore || s.tbl.len() > maxTableStore/entryOverhead {
			t.Fatalf("table: size %d, %d bytes, %d entries", s.tbl.size, len(s.tbl.data), s.tbl.len())
		}
		if s.nhdr >= frameHeaderLen || s.nctl > maxControl {
			t.Fatalf("carried header %d, control %d", s.nhdr, s.nctl)
		}
	}
	if c.dec.nameBuf.Cap() > 4*maxBlock || c.dec.valBuf.Cap() > 4*maxBlock {
		t.Fatalf("scratch %d, %d", c.dec.nameBuf.Cap(), c.dec.valBuf.Cap())
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
	case r.PID != testMeta.PID || r.Scheme != "http" || r.ProtoVersion != "2":
		fail("bad constant fields")
	case r.Local != testMeta.Local || r.Peer != testMeta.Peer:
		fail("bad endpoints")
	case r.Conv == httpconv.Conventions && (r.RPCStatusCode != -1 || r.RPCMethod != ""):
		fail("gRPC fields on plain HTTP")
	case r.Conv != httpconv.Conventions && r.Conv != GRPC:
		fail("bad protocol")
	case r.RPCStatusCode < -1:
		fail("bad gRPC status")
	case r.StatusCode != 0 && (r.StatusCode < 200 || r.StatusCode > 999):
		fail("interim or invalid status")
	case r.ErrorType != "" && r.ErrorType != ErrorConnectionClosed && r.ErrorType != ErrorRSTStream && r.ErrorType != ErrorGoAway:
		fail("bad error type")
	case knownMethods[r.Method] && r.MethodOriginal != "":
		fail("original method with a known method")
	case !knownMethods[r.Method] && r.Method != httpfield.MethodOther:
		fail("unknown method without _OTHER")
	case r.RequestBodySize < -1 || r.ResponseBodySize < -1:
		fail("bad body size")
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
	for _, s := range connScenarios() {
		var ops []op
		for _, o := range s.ops {
			if o.ev == nil || o.ev.Len-len(o.ev.Payload) < 1<<16 {
				ops = append(ops, o)
			}
		}
		got, _, _ := run(t, decodeOps(encodeOps(ops)))
		want, _, _ := run(t, ops)
		if len(got) != len(want) {
			t.Errorf("%s: %d records after a round trip, want %d", s.name, len(got), len(want))
		}
	}
}
