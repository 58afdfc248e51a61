// Package mysql follows the MySQL client/server protocol (MariaDB's too)
// from the client's side: an application calling a MySQL or MariaDB
// server. Each operation becomes one record (db.client.operation.duration,
// a CLIENT span): a COM_QUERY, or a COM_STMT_EXECUTE, whose statement is
// the one its COM_STMT_PREPARE sent (the statement id comes from the
// prepare's answer); a prepare that fails is the operation that failed. An
// ERR packet's error number is the status. db.system.name is "mariadb"
// when the server's greeting says MariaDB, else "mysql".
//
// The handshake and authentication packets are stepped over: only the
// database the client names in its handshake response is read (the user
// name and the authentication data never are), then COM_INIT_DB and a
// successful USE change it. COM_PING, COM_INIT_DB, COM_STMT_CLOSE and
// the other commands are followed so that answers stay matched to
// requests, but are not operations.
//
// A connection opened before the collector started is followed from its
// next command: an execute whose prepare was not seen is reported with the
// operation unknown (counted Unknown), never guessed. The server's own side
// of a connection is not recognised (its records would duplicate the
// client's). A connection that switches to TLS or to the compressed
// protocol is followed no further.
//
// Packets are walked by their length. Bytes past the kernel's copy (4 KiB
// of each transfer) are skipped by length; when a packet boundary falls in
// them (a large result set), the walker counts a Desync and finds its
// place again where the transfer's last bytes end the result set, or at
// the client's next command (the protocol answers one command at a time).
//
// Its kernel half, which transfers are copied, is bpf/protocols/mysql.h.
package mysql

import (
	"github.com/ebpfred/ebpfred/internal/dbconv"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// The database client conventions: "mysql", or "mariadb" when the server's
// greeting says so.
var (
	MySQL   = dbconv.New("mysql")
	MariaDB = dbconv.New("mariadb")
)

// Protocol is MySQL (and MariaDB). An answer's packets can end anywhere
// in a transfer: every transfer's head is copied (CopyAll).
var Protocol = &protocol.Protocol{
	Name:   "mysql",
	Detect: Detect,
	New: func(meta stream.Meta, st *protocol.Stats, opt *protocol.Options) protocol.Parser {
		return NewConn(meta, st, opt)
	},
	Conventions: []record.Conventions{MySQL, MariaDB},
	CopyAll:     true,
}

// Detect says whether b, the first copied bytes of a transfer, begins a
// client's conversation with a MySQL server: read by the process, the
// server's greeting, or answers (an OK, an ERR, a result set's first
// packets) with the sequence ids of an answer; written by it, commands of
// the right shape with sequence id 0. The server's side (commands read,
// greetings written) is No.
func Detect(b []byte, dir stream.Direction, _ bool) protocol.Verdict {
	if len(b) < 5 {
		switch {
		case len(b) == 0:
			return protocol.No
		case len(b) < 4:
			return protocol.Maybe
		case dir == stream.Egress && b[3] == 0, dir == stream.Ingress && b[3] <= 1:
			return protocol.Maybe
		}
		return protocol.No
	}
	if dir == stream.Egress {
		return verdict(clientStart(b, 1<<31))
	}
	plen := packetLen(b)
	if b[3] == 0 {
		_, _, ok := greeting(b[4:min(len(b), 4+plen)], plen)
		return verdict(ok && (len(b) < 4+plen || len(b) == 4+plen))
	}
	return verdict(answerStart(b))
}

func verdict(yes bool) protocol.Verdict {
	if yes {
		return protocol.Yes
	}
	return protocol.No
}

// clientStart says whether a client transfer's bytes p (of n) begin with
// commands: sequence id 0 and a command of the right shape, and any
// packets after it in p of the right shape too.
func clientStart(p []byte, n int) bool {
	if len(p) < 5 || p[3] != 0 {
		return false
	}
	pos, seq, cont := 0, byte(0), false
	for pos+4 <= len(p) && pos < n {
		plen := packetLen(p[pos:])
		switch {
		case cont:
			// a continuation of a payload of 16 MiB or more: any bytes
			if p[pos+3] != seq+1 {
				return false
			}
		case p[pos+3] != 0 || !commandShape(p[pos+4:min(len(p), pos+4+plen)], plen):
			return false
		}
		seq, cont = p[pos+3], plen == maxPacket
		pos += 4 + plen
	}
	return true
}

// answerStart says whether the bytes b of a transfer read by a client
// begin an answer to a command: a chain of packets with sequence ids
// 1, 2, ... covering b, the first an OK, an ERR, or a column count that a
// column definition follows.
func answerStart(b []byte) bool {
	if b[3] != 1 {
		return false
	}
	plen := packetLen(b)
	first := b[4:min(len(b), 4+plen)]
	switch {
	case okShape(first, plen) && plen < 64, errShape(first, plen):
	case plen <= 2 && len(first) >= 1 && first[0] >= 1 && first[0] < 0xfb:
		// a column count: a column definition must follow
		next := 4 + plen
		if len(b) < next+8 || b[next+3] != 2 || !isColumnDef(b[next+4:]) {
			return false
		}
	default:
		return false
	}
	pos, seq := 0, byte(1)
	for pos+4 <= len(b) {
		if b[pos+3] != seq {
			return false
		}
		pos += 4 + packetLen(b[pos:])
		seq++
	}
	return pos >= len(b)
}
