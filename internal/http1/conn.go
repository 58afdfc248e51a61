package http1

import (
	"time"

	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/httpfield"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Stats counts what the parsers of many connections did. It is not safe for
// concurrent use: share one Stats only among Conns fed by one goroutine.
// Stats are HTTP/1's counts (protocol.Stats): Records are the requests
// emitted; Skipped counts transfers skipped because a message start was
// expected and they did not start like an HTTP/1.x message; ParseErrors
// counts message heads and chunked bodies that began like HTTP/1.x but broke
// its syntax (the message then becomes open-ended); Incomplete counts
// exchanges seen only in part and not emitted: requests never answered on
// the server side, responses without a request, requests or responses whose
// bytes could not be seen, and requests dropped from a full pipeline.
type Stats = protocol.Stats

// ErrorConnectionClosed is the record ErrorType of a client request whose
// connection closed before a response arrived.
const ErrorConnectionClosed = "connection_closed"

const (
	// maxHead bounds a header block carried from one transfer to the next.
	maxHead = 4 << 10
	// minMessage is the length from which bytes we cannot see, following a
	// message in the same transfer, are taken for another message rather
	// than for trailing junk ("GET / HTTP/1.0\n\n" is 16 bytes).
	minMessage = 16
	// maxSteps bounds the messages read from one transfer; a payload of
	// about 1 KiB cannot hold more than 64.
	maxSteps = 512
)

// state of one direction of the connection.
type state uint8

const (
	stIdle state = iota // a message start is expected
	stHead              // a head continues past a fully copied transfer
	stBody              // a message body is being transferred
)

// framing of the body being transferred.
type framing uint8

const (
	fLength    framing = iota + 1 // Content-Length: count bytes
	fChunked                      // chunked, parsed while visible
	fChunkTail                    // chunked, end found from the tail bytes
	fOpen                         // until the next message start, Close, Flush
)

// chunkState is the position of the chunked-body parser.
type chunkState uint8

const (
	csSize        chunkState = iota // chunk-size hex digits
	csExt                           // chunk extensions, up to LF
	csSizeLF                        // LF after the chunk-size line's CR
	csData                          // chunk data (remain bytes left)
	csDataCR                        // CR after chunk data
	csDataLF                        // LF after chunk data
	csTrailer                       // start of a trailer line, or the final CRLF
	csTrailerLine                   // inside a trailer field line
	csEndLF                         // LF of the final CRLF
)

// half is the parser state of one direction (requests or responses).
type half struct {
	resp    bool
	state   state
	framing framing
	// count: the body size to report is the bytes counted, not a declared
	// Content-Length and not unknown.
	count  bool
	remain int64 // fLength: body bytes left; fChunked: chunk data left
	body   int64 // body bytes transferred so far

	cs     chunkState
	csize  int64
	cdigit bool

	win  [8]byte // last body bytes, for fChunkTail
	nwin int

	// rec is the record of the message in progress: for requests, the
	// request whose body is being received; for responses, the request being
	// answered. nil once emitted or when unknown.
	rec   *record.Record
	start uint64 // time of the transfer with the head's first bytes (stHead)
	last  uint64 // time of the last transfer in this direction
	hbuf  []byte // stHead: the head bytes so far
}

// Conn parses one connection. Feed it every event of the connection in
// order, call Flush now and then, and Close it when the process closes the
// socket. It is not safe for concurrent use.
//
// The role comes from the first message seen: a request read by the process
// (Ingress) makes it the server, a request written (Egress) the client, and
// the reverse for a response.
//
// Records go to the emit function given to Feed, Close and Flush, in request
// order. emit owns each record: the Conn allocates one per request and never
// reads or writes it after emitting it.
type Conn struct {
	meta   stream.Meta
	scheme string
	stats  *Stats

	// reqDir is the direction requests travel: Ingress for a server,
	// Egress for a client; 0 until the first message tells.
	reqDir stream.Direction
	req    half
	resp   half
	queue  pending

	upgraded bool
	closed   bool

	// The previous request's path and host, reused when they repeat on a
	// keep-alive connection (saves two allocations per request).
	lastPath string
	lastHost string

	// propagation: kernel-chosen ids for the request that starts in the
	// event being fed (stream.Event.IDs), kept while its head continues
	// into later transfers.
	ids    stream.SpanIDs
	hasIDs bool
	// idsRun: the egress transfer the ids were for goes on in the next
	// egress event (stream.Event.IDsMore), whose same ids must not arm a
	// second request of it.
	idsRun bool

	// lastEnd: the end of the last response emitted (Unix ns), for
	// InFlight.
	lastEnd uint64
}

// NewConn returns the parser of one connection. stats may be shared by the
// Conns of one goroutine; nil discards the counts.
func NewConn(meta stream.Meta, stats *Stats) *Conn {
	if stats == nil {
		stats = new(Stats)
	}
	scheme := meta.Scheme
	if scheme == "" {
		scheme = "http"
	}
	c := &Conn{meta: meta, scheme: scheme, stats: stats}
	c.resp.resp = true
	return c
}

// Upgraded reports whether the connection left HTTP/1: after a 101
// Switching Protocols response, a 2xx response to CONNECT (a tunnel) or the
// HTTP/2 connection preface. Feed then ignores events: the caller hands the
// connection to another parser.
func (c *Conn) Upgraded() bool { return c.upgraded }

// Feed parses one event. emit receives each completed record and owns it:
// the Conn never touches a record again after emitting it.
func (c *Conn) Feed(ev *stream.Event, emit func(*record.Record)) {
	if c.upgraded || c.closed || ev == nil || ev.Len <= 0 {
		return
	}
	if ev.Dir != stream.Ingress && ev.Dir != stream.Egress {
		return
	}
	vis, tail := visible(ev)
	if ev.IDs != nil && (!c.idsRun || ev.Dir != stream.Egress) { // propagation
		c.ids, c.hasIDs = *ev.IDs, true
	}
	if ev.Dir == stream.Egress {
		c.idsRun = ev.IDs != nil && ev.IDsMore
	}
	if c.reqDir == 0 && !c.sniff(ev.Dir, vis) {
		c.hasIDs = false
		return
	}
	h := &c.resp
	if ev.Dir == c.reqDir {
		h = &c.req
	}
	off := 0
	for steps := 0; off < ev.Len && !c.upgraded && steps < maxSteps; steps++ {
		switch h.state {
		case stIdle:
			off = c.startMessage(h, ev, vis, tail, off, emit)
		case stHead:
			off = c.continueHead(h, ev, vis, emit)
		default:
			off = c.readBody(h, ev, vis, tail, off, emit)
		}
	}
	h.last = ev.UnixNano
	if c.req.state != stHead {
		// propagation: ids are for a request that starts in their
		// event; an unused one must not reach a later request.
		c.hasIDs = false
	}
}

// Close ends the connection: the process closed the socket at unixNano. A
// response read until close ends with its last transfer; client requests
// still waiting for a response are emitted with ErrorConnectionClosed;
// server requests never answered are counted as Incomplete.
func (c *Conn) Close(unixNano uint64, emit func(*record.Record)) {
	if c.closed {
		return
	}
	c.closed = true
	if c.upgraded {
		return
	}
	if c.req.state == stHead {
		c.finishCarry(&c.req, c.req.last, emit)
	}
	if c.resp.state == stHead {
		c.finishCarry(&c.resp, c.resp.last, emit)
	}
	if c.resp.state == stBody {
		c.endResponse(c.resp.last, emit)
	}
	c.resp.state, c.req.state = stIdle, stIdle
	c.req.rec = nil
	for {
		rec, ok := c.queue.pop()
		if !ok {
			break
		}
		if rec == nil || c.reqDir != stream.Egress {
			c.stats.Incomplete++
			continue
		}
		rec.ErrorType = ErrorConnectionClosed
		rec.EndUnixNano = max(unixNano, rec.StartUnixNano)
		c.deliver(rec, emit)
	}
}

// Flush emits the response in progress if its last transfer is at least
// idle before nowUnixNano; its end time is that last transfer's. The body's
// framing is still followed afterwards, so the rest of a slow response is
// not mistaken for new messages.
func (c *Conn) Flush(nowUnixNano uint64, idle time.Duration, emit func(*record.Record)) {
	h := &c.resp
	if c.upgraded || c.closed || h.state == stIdle {
		return
	}
	if nowUnixNano < h.last || nowUnixNano-h.last < uint64(max(idle, 0)) {
		return
	}
	if h.state == stHead {
		c.finishCarry(h, h.last, emit)
	}
	if h.state == stBody {
		c.endResponse(h.last, emit)
	}
}

// visible returns the bytes of ev that can be read: the copied leading bytes
// (or the whole transfer when Tail holds all of it) and the tail.
func visible(ev *stream.Event) (vis, tail []byte) {
	vis, tail = ev.Payload, ev.Tail
	if len(vis) > ev.Len {
		vis = vis[:ev.Len]
	}
	if len(tail) > ev.Len {
		tail = tail[len(tail)-ev.Len:]
	}
	if len(vis) == 0 && len(tail) == ev.Len {
		vis = tail
	}
	return vis, tail
}

// sniff infers the role from the first message: a request read means a
// server, a request written a client (and the reverse for responses). It
// reports whether the event should then be parsed.
func (c *Conn) sniff(dir stream.Direction, vis []byte) bool {
	b := skipCRLF(vis)
	switch {
	case len(b) == 0:
		if len(vis) == 0 {
			c.stats.Skipped++
		}
		return false
	case isPreface(b):
		c.reqDir = dir
		c.upgrade()
		return false
	}
	var hd head
	switch {
	case parseHead(b, false, &hd) != headNotHTTP:
		c.reqDir = dir
		return true
	case parseHead(b, true, &hd) != headNotHTTP:
		c.reqDir = stream.Ingress
		if dir == stream.Ingress {
			c.reqDir = stream.Egress
		}
		return true
	}
	c.stats.Skipped++
	return false
}

// startMessage reads a message start at off and returns the offset after
// what it consumed.
func (c *Conn) startMessage(h *half, ev *stream.Event, vis, tail []byte, off int, emit func(*record.Record)) int {
	// RFC 9112 §2.2: ignore empty lines before a message.
	for off < len(vis) && (vis[off] == '\r' || vis[off] == '\n') {
		off++
	}
	if off == ev.Len {
		return off
	}
	if off >= len(vis) {
		return c.invisibleStart(h, ev, tail, off, emit)
	}
	b := vis[off:]
	if !h.resp && isPreface(b) {
		c.upgrade()
		return ev.Len
	}
	cut := len(vis) < ev.Len // the transfer goes on in bytes not copied
	var hd head
	switch r := parseHead(b, h.resp, &hd); r {
	case headNotHTTP:
		c.stats.Skipped++
		return ev.Len
	case headComplete, headMalformed:
		if r == headMalformed {
			c.stats.ParseErrors++
		}
		c.begin(h, &hd, r, ev.UnixNano, ev.UnixNano, emit)
		return off + hd.end
	}
	if !cut {
		// The head goes on in the next transfer: keep it.
		h.hbuf = append(h.hbuf[:0], b...)
		h.state = stHead
		h.start = ev.UnixNano
		return ev.Len
	}
	if !acceptPartial(&hd, true) {
		c.stats.Skipped++
		return ev.Len
	}
	c.begin(h, &hd, headPartial, ev.UnixNano, ev.UnixNano, emit)
	return ev.Len
}

// invisibleStart handles a message start that falls in bytes we cannot see.
func (c *Conn) invisibleStart(h *half, ev *stream.Event, tail []byte, off int, emit func(*record.Record)) int {
	rest := ev.Len - off
	switch {
	case off == 0:
		// The kernel copies every transfer that starts like a message.
	case rest <= len(tail) && len(skipCRLF(tail[len(tail)-rest:])) == 0:
		return ev.Len // empty lines after a message
	case rest >= minMessage:
		c.blind(h, emit)
		return ev.Len
	}
	c.stats.Skipped++
	return ev.Len
}

// blind records that a message we cannot see follows the previous one in the
// same transfer (pipelining past the copy limit), so responses stay matched.
func (c *Conn) blind(h *half, emit func(*record.Record)) {
	if h.resp {
		if _, ok := c.queue.pop(); ok {
			c.stats.Incomplete++ // its response is unreadable, nil or not
		}
	} else {
		c.settleResponse(emit)
		c.push(nil)
	}
	h.setBody(fOpen, nil, false)
}

// continueHead appends the next transfer to a head carried from the previous
// one. Reached at offset 0 only.
func (c *Conn) continueHead(h *half, ev *stream.Event, vis []byte, emit func(*record.Record)) int {
	if len(vis) == 0 {
		// The rest of the head went by in bytes we cannot see.
		c.finishCarry(h, ev.UnixNano, emit)
		return ev.Len
	}
	base := len(h.hbuf)
	n := min(len(vis), maxHead-base)
	h.hbuf = append(h.hbuf, vis[:n]...)
	var hd head
	switch r := parseHead(h.hbuf, h.resp, &hd); r {
	case headNotHTTP:
		// Not a head after all: drop it and read this transfer afresh.
		c.stats.Skipped++
		h.hbuf = h.hbuf[:0]
		h.state = stIdle
		return 0
	case headComplete, headMalformed:
		if r == headMalformed {
			c.stats.ParseErrors++
		}
		c.begin(h, &hd, r, h.start, ev.UnixNano, emit)
		h.hbuf = h.hbuf[:0]
		return max(hd.end-base, 0)
	}
	if n == len(vis) && len(vis) == ev.Len && len(h.hbuf) < maxHead {
		return ev.Len // still going on
	}
	h.state = stIdle
	if acceptPartial(&hd, true) {
		c.begin(h, &hd, headPartial, h.start, ev.UnixNano, emit)
	} else {
		c.stats.Skipped++
	}
	h.hbuf = h.hbuf[:0]
	return ev.Len
}

// finishCarry ends a carried head with what was seen of it; now is the time
// of the transfer that carried its last bytes.
func (c *Conn) finishCarry(h *half, now uint64, emit func(*record.Record)) {
	h.state = stIdle
	var hd head
	if parseHead(h.hbuf, h.resp, &hd) == headPartial && acceptPartial(&hd, false) {
		c.begin(h, &hd, headPartial, h.start, now, emit)
	} else {
		c.stats.Skipped++
	}
	h.hbuf = h.hbuf[:0]
}

// acceptPartial says whether an unfinished head is enough to stand for a
// message: its start line was complete, or cut by the copy limit (not by the
// end of a transfer) after the target or status code.
func acceptPartial(hd *head, cut bool) bool {
	switch {
	case hd.lineDone:
		return true
	case !cut:
		return false
	case hd.resp:
		return hd.status != 0
	}
	return len(hd.target) > 0
}

// startsMessage reports whether a transfer received during an open-ended
// body starts a new message, using the same rules as startMessage.
func (c *Conn) startsMessage(h *half, ev *stream.Event, vis []byte) bool {
	if len(vis) == 0 {
		return false
	}
	if !h.resp && isPreface(vis) {
		return true
	}
	var hd head
	switch parseHead(vis, h.resp, &hd) {
	case headComplete, headMalformed:
		return true
	case headPartial:
		return acceptPartial(&hd, len(vis) < ev.Len)
	}
	return false
}

// readBody consumes body bytes from off.
func (c *Conn) readBody(h *half, ev *stream.Event, vis, tail []byte, off int, emit func(*record.Record)) int {
	switch h.framing {
	case fLength:
		n := min(int64(ev.Len-off), h.remain)
		h.remain -= n
		h.body += n
		off += int(n)
		if h.remain == 0 {
			c.endBody(h, ev.UnixNano, emit)
		}
		return off
	case fChunked:
		return c.readChunked(h, ev, vis, tail, off, emit)
	}
	// fOpen, fChunkTail
	if off == 0 && c.startsMessage(h, ev, vis) {
		c.endOpen(h, emit)
		return 0
	}
	h.body += int64(ev.Len - off)
	if h.framing == fChunkTail {
		h.pushTail(ev.Len-off, tail)
		if h.chunkEnded() {
			c.endBody(h, ev.UnixNano, emit)
		}
	}
	return ev.Len
}

// begin starts a message whose head is hd. start is the time of the
// transfer with its first bytes, now that of the one with the last head
// bytes.
func (c *Conn) begin(h *half, hd *head, r parseResult, start, now uint64, emit func(*record.Record)) {
	if h.resp {
		c.beginResponse(hd, r, now, emit)
	} else {
		c.beginRequest(hd, r, start, emit)
	}
}

func (c *Conn) beginRequest(hd *head, r parseResult, start uint64, emit func(*record.Record)) {
	c.settleResponse(emit)
	rec := record.New()
	*rec = record.Record{
		Kind:             record.KindClient,
		Conv:             httpconv.Conventions,
		PID:              c.meta.PID,
		StartUnixNano:    start,
		Scheme:           c.scheme,
		RequestBodySize:  -1,
		ResponseBodySize: -1,
		Local:            c.meta.Local,
		Peer:             c.meta.Peer,
		RPCStatusCode:    -1,
	}
	if c.reqDir == stream.Ingress {
		rec.Kind = record.KindServer
	}
	name, known := httpfield.MethodName(hd.method)
	rec.Method = name
	if !known {
		rec.MethodOriginal = string(hd.method)
	}
	switch hd.minor {
	case 0:
		rec.ProtoVersion = "1.0"
	case 1:
		rec.ProtoVersion = "1.1"
	}
	path, pathOK, auth, authOK := splitTarget(hd.target, hd.targetEnd, name == "CONNECT")
	if pathOK {
		rec.Path = httpfield.Intern(&c.lastPath, path)
	}
	// RFC 9112 §3.2.2: an absolute-form target's authority overrides Host.
	host, hasHost := hd.host, hd.hasHost
	if authOK {
		host, hasHost = auth, true
	}
	if hasHost {
		name, port := httpfield.SplitHostPort(host)
		rec.Host = httpfield.Intern(&c.lastHost, name)
		rec.HostPort = port
	}
	if hd.tpCount == 1 { // a repeated traceparent is invalid
		var tc httpfield.TraceContext
		if httpfield.ParseTraceparent(hd.tp, &tc) {
			rec.HasTraceParent = true
			rec.TraceID, rec.ParentSpanID, rec.TraceFlags = tc.TraceID, tc.ParentID, tc.Flags
		}
	}
	if c.hasIDs {
		// propagation: the kernel's ids win. They are what went
		// downstream (client) or what this thread's outgoing requests
		// descend from (server, continuing the same traceparent).
		c.hasIDs = false
		rec.SpanID, rec.TraceID, rec.TraceFlags = c.ids.SpanID, c.ids.TraceID, c.ids.Flags
		rec.ParentSpanID = c.ids.ParentID
		rec.HasTraceParent = c.ids.ParentID != [8]byte{}
	}

	h := &c.req
	switch {
	case r != headComplete:
		h.setBody(fOpen, rec, false)
	case hd.te && hd.chunked:
		h.setBody(fChunked, rec, true)
	case hd.te:
		// RFC 9112 §6.3: a request whose final coding is not chunked
		// cannot be framed.
		c.stats.ParseErrors++
		h.setBody(fOpen, rec, false)
	case hd.cl > 0:
		rec.RequestBodySize = hd.cl
		h.setBody(fLength, rec, false)
		h.remain = hd.cl
	default:
		rec.RequestBodySize = 0
		h.state = stIdle
	}
	c.push(rec)
}

func (c *Conn) beginResponse(hd *head, r parseResult, now uint64, emit func(*record.Record)) {
	if c.req.state == stHead && c.queue.len() == 0 {
		// The response can only answer the request whose head is being
		// carried: settle that head so the queue stays in order. With a
		// request already waiting, the carried head is a later request,
		// read before this response's write reached us (Go's net/http
		// reads the next request's first byte on another thread while the
		// handler writes), and must go on carrying.
		c.finishCarry(&c.req, c.req.last, emit)
	}
	h := &c.resp
	h.state = stIdle
	status := hd.status
	if status < 200 && status != 101 {
		return // interim response: the request waits for the final one
	}
	rec, ok := c.queue.pop()
	if !ok || rec == nil {
		c.stats.Incomplete++
	}
	var method string
	if rec != nil {
		rec.StatusCode = status
		method = rec.Method
	}
	switch {
	case status == 101, method == "CONNECT" && status/100 == 2:
		c.noBody(rec, now, emit)
		c.upgrade()
		return
	case method == "HEAD", status == 204, status == 304, r == headComplete && !hd.te && hd.cl == 0:
		c.noBody(rec, now, emit)
	case r != headComplete:
		h.setBody(fOpen, rec, false)
	case hd.te && hd.chunked:
		h.setBody(fChunked, rec, true)
	case hd.te:
		h.setBody(fOpen, rec, true) // RFC 9112 §6.3: read until close
	case hd.cl > 0:
		if rec != nil {
			rec.ResponseBodySize = hd.cl
		}
		h.setBody(fLength, rec, false)
		h.remain = hd.cl
	default:
		h.setBody(fOpen, rec, true) // read until close
	}
}

// noBody ends a response that has no body, at the transfer that ended its
// head.
func (c *Conn) noBody(rec *record.Record, now uint64, emit func(*record.Record)) {
	if rec != nil {
		rec.ResponseBodySize = 0
	}
	h := &c.resp
	h.rec, h.count = rec, false
	c.endResponse(now, emit)
	h.state = stIdle
}

// setBody starts a body in h.
func (h *half) setBody(f framing, rec *record.Record, count bool) {
	h.state = stBody
	h.framing = f
	h.rec = rec
	h.count = count
	h.remain = 0
	h.body = 0
	h.cs, h.csize, h.cdigit = csSize, 0, false
	h.nwin = 0
}

// settleResponse runs when a request starts: a response still being carried
// is settled first (queue order), and an open-ended response ends with its
// last transfer.
func (c *Conn) settleResponse(emit func(*record.Record)) {
	h := &c.resp
	if h.state == stHead {
		c.finishCarry(h, h.last, emit)
	}
	if h.state == stBody && (h.framing == fOpen || h.framing == fChunkTail) {
		c.endResponse(h.last, emit)
		h.state = stIdle
	}
}

// endOpen ends an open-ended message with the previous transfer.
func (c *Conn) endOpen(h *half, emit func(*record.Record)) {
	if h.resp {
		c.endResponse(h.last, emit)
	} else {
		h.rec = nil
	}
	h.state = stIdle
}

// endBody ends the message in h with the transfer at t.
func (c *Conn) endBody(h *half, t uint64, emit func(*record.Record)) {
	if h.resp {
		c.endResponse(t, emit)
	} else {
		if h.rec != nil && h.count {
			h.rec.RequestBodySize = h.body
		}
		h.rec = nil
	}
	h.state = stIdle
}

// endResponse emits the record of the response in progress, if any, ending
// at t. It leaves the framing state alone.
func (c *Conn) endResponse(t uint64, emit func(*record.Record)) {
	h := &c.resp
	rec := h.rec
	if rec == nil {
		return
	}
	h.rec = nil
	if h.count {
		rec.ResponseBodySize = h.body
	}
	// Wall-clock times come from a monotonic clock plus an offset that is
	// refreshed now and then: never let a correction make End < Start.
	rec.EndUnixNano = max(t, rec.StartUnixNano)
	c.lastEnd = rec.EndUnixNano
	c.deliver(rec, emit)
}

// InFlight returns the request that was in flight at at (Unix ns) and
// still is, or nil when that is not certain (protocol.InFlighter). A server
// answers its requests in order: the one being answered is the response in
// progress, else the oldest waiting. A client: its one request waiting for
// a response (none when it pipelines). Either was the one at at only if it
// had started by then and no response ended after at. The caller may set
// the record's ids; nothing else.
func (c *Conn) InFlight(at uint64) *record.Record {
	if c.reqDir == 0 || c.closed || c.upgraded || c.lastEnd > at {
		return nil
	}
	rec := c.queue.peek()
	if c.reqDir == stream.Egress && (c.queue.len() != 1 || c.resp.state == stBody) {
		return nil
	}
	if c.resp.state == stBody {
		rec = c.resp.rec
	}
	if rec == nil || rec.StartUnixNano > at {
		return nil
	}
	return rec
}

func (c *Conn) deliver(rec *record.Record, emit func(*record.Record)) {
	if c.req.rec == rec {
		c.req.rec = nil // emit owns it now
	}
	c.stats.Records++
	if emit != nil {
		emit(rec)
	}
}

// push queues a request, dropping the oldest when the pipeline is full.
func (c *Conn) push(rec *record.Record) {
	if c.queue.len() == maxPending {
		old, _ := c.queue.pop()
		if old != nil && c.req.rec == old {
			c.req.rec = nil
		}
		c.stats.Incomplete++
	}
	c.queue.push(rec)
}

// upgrade ends HTTP/1 parsing; requests still queued are counted lost.
func (c *Conn) upgrade() {
	c.upgraded = true
	for {
		if _, ok := c.queue.pop(); !ok {
			break
		}
		c.stats.Incomplete++
	}
	c.req.rec, c.resp.rec = nil, nil
	c.req.hbuf, c.resp.hbuf = nil, nil
}

func skipCRLF(b []byte) []byte {
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}
