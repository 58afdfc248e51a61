// Package redis is the Redis protocol (RESP2 and RESP3), client side: the
// commands an application sends to a Redis server, each paired with its
// reply in order, pipelined or not. It owns how a connection is recognised
// (a command array whose first element names a Redis command), the parser
// and its conventions (database client conventions, db.system.name
// "redis"). Its kernel half is bpf/protocols/redis.h.
//
// What a record holds: the command (db.operation.name: "GET", "HSET",
// "CLIENT SETNAME" for the subcommands of container commands, "_OTHER" for
// a name Redis does not have), the error prefix of an error reply ("ERR",
// "WRONGTYPE": db.response.status_code and error.type) and the database
// index once a SELECT was answered on the connection (db.namespace). Never
// a key, a value or an argument: only the command's name (and a
// container's subcommand, and SELECT's index) is read from the bytes. With
// protocol.Options.QueryText, db.query.text is the operation followed by a
// "?" for each other argument ("SET ? ?"): the shape of the command, none
// of its keys or values.
// db.collection.name is not set: a key's "prefix" is an application's
// naming habit, not something the protocol bounds, and keys often carry
// user ids.
//
// Pairing: Redis answers a connection's commands in order, one reply each,
// except for the out-of-band RESP3 pushes (skipped), the replies to
// SUBSCRIBE and MONITOR (after which a RESP2 connection carries messages,
// not replies: it is then no longer followed), and CLIENT REPLY OFF/SKIP
// (likewise). A command's duration runs from the write that began it to the
// read that ended its reply; inside MULTI, it is the queueing ("+QUEUED").
//
// When the kernel did not copy bytes where a reply's structure is (a reply
// of many elements read in large transfers), the reply's end is not known:
// if that command was the only one waiting, it is reported ending at the
// last read before the connection's next command (a client waits for a
// reply before it writes again, or for all of them when it pipelines);
// otherwise the waiting commands are counted incomplete, and pairing starts
// again with the next command.
package redis

import (
	"github.com/ebpfred/ebpfred/internal/dbconv"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Conventions are those of every Redis record.
var Conventions = dbconv.New("redis")

// Protocol is Redis. Replies can end, and the next begin, anywhere in a
// transfer (pipelining): the kernel copies the head of every transfer.
var Protocol = &protocol.Protocol{
	Name:   "redis",
	Detect: Detect,
	New: func(meta stream.Meta, st *protocol.Stats, opt *protocol.Options) protocol.Parser {
		return NewConn(meta, st, opt)
	},
	Conventions: []record.Conventions{Conventions},
	CopyAll:     true,
}

// Detect says whether b, written by the process, begins a Redis command: an
// array ("*N\r\n") whose first element is a bulk string ("$L\r\n") of the
// characters of a command's name, then CRLF. The name need not be one Redis
// has (an application's first command can be a module's, or a mistake that
// Redis answers with an error): the framing is specific enough. Replies are
// never enough: a '+', '-' or ':' line could begin many things. A command
// cut short is a Maybe.
func Detect(b []byte, dir stream.Direction, _ bool) protocol.Verdict {
	if dir != stream.Egress || len(b) == 0 || b[0] != '*' {
		return protocol.No
	}
	i, v := 1, protocol.Maybe
	if i, v = digitsCRLF(b, i, 7); v != protocol.Yes {
		return v
	}
	if args, _ := atoi(b[1 : i-2]); args == 0 {
		return protocol.No
	}
	if i == len(b) {
		return protocol.Maybe
	}
	if b[i] != '$' {
		return protocol.No
	}
	start := i + 1
	if i, v = digitsCRLF(b, start, 2); v != protocol.Yes {
		return v
	}
	n, ok := atoi(b[start : i-2])
	if !ok || n == 0 || n > maxName {
		return protocol.No
	}
	if len(b) < i+n+2 {
		if !nameChars(b[i:min(len(b), i+n)]) {
			return protocol.No
		}
		return protocol.Maybe
	}
	if !nameChars(b[i:i+n]) || b[i+n] != '\r' || b[i+n+1] != '\n' {
		return protocol.No
	}
	return protocol.Yes
}

// digitsCRLF checks that b[i:] is 1 to max digits and CRLF, and returns
// the index after it; Maybe when b ends first.
func digitsCRLF(b []byte, i, max int) (int, protocol.Verdict) {
	d := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if d++; d > max {
			return i, protocol.No
		}
	}
	switch {
	case i == len(b):
		return i, protocol.Maybe
	case d == 0 || b[i] != '\r':
		return i, protocol.No
	case i+1 == len(b):
		return i, protocol.Maybe
	case b[i+1] != '\n':
		return i, protocol.No
	}
	return i + 2, protocol.Yes
}

func nameChars(b []byte) bool {
	for _, c := range b {
		if !isNameChar(c) {
			return false
		}
	}
	return true
}
