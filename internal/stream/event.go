// Package stream defines what protocol parsers receive: the ordered socket
// I/O of one connection of one process, as the kernel probes saw it.
package stream

import "net/netip"

// Direction of a socket I/O call, from the instrumented process's view.
type Direction uint8

const (
	Ingress Direction = iota + 1 // the process read these bytes
	Egress                       // the process wrote these bytes
)

func (d Direction) String() string {
	switch d {
	case Ingress:
		return "ingress"
	case Egress:
		return "egress"
	}
	return "unknown"
}

// Event is one successful socket I/O call (read/recv*/write/send*/sendfile)
// on one connection. Events of a connection arrive in call order.
//
// The kernel copies leading bytes only where an L7 message may start (the
// bytes look like an HTTP request line, status line or HTTP/2 preface), so
// most body transfers arrive as length-only events.
type Event struct {
	Dir Direction
	// UnixNano is the wall-clock time the call returned to the process.
	UnixNano uint64
	// Len is the number of bytes the call transferred (> 0).
	Len int
	// Payload holds the first bytes of the transfer when the kernel copied
	// them; len(Payload) <= Len, shorter when the copy was truncated. Empty
	// for length-only events.
	Payload []byte
	// Tail holds up to the last 8 bytes of the transfer (fewer when Len < 8).
	// It may overlap Payload. It lets a parser see the end of a chunked body
	// without a full copy.
	Tail []byte
	// IDs (context propagation, or a Go program's in-process link): the
	// span ids chosen for the request that starts in this transfer; nil
	// when none were.
	IDs *SpanIDs
	// IDsMore: the transfer IDs were chosen for goes on in the next event
	// of this direction, which carries the same IDs (the kernel reports an
	// HTTP/2 transfer as one event or several). They belong to the request
	// that starts anywhere in the transfer, when exactly one does.
	IDsMore bool
	// IDsRefused is set by the parser on the event that ends a transfer
	// with IDs when requests started in it but none could take them for
	// certain (more than one started, or it ended before the transfer
	// did): a parent is never guessed.
	IDsRefused bool
}

// SpanIDs are kernel-chosen W3C ids for one request: the span's own, its
// trace's, and its parent's (zero for a root).
type SpanIDs struct {
	TraceID  [16]byte
	SpanID   [8]byte
	ParentID [8]byte
	Flags    uint8
}

// Meta describes a connection.
type Meta struct {
	PID    uint32
	Local  netip.AddrPort
	Peer   netip.AddrPort
	Scheme string // "http" unless a TLS probe produced the plaintext
}
