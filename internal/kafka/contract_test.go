package kafka

import (
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocoltest"
	"github.com/ebpfred/ebpfred/internal/stream"
)

func TestContract(t *testing.T) {
	orders := []string{"orders"}
	big := make([]byte, 20000)
	resp := fetchResponse(12, 3, "orders", 0, 0, big)
	protocoltest.Contract(t, Protocol, []protocoltest.Conversation{
		{
			Name: "api versions, a produce, a failed produce, a fetch left waiting at close", Meta: testMeta, Requests: 3,
			Events: []stream.Event{
				whole(out, 10, other(18, 3, 0)), whole(in, 11, otherResponse(0)),
				whole(out, 20, produce(9, 1, -1, "orders")), whole(in, 30, produceResponse(9, 1, orders, 0)),
				whole(out, 40, produce(9, 2, -1, "orders")), whole(in, 50, produceResponse(9, 2, orders, 3)),
				whole(out, 60, fetch(12, 3, "orders")),
			},
		},
		{
			Name: "pipelined produces, one with acks 0", Meta: testMeta, Requests: 3,
			Events: []stream.Event{
				whole(out, 10, cat(produce(7, 1, -1, "orders"), produce(7, 2, 0, "orders"), produce(7, 3, 1, "orders"))),
				whole(in, 20, cat(produceResponse(7, 1, orders, 0), produceResponse(7, 3, orders, 0))),
			},
		},
		{
			Name: "a fetch response read in pieces, past the copy", Meta: testMeta, Requests: 1,
			Events: []stream.Event{
				whole(out, 10, fetch(12, 3, "orders")),
				whole(in, 20, resp[:4]), copied(in, 21, resp[4:10004]), lengthOnly(in, 22, len(resp)-10004),
			},
		},
		{
			Name: "a response lost: its request incomplete", Meta: testMeta, Requests: 2,
			Events: []stream.Event{
				whole(out, 10, fetch(11, 1, "orders")), whole(out, 11, fetch(11, 2, "orders")),
				whole(in, 20, fetchResponse(11, 2, "orders", 0, 0, nil)),
			},
		},
	})
}
