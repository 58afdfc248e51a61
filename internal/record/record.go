// Package record defines the request record: the seam between protocol
// parsers (which produce records) and telemetry builders (which consume
// them). A record carries the Conventions of its protocol, which say how it
// becomes spans and metric points: adding a protocol touches neither this
// package nor the span/metric code, and changing a protocol's conventions
// touches only that protocol's package.
package record

import (
	"net/netip"
	"sync"
)

// Kind says which side of the exchange the instrumented process was on.
type Kind uint8

const (
	KindServer Kind = iota + 1 // the process answered the request
	KindClient                 // the process sent the request
)

func (k Kind) String() string {
	switch k {
	case KindServer:
		return "server"
	case KindClient:
		return "client"
	}
	return "unknown"
}

// Record is one request/response exchange (an HTTP request, an RPC, a
// database operation) as seen from one process. Parsers fill what they saw;
// zero values mean "not known".
type Record struct {
	Kind Kind
	// Conv: the conventions of the protocol the record was parsed from.
	Conv Conventions
	PID  uint32

	// Wall-clock times in Unix nanoseconds. Server: first request byte
	// returned to the application → last response byte written. Client:
	// first request byte written → last response byte read.
	StartUnixNano uint64
	EndUnixNano   uint64

	// Method is the semconv http.request.method: one of the known methods or
	// "_OTHER". MethodOriginal holds the raw method when Method is "_OTHER".
	Method         string
	MethodOriginal string
	// Path is the request target's path, without query string or fragment.
	// It is request content: builders only export it where config allows.
	Path string
	// Route is the low-cardinality route template, when known.
	Route string
	// Host is the Host header (HTTP/1) or :authority (HTTP/2) without port.
	Host string
	// HostPort is the port from Host/:authority, 0 if absent.
	HostPort     int
	Scheme       string // "http" or "https"
	ProtoVersion string // "1.0", "1.1", "2"

	// StatusCode is the final HTTP status; 0 when no response was seen
	// (then ErrorType says why).
	StatusCode int
	// ErrorType is the semconv error.type for failures that have no status
	// code to speak for them (e.g. "connection_closed"). Builders derive the
	// status-code form ("500") themselves.
	ErrorType string

	// Body sizes in bytes; -1 when unknown.
	RequestBodySize  int64
	ResponseBodySize int64

	// Local and peer endpoints of the TCP connection (zero when unknown).
	Local netip.AddrPort
	Peer  netip.AddrPort
	// PeerPID is the instrumented process at the other end of the
	// connection when it is one on this node (its connection with the
	// reverse endpoints is followed too), 0 otherwise. Same-node trace
	// linking and the service graph use it.
	PeerPID uint32
	// StreamID is the HTTP/2 stream the exchange used (0 for protocols
	// without streams): both ends of a connection number a request alike.
	StreamID uint32

	// W3C trace context found in the request, if any.
	HasTraceParent bool
	TraceID        [16]byte
	ParentSpanID   [8]byte
	TraceFlags     uint8

	// SpanID is the span's own id when the kernel chose it (context
	// propagation: it is in the traceparent sent downstream, or the parent
	// of what this thread sent). TraceID is then the span's trace id even
	// without a parent, and ParentSpanID (when HasTraceParent) its parent,
	// which for a client span is the server span of the same process.
	// Zero: builders pick ids themselves.
	SpanID [8]byte

	// gRPC (issue: HTTP/2 and gRPC). RPCMethod is "package.Service/Method".
	RPCMethod     string
	RPCStatusCode int // -1 when unknown

	// Other protocols (databases, caches, queues) describe a request with
	// these; their conventions say which attribute each becomes.
	//
	// Operation is what was asked ("SELECT", "GET", "produce").
	Operation string
	// Target is what it was asked of, when it can be known cheaply (a
	// table, a key prefix, a topic).
	Target string
	// Namespace is the database (db.namespace).
	Namespace string
	// Summary is a low-cardinality description ("SELECT users").
	Summary string
	// QueryText is the statement with its literals replaced by "?", only
	// when the user turned it on.
	QueryText string
	// Status is the protocol's status code as text (an SQLSTATE, an error
	// prefix), "" when the request succeeded or it is unknown.
	Status string
}

var pool = sync.Pool{New: func() any { return new(Record) }}

// New returns a zeroed Record, reusing one released by Release when it can:
// a record per request is the parsers' only steady allocation.
func New() *Record {
	r := pool.Get().(*Record)
	*r = Record{}
	return r
}

// Release returns r for reuse. Only the final owner of r calls it, once it
// no longer uses r (the pipeline, after the sink has taken what it needs).
func Release(r *Record) { pool.Put(r) }
