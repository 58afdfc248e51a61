package http2

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// setStream rewrites the stream id of every frame in b.
func setStream(b []byte, id uint32) {
	for len(b) >= frameHeaderLen {
		binary.BigEndian.PutUint32(b[5:9], id)
		b = b[frameHeaderLen+int(parseFrameHeader(b).length):]
	}
}

// BenchmarkServerUnaryGRPC feeds one unary gRPC call per iteration on a
// server connection: request HEADERS+DATA in one read, response
// HEADERS+DATA+trailers in one write, as grpc-go sends them once its HPACK
// tables are warm.
func BenchmarkServerUnaryGRPC(b *testing.B) {
	c, s := newPeer(), newPeer()
	var stats Stats
	conn := NewConn(testMeta, &stats)
	emit := func(*record.Record) {}
	for _, o := range connStart(c, s, in) {
		conn.Feed(o.ev, emit)
	}
	call := func(id uint32) (req, resp []byte) {
		req = cat(c.headers(id, false, grpcReq(sayHello, "grpc-timeout", "998m")...), c.data(id, true, 42))
		resp = cat(s.headers(id, false, grpcResp...), s.data(id, false, 17), s.headers(id, true, grpcOK...))
		return req, resp
	}
	// The first call fills the tables; later ones are all the same bytes
	// but for the stream id.
	req, resp := call(1)
	conn.Feed(&stream.Event{Dir: in, UnixNano: 1, Len: len(req), Payload: req}, emit)
	conn.Feed(&stream.Event{Dir: out, UnixNano: 2, Len: len(resp), Payload: resp}, emit)
	req, resp = call(3)
	reqEv := &stream.Event{Dir: in, Len: len(req), Payload: req}
	respEv := &stream.Event{Dir: out, Len: len(resp), Payload: resp}
	id := uint32(3)
	ts := uint64(10)
	b.ReportAllocs()
	b.SetBytes(int64(len(req) + len(resp)))
	for b.Loop() {
		setStream(req, id)
		setStream(resp, id)
		reqEv.UnixNano, respEv.UnixNano = ts, ts+1
		conn.Feed(reqEv, emit)
		conn.Feed(respEv, emit)
		id += 2
		ts += 2
	}
	if stats.Records == 0 || stats.Desync+stats.ParseErrors+stats.Truncated+stats.Incomplete != 0 {
		b.Fatalf("stats %+v", stats)
	}
}

// BenchmarkServerUnaryGRPCTraced is the same with a new traceparent on every
// call: each request inserts it into the HPACK table, Huffman-coded.
func BenchmarkServerUnaryGRPCTraced(b *testing.B) {
	const calls = 4096
	c, s := newPeer(), newPeer()
	start := connStart(c, s, in)
	evs := make([]*stream.Event, 0, 2*calls)
	for i := range calls {
		id := uint32(2*i + 1)
		tp := fmt.Sprintf("00-%032x-%016x-01", i+1, i+1)
		req := cat(c.headers(id, false, grpcReq(sayHello, "grpc-timeout", "998m", "traceparent", tp)...), c.data(id, true, 42))
		resp := cat(s.headers(id, false, grpcResp...), s.data(id, false, 17), s.headers(id, true, grpcOK...))
		evs = append(evs, &stream.Event{Dir: in, UnixNano: uint64(2*i + 100), Len: len(req), Payload: req},
			&stream.Event{Dir: out, UnixNano: uint64(2*i + 101), Len: len(resp), Payload: resp})
	}
	var stats Stats
	emit := func(*record.Record) {}
	var conn *Conn
	i := len(evs)
	b.ReportAllocs()
	for b.Loop() {
		if i == len(evs) { // a new connection every 4096 calls
			conn, i = NewConn(testMeta, &stats), 0
			for _, o := range start {
				conn.Feed(o.ev, emit)
			}
		}
		conn.Feed(evs[i], emit)
		conn.Feed(evs[i+1], emit)
		i += 2
	}
	if stats.Records == 0 || stats.Desync+stats.ParseErrors+stats.Truncated+stats.Incomplete != 0 {
		b.Fatalf("stats %+v", stats)
	}
}
