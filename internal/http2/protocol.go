package http2

import (
	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Protocol is HTTP/2 in cleartext (prior knowledge, after an h2c upgrade,
// or seen mid-way) and, over TLS, as the TLS probes hand it over; gRPC is
// recognised in it by content-type. Its kernel half is bpf/protocols/http2.h.
var Protocol = &protocol.Protocol{
	Name:   "http2",
	Detect: Detect,
	New: func(meta stream.Meta, st *protocol.Stats, _ *protocol.Options) protocol.Parser {
		return NewConn(meta, st)
	},
	Conventions: []record.Conventions{httpconv.Conventions, GRPC},
	CopyAll:     true,
}

// Detect: the client connection preface, whole or its start; on a
// connection's first transfer either way, frames that hold together (a
// connection seen mid-way).
func Detect(b []byte, _ stream.Direction, first bool) protocol.Verdict {
	n := min(len(b), len(preface))
	if n > 0 && string(b[:n]) == preface[:n] {
		if n < 14 {
			return protocol.Maybe
		}
		return protocol.Yes
	}
	if first && plausible(b) {
		return protocol.Yes
	}
	return protocol.No
}

// plausible: frames that hold together, as LooksLikeHTTP2 checks.
func plausible(b []byte) bool {
	return plausibility{maxLen: maxFrameLen}.chain(b, len(b))
}

// Upgraded: HTTP/2 never switches to another protocol.
func (c *Conn) Upgraded() bool { return false }
