package redis

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/protocoltest"
	"github.com/ebpfred/ebpfred/internal/stream"
)

func TestContract(t *testing.T) {
	pipeline := strings.Repeat(cmd("INCR", "n"), 100)
	replies := ""
	for i := 1; i <= 100; i++ {
		replies += ":" + strconv.Itoa(i) + "\r\n"
	}
	protocoltest.Contract(t, Protocol, []protocoltest.Conversation{
		{
			Name: "one command at a time, an error, a command left waiting at close", Meta: testMeta, Requests: 3,
			Events: []stream.Event{
				whole(out, 10, cmd("SET", "k", "v")), whole(in, 20, "+OK\r\n"),
				whole(out, 30, cmd("LPUSH", "k", "x")), whole(in, 40, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
				whole(out, 50, cmd("BLPOP", "q", "0")),
			},
		},
		{
			Name: "100 pipelined commands, replies over three reads", Meta: testMeta, Requests: 100,
			Events: []stream.Event{
				copied(out, 10, pipeline),
				whole(in, 20, replies[:100]), whole(in, 30, replies[100:301]), whole(in, 40, replies[301:]),
			},
		},
		{
			Name: "a command split over writes, RESP3", Meta: testMeta, Requests: 2, Options: protocol.Options{QueryText: true},
			Events: []stream.Event{
				whole(out, 10, "*2\r\n$5\r\nHEL"), whole(out, 11, "LO\r\n$1\r\n3\r\n"),
				whole(in, 20, "%1\r\n$5\r\nproto\r\n:3\r\n"),
				whole(out, 30, cmd("HGETALL", "h")), whole(in, 40, "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"),
			},
		},
		{
			Name: "pipelined replies past the copy", Meta: testMeta, Requests: 3,
			Events: []stream.Event{
				whole(out, 10, strings.Repeat(cmd("GET", "k"), 3)),
				copied(in, 20, "$5000\r\n"+strings.Repeat("v", 5000)+"\r\n$1\r\nv\r\n$1\r\nv\r\n"),
			},
		},
	})
}
