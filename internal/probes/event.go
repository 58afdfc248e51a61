package probes

import "net/netip"

// hdrSize is EVENT_HDR_SIZE (EVENT_HEADER, the start of every record) and
// connSize CONN_EVENT_SIZE in bpf/ebpfred.h.
const (
	hdrSize  = 40
	connSize = 80
	// routeMax and addrMax are ROUTE_MAX and ADDR_MAX.
	routeMax = 128
	addrMax  = 64
	// traceSize is TRACE_EVENT_SIZE in bpf/propagate.h.
	traceSize = 80
	// goLinkSize is GO_LINK_EVENT_SIZE in bpf/ebpfred.h.
	goLinkSize = 56
	// eventFlagTLS is EVENT_FLAG_TLS, or'ed into a data event's type.
	eventFlagTLS = 0x80
)

// EventType mirrors enum event_type in bpf/ebpfred.h.
type EventType uint8

const (
	EventDataIn  EventType = 1
	EventDataOut EventType = 2
	EventClose   EventType = 3
	EventExec    EventType = 4
	EventFork    EventType = 5 // TGID = child, FD = parent tgid
	EventExit    EventType = 6
	EventConn    EventType = 7 // a connection's endpoints, before its first data
	// EventRoute: Go net/http; Payload = the ServeMux pattern the request
	// matched, as registered ("GET host/items/{id}"), just before the data
	// event of the first response write.
	EventRoute EventType = 8
	// EventRouteStream: Go net/http HTTP/2; Payload = the route an HTTP/2
	// handler's router matched, FD = the stream id, Addr = the peer as the
	// handler saw it (Request.RemoteAddr): that names the connection.
	EventRouteStream EventType = 9
	// EventGoLink (go_context): the client request that starts in the
	// next transfer of Sock was made, in a Go program, for the server
	// request in flight on ParentSock, which had started by Since
	// (CLOCK_MONOTONIC ns). Mono and Len name that transfer: the time of
	// its data events and its length. HTTP/2's frame walk reports a
	// transfer as one data event or several consecutive ones, all with
	// its time, whose lengths add up to its length.
	EventGoLink EventType = 10
	// EventTrace (context propagation): the span ids the kernel chose for
	// the request that the next data event of the connection starts
	// (Event.Trace).
	EventTrace EventType = 16
)

// TraceRole says which request an EventTrace is about.
type TraceRole uint8

const (
	// TraceServer: a request the process read. TraceID and ParentID come
	// from its traceparent when it had one; SpanID is the server span's.
	TraceServer TraceRole = 1
	// TraceClient: a request the process wrote, into which the kernel
	// inserted "traceparent: 00-TraceID-SpanID-Flags". ParentID is the
	// server span the writing thread was answering, zero if none.
	TraceClient TraceRole = 2
)

// TraceIDs are the W3C ids of one span, chosen by the kernel.
type TraceIDs struct {
	TraceID  [16]byte
	SpanID   [8]byte
	ParentID [8]byte // zero: a root span
	Flags    uint8
	Role     TraceRole
}

// Event is one record from the kernel ring, decoded without allocation.
type Event struct {
	Type EventType
	// TLS: the payload is TLS plaintext from a TLS library probe, not the
	// socket's bytes.
	TLS     bool
	Mono    uint64 // CLOCK_MONOTONIC ns at the syscall's return
	Sock    uint64 // kernel socket address: connection identity
	TGID    uint32
	FD      uint32
	Len     uint32
	Tail    []byte
	Payload []byte
	// Addr: EventRouteStream only.
	Addr []byte
	// The endpoints, in EventConn events only.
	Family     uint16
	LocalPort  uint16
	RemotePort uint16
	LocalAddr  [16]byte
	RemoteAddr [16]byte
	// Trace, in EventTrace events only.
	Trace TraceIDs
	// EventGoLink only.
	ParentSock uint64
	Since      uint64
}

const (
	afInet  = 2
	afInet6 = 10
)

// Local returns the connection's local endpoint.
func (e *Event) Local() netip.AddrPort { return addrPort(e.Family, &e.LocalAddr, e.LocalPort) }

// Remote returns the connection's peer endpoint.
func (e *Event) Remote() netip.AddrPort { return addrPort(e.Family, &e.RemoteAddr, e.RemotePort) }

func addrPort(family uint16, a *[16]byte, port uint16) netip.AddrPort {
	switch family {
	case afInet:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[:4])), port)
	case afInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(*a).Unmap(), port)
	}
	return netip.AddrPort{}
}
