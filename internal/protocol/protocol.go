// Package protocol is the seam between the pipeline and the application
// protocols ebpfred understands. A protocol is one package (internal/http1,
// internal/http2, ...) that owns how its messages are recognised, its
// parser (a connection's transfers in, request records out), its semantic
// conventions (record.Conventions) and its tests; it is reached only
// through a Protocol value listed in internal/protocols. The kernel half of
// recognising it (which transfers are copied) is a header of its own under
// bpf/protocols/.
//
// Adding a protocol:
//
//  1. internal/<name>: a Protocol value (Detect by content, New, its
//     Conventions; CopyAll when its message boundaries can fall anywhere in
//     a transfer), the parser, the conventions, table tests, a fuzz target,
//     and a TestContract that runs protocoltest.Contract on conversations of
//     its own;
//  2. one line in internal/protocols.All;
//  3. bpf/protocols/<name>.h with <name>_may_start() (or <name>_start() of
//     the peek as two words, asked from one global function), its include
//     line and one line in its list in bpf/protocols/all.h; then
//     `make generate`.
package protocol

import (
	"time"

	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Parser follows one connection of one process in one protocol. It runs on
// the pipeline's goroutine: no locks.
//
// The contract every parser keeps (protocoltest.Contract checks it): each
// request is emitted at most once; nothing is emitted after Close; and the
// Requests counted in its Stats are the records it emitted.
type Parser interface {
	// Feed parses one transfer, emitting every record it completes. emit
	// takes ownership of the record.
	Feed(ev *stream.Event, emit func(*record.Record))
	// Flush finalises at now what can no longer progress (a response
	// whose end its bytes do not show, idle for longer than idle).
	Flush(now uint64, idle time.Duration, emit func(*record.Record))
	// Close ends the connection at at: requests still waiting are emitted
	// as failed or counted incomplete, by the protocol's rules.
	Close(at uint64, emit func(*record.Record))
	// Upgraded says the connection switched to another protocol (an HTTP
	// Upgrade): the bytes that follow are recognised afresh.
	Upgraded() bool
}

// InFlighter is implemented by parsers that can name a request in flight,
// for in-process linking (a Go handler's client requests become its
// children, and a server request whose client is on this node the child of
// that client request): InFlight returns the request (the connection's
// role says which side) that was in flight at at (Unix ns) and still is,
// or nil when that is not certain. The caller may set the record's ids
// (SpanID, TraceID, TraceFlags, ParentSpanID, HasTraceParent) before it is
// emitted; nothing else.
type InFlighter interface {
	InFlight(at uint64) *record.Record
}

// Verdict is what Detect says of a connection's first bytes.
type Verdict uint8

const (
	No    Verdict = iota // not this protocol
	Maybe                // could be: too few bytes to tell
	Yes                  // this protocol
)

// Protocol is one application protocol.
type Protocol struct {
	// Name is its key in the receiver's `protocols:` configuration.
	Name string
	// Detect says whether a transfer in direction dir whose first copied
	// bytes are b begins this protocol's messages; first: no transfer of
	// the connection went that way before (a connection seen mid-way may
	// start with anything). Detection is by content; ports are never
	// consulted. It must not allocate.
	Detect func(b []byte, dir stream.Direction, first bool) Verdict
	// New returns a parser for a connection, counting into st.
	New func(meta stream.Meta, st *Stats, opt *Options) Parser
	// Conventions are those its records can carry (record.Conv), so that
	// tests and documentation can list every span and metric it yields.
	Conventions []record.Conventions
	// CopyAll: the kernel must copy the head of every transfer of its
	// connections (HTTP/2: frame headers can be anywhere), not only where a
	// message may start.
	CopyAll bool
}

// Options are what the user chose about what parsers may report.
type Options struct {
	// QueryText: database protocols report the statement (db.query.text)
	// with its literals replaced by "?". Off by default: statements can
	// hold personal data.
	QueryText bool
}

// Stats are one protocol's counts, kept on the pipeline's goroutine.
type Stats struct {
	// Records: requests emitted.
	Records uint64
	// ParseErrors: malformed messages skipped.
	ParseErrors uint64
	// Incomplete: requests seen only in part and not emitted (no response
	// before the connection ended, a response whose request was not seen).
	Incomplete uint64
	// Unknown: messages recognised but not understood (a statement whose
	// text was never seen, a header block whose compression state was
	// lost), reported with what could not be known left out.
	Unknown uint64
	// Skipped: transfers on a connection of this protocol that carried
	// none of its messages (garbage, a stream whose start was not seen).
	Skipped uint64
	// Truncated: messages cut by the kernel's copy limit.
	Truncated uint64
	// Desync: times the parser lost the message boundaries and had to find
	// them again.
	Desync uint64
}
