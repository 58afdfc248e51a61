// Package memcached is memcached's text protocol, client side: the
// commands an application sends to a memcached server (storage, retrieval,
// delete, incr/decr, touch, stats, the meta commands), each paired with its
// reply in order, pipelined or not. It owns how a connection is recognised
// (a command line of a memcached command), the parser and its conventions
// (database client conventions, db.system.name "memcached"). Its kernel
// half is bpf/protocols/memcached.h.
//
// A record holds the command (db.operation.name: "get", "set", "mg"; commands
// are lower-case in the protocol and stay so) and, when the server answered
// with an error, its kind: "ERROR" (a command it does not have),
// "CLIENT_ERROR", "SERVER_ERROR" (db.response.status_code and error.type).
// A miss (END with no VALUE, NOT_FOUND, NOT_STORED, EXISTS) is an answer,
// not an error. Never a key or a value: only the command's name and, for the
// commands whose data follows their line, the data's length (to pass over
// it) are read. db.query.text, when turned on, is the command and a "?" for
// each other token.
//
// Pairing: memcached answers a connection's commands in order, one reply
// each, except commands sent with noreply, quit, and the meta commands'
// quiet mode (q flag), which suppresses some replies: a noreply command or
// quit is counted unknown (its end cannot be seen), and a quiet meta command
// stops the pairing on that connection (counted incomplete from there).
package memcached

import (
	"github.com/ebpfred/ebpfred/internal/dbconv"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Conventions are those of every memcached record.
var Conventions = dbconv.New("memcached")

// Protocol is memcached's text protocol. Replies can end, and the next
// begin, anywhere in a transfer (pipelining): the kernel copies the head of
// every transfer.
var Protocol = &protocol.Protocol{
	Name:   "memcached",
	Detect: Detect,
	New: func(meta stream.Meta, st *protocol.Stats, opt *protocol.Options) protocol.Parser {
		return NewConn(meta, st, opt)
	},
	Conventions: []record.Conventions{Conventions},
	CopyAll:     true,
}

// Detect says whether b, written by the process, begins a memcached
// command: a command's name, then a space and a key character (or, for the
// commands without arguments, CRLF). Replies are never enough. A line cut
// short is a Maybe.
func Detect(b []byte, dir stream.Direction, _ bool) protocol.Verdict {
	if dir != stream.Egress || len(b) == 0 {
		return protocol.No
	}
	n := 0
	for n < len(b) && n <= maxName && (b[n] >= 'a' && b[n] <= 'z' || b[n] == '_') {
		n++
	}
	if n == len(b) {
		if n <= maxName && prefixOfCommand(b) {
			return protocol.Maybe
		}
		return protocol.No
	}
	c, ok := commands[string(b[:n])]
	if !ok {
		return protocol.No
	}
	rest := b[n:]
	switch {
	case rest[0] == ' ':
		if len(rest) == 1 {
			return protocol.Maybe
		}
		if rest[1] > ' ' && rest[1] < 0x7f {
			return protocol.Yes
		}
	case rest[0] == '\r' && c.bare:
		if len(rest) == 1 {
			return protocol.Maybe
		}
		if rest[1] == '\n' {
			return protocol.Yes
		}
	}
	return protocol.No
}

func prefixOfCommand(b []byte) bool {
	for name := range commands {
		if len(name) >= len(b) && name[:len(b)] == string(b) {
			return true
		}
	}
	return false
}
