package http1

import (
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocoltest"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// events turns transfer ops into the contract's events.
func events(ops ...op) []stream.Event {
	var out []stream.Event
	for _, o := range ops {
		if o.ev != nil {
			out = append(out, *o.ev)
		}
	}
	return out
}

func TestContract(t *testing.T) {
	in, out := stream.Ingress, stream.Egress
	protocoltest.Contract(t, Protocol, []protocoltest.Conversation{
		{
			Name: "server keep-alive, a body each way", Meta: testMeta, Requests: 2,
			Events: events(
				whole(in, 1000, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
				whole(out, 2000, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
				whole(in, 3000, "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
				whole(out, 4000, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
			),
		},
		{
			Name: "a Go server's one-byte read first", Meta: testMeta, Requests: 1,
			Events: events(
				whole(in, 1000, "G"),
				whole(in, 1001, "ET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
				whole(out, 2000, "HTTP/1.1 204 No Content\r\n\r\n"),
			),
		},
		{
			Name: "pipelined, the last unanswered at close", Meta: testMeta, Requests: 3,
			Events: events(
				whole(in, 1000, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"),
				whole(out, 2000, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
			),
		},
		{
			Name: "client, a chunked response", Meta: testMeta, Requests: 1,
			Events: events(
				whole(out, 1000, "GET /c HTTP/1.1\r\nHost: y\r\n\r\n"),
				whole(in, 2000, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
			),
		},
		{
			Name: "client, connection closed before the response", Meta: testMeta, Requests: 1,
			Events: events(whole(out, 1000, "GET /d HTTP/1.1\r\nHost: y\r\n\r\n")),
		},
		{
			Name: "HTTP/1.0, a response read until close", Meta: testMeta, Requests: 1,
			Events: events(
				whole(out, 1000, "GET /e HTTP/1.0\r\n\r\n"),
				whole(in, 2000, "HTTP/1.0 200 OK\r\n\r\nuntil the end"),
			),
		},
	})
}
