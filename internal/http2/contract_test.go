package http2

import (
	"net/netip"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocoltest"
	"github.com/ebpfred/ebpfred/internal/stream"
)

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
	meta := stream.Meta{PID: 42, Local: netip.MustParseAddrPort("10.0.0.1:8080"), Peer: netip.MustParseAddrPort("10.0.0.2:5000"), Scheme: "http"}
	in, out := stream.Ingress, stream.Egress
	cli, srv := newPeer(), newPeer()
	cli2, srv2 := newPeer(), newPeer()
	protocoltest.Contract(t, Protocol, []protocoltest.Conversation{
		{
			Name: "server, two streams interleaved, one answered", Meta: meta, Requests: 2,
			Events: events(
				xfer(in, 1000, []byte(preface), cli.settings(),
					cli.headers(1, true, ":method", "GET", ":path", "/a", ":scheme", "http", ":authority", "x"),
					cli.headers(3, true, ":method", "GET", ":path", "/b", ":scheme", "http", ":authority", "x")),
				xfer(out, 2000, srv.settings(), srv.headers(3, false, ":status", "200"), srv.data(3, true, 5)),
			),
		},
		{
			Name: "gRPC client call with trailers", Meta: meta, Requests: 1,
			Events: events(
				xfer(out, 1000, []byte(preface), cli2.settings(),
					cli2.headers(1, false, grpcReq("/shop.Cart/Add")...), cli2.data(1, true, 10)),
				xfer(in, 2000, srv2.settings(), srv2.headers(1, false, ":status", "200", "content-type", "application/grpc"),
					srv2.data(1, false, 7), srv2.headers(1, true, "grpc-status", "5")),
			),
		},
	})
}
