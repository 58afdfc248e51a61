package http1

import (
	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Protocol is HTTP/1.0 and HTTP/1.1. Its kernel half, which transfers may
// begin a message (and so are copied), is bpf/protocols/http1.h.
var Protocol = &protocol.Protocol{
	Name:   "http",
	Detect: Detect,
	New: func(meta stream.Meta, st *protocol.Stats, _ *protocol.Options) protocol.Parser {
		return NewConn(meta, st)
	},
	Conventions: []record.Conventions{httpconv.Conventions},
}

// Detect says whether b begins an HTTP/1 message: a request line (an
// upper-case method token of 3 to 15 letters and a space, as the kernel's
// copy rule has it; PRI, the HTTP/2 preface's, is left to HTTP/2) or a
// status line ("HTTP/"). A Go server reads a request's first byte alone: a
// few letters are a Maybe.
func Detect(b []byte, _ stream.Direction, _ bool) protocol.Verdict {
	const status = "HTTP/"
	if len(b) < len(status) && len(b) > 0 && string(b) == status[:len(b)] {
		return protocol.Maybe
	}
	if len(b) >= len(status) && string(b[:len(status)]) == status {
		return protocol.Yes
	}
	for i := 0; i < len(b) && i < 16; i++ {
		c := b[i]
		if c == ' ' {
			if i < 3 || (i == 3 && string(b[:3]) == "PRI") {
				return protocol.No
			}
			return protocol.Yes
		}
		if (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return protocol.No
		}
	}
	if len(b) < 16 {
		return protocol.Maybe
	}
	return protocol.No
}
