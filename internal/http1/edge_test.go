package http1

import (
	"fmt"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

func TestConnEdgeCases(t *testing.T) { runScenarios(t, edgeScenarios()) }

func edgeScenarios() []scenario {
	hostEx := host("example.com", 0)
	return []scenario{
		{
			// Found by FuzzConn: settling the other direction's carried head
			// must not clobber the head being started.
			name: "a request starts while a response head is carried",
			ops: []op{
				xfer(out, 100, getA),
				xfer(in, 200, "HTTP/1.1 200 OK\r\n"),
				xfer(out, 300, "PURGE /b HTTP/1.0\r\n\r\n"),
				closeAt(400),
			},
			want: []record.Record{
				cli(100, 200, "GET", "/a", 200, 0, -1, hostEx),
				cli(300, 400, "", "/b", 0, 0, -1, other("PURGE"), proto("1.0"), closed()),
			},
		},
		{
			name: "Flush ends a response whose head is still being carried",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 200, "HTTP/1.1 503 Service Unavailable\r\n"),
				flushAt(200+uint64(time.Second), time.Second),
			},
			want: []record.Record{srv(100, 200, "GET", "/a", 503, 0, -1, hostEx)},
		},
		{
			name: "Transfer-Encoding without chunked",
			ops: []op{
				xfer(out, 100, "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
				blob(out, 110, 100, ""),
				xfer(in, 200, "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: gzip\r\n\r\n"),
				blob(in, 210, 50, ""),
				closeAt(300),
			},
			// A request cannot be framed so (an error); a response is read
			// until close (RFC 9112 §6.3).
			want:  []record.Record{cli(100, 210, "POST", "/x", 400, -1, 50)},
			stats: Stats{ParseErrors: 1},
		},
		{
			name: "a response starts while a request head is carried",
			ops: []op{
				xfer(in, 100, "GET /a HTTP/1.1\r\n"),
				xfer(out, 200, "HTTP/1.1 204 No Content\r\n\r\n"),
			},
			want: []record.Record{srv(100, 200, "GET", "/a", 204, -1, 0)},
		},
		{
			// The kernel copies a continuation only when it starts like a
			// message; the carried head must then be joined with it.
			name: "head continued in a transfer with a payload",
			ops: []op{
				xfer(in, 100, "GET /a HTTP/1.1\r\n"),
				{ev: &stream.Event{Dir: in, UnixNano: 101, Len: 27, Payload: []byte("HOST: example.com\r\nX: 1\r\n\r\n"), Tail: []byte("X: 1\r\n\r\n")}},
				xfer(out, 200, ok0),
			},
			want: []record.Record{srv(100, 200, "GET", "/a", 200, 0, 0, hostEx)},
		},
		{
			name: "carried bytes that turn out not to be HTTP",
			ops: []op{
				xfer(in, 100, "GET /a"), // copied, whole, but the line never ends well
				{ev: &stream.Event{Dir: in, UnixNano: 101, Len: 10, Payload: []byte(" FOO BAR\r\n"), Tail: []byte("O BAR\r\n")}},
				xfer(in, 200, getB),
				xfer(out, 210, ok0),
			},
			want:  []record.Record{srv(200, 210, "GET", "/b", 200, 0, 0, hostEx)},
			stats: Stats{Skipped: 2},
		},
		{
			name: "inconsistent events are tolerated",
			ops: []op{
				{ev: &stream.Event{Dir: in, UnixNano: 100, Len: 10, Payload: []byte(getA), Tail: []byte("0123456789abcdef")}},
				{ev: &stream.Event{Dir: 0, UnixNano: 101, Len: 10}},
				{ev: &stream.Event{Dir: in, UnixNano: 102, Len: 0, Payload: []byte(getA)}},
				{ev: &stream.Event{Dir: in, UnixNano: 103, Len: -5}},
				xfer(in, 200, getB),
				xfer(out, 210, ok0),
			},
			// "GET /a HTT" is all of a 10-byte transfer: carried, then
			// dropped when the next transfer does not continue it.
			want:  []record.Record{srv(200, 210, "GET", "/b", 200, 0, 0, hostEx)},
			stats: Stats{Skipped: 1},
		},
		{
			name: "role from a response first, client side",
			ops: []op{
				xfer(in, 100, ok5),
				xfer(out, 200, getA),
				xfer(in, 210, ok0),
			},
			want:  []record.Record{cli(200, 210, "GET", "/a", 200, 0, 0, hostEx)},
			stats: Stats{Incomplete: 1},
		},
		{
			name: "events after Close are ignored",
			ops: []op{
				xfer(out, 100, getA),
				xfer(in, 110, ok0),
				closeAt(120),
				xfer(out, 130, getB),
				xfer(in, 140, ok0),
				closeAt(150),
			},
			want: []record.Record{cli(100, 110, "GET", "/a", 200, 0, 0, hostEx)},
		},
		{
			name: "a head longer than the carry bound",
			ops: func() []op {
				ops := []op{xfer(in, 100, "GET /a HTTP/1.1\r\n")}
				for i := 0; i < 10; i++ { // 10 × 1000 bytes of header lines, each copied whole
					line := fmt.Sprintf("%-998s\r\n", fmt.Sprintf("X-H%d: v", i))
					ops = append(ops, op{ev: &stream.Event{Dir: in, UnixNano: uint64(101 + i), Len: len(line), Payload: []byte(line), Tail: []byte(line[len(line)-8:])}})
				}
				return append(ops, xfer(out, 200, ok0), xfer(in, 300, getB), xfer(out, 310, ok0))
			}(),
			want: []record.Record{
				srv(100, 200, "GET", "/a", 200, -1, 0),
				srv(300, 310, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
	}
}

func TestPipelineBound(t *testing.T) {
	var ops []op
	for i := 0; i < maxPending+6; i++ {
		ops = append(ops, xfer(in, uint64(100+i), fmt.Sprintf("GET /%d HTTP/1.1\r\n\r\n", i)))
	}
	_, _, c := run(t, ops)
	stats := c.stats
	if c.queue.len() != maxPending || stats.Incomplete != 6 {
		t.Fatalf("queue %d, Incomplete %d; want %d, 6", c.queue.len(), stats.Incomplete, maxPending)
	}
	var got []record.Record
	c.Feed(xfer(out, 500, ok0).ev, func(r *record.Record) { got = append(got, *r) })
	if len(got) != 1 || got[0].Path != "/6" { // the oldest six were dropped
		t.Fatalf("got %+v, want the record of /6", got)
	}
	c.Close(600, nil)
	if stats.Incomplete != 6+maxPending-1 {
		t.Errorf("Incomplete = %d, want %d", stats.Incomplete, 6+maxPending-1)
	}
}

func TestMetaAndSharedStats(t *testing.T) {
	var stats Stats
	meta := testMeta
	meta.Scheme = "https"
	a, b := NewConn(meta, &stats), NewConn(testMeta, &stats)
	var got []record.Record
	emit := func(r *record.Record) { got = append(got, *r) }
	for _, c := range []*Conn{a, b} {
		c.Feed(xfer(in, 1, getA).ev, emit)
		c.Feed(xfer(out, 2, ok0).ev, emit)
	}
	if stats.Records != 2 || len(got) != 2 || got[0].Scheme != "https" || got[1].Scheme != "http" {
		t.Fatalf("stats %+v, records %+v", stats, got)
	}
	// nil stats are allowed.
	NewConn(testMeta, nil).Feed(blob(in, 1, 10, "").ev, emit)
}
