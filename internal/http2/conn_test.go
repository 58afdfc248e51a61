package http2

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/httpfield"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

func TestConn(t *testing.T) { runScenarios(t, connScenarios()) }

const sayHello = "/helloworld.Greeter/SayHello"

// connStart is the start of a connection seen from its first byte, Go
// server style: the server's SETTINGS goes out before it reads the preface.
func connStart(client, server *peer, cdir stream.Direction) []op {
	sdir := in + out - cdir
	return []op{
		xfer(sdir, 10, server.settings(0x3, 250)),
		xfer(cdir, 11, prefaceB, client.settings(settingEnablePush, 1), client.windowUpdate(0, 1<<20)),
		xfer(sdir, 12, server.settingsAck()),
		xfer(cdir, 13, client.settingsAck()),
	}
}

func connScenarios() []scenario {
	var scs []scenario
	add := func(name string, build func(c, s *peer) ([]op, []record.Record, Stats)) {
		ops, want, st := build(newPeer(), newPeer())
		scs = append(scs, scenario{name: name, ops: ops, want: want, stats: st})
	}

	add("server unary gRPC calls", func(c, s *peer) ([]op, []record.Record, Stats) {
		ops := append(connStart(c, s, in),
			xfer(in, 100, c.headers(1, false, grpcReq(sayHello, "traceparent", traceparnt)...), c.data(1, true, 12)),
			xfer(out, 150, s.headers(1, false, grpcResp...), s.data(1, false, 17), s.headers(1, true, grpcOK...)),
			// The second call is encoded with the dynamic table.
			xfer(in, 200, c.headers(3, false, grpcReq(sayHello)...), c.data(3, true, 7)),
			xfer(out, 260, s.headers(3, false, grpcResp...), s.data(3, false, 5), s.headers(3, true, grpcOK...)),
		)
		return ops, []record.Record{
			srv(100, 150, "POST", sayHello, 200, 12, 17, greeterHost, grpc(0), withTrace()),
			srv(200, 260, "POST", sayHello, 200, 7, 5, greeterHost, grpc(0)),
		}, Stats{}
	})

	add("client gRPC error in trailers and trailers-only", func(c, s *peer) ([]op, []record.Record, Stats) {
		ops := append(connStart(c, s, out),
			xfer(out, 100, c.headers(1, false, grpcReq("/pkg.Users/Get")...), c.data(1, true, 9)),
			xfer(in, 120, s.headers(1, false, grpcResp...)),
			xfer(in, 130, s.data(1, false, 40)),
			xfer(in, 140, s.headers(1, true, "grpc-status", "5", "grpc-message", "no such user")),
			xfer(out, 200, c.headers(3, false, grpcReq("/pkg.Users/Delete")...), c.data(3, true, 9)),
			xfer(in, 210, s.headers(3, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "12")),
		)
		return ops, []record.Record{
			cli(100, 140, "POST", "/pkg.Users/Get", 200, 9, 40, greeterHost, grpc(5)),
			cli(200, 210, "POST", "/pkg.Users/Delete", 200, 9, 0, greeterHost, grpc(12)),
		}, Stats{}
	})

	add("plain HTTP/2 requests", func(c, s *peer) ([]op, []record.Record, Stats) {
		ops := append(connStart(c, s, in),
			xfer(in, 100, c.headers(1, true, ":method", "GET", ":scheme", "https", ":path", "/users/42?verbose=1#x",
				":authority", "api.example.com:8443", "accept", "*/*", "traceparent", traceparnt)),
			xfer(out, 110, s.headers(1, false, ":status", "404", "content-type", "text/plain")),
			xfer(out, 111, s.data(1, true, 9)),
			xfer(in, 200, c.headers(3, false, ":method", "PROPFIND", ":scheme", "https", ":path", "/dav/",
				":authority", "api.example.com", "content-type", "text/xml")),
			xfer(in, 201, c.data(3, false, 100), c.data(3, true, 0)),
			xfer(out, 210, s.headers(3, true, ":status", "204")),
			xfer(in, 300, c.headers(5, true, ":method", "OPTIONS", ":scheme", "https", ":path", "*", ":authority", "[::1]:443")),
			xfer(out, 310, s.headers(5, true, ":status", "200")),
		)
		ex := host("api.example.com", 0)
		return ops, []record.Record{
			srv(100, 111, "GET", "/users/42", 404, 0, 9, host("api.example.com", 8443), withTrace()),
			srv(200, 210, httpfield.MethodOther, "/dav/", 204, 100, 0, ex, other("PROPFIND")),
			srv(300, 310, "OPTIONS", "*", 200, 0, 0, host("::1", 443)),
		}, Stats{}
	})

	add("concurrent streams timed independently", func(c, s *peer) ([]op, []record.Record, Stats) {
		get := func(id uint32, path string) []byte {
			return c.headers(id, true, ":method", "GET", ":scheme", "http", ":path", path, ":authority", "a")
		}
		ops := append(connStart(c, s, out),
			xfer(out, 100, get(1, "/one")),
			xfer(out, 101, get(3, "/three"), get(5, "/five")),
			xfer(in, 110, s.headers(3, false, ":status", "200"), s.headers(5, false, ":status", "500"), s.data(3, false, 10)),
			xfer(in, 120, s.data(5, true, 3), s.headers(1, false, ":status", "200")),
			xfer(in, 130, s.data(1, false, 1000), s.data(3, false, 20), s.data(1, true, 1)),
			xfer(in, 140, s.data(3, true, 0)),
		)
		a := host("a", 0)
		return ops, []record.Record{
			cli(101, 120, "GET", "/five", 500, 0, 3, a),
			cli(100, 130, "GET", "/one", 200, 0, 1001, a),
			cli(101, 140, "GET", "/three", 200, 0, 30, a),
		}, Stats{}
	})

	add("Go server reads: frame header and payload apart, CONTINUATION", func(c, s *peer) ([]op, []record.Record, Stats) {
		req := c.headersSplit(1, false, 8, grpcReq(sayHello)...)
		req = append(req, c.data(1, true, 30)...)
		var ops []op
		ops = append(ops, connStart(c, s, in)...)
		// 9-byte header reads and payload reads, one ns apart from 100.
		t := uint64(100)
		for b := req; len(b) > 0; {
			h := parseFrameHeader(b)
			ops = append(ops, xfer(in, t, b[:9]), xfer(in, t+1, b[9:9+h.length]))
			b = b[9+h.length:]
			t += 2
		}
		// The response goes out in pieces that cut frame headers.
		resp := cat(s.headers(1, false, grpcResp...), s.data(1, false, 3), s.headers(1, true, grpcOK...))
		ops = append(ops, reads(out, 200, resp, 4, 7, 13, 2)...)
		return ops, []record.Record{srv(100, 200, "POST", sayHello, 200, 30, 3, greeterHost, grpc(0))}, Stats{}
	})

	add("interim 100 Continue, padding and priority", func(c, s *peer) ([]op, []record.Record, Stats) {
		req := c.headersPadded(1, false, 7, ":method", "PUT", ":scheme", "http", ":path", "/f", ":authority", "a", "expect", "100-continue")
		body := c.dataPadded(1, true, 50, 20)
		ops := append(connStart(c, s, in),
			xfer(in, 100, req),
			xfer(out, 101, s.headers(1, false, ":status", "100")),
			xfer(in, 102, body),
			xfer(out, 103, s.headers(1, true, ":status", "201")),
		)
		return ops, []record.Record{srv(100, 103, "PUT", "/f", 201, 50, 0, host("a", 0))}, Stats{}
	})

	add("RST_STREAM", func(c, s *peer) ([]op, []record.Record, Stats) {
		ops := append(connStart(c, s, out),
			// The client cancels a plain request during the response body.
			xfer(out, 100, c.headers(1, true, ":method", "GET", ":scheme", "http", ":path", "/big", ":authority", "a")),
			xfer(in, 110, s.headers(1, false, ":status", "200"), s.data(1, false, 100)),
			xfer(out, 120, c.rst(1, errCodeCancel)),
			// The server refuses a gRPC call: the client's library reports
			// UNAVAILABLE.
			xfer(out, 200, c.headers(3, false, grpcReq(sayHello)...), c.data(3, true, 5)),
			xfer(in, 210, s.rst(3, errCodeRefusedStream)),
			// The client cancels a gRPC call: we cannot know the status
			// its application saw.
			xfer(out, 300, c.headers(5, false, grpcReq(sayHello)...)),
			xfer(out, 310, c.rst(5, errCodeCancel)),
		)
		return ops, []record.Record{
			cli(100, 120, "GET", "/big", 200, 0, 100, host("a", 0), errType(ErrorRSTStream)),
			cli(200, 210, "POST", sayHello, 0, 5, -1, greeterHost, grpc(grpcUnavailable)),
			cli(300, 310, "POST", sayHello, 0, 0, -1, greeterHost, grpc(-1), errType(ErrorRSTStream)),
		}, Stats{}
	})

	add("RST_STREAM on a server: a cancelled call", func(c, s *peer) ([]op, []record.Record, Stats) {
		ops := append(connStart(c, s, in),
			xfer(in, 100, c.headers(1, false, grpcReq(sayHello)...), c.data(1, true, 5)),
			xfer(in, 150, c.rst(1, errCodeCancel)),
			xfer(in, 200, c.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")),
			xfer(out, 210, s.rst(3, errCodeInternal)),
		)
		return ops, []record.Record{
			srv(100, 150, "POST", sayHello, 0, 5, -1, greeterHost, grpc(grpcCancelled)),
			srv(200, 210, "GET", "/", 0, 0, -1, host("a", 0), errType(ErrorRSTStream)),
		}, Stats{}
	})

	add("GOAWAY refuses streams above last-stream-id", func(c, s *peer) ([]op, []record.Record, Stats) {
		get := func(id uint32) []byte {
			return c.headers(id, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")
		}
		ops := append(connStart(c, s, out),
			xfer(out, 100, get(1)),
			xfer(out, 101, get(3)),
			xfer(out, 102, c.headers(5, true, grpcReq(sayHello)...)),
			xfer(in, 110, s.goAway(1, errCodeNo)),
			xfer(in, 120, s.headers(1, true, ":status", "200")),
		)
		a := host("a", 0)
		return ops, []record.Record{
			cli(101, 110, "GET", "/", 0, 0, -1, a, errType(ErrorGoAway)),
			cli(102, 110, "POST", sayHello, 0, 0, -1, greeterHost, grpc(grpcUnavailable)),
			cli(100, 120, "GET", "/", 200, 0, 0, a),
		}, Stats{}
	})

	add("GOAWAY on a server drops what it will not process", func(c, s *peer) ([]op, []record.Record, Stats) {
		ops := append(connStart(c, s, in),
			xfer(in, 100, c.headers(1, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")),
			xfer(in, 101, c.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")),
			xfer(out, 110, s.goAway(1, errCodeNo), s.headers(1, true, ":status", "200")),
		)
		return ops, []record.Record{srv(100, 110, "GET", "/", 200, 0, 0, host("a", 0))}, Stats{Incomplete: 1}
	})

	add("Close", func(c, s *peer) ([]op, []record.Record, Stats) {
		get := func(id uint32) []byte {
			return c.headers(id, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")
		}
		ops := append(connStart(c, s, out),
			xfer(out, 100, get(1), get(3)),
			xfer(in, 110, s.headers(3, false, ":status", "200"), s.data(3, false, 8)),
			closeAt(500),
			xfer(out, 600, get(5)), // ignored after Close
		)
		a := host("a", 0)
		return ops, []record.Record{
			cli(100, 500, "GET", "/", 0, 0, -1, a, errType(ErrorConnectionClosed)),
			cli(100, 500, "GET", "/", 200, 0, 8, a, errType(ErrorConnectionClosed)),
		}, Stats{}
	})

	add("Close on a server", func(c, s *peer) ([]op, []record.Record, Stats) {
		ops := append(connStart(c, s, in),
			xfer(in, 100, c.headers(1, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")),
			closeAt(500),
		)
		return ops, nil, Stats{Incomplete: 1}
	})

	add("h2c upgrade: stream 1 answers the HTTP/1.1 request", func(c, s *peer) ([]op, []record.Record, Stats) {
		// The 101 went to the HTTP/1 parser; this Conn starts with the
		// client preface.
		ops := []op{
			xfer(out, 10, prefaceB, c.settings()),
			xfer(in, 11, s.settings(), s.headers(1, false, ":status", "200"), s.data(1, true, 5)),
			xfer(out, 20, c.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/next", ":authority", "a")),
			xfer(in, 30, s.headers(3, true, ":status", "200")),
		}
		return ops, []record.Record{cli(20, 30, "GET", "/next", 200, 0, 0, host("a", 0))}, Stats{Incomplete: 1}
	})

	add("server push keeps the HPACK state", func(c, s *peer) ([]op, []record.Record, Stats) {
		resp := s.headers(1, false, ":status", "203")
		promise := s.pushPromise(1, 2, ":method", "GET", ":scheme", "https", ":path", "/style.css", ":authority", "a")
		ops := append(connStart(c, s, out),
			xfer(out, 100, c.headers(1, true, ":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a")),
			xfer(in, 110, resp, promise, s.data(1, true, 10)),
			xfer(in, 111, s.headers(2, false, ":status", "200"), s.data(2, true, 10)),
			xfer(out, 200, c.headers(3, true, ":method", "GET", ":scheme", "https", ":path", "/x", ":authority", "a")),
			// 203 is in the server's dynamic table behind the two entries
			// the PUSH_PROMISE inserted.
			xfer(in, 210, s.headers(3, true, ":status", "203")),
		)
		a := host("a", 0)
		return ops, []record.Record{
			cli(100, 110, "GET", "/", 203, 0, 10, a),
			cli(200, 210, "GET", "/x", 203, 0, 0, a),
		}, Stats{}
	})

	add("header block interrupted by another frame", func(c, s *peer) ([]op, []record.Record, Stats) {
		blk := c.block(":method", "GET", ":scheme", "http", ":path", "/a", ":authority", "a")
		bad := frame(frameHeaders, flagEndStream, 1, blk[:3])
		ops := append(connStart(c, s, in),
			xfer(in, 100, bad, c.ping()),
			// The table is unknown now: :path and :authority (dynamic) are
			// lost, the static :method and :scheme are not.
			xfer(in, 200, c.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/a", ":authority", "a")),
			xfer(out, 210, s.headers(3, true, ":status", "200")),
		)
		return ops, []record.Record{srv(200, 210, "GET", "", 200, 0, 0)}, Stats{ParseErrors: 1}
	})
	return scs
}

// TestTruncatedHeaderBlock: a header block longer than the copy keeps what
// was decoded before the cut; afterwards the table is partly unknown, so
// values taken from its old entries are reported unknown, while static and
// literal fields, and entries inserted since, are still exact.
func TestTruncatedHeaderBlock(t *testing.T) {
	c, s := newPeer(), newPeer()
	big := strings.Repeat("x", 5000)
	ops := append(connStart(c, s, in),
		xfer(in, 100, c.headers(1, true, append(grpcReq(sayHello), "x-big", big)...)),
		xfer(out, 110, s.headers(1, false, grpcResp...), s.data(1, false, 5), s.headers(1, true, grpcOK...)),
		// :path, :authority and content-type now come from the client's
		// dynamic table, which we lost: unknown. The response's table is
		// intact: gRPC is still recognised from it.
		xfer(in, 200, c.headers(3, true, grpcReq(sayHello)...)),
		xfer(out, 210, s.headers(3, false, grpcResp...), s.data(3, false, 5), s.headers(3, true, grpcOK...)),
		// A new path is inserted while we watch: it is known, and so is
		// its next use (the newest dynamic entry).
		xfer(in, 300, c.headers(5, true, grpcReq("/helloworld.Greeter/SayBye")...)),
		xfer(out, 310, s.headers(5, true, ":status", "503")),
		xfer(in, 400, c.headers(7, true, grpcReq("/helloworld.Greeter/SayBye")...)),
		xfer(out, 410, s.headers(7, true, ":status", "503")),
	)
	got, stats, _ := run(t, ops)
	want := []record.Record{
		srv(100, 110, "POST", sayHello, 200, 0, 5, greeterHost, grpc(0)),
		srv(200, 210, "POST", "", 200, 0, 5, grpc(0)),
		srv(300, 310, "POST", "/helloworld.Greeter/SayBye", 503, 0, 0),
		srv(400, 410, "POST", "/helloworld.Greeter/SayBye", 503, 0, 0),
	}
	if d := diffRecords(got, want); d != "" {
		t.Errorf("records:\n%s", d)
	}
	if stats != (Stats{Records: 4, Truncated: 1}) {
		t.Errorf("stats = %+v", stats)
	}
	checkConn(t, ops)
}

// TestHeaderBlockBound: a header block gathered over CONTINUATION frames
// in many transfers is kept up to maxBlock; past it the block counts as
// truncated and what came before the cut is still exact.
func TestHeaderBlockBound(t *testing.T) {
	c, s := newPeer(), newPeer()
	kv := []string{":method", "GET", ":scheme", "http", ":path", "/big", ":authority", "a"}
	for i := range 6 {
		kv = append(kv, fmt.Sprintf("x-h%d", i), strings.Repeat(fmt.Sprint(i), 4000))
	}
	blk := c.headersSplit(1, true, 3000, kv...)
	ops := connStart(c, s, in)
	for b := blk; len(b) > 0; { // one frame per transfer
		n := frameHeaderLen + int(parseFrameHeader(b).length)
		ops = append(ops, xfer(in, 100, b[:n]))
		b = b[n:]
	}
	ops = append(ops, xfer(out, 110, s.headers(1, true, ":status", "200")))
	got, stats, conn := run(t, ops)
	want := []record.Record{srv(100, 110, "GET", "/big", 200, 0, 0, host("a", 0))}
	if d := diffRecords(got, want); d != "" {
		t.Errorf("records:\n%s", d)
	}
	if stats != (Stats{Records: 1, Truncated: 1}) {
		t.Errorf("stats = %+v", stats)
	}
	if len(blk) < maxBlock || cap(conn.sides[in-1].blk.buf) > 2*maxBlock {
		t.Errorf("block %d bytes, buffer cap %d", len(blk), cap(conn.sides[in-1].blk.buf))
	}
}

// TestDesync: a frame header beyond the copied bytes loses the frame
// boundaries of that direction; transfers that do not start with a
// plausible frame header are skipped, the first that does resynchronises.
func TestDesync(t *testing.T) {
	c, s := newPeer(), newPeer()
	ops := append(connStart(c, s, in),
		// The second DATA frame's header lies past the 4096 copied bytes.
		xfer(in, 100, c.headers(1, false, grpcReq(sayHello)...), c.data(1, false, 6000), c.data(1, false, 100)),
		// These start inside a frame: skipped.
		xfer(in, 101, c.data(1, false, 7000)[3000:]),
		xfer(in, 102, bytes.Repeat([]byte{0, 0, 4, 1}, 10)), // HEADERS on an even stream: implausible
		// The response direction is in sync: stream 1 ends exactly, but
		// its request body is unknown.
		xfer(out, 150, s.headers(1, false, grpcResp...), s.data(1, false, 5), s.headers(1, true, grpcOK...)),
		// A transfer starting with a frame: resynchronised. The client
		// table was lost, so the dynamic fields are unknown.
		xfer(in, 200, c.headers(3, true, grpcReq(sayHello)...)),
		xfer(out, 210, s.headers(3, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "0")),
	)
	got, stats, _ := run(t, ops)
	want := []record.Record{
		srv(100, 150, "POST", sayHello, 200, -1, 5, greeterHost, grpc(0)),
		srv(200, 210, "POST", "", 200, 0, 0, grpc(0)),
	}
	if d := diffRecords(got, want); d != "" {
		t.Errorf("records:\n%s", d)
	}
	if stats != (Stats{Records: 2, Desync: 1}) {
		t.Errorf("stats = %+v", stats)
	}
	checkConn(t, ops)
}

// TestResyncOnGarbage: a transfer that starts inside a frame but looks like
// frame headers is taken for frames; its header block does not decode, so
// the guess is dropped (another desync) rather than reported as a request.
func TestResyncOnGarbage(t *testing.T) {
	c, s := newPeer(), newPeer()
	garbage := frame(frameHeaders, flagEndHeaders|flagEndStream, 5, []byte{0x80, 0x80}) // index 0
	ops := append(connStart(c, s, in),
		xfer(in, 100, c.headers(1, false, grpcReq(sayHello)...), c.data(1, false, 6000), c.data(1, true, 10)),
		xfer(in, 101, garbage, c.data(5, true, 10)),
		xfer(out, 150, s.headers(1, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "0")),
		xfer(in, 200, c.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/x", ":authority", "a")),
		xfer(out, 210, s.headers(3, true, ":status", "200")),
	)
	got, stats, _ := run(t, ops)
	want := []record.Record{
		srv(100, 150, "POST", sayHello, 200, -1, 0, greeterHost, grpc(0)),
		srv(200, 210, "GET", "/x", 200, 0, 0, host("a", 0)),
	}
	if d := diffRecords(got, want); d != "" {
		t.Errorf("records:\n%s", d)
	}
	if stats != (Stats{Records: 2, Desync: 2}) {
		t.Errorf("stats = %+v", stats)
	}
}

// TestFlushForgetsTaintedStreams: a stream whose frames went by during a
// desync may have ended unseen; Flush forgets it once idle, and leaves
// streams followed in sync alone.
func TestFlushForgetsTaintedStreams(t *testing.T) {
	c, s := newPeer(), newPeer()
	get := func(id uint32) []byte {
		return c.headers(id, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")
	}
	ops := append(connStart(c, s, out),
		xfer(out, 100, get(1)),
		// The response's second frame header is past the copy: desync.
		xfer(in, 110, s.headers(1, false, ":status", "200"), s.data(1, false, 5000), s.data(1, true, 1)),
		xfer(in, 120, s.ping()), // resync
		xfer(out, 200, get(3)),
		flushAt(1000, 500),
		xfer(in, 1100, s.headers(3, true, ":status", "200")),
	)
	got, stats, _ := run(t, ops)
	want := []record.Record{cli(200, 1100, "GET", "/", 200, 0, 0, host("a", 0))}
	if d := diffRecords(got, want); d != "" {
		t.Errorf("records:\n%s", d)
	}
	if stats != (Stats{Records: 1, Desync: 1, Incomplete: 1}) {
		t.Errorf("stats = %+v", stats)
	}
}

// TestMidConnection: a connection open before we started. The tables are
// unknown: only static and literal fields are exact; nothing is invented.
func TestMidConnection(t *testing.T) {
	c, s := newPeer(), newPeer()
	// History we did not see fills both dynamic tables.
	connStart(c, s, in)
	c.headers(1, false, grpcReq(sayHello)...)
	s.headers(1, false, grpcResp...)
	s.headers(1, true, grpcOK...)
	s.headers(3, true, ":status", "502")

	ops := []op{
		xfer(in, 100, c.headers(5, false, grpcReq(sayHello)...), c.data(5, true, 8)),
		// The end of a response to a request we did not see: counted once.
		xfer(out, 105, s.data(3, false, 4), s.data(3, true, 1)),
		xfer(out, 110, s.headers(5, false, grpcResp...), s.data(5, false, 3), s.headers(5, true, grpcOK...)),
		// 502 was inserted before we started: unknown. 503 is a literal
		// (inserted now), and exact again when indexed next time.
		xfer(in, 200, c.headers(7, true, grpcReq(sayHello)...)),
		xfer(out, 210, s.headers(7, true, ":status", "502")),
		xfer(in, 300, c.headers(9, true, grpcReq(sayHello)...)),
		xfer(out, 310, s.headers(9, true, ":status", "503")),
		xfer(in, 400, c.headers(11, true, grpcReq(sayHello)...)),
		xfer(out, 410, s.headers(11, true, ":status", "503")),
	}
	got, stats, _ := run(t, ops)
	want := []record.Record{
		srv(100, 110, "POST", "", 200, 8, 3),
		srv(200, 210, "POST", "", 0, 0, 0),
		srv(300, 310, "POST", "", 503, 0, 0),
		srv(400, 410, "POST", "", 503, 0, 0),
	}
	if d := diffRecords(got, want); d != "" {
		t.Errorf("records:\n%s", d)
	}
	if stats != (Stats{Records: 4, Incomplete: 1}) {
		t.Errorf("stats = %+v", stats)
	}
	checkConn(t, ops)
}

// TestRoleFromResponse: without a preface, a response's :status tells the
// role (not the server's ENABLE_PUSH=0); its request went by unseen.
func TestRoleFromResponse(t *testing.T) {
	c, s := newPeer(), newPeer()
	ops := []op{
		xfer(out, 50, s.settings(settingEnablePush, 0)), // a server may send 0
		xfer(out, 100, s.headers(1, true, ":status", "200")),
		xfer(in, 200, c.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/x", ":authority", "a")),
		xfer(out, 210, s.headers(3, true, ":status", "200")),
	}
	got, stats, _ := run(t, ops)
	want := []record.Record{srv(200, 210, "GET", "/x", 200, 0, 0, host("a", 0))}
	if d := diffRecords(got, want); d != "" {
		t.Errorf("records:\n%s", d)
	}
	if stats != (Stats{Records: 1, Incomplete: 1}) {
		t.Errorf("stats = %+v", stats)
	}
}

// TestScheme: the connection's scheme wins; without one, :scheme.
func TestScheme(t *testing.T) {
	for _, tc := range []struct{ meta, header, want string }{
		{"http", "https", "http"},
		{"https", "http", "https"},
		{"", "https", "https"},
		{"", "ftp", "http"},
	} {
		c, s := newPeer(), newPeer()
		meta := testMeta
		meta.Scheme = tc.meta
		conn := NewConn(meta, nil)
		var got []record.Record
		emit := func(r *record.Record) { got = append(got, *r) }
		for _, o := range append(connStart(c, s, in),
			xfer(in, 100, c.headers(1, true, ":method", "GET", ":scheme", tc.header, ":path", "/", ":authority", "a")),
			xfer(out, 110, s.headers(1, true, ":status", "200"))) {
			conn.Feed(o.ev, emit)
		}
		if len(got) != 1 || got[0].Scheme != tc.want {
			t.Errorf("meta %q, :scheme %q: got %+v, want scheme %q", tc.meta, tc.header, got, tc.want)
		}
	}
}

// TestStreamBound: past maxStreams the least recently active stream is
// dropped.
func TestStreamBound(t *testing.T) {
	c, s := newPeer(), newPeer()
	ops := connStart(c, s, in)
	for i := range maxStreams + 6 {
		ops = append(ops, xfer(in, uint64(100+i), c.headers(uint32(2*i+1), true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")))
	}
	ops = append(ops, xfer(out, 5000, s.headers(1, true, ":status", "200")), xfer(out, 5001, s.headers(13, true, ":status", "200")))
	got, stats, conn := run(t, ops)
	if len(conn.streams) != maxStreams-1 {
		t.Errorf("%d streams tracked", len(conn.streams))
	}
	// Streams 1..11 were dropped: the response to 1 has no request.
	if len(got) != 1 || got[0].StartUnixNano != 106 {
		t.Errorf("records %+v", got)
	}
	if stats.Incomplete != 7 {
		t.Errorf("stats = %+v", stats)
	}
}

// TestRecordStreamIDs: a record names its stream, the same number on both
// ends of the connection (same-node trace linking matches on it).
func TestRecordStreamIDs(t *testing.T) {
	c, s := newPeer(), newPeer()
	ops := []op{
		xfer(in, 100, c.headers(3, true, ":method", "GET", ":scheme", "http", ":path", "/a", ":authority", "a")),
		xfer(in, 110, c.headers(5, true, ":method", "GET", ":scheme", "http", ":path", "/b", ":authority", "a")),
		xfer(out, 120, s.headers(5, true, ":status", "200")),
		xfer(out, 130, s.headers(3, true, ":status", "200")),
	}
	got, _, _ := run(t, ops)
	if len(got) != 2 || got[0].Path != "/b" || got[0].StreamID != 5 || got[1].Path != "/a" || got[1].StreamID != 3 {
		t.Fatalf("records %+v: want /b on stream 5, then /a on stream 3", got)
	}
}

// Ids for a transfer that reaches the parser as several events (the
// kernel's frame walk): the one request that starts anywhere in it takes
// them; two starting in it leave both without, and the event that ends the
// transfer says they were refused.
func TestIDsOfASplitTransfer(t *testing.T) {
	ids := &stream.SpanIDs{TraceID: [16]byte{0x77}, ParentID: [8]byte{0x51}, Flags: 1}
	for _, c := range []struct {
		name    string
		parts   func(p *peer) [][]byte
		parent  [][8]byte // per request, in the order they end
		refused bool
	}{
		{"one request after the preface", func(p *peer) [][]byte {
			return [][]byte{cat([]byte(preface), p.settings()), p.headers(1, true, ":method", "GET", ":scheme", "https", ":path", "/a", ":authority", "x")}
		}, [][8]byte{{0x51}}, false},
		{"two requests", func(p *peer) [][]byte {
			return [][]byte{cat([]byte(preface), p.settings(), p.headers(1, true, ":method", "GET", ":scheme", "https", ":path", "/a", ":authority", "x")),
				p.headers(3, true, ":method", "GET", ":scheme", "https", ":path", "/b", ":authority", "x")}
		}, [][8]byte{{}, {}}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, sv := newPeer(), newPeer()
			conn := NewConn(testMeta, nil)
			var got []record.Record
			emit := func(r *record.Record) { got = append(got, *r); record.Release(r) }
			parts := c.parts(cl)
			refused := false
			for i, b := range parts {
				ev := &stream.Event{Dir: out, UnixNano: 1000, Len: len(b), Payload: b, IDs: ids, IDsMore: i < len(parts)-1}
				conn.Feed(ev, emit)
				refused = refused || ev.IDsRefused
			}
			if refused != c.refused {
				t.Errorf("refused %v, want %v", refused, c.refused)
			}
			var resp []byte
			for id := uint32(1); id <= uint32(2*len(c.parent)-1); id += 2 {
				resp = append(resp, sv.headers(id, true, ":status", "200")...)
			}
			resp = cat(sv.settings(), resp)
			conn.Feed(&stream.Event{Dir: in, UnixNano: 2000, Len: len(resp), Payload: resp}, emit)
			if len(got) != len(c.parent) {
				t.Fatalf("%d records, want %d", len(got), len(c.parent))
			}
			for i, r := range got {
				want := c.parent[i]
				if r.ParentSpanID != want || r.HasTraceParent != (want != [8]byte{}) || (r.HasTraceParent && r.TraceID != ids.TraceID) {
					t.Errorf("stream %d: parent %x (has %v) trace %x, want parent %x", r.StreamID, r.ParentSpanID, r.HasTraceParent, r.TraceID, want)
				}
			}
		})
	}
}
