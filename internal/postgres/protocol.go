// Package postgres follows the PostgreSQL wire protocol (v3) from the
// client's side: an application calling a PostgreSQL server. Each
// operation becomes one record (db.client.operation.duration, a CLIENT
// span): a simple Query, or an Execute of the extended protocol, whose
// statement is the one its Parse sent (named or unnamed, pipelined or
// not); an error's SQLSTATE is its status. The database is the one the
// start-up message names. Nothing of the start-up and authentication
// messages but the database (or, without one, the user name the server
// then takes for it) is read, and Bind's parameter values never are.
//
// A connection opened before the collector started is followed from its
// next request: an Execute whose Parse was not seen is reported with the
// operation unknown (counted Unknown), never guessed. The server's own
// side of a connection is not recognised (its records would duplicate the
// client's).
//
// Messages are walked by their length. Bytes past the kernel's copy
// (4 KiB of each transfer) are skipped by length; when a message boundary
// falls in them, the walker counts a Desync and finds its place again at a
// later transfer whose bytes are messages of the right shape (their
// structure checked field by field), or right after a transfer whose last
// bytes are a ReadyForQuery.
//
// Its kernel half, which transfers are copied, is bpf/protocols/postgres.h.
package postgres

import (
	"github.com/ebpfred/ebpfred/internal/dbconv"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Conventions are the database client conventions, db.system.name
// "postgresql".
var Conventions = dbconv.New("postgresql")

// Protocol is PostgreSQL. Its messages are length-prefixed and a transfer
// of answers can hold many: every transfer's head is copied (CopyAll).
var Protocol = &protocol.Protocol{
	Name:   "postgresql",
	Detect: Detect,
	New: func(meta stream.Meta, st *protocol.Stats, opt *protocol.Options) protocol.Parser {
		return NewConn(meta, st, opt)
	},
	Conventions: []record.Conventions{Conventions},
	CopyAll:     true,
}

// Detect says whether b, the first copied bytes of a transfer, begins a
// client's conversation with a PostgreSQL server: written by the process,
// a start-up message (StartupMessage with a "user", SSLRequest,
// GSSENCRequest, CancelRequest) or requests (Query, Parse, Bind, ...) whose
// every field has the right shape; read by it, answers ending with a
// ReadyForQuery. The server's side (requests read) is No.
func Detect(b []byte, dir stream.Direction, _ bool) protocol.Verdict {
	if len(b) == 0 {
		return protocol.No
	}
	if dir == stream.Egress {
		if b[0] == 0 {
			if len(b) < 8 {
				return protocol.Maybe
			}
			return verdict(clientStart(b, 1<<31, true))
		}
		switch b[0] {
		case 'Q', 'P', 'B', 'E', 'D', 'C', 'F': // a request starts (a lone Sync or Flush says too little)
		default:
			return protocol.No
		}
		if len(b) < 5 {
			return protocol.Maybe
		}
		return verdict(clientStart(b, 1<<31, false))
	}
	if !backend(b[0]) {
		return protocol.No
	}
	msgs, end, ok := chain(b, 0, len(b), false)
	if ok && msgs >= 1 && end == len(b) && len(b) >= 6 && string(b[len(b)-6:len(b)-1]) == "Z\x00\x00\x00\x05" {
		return protocol.Yes
	}
	return protocol.No
}

func verdict(yes bool) protocol.Verdict {
	if yes {
		return protocol.Yes
	}
	return protocol.No
}
