package http1

import (
	"strings"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

const (
	getA    = "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"
	getB    = "GET /b HTTP/1.1\r\nHost: example.com\r\n\r\n"
	getC    = "GET /c HTTP/1.1\r\nHost: example.com\r\n\r\n"
	ok5     = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	ok0     = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	notFnd  = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
	chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
)

type scenario struct {
	name      string
	ops       []op
	want      []record.Record
	stats     Stats // Records is filled from len(want)
	upgraded  bool
	skipStats bool
}

func TestConn(t *testing.T) { runScenarios(t, connScenarios()) }

func connScenarios() []scenario {
	hostEx := host("example.com", 0)
	big := strings.Repeat("c", 2000)
	return []scenario{
		{
			name: "server keep-alive",
			ops: []op{
				xfer(in, 100, "GET /users/42?x=1#f HTTP/1.1\r\nHost: example.com:8443\r\nUser-Agent: t\r\n\r\n"),
				xfer(out, 150, ok5),
				xfer(in, 200, "POST /users HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}"),
				xfer(out, 260, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
				closeAt(300),
			},
			want: []record.Record{
				srv(100, 150, "GET", "/users/42", 200, 0, 5, host("example.com", 8443)),
				srv(200, 260, "POST", "/users", 201, 11, 0, hostEx),
			},
		},
		{
			name: "client keep-alive",
			ops: []op{
				xfer(out, 100, getA),
				xfer(in, 180, notFnd),
				xfer(out, 200, getB),
				xfer(in, 220, ok0),
			},
			want: []record.Record{
				cli(100, 180, "GET", "/a", 404, 0, 9, hostEx),
				cli(200, 220, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
		{
			// Go's net/http: the first byte of the next request is read on
			// one thread while another writes the response; the read's
			// event can come first. Seen as 1 request in ~200 000 under wrk.
			name: "server: next request's first byte before the response",
			ops: []op{
				xfer(in, 100, getA),
				whole(in, 140, getB[:1]),
				xfer(out, 150, ok5),
				whole(in, 160, getB[1:]),
				xfer(out, 200, notFnd),
			},
			want: []record.Record{
				srv(100, 150, "GET", "/a", 200, 0, 5, hostEx),
				srv(140, 200, "GET", "/b", 404, 0, 9, hostEx),
			},
		},
		{
			name: "HTTP/1.0 request",
			ops: []op{
				xfer(in, 100, "GET /old HTTP/1.0\r\n\r\n"),
				xfer(out, 110, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
			},
			want: []record.Record{srv(100, 110, "GET", "/old", 200, 0, 2, proto("1.0"))},
		},
		{
			name: "pipelined: requests in one read, responses in one write",
			ops: []op{
				xfer(in, 100, getA+getB+getC),
				xfer(out, 200, ok5+notFnd+ok0),
			},
			want: []record.Record{
				srv(100, 200, "GET", "/a", 200, 0, 5, hostEx),
				srv(100, 200, "GET", "/b", 404, 0, 9, hostEx),
				srv(100, 200, "GET", "/c", 200, 0, 0, hostEx),
			},
		},
		{
			name: "pipelined: responses in several writes, a body split across writes",
			ops: []op{
				xfer(in, 100, getA+getB),
				xfer(in, 110, getC), // the client pipelines one more
				xfer(out, 200, ok5+"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123"),
				xfer(out, 210, "456789"),
				xfer(out, 220, ok0),
			},
			want: []record.Record{
				srv(100, 200, "GET", "/a", 200, 0, 5, hostEx),
				srv(100, 210, "GET", "/b", 200, 0, 10, hostEx),
				srv(110, 220, "GET", "/c", 200, 0, 0, hostEx),
			},
		},
		{
			name: "pipelined request after a body in the same read",
			ops: []op{
				xfer(in, 100, "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"+getB),
				xfer(out, 200, ok0),
				xfer(out, 210, ok0),
			},
			want: []record.Record{
				srv(100, 200, "POST", "/a", 200, 3, 0),
				srv(100, 210, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
		{
			name: "pipelined request beyond the copy limit keeps responses matched",
			ops: []op{
				// The second request starts past the 1 KiB copy: unseen.
				xfer(in, 100, "POST /a HTTP/1.1\r\nContent-Length: 1500\r\n\r\n"+strings.Repeat("b", 1500)+getB),
				xfer(out, 200, ok0),
				xfer(out, 210, ok5),
				xfer(in, 300, getC),
				xfer(out, 310, notFnd),
			},
			want: []record.Record{
				srv(100, 200, "POST", "/a", 200, 1500, 0),
				srv(300, 310, "GET", "/c", 404, 0, 9, hostEx),
			},
			stats: Stats{Incomplete: 1},
		},
		{
			name: "empty lines after a body are ignored",
			ops: []op{
				xfer(in, 100, "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\r\n"),
				xfer(out, 200, ok0),
				xfer(in, 300, getB),
				xfer(out, 310, ok0),
			},
			want: []record.Record{
				srv(100, 200, "POST", "/a", 200, 3, 0),
				srv(300, 310, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
		{
			name: "request body over length-only transfers; body that looks like a request",
			ops: []op{
				xfer(out, 100, "PUT /blob HTTP/1.1\r\nHost: store:9000\r\nContent-Length: 3000\r\n\r\n"),
				blob(out, 110, 1000, ""),
				xfer(out, 120, "GET "+strings.Repeat("y", 996)), // copied by the kernel, but body
				blob(out, 130, 1000, ""),
				xfer(in, 200, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"),
				xfer(in, 210, "ok"),
			},
			want: []record.Record{cli(100, 210, "PUT", "/blob", 200, 3000, 2, host("store", 9000))},
		},
		{
			name: "response body that looks like a status line is body",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 200, "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n"),
				xfer(out, 210, "HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\n"),
			},
			want: []record.Record{srv(100, 210, "GET", "/a", 200, 0, 40, hostEx)},
		},
		{
			name: "5 MB response timed to its last byte",
			ops: func() []op {
				ops := []op{
					xfer(in, 100, "GET /big HTTP/1.1\r\n\r\n"),
					xfer(out, 200, "HTTP/1.1 200 OK\r\nContent-Length: 5242880\r\n\r\n"+strings.Repeat("z", 4096-40)),
				}
				left := 5242880 - (4096 - 40) // 80 writes: the last at 280
				for ts := uint64(201); left > 0; ts++ {
					n := min(left, 65536)
					ops = append(ops, blob(out, ts, n, ""))
					left -= n
				}
				return append(ops, xfer(in, 1000, getB), xfer(out, 1001, ok0))
			}(),
			want: []record.Record{
				srv(100, 280, "GET", "/big", 200, 0, 5242880),
				srv(1000, 1001, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
		{
			name: "chunked response parsed from the payload",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 200, chunked+"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"),
				xfer(in, 300, getB),
				xfer(out, 310, ok0),
			},
			want: []record.Record{
				srv(100, 200, "GET", "/a", 200, 0, int64(len("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")), hostEx),
				srv(300, 310, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
		{
			name: "chunked response: chunk data counted across transfers",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 200, chunked+"800\r\n"+strings.Repeat("d", 500)),
				blob(out, 210, 0x800-500, ""),
				xfer(out, 220, "\r\n0\r\n\r\n"), // 7 bytes: all in the tail
			},
			want: []record.Record{srv(100, 220, "GET", "/a", 200, 0, int64(len("800\r\n")+0x800+7), hostEx)},
		},
		{
			name: "chunked response in length-only writes: end from the tail",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 200, chunked+"10\r\n0123456789abcdef\r\n"),
				blob(out, 210, 1031, "xxxxxx\r\n"), // "400\r\n" + 1 KiB + "\r\n"
				xfer(out, 220, "0\r\n\r\n"),        // last chunk written alone
				xfer(in, 300, getB),
				xfer(out, 310, chunked+"5\r\nhello\r\n"),
				blob(out, 320, 15, "o\r\n0\r\n\r\n"), // "5\r\nhello\r\n0\r\n\r\n"
			},
			want: []record.Record{
				srv(100, 220, "GET", "/a", 200, 0, 22+1031+5, hostEx),
				srv(300, 320, "GET", "/b", 200, 0, 10+15, hostEx),
			},
		},
		{
			name: "chunked response with trailers in the payload",
			ops: []op{
				xfer(out, 100, getA),
				xfer(in, 200, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"),
			},
			want: []record.Record{cli(100, 200, "GET", "/a", 200, 0, int64(len("3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n")), hostEx)},
		},
		{
			name: "chunked trailers in a length-only write: the end comes with the next request",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 200, chunked+"3\r\nabc\r\n"),
				blob(out, 210, 16, "m: 1\r\n\r\n"), // "0\r\nX-Sum: 1\r\n\r\n"
				xfer(in, 300, getB),
				xfer(out, 310, ok0),
			},
			want: []record.Record{
				srv(100, 210, "GET", "/a", 200, 0, 8+16, hostEx),
				srv(300, 310, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
		{
			name: "chunked request body",
			ops: []op{
				xfer(out, 100, "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
				blob(out, 110, 10, "\nhello\r\n"), // "5\r\nhello\r\n"
				xfer(out, 120, "0\r\n\r\n"),
				xfer(in, 200, ok0),
			},
			want: []record.Record{cli(100, 200, "POST", "/up", 200, 15, 0)},
		},
		{
			name: "HEAD, 204 and 304 have no body whatever their headers say",
			ops: []op{
				xfer(in, 100, "HEAD /h HTTP/1.1\r\n\r\n"),
				xfer(out, 110, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"),
				xfer(in, 200, "DELETE /d HTTP/1.1\r\n\r\n"),
				xfer(out, 210, "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"),
				xfer(in, 300, "GET /c HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n"),
				xfer(out, 310, "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"),
				xfer(in, 400, getA),
				xfer(out, 410, ok5),
			},
			want: []record.Record{
				srv(100, 110, "HEAD", "/h", 200, 0, 0),
				srv(200, 210, "DELETE", "/d", 204, 0, 0),
				srv(300, 310, "GET", "/c", 304, 0, 0),
				srv(400, 410, "GET", "/a", 200, 0, 5, hostEx),
			},
		},
		{
			name: "Expect: 100-continue, then the body, then the final response",
			ops: []op{
				xfer(out, 100, "POST /up HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"),
				xfer(in, 150, "HTTP/1.1 100 Continue\r\n\r\n"),
				xfer(out, 160, "hello"),
				xfer(in, 190, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"),
				xfer(in, 200, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
			},
			want: []record.Record{cli(100, 200, "POST", "/up", 200, 5, 2, hostEx)},
		},
		{
			name: "HTTP/1.0 response without length ends at Close with its last transfer",
			ops: []op{
				xfer(in, 100, "GET / HTTP/1.0\r\n\r\n"),
				xfer(out, 200, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nabc"),
				blob(out, 210, 100, ""),
				closeAt(300),
			},
			want: []record.Record{srv(100, 210, "GET", "/", 200, 0, 103, proto("1.0"))},
		},
		{
			name: "Connection: close response without length, client side",
			ops: []op{
				xfer(out, 100, "GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n"),
				xfer(in, 200, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"),
				blob(in, 210, 4096, ""),
				blob(in, 220, 10, ""),
				closeAt(230),
			},
			want: []record.Record{cli(100, 220, "GET", "/stream", 200, 0, 4106)},
		},
		{
			name: "client request closed before a response",
			ops: []op{
				xfer(out, 100, getA+getB),
				closeAt(500),
			},
			want: []record.Record{
				cli(100, 500, "GET", "/a", 0, 0, -1, hostEx, closed()),
				cli(100, 500, "GET", "/b", 0, 0, -1, hostEx, closed()),
			},
		},
		{
			name: "client response cut by close keeps its status",
			ops: []op{
				xfer(out, 100, getA),
				xfer(in, 200, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 100\r\n\r\npartial"),
				closeAt(300),
			},
			want: []record.Record{cli(100, 200, "GET", "/a", 502, 0, 100, hostEx)},
		},
		{
			name: "server request never answered",
			ops: []op{
				xfer(in, 100, getA),
				xfer(in, 110, getB),
				closeAt(500),
			},
			stats: Stats{Incomplete: 2},
		},
		{
			name: "non-HTTP transfers are skipped and counted",
			ops: []op{
				blob(in, 50, 300, ""),                 // TLS record, say
				xfer(in, 60, "EHLO mail.example\r\n"), // copied: "EHLO " looks like a method
				xfer(in, 100, getA),
				xfer(out, 110, ok0),
				blob(out, 120, 30, ""),                    // junk after a complete response
				xfer(out, 130, "HTTP/2.0 200 OK\r\n\r\n"), // not HTTP/1.x
				xfer(in, 200, getB),
				xfer(out, 210, ok0),
			},
			want: []record.Record{
				srv(100, 110, "GET", "/a", 200, 0, 0, hostEx),
				srv(200, 210, "GET", "/b", 200, 0, 0, hostEx),
			},
			stats: Stats{Skipped: 4},
		},
		{
			name: "response without a request",
			ops: []op{
				xfer(out, 100, ok5), // we attached mid-exchange: a server
				xfer(in, 200, getA),
				xfer(out, 210, ok0),
			},
			want:  []record.Record{srv(200, 210, "GET", "/a", 200, 0, 0, hostEx)},
			stats: Stats{Incomplete: 1},
		},
		{
			name: "headers cut by the copy limit: framing unknown, ends at the next request",
			ops: []op{
				xfer(in, 100, "GET /me HTTP/1.1\r\nHost: example.com\r\nCookie: "+big+"\r\nContent-Length: 0\r\n\r\n"),
				xfer(out, 200, "HTTP/1.1 200 OK\r\nSet-Cookie: "+big+"\r\nContent-Length: 5000\r\n\r\n"),
				blob(out, 210, 4000, ""),
				blob(out, 220, 1000, ""),
				xfer(in, 300, getB),
				xfer(out, 310, ok0),
			},
			want: []record.Record{
				srv(100, 220, "GET", "/me", 200, -1, -1, hostEx),
				srv(300, 310, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
		{
			name: "request line cut by the copy limit",
			ops: []op{
				xfer(in, 100, "GET /q?"+big+" HTTP/1.1\r\n\r\n"),
				xfer(out, 200, ok0),
				xfer(in, 300, "GET /"+big+" HTTP/1.1\r\n\r\n"),
				xfer(out, 310, ok0),
			},
			want: []record.Record{
				srv(100, 200, "GET", "/q", 200, -1, 0, proto("")),
				srv(300, 310, "GET", "", 200, -1, 0, proto("")), // the path's end was not seen
			},
		},
		{
			name: "headers cut by the copy limit: Flush after idle ends the response at its last transfer",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 200, "HTTP/1.1 200 OK\r\nSet-Cookie: "+big+"\r\nContent-Length: 5000\r\n\r\n"),
				blob(out, 210, 5000, ""),
				flushAt(210+uint64(time.Second)-1, time.Second), // not idle long enough
				flushAt(210+uint64(time.Second), time.Second),
				flushAt(210+uint64(2*time.Second), time.Second), // nothing left
			},
			want: []record.Record{srv(100, 210, "GET", "/a", 200, 0, -1, hostEx)},
		},
		{
			name: "Flush emits a stalled response; its remaining bytes are still body",
			ops: []op{
				xfer(out, 100, getA),
				xfer(in, 200, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("s", 500)),
				flushAt(5_000_000_000, time.Second),
				xfer(in, 5_000_000_100, "HTTP/1.1 is what this body says"+strings.Repeat("s", 469)),
				xfer(out, 5_000_000_200, getB),
				xfer(in, 5_000_000_300, ok0),
			},
			want: []record.Record{
				cli(100, 200, "GET", "/a", 200, 0, 1000, hostEx),
				cli(5_000_000_200, 5_000_000_300, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
		{
			name: "head continued in a small transfer (seen whole in its tail)",
			ops: []op{
				xfer(out, 100, "GET /split HTTP/1.1\r\nHost: example.com\r\n"),
				xfer(out, 101, "\r\n"),
				xfer(in, 200, "HTTP/1.1 200 OK\r\n"),
				xfer(in, 201, "Content-Length: 2\r\n\r\nok"), // length-only: framing lost
				xfer(out, 300, getB),
				xfer(in, 310, ok0),
			},
			want: []record.Record{
				cli(100, 201, "GET", "/split", 200, 0, -1, hostEx),
				cli(300, 310, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
		{
			name: "head continued in a length-only transfer: framing unknown",
			ops: []op{
				xfer(in, 100, "POST /form HTTP/1.1\r\nHost: example.com\r\n"),
				xfer(in, 101, "Content-Length: 3\r\n\r\nabc"),
				xfer(out, 200, ok0),
				xfer(in, 300, getB),
				xfer(out, 310, ok0),
			},
			want: []record.Record{
				srv(100, 200, "POST", "/form", 200, -1, 0, hostEx),
				srv(300, 310, "GET", "/b", 200, 0, 0, hostEx),
			},
		},
		{
			name: "methods and request-target forms",
			ops: []op{
				xfer(in, 100, "PURGE /dav/x HTTP/1.1\r\nHost: dav\r\n\r\n"),
				xfer(out, 110, ok0),
				xfer(in, 200, "GET http://user@h.example:81/p/q?x=1 HTTP/1.1\r\nHost: proxy:3128\r\n\r\n"),
				xfer(out, 210, ok0),
				xfer(in, 300, "OPTIONS * HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
				xfer(out, 310, ok0),
				xfer(in, 400, "PATCH http://h.example?x HTTP/1.1\r\n\r\n"),
				xfer(out, 410, ok0),
			},
			want: []record.Record{
				srv(100, 110, "", "/dav/x", 200, 0, 0, other("PURGE"), host("dav", 0)),
				srv(200, 210, "GET", "/p/q", 200, 0, 0, host("h.example", 81)),
				srv(300, 310, "OPTIONS", "*", 200, 0, 0, host("::1", 8080)),
				srv(400, 410, "PATCH", "/", 200, 0, 0, host("h.example", 0)),
			},
		},
		{
			name: "header names are case-insensitive",
			ops: []op{
				xfer(out, 100, "POST /x HTTP/1.1\r\nhOsT: Example.COM\r\nCONTENT-LENGTH: 4\r\ntraceParent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\nbody"),
				xfer(in, 200, "HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n"),
			},
			want: []record.Record{cli(100, 200, "POST", "/x", 200, 4, 5, host("Example.COM", 0), func(r *record.Record) {
				r.HasTraceParent = true
				r.TraceID = [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
				r.ParentSpanID = [8]byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
				r.TraceFlags = 1
			})},
		},
		{
			name: "101 Switching Protocols upgrades the connection",
			ops: []op{
				xfer(out, 100, "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
				xfer(in, 200, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"),
				xfer(out, 300, "GET not http any more"),
				closeAt(400),
			},
			want:     []record.Record{cli(100, 200, "GET", "/ws", 101, 0, 0, hostEx)},
			upgraded: true,
		},
		{
			name: "CONNECT 200 becomes a tunnel",
			ops: []op{
				xfer(in, 100, "CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\n"),
				xfer(out, 200, "HTTP/1.1 200 Connection Established\r\n\r\n"),
				blob(in, 300, 100, ""),
			},
			want:     []record.Record{srv(100, 200, "CONNECT", "", 200, 0, 0, host("db.example", 5432))},
			upgraded: true,
		},
		{
			name: "HTTP/2 preface",
			ops: []op{
				xfer(in, 100, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00"),
				xfer(out, 110, "\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
				closeAt(200),
			},
			upgraded: true,
		},
		{
			name: "malformed Content-Length: framing unknown",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 200, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
				xfer(in, 300, getB),
				xfer(out, 310, ok0),
			},
			want: []record.Record{
				srv(100, 200, "GET", "/a", 200, 0, -1, hostEx),
				srv(300, 310, "GET", "/b", 200, 0, 0, hostEx),
			},
			stats: Stats{ParseErrors: 1},
		},
		{
			name: "Content-Length list of equal values",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 200, "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello"),
			},
			want: []record.Record{srv(100, 200, "GET", "/a", 200, 0, 5, hostEx)},
		},
		{
			name: "bad chunk size falls back to the tail",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 200, chunked+"zz\r\nhello\r\n"),
				xfer(out, 210, "0\r\n\r\n"),
			},
			want:  []record.Record{srv(100, 210, "GET", "/a", 200, 0, 11+5, hostEx)},
			stats: Stats{ParseErrors: 1},
		},
		{
			name: "end times never before start times",
			ops: []op{
				xfer(in, 100, getA),
				xfer(out, 90, ok0), // wall-clock correction between events
			},
			want: []record.Record{srv(100, 100, "GET", "/a", 200, 0, 0, hostEx)},
		},
	}
}

func runScenarios(t *testing.T, tests []scenario) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stats, c := run(t, tt.ops)
			if d := diffRecords(got, tt.want); d != "" {
				t.Error(d)
			}
			want := tt.stats
			want.Records = uint64(len(tt.want))
			if stats != want {
				t.Errorf("stats = %+v, want %+v", stats, want)
			}
			if c.Upgraded() != tt.upgraded {
				t.Errorf("Upgraded() = %v, want %v", c.Upgraded(), tt.upgraded)
			}
		})
	}
}

// Go's net/http server reads the first byte of a keep-alive request alone;
// the kernel copies that byte and the next transfer, and the method must be
// joined back together whatever the previous request was.
func TestMethodSplitAfterBody(t *testing.T) {
	var got []*record.Record
	emit := func(r *record.Record) { got = append(got, r) }
	c := NewConn(stream.Meta{PID: 1}, &Stats{})
	body := strings.Repeat("x", 100)
	req := func(m string) string {
		return m + " /status/500 HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + body
	}
	resp := "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 11\r\n\r\nstatus 500\n"
	ts := uint64(0)
	feed := func(dir stream.Direction, s string) {
		ts++
		tl := s[max(len(s)-8, 0):]
		c.Feed(&stream.Event{Dir: dir, UnixNano: ts, Len: len(s), Payload: []byte(s), Tail: []byte(tl)}, emit)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "GET", "PATCH"} {
		feed(stream.Ingress, req(m)[:1])
		feed(stream.Ingress, req(m)[1:])
		feed(stream.Egress, resp)
	}
	var methods []string
	for _, r := range got {
		methods = append(methods, r.Method)
	}
	if want := "POST PUT DELETE GET PATCH"; strings.Join(methods, " ") != want {
		t.Fatalf("methods %v, want %s", methods, want)
	}
	if got[0].StartUnixNano != 1 || got[0].EndUnixNano != 3 {
		t.Errorf("first record times %d..%d, want 1..3 (from the first byte)", got[0].StartUnixNano, got[0].EndUnixNano)
	}
}
