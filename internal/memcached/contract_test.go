package memcached

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/protocoltest"
	"github.com/ebpfred/ebpfred/internal/stream"
)

func TestContract(t *testing.T) {
	var pipeline, replies strings.Builder
	for i := 1; i <= 100; i++ {
		pipeline.WriteString("incr n 1\r\n")
		fmt.Fprintf(&replies, "%d\r\n", i)
	}
	r := replies.String()
	protocoltest.Contract(t, Protocol, []protocoltest.Conversation{
		{
			Name: "one command at a time, an error, a command left waiting at close", Meta: testMeta, Requests: 3,
			Events: []stream.Event{
				whole(out, 10, "set k 0 0 1\r\nv\r\n"), whole(in, 20, "STORED\r\n"),
				whole(out, 30, "incr k 1\r\n"), whole(in, 40, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
				whole(out, 50, "get k\r\n"),
			},
		},
		{
			Name: "100 pipelined commands, replies over three reads", Meta: testMeta, Requests: 100,
			Events: []stream.Event{
				copied(out, 10, pipeline.String()),
				whole(in, 20, r[:100]), whole(in, 30, r[100:301]), whole(in, 40, r[301:]),
			},
		},
		{
			Name: "a command split over writes, noreply, meta", Meta: testMeta, Requests: 3, Options: protocol.Options{QueryText: true},
			Events: []stream.Event{
				whole(out, 10, "se"), whole(out, 11, "t k 0 0 2\r\nab\r\ndelete x noreply\r\nmg k v\r\n"),
				whole(in, 20, "STORED\r\nVA 2\r\nab\r\n"),
			},
		},
	})
}
