package http2

import (
	"slices"
	"time"

	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/httpfield"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Stats counts what the parsers of many connections did. It is not safe for
// concurrent use: share one Stats only among Conns fed by one goroutine.
// Stats are HTTP/2's counts (protocol.Stats): Records are the requests
// emitted; Truncated counts header blocks seen only in part (bytes of the
// block lay beyond the copied bytes of a transfer, or past maxBlock: their
// direction's HPACK table is partly unknown afterwards); Desync counts losses
// of frame boundaries in one direction (a frame header beyond the copied
// bytes of a transfer, or bytes that broke the framing rules: frames are
// skipped until a transfer starts with a plausible frame header);
// ParseErrors counts header blocks that were not valid HPACK or that
// contradicted the decoder state, and header blocks interrupted by another
// frame; Incomplete counts exchanges seen only in part and not emitted:
// responses whose request we did not see, server requests never answered,
// streams whose end may have been lost in a desync, streams dropped at the
// maxStreams bound or refused by a server's GOAWAY.
type Stats = protocol.Stats

// ErrorType values of records whose exchange did not end normally. They are
// component-specific error.type values (semconv allows a low-cardinality
// identifier when no status code speaks for the failure).
const (
	// ErrorConnectionClosed: the connection closed with the exchange in
	// progress.
	ErrorConnectionClosed = "connection_closed"
	// ErrorRSTStream: the stream was reset (RST_STREAM) before the
	// response ended.
	ErrorRSTStream = "rst_stream"
	// ErrorGoAway: the server's GOAWAY said it would not process the
	// stream (client side only).
	ErrorGoAway = "goaway"
)

const (
	// maxStreams bounds the streams tracked per connection; past it the
	// least recently active one is dropped.
	maxStreams = 1024
	// maxBlock bounds a header block buffered across frames or transfers.
	maxBlock = 16 << 10
	// maxControl bounds the payload bytes kept of a control frame
	// (RST_STREAM, GOAWAY, SETTINGS: ten parameters).
	maxControl = 64
	// gRPC status codes used when the status comes from the transport.
	grpcCancelled         = 1
	grpcResourceExhausted = 8
	grpcPermissionDenied  = 7
	grpcInternal          = 13
	grpcUnavailable       = 14
)

// side is the parser state of one direction.
type side struct {
	dir     stream.Direction
	started bool // a transfer in this direction was seen
	synced  bool // frame boundaries are known
	// probation: synchronised on a guess, no header block decoded since; a
	// block that does not decode means the guess was wrong.
	probation bool
	// maxFrame is the largest frame the peer accepts from this side
	// (SETTINGS_MAX_FRAME_SIZE); 0 until known.
	maxFrame uint32

	// The frame in progress.
	inFrame bool
	fh      frameHeader
	pos     uint32 // payload bytes consumed
	remain  uint32 // payload bytes still to come
	start   uint64 // time of the transfer with the frame's first byte
	hdr     [frameHeaderLen]byte
	nhdr    int // frame header bytes carried from the previous transfer
	padLen  int // DATA, HEADERS, PUSH_PROMISE: pad length, -1 unknown
	ctl     [maxControl]byte
	nctl    int // control payload bytes seen

	blk headerBlock
	tbl table
}

// headerBlock is a header block being gathered: a HEADERS or PUSH_PROMISE
// frame and its CONTINUATION frames.
type headerBlock struct {
	active    bool // waiting for END_HEADERS
	stream    uint32
	push      bool
	endStream bool
	start     uint64 // time of the transfer with the HEADERS frame's first byte
	buf       []byte
	inPlace   []byte // the whole block, seen in one transfer: not copied
	cut       bool   // bytes after buf were not seen
}

// h2stream is an exchange in progress.
type h2stream struct {
	id       uint32
	rec      *record.Record
	last     uint64 // time of the stream's last frame
	reqBody  int64  // DATA bytes so far, -1 when frames may have been missed
	respBody int64
	respSeen bool // response HEADERS were seen
	reqDone  bool // the request's END_STREAM was seen
	grpc     bool
	// tainted: frames of the stream may have been lost in a desync, so
	// its end may never be seen.
	tainted bool
}

// Conn parses one HTTP/2 connection. Feed it every event of the connection
// in order, call Flush now and then, and Close it when the process closes the
// socket. It is not safe for concurrent use.
//
// Records go to the emit function given to Feed, Close and Flush, in the
// order their exchanges end. emit owns each record: the Conn never reads or
// writes it after emitting it.
type Conn struct {
	meta  stream.Meta
	stats *Stats

	// reqDir is the direction requests travel: Ingress for a server,
	// Egress for a client; 0 until known.
	reqDir  stream.Direction
	sides   [2]side
	preface bool // the connection preface was seen: we saw its start
	push    bool // a PUSH_PROMISE was seen
	closed  bool

	streams map[uint32]*h2stream
	free    []*h2stream
	ids     []uint32 // scratch for ordered walks over streams

	fields fieldSet
	dec    decoder

	// ids (stream.Event.IDs) of the egress transfer being fed, which can
	// come as several events (IDsMore): the parent a client request
	// starting in it gets (in process: a Go handler's call), when exactly
	// one request starts in the whole transfer. idsOpened counts the
	// streams it opened, idsLast (with its id) the latest of them; opened
	// and last do the same for the event being fed.
	spanIDs   stream.SpanIDs
	hasIDs    bool
	idsOpened int
	idsLast   *h2stream
	idsLastID uint32
	opened    int
	last      *h2stream
	// For InFlight: the latest end of a stream (Unix ns); the most streams
	// open at once so far; whether a request may have gone unseen (frames
	// lost or cut).
	lastEnd uint64
	maxOpen int
	lossy   bool
}

// NewConn returns the parser of one connection. stats may be shared by the
// Conns of one goroutine; nil discards the counts.
func NewConn(meta stream.Meta, stats *Stats) *Conn {
	if stats == nil {
		stats = new(Stats)
	}
	c := &Conn{meta: meta, stats: stats, streams: make(map[uint32]*h2stream)}
	for i := range c.sides {
		s := &c.sides[i]
		s.dir = stream.Direction(i + 1)
		s.tbl = newTable(false)
	}
	c.fields.reset()
	return c
}

func (c *Conn) side(d stream.Direction) *side { return &c.sides[d-1] }

// SetRoute gives the request of stream id the route the server process
// itself matched (Go net/http handlers). A later call wins: a router that
// looks up again (gorilla/mux subrouters) tells the final route last.
func (c *Conn) SetRoute(id uint32, route string) {
	if st := c.streams[id]; st != nil && st.rec != nil && st.rec.Kind == record.KindServer {
		st.rec.Route = route
	}
}

func (c *Conn) other(s *side) *side { return &c.sides[2-s.dir] }

// Feed parses one event. emit receives each completed record and owns it.
func (c *Conn) Feed(ev *stream.Event, emit func(*record.Record)) {
	if c.closed || ev == nil || ev.Len <= 0 || (ev.Dir != stream.Ingress && ev.Dir != stream.Egress) {
		return
	}
	vis := ev.Payload
	if len(vis) > ev.Len {
		vis = vis[:ev.Len]
	}
	s := c.side(ev.Dir)
	c.opened, c.last = 0, nil
	if ev.Dir == stream.Egress {
		c.beginIDs(ev)
	}
	c.read(s, ev, vis, emit)
	s.started = true
	if ev.Dir == stream.Egress && c.hasIDs {
		c.idsOpened += c.opened
		if c.last != nil {
			c.idsLast, c.idsLastID = c.last, c.last.id
		}
		if !ev.IDsMore {
			c.endIDs(ev)
		}
	}
	c.last = nil
}

// beginIDs: the egress event ev starts a transfer with ids, continues the
// one being fed, or carries none (then a transfer whose last events were
// lost ends unused).
func (c *Conn) beginIDs(ev *stream.Event) {
	switch {
	case ev.IDs == nil:
		c.hasIDs, c.idsLast = false, nil
	case !c.hasIDs:
		c.spanIDs, c.hasIDs = *ev.IDs, true
		c.idsOpened, c.idsLast = 0, nil
	}
}

// endIDs: the transfer with ids ended with ev. The one client request that
// started in it, still in progress, takes them as its parent, chosen
// before it was written. When more than one started, or it already ended
// (its response was read between the transfer's events), which request
// they were for is not certain: ev says they were refused. A transfer that
// started none (the preface, SETTINGS, WINDOW_UPDATE) leaves them unused.
func (c *Conn) endIDs(ev *stream.Event) {
	st, id, n := c.idsLast, c.idsLastID, c.idsOpened
	c.hasIDs, c.idsLast, c.idsOpened = false, nil, 0
	if n == 0 {
		return
	}
	if n > 1 || c.reqDir != stream.Egress || st == nil || st.id != id || c.streams[id] != st || st.rec == nil {
		ev.IDsRefused = true
		return
	}
	rec := st.rec
	ids := &c.spanIDs
	rec.SpanID, rec.TraceID, rec.TraceFlags = ids.SpanID, ids.TraceID, ids.Flags
	rec.ParentSpanID = ids.ParentID
	rec.HasTraceParent = ids.ParentID != [8]byte{}
}

// Close ends the connection: the process closed the socket at unixNano.
// Exchanges in progress whose response had begun, and client requests
// without a response, are emitted with ErrorConnectionClosed; server
// requests never answered and exchanges whose frames may have been lost are
// counted as Incomplete.
func (c *Conn) Close(unixNano uint64, emit func(*record.Record)) {
	if c.closed {
		return
	}
	c.closed = true
	for _, id := range c.sortedIDs() {
		st := c.streams[id]
		switch {
		case st.tainted, !st.respSeen && c.reqDir == stream.Ingress:
			c.drop(st)
		default:
			c.finish(st, unixNano, ErrorConnectionClosed, emit)
		}
	}
	for i := range c.sides {
		c.sides[i].blk = headerBlock{}
		c.sides[i].tbl = table{}
	}
}

// Flush forgets exchanges whose frames may have been lost in a desync and
// that saw no frame for idle before nowUnixNano: their end is most likely
// lost too, and guessing it would invent a duration. They are counted as
// Incomplete. Exchanges followed in sync are left alone however long they
// last: HTTP/2 marks every end.
func (c *Conn) Flush(nowUnixNano uint64, idle time.Duration, emit func(*record.Record)) {
	if c.closed {
		return
	}
	for _, st := range c.streams {
		if st.tainted && nowUnixNano >= st.last && nowUnixNano-st.last >= uint64(max(idle, 0)) {
			c.drop(st)
		}
	}
}

// read follows the frames of one transfer.
func (c *Conn) read(s *side, ev *stream.Event, vis []byte, emit func(*record.Record)) {
	off := 0
	if !s.synced {
		if off = c.sync(s, ev, vis); off < 0 {
			return
		}
	}
	for off < ev.Len && s.synced { // acting on a frame may find we lost sync
		if !s.inFrame {
			if off >= len(vis) {
				c.desync(s) // the next frame header was not copied
				return
			}
			if s.nhdr == 0 {
				s.start = ev.UnixNano
			}
			k := copy(s.hdr[s.nhdr:], vis[off:])
			s.nhdr += k
			off += k
			if s.nhdr < frameHeaderLen {
				if off < ev.Len {
					c.desync(s)
				}
				return // the header continues in the next transfer
			}
			s.nhdr = 0
			if !c.beginFrame(s, parseFrameHeader(s.hdr[:])) {
				c.desync(s)
				return
			}
			if s.remain == 0 {
				c.endFrame(s, ev.UnixNano, emit)
			}
			continue
		}
		n := min(int(s.remain), ev.Len-off)
		var seen []byte
		if off < len(vis) {
			seen = vis[off:min(off+n, len(vis))]
		}
		c.payload(s, seen, n)
		off += n
		s.pos += uint32(n)
		s.remain -= uint32(n)
		if s.remain == 0 {
			c.endFrame(s, ev.UnixNano, emit)
		}
	}
}

// sync tries to find frame boundaries at the start of a transfer; it returns
// the offset of the first frame, or -1 to skip the transfer.
func (c *Conn) sync(s *side, ev *stream.Event, vis []byte) int {
	if len(vis) >= len(preface) && string(vis[:len(preface)]) == preface {
		// The connection starts here: both tables are empty, and the
		// sender is the client.
		c.preface = true
		c.setRole(s.dir)
		for i := range c.sides {
			if m := &c.sides[i]; m.maxFrame == 0 {
				m.maxFrame = defaultMaxFrame
			}
		}
		s.tbl = newTable(true)
		s.synced = true
		return len(preface)
	}
	if !c.plausibility(s).chain(vis, ev.Len) {
		return -1
	}
	h := parseFrameHeader(vis)
	if !s.started && (c.preface || h.typ == frameSettings && h.flags&flagAck == 0) {
		// The first frame of a direction at the start of the connection
		// (its first frame is a SETTINGS): the table is empty.
		s.tbl = newTable(true)
	} else {
		s.probation = true
	}
	s.synced = true
	return 0
}

func (c *Conn) plausibility(s *side) plausibility {
	p := plausibility{maxLen: s.maxFrame, push: c.push}
	if p.maxLen == 0 {
		p.maxLen = maxFrameLen
	}
	if c.reqDir != 0 {
		p.client = s.dir == c.reqDir
	}
	return p
}

// desync records that frame boundaries were lost in s: everything up to
// the next plausible transfer start is skipped, and so are the HPACK table
// updates it holds.
func (c *Conn) desync(s *side) {
	c.stats.Desync++
	c.lossy = true
	s.synced, s.inFrame, s.nhdr = false, false, 0
	s.blk.active, s.blk.inPlace = false, nil
	s.tbl.lose()
	for _, st := range c.streams {
		st.tainted = true
		if s.dir == c.reqDir {
			st.reqBody = -1
		} else {
			st.respBody = -1
		}
	}
}

// beginFrame starts frame h; it returns false when h cannot be a frame
// header (we lost the boundaries).
func (c *Conn) beginFrame(s *side, h frameHeader) bool {
	if !wellFormed(h) {
		return false
	}
	b := &s.blk
	if b.active && (h.typ != frameContinuation || h.streamID != b.stream) {
		// RFC 9113 §6.10: nothing may interrupt a header block.
		c.stats.ParseErrors++
		b.active, b.inPlace = false, nil
		s.tbl.lose()
	}
	s.inFrame = true
	s.fh, s.pos, s.remain = h, 0, h.length
	s.padLen, s.nctl = 0, 0
	if h.flags&flagPadded != 0 && (h.typ == frameData || h.typ == frameHeaders || h.typ == framePushPromise) {
		s.padLen = -1 // read from the first payload byte
	}
	switch h.typ {
	case frameHeaders, framePushPromise:
		*b = headerBlock{active: true, stream: h.streamID, push: h.typ == framePushPromise,
			endStream: h.typ == frameHeaders && h.flags&flagEndStream != 0, start: s.start, buf: b.buf[:0]}
	case frameContinuation:
		if !b.active {
			// Its HEADERS went by unseen or broken: the table is unknown.
			c.stats.ParseErrors++
			s.tbl.lose()
		}
	}
	return true
}

// payload consumes n payload bytes of the current frame, of which seen (a
// prefix) were copied.
func (c *Conn) payload(s *side, seen []byte, n int) {
	h := &s.fh
	if s.pos == 0 && s.padLen == -1 && len(seen) > 0 {
		s.padLen = int(seen[0])
	}
	switch h.typ {
	case frameHeaders, framePushPromise, frameContinuation:
		c.blockPayload(s, seen, n)
	case frameRSTStream, frameGoAway, frameSettings:
		if int(s.pos) == s.nctl && s.nctl < maxControl {
			s.nctl += copy(s.ctl[s.nctl:], seen) // a prefix: stops at the first unseen byte
		}
	}
}

// blockPayload gathers the header block fragment of a HEADERS,
// PUSH_PROMISE or CONTINUATION payload.
func (c *Conn) blockPayload(s *side, seen []byte, n int) {
	b := &s.blk
	h := &s.fh
	if !b.active || b.cut {
		return
	}
	skip := 0
	if h.flags&flagPadded != 0 && h.typ != frameContinuation {
		skip++
	}
	switch {
	case h.typ == frameHeaders && h.flags&flagPriority != 0:
		skip += 5
	case h.typ == framePushPromise:
		skip += 4
	}
	if s.padLen < 0 {
		b.cut = true // the pad length went by unseen
		return
	}
	end := int(h.length) - s.padLen
	if end < skip {
		c.stats.ParseErrors++ // padding longer than the payload
		b.cut = true
		return
	}
	pos := int(s.pos)
	from, to := max(pos, skip), min(pos+n, end)
	if from >= to {
		return
	}
	vto := min(to, pos+len(seen))
	if pos == 0 && n == int(h.length) && vto == to && h.flags&flagEndHeaders != 0 && len(b.buf) == 0 && b.inPlace == nil {
		// The whole frame, and so the whole block, is in this transfer:
		// decode it in place before the transfer's bytes go away.
		b.inPlace = seen[from:to]
		return
	}
	if b.inPlace != nil { // cannot happen: an in-place block is whole
		return
	}
	if vto > from {
		k := min(vto-from, maxBlock-len(b.buf))
		b.buf = append(b.buf, seen[from-pos:from-pos+k]...)
		if k < vto-from {
			b.cut = true
			return
		}
	}
	if vto < to {
		b.cut = true
	}
}

// endFrame acts on a frame whose payload has all gone by, in the transfer
// at now.
func (c *Conn) endFrame(s *side, now uint64, emit func(*record.Record)) {
	s.inFrame = false
	h := &s.fh
	switch h.typ {
	case frameData:
		c.data(s, h, now, emit)
	case frameHeaders, framePushPromise, frameContinuation:
		if h.flags&flagEndHeaders != 0 && s.blk.active {
			c.endBlock(s, now, emit)
		}
		if h.typ == framePushPromise {
			c.push = true
			c.setRole(c.other(s).dir)
		}
	case frameRSTStream:
		if st := c.streams[h.streamID]; st != nil {
			code, known := uint32(0), s.nctl >= 4
			if known {
				code = be32(s.ctl[:4])
			}
			c.reset(st, s.dir, code, known, now, emit)
		}
	case frameSettings:
		if h.flags&flagAck == 0 {
			c.settings(s)
		}
	case frameGoAway:
		if s.nctl >= 4 {
			c.goAway(s, be32(s.ctl[:4])&(1<<31-1), now, emit)
		}
	}
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// settings reads the SETTINGS parameters we use: ENABLE_PUSH set to 1 only
// comes from a client (RFC 9113 §6.5.2: a server may send 0), MAX_FRAME_SIZE
// bounds the frames of the other side.
func (c *Conn) settings(s *side) {
	for i := 0; i+6 <= s.nctl; i += 6 {
		id := uint16(s.ctl[i])<<8 | uint16(s.ctl[i+1])
		v := be32(s.ctl[i+2 : i+6])
		switch id {
		case settingEnablePush:
			if v == 1 {
				c.setRole(s.dir)
			}
		case settingMaxFrameSize:
			if v >= defaultMaxFrame && v <= maxFrameLen {
				c.other(s).maxFrame = v
			}
		}
	}
}

// setRole fixes the direction requests travel, once.
func (c *Conn) setRole(reqDir stream.Direction) {
	if c.reqDir == 0 {
		c.reqDir = reqDir
	}
}

// data accounts a DATA frame.
func (c *Conn) data(s *side, h *frameHeader, now uint64, emit func(*record.Record)) {
	if c.reqDir == 0 {
		return
	}
	st := c.streams[h.streamID]
	if st == nil {
		if s.dir != c.reqDir {
			c.orphan(h.streamID, h.flags&flagEndStream != 0)
		}
		return
	}
	st.last = now
	body := &st.respBody
	if s.dir == c.reqDir {
		body = &st.reqBody
	}
	switch {
	case *body < 0:
	case s.padLen < 0:
		*body = -1 // the pad length went by unseen
	case h.flags&flagPadded != 0:
		*body += max(int64(h.length)-1-int64(s.padLen), 0)
	default:
		*body += int64(h.length)
	}
	if h.flags&flagEndStream == 0 {
		return
	}
	if s.dir == c.reqDir {
		st.reqDone = true
	} else {
		c.finish(st, now, "", emit)
	}
}

// endBlock decodes a complete header block and acts on it.
func (c *Conn) endBlock(s *side, now uint64, emit func(*record.Record)) {
	b := &s.blk
	b.active = false
	p := b.inPlace
	if p == nil {
		p = b.buf
	}
	f := &c.fields
	f.reset()
	c.dec.contradictions = 0
	res := c.dec.decode(&s.tbl, p, f)
	bad := res == decodeMalformed || res == decodeCut && !b.cut
	b.inPlace = nil
	if bad && s.probation {
		// Garbage taken for frames when we resynchronised: not a peer's
		// error, a wrong guess.
		c.desync(s)
		return
	}
	s.probation = false
	c.stats.ParseErrors += uint64(c.dec.contradictions)
	switch {
	case b.cut:
		c.stats.Truncated++
		c.lossy = true
		s.tbl.lose()
	case bad:
		c.stats.ParseErrors++
		s.tbl.lose()
	}
	if cap(b.buf) > maxBlock {
		b.buf = nil
	}
	if b.push {
		return // the promised request: kept for the HPACK state only
	}
	c.headers(s, b.stream, b.endStream, b.start, now, f, emit)
}

// headers acts on a decoded HEADERS block of stream id.
func (c *Conn) headers(s *side, id uint32, endStream bool, start, now uint64, f *fieldSet, emit func(*record.Record)) {
	if c.reqDir == 0 {
		switch {
		case f.request:
			c.setRole(s.dir)
		case f.response:
			c.setRole(c.other(s).dir)
		default:
			return // cannot tell a request from a response
		}
	}
	st := c.streams[id]
	if s.dir == c.reqDir {
		if st != nil && !f.request {
			st.last = now // trailers
			st.reqDone = st.reqDone || endStream
			return
		}
		if id&1 == 0 || f.response && !f.request {
			return // requests come on client-initiated (odd) streams
		}
		if st != nil {
			c.drop(st) // a stream id is used once: its end was lost
		}
		st = c.open(id, start, now, f)
		st.reqDone = endStream
		return
	}
	if st == nil {
		c.orphan(id, endStream)
		return
	}
	st.last = now
	if f.status >= 100 && f.status < 200 && !endStream {
		return // interim response
	}
	rec := st.rec
	if rec.StatusCode == 0 && f.status >= 200 {
		rec.StatusCode = f.status
	}
	st.respSeen = true
	st.grpc = st.grpc || f.grpcContent
	if f.grpcStatus >= 0 {
		st.grpc = true
		rec.RPCStatusCode = f.grpcStatus
	}
	if endStream {
		c.finish(st, now, "", emit)
	}
}

// orphan counts a response whose request we did not see, once, when it
// ends. Pushed (even) streams are not reported at all.
func (c *Conn) orphan(id uint32, end bool) {
	if end && id&1 == 1 {
		c.stats.Incomplete++
	}
}

// open starts tracking a request.
func (c *Conn) open(id uint32, start, now uint64, f *fieldSet) *h2stream {
	if len(c.streams) >= maxStreams {
		c.evict()
	}
	rec := record.New()
	*rec = record.Record{
		Kind:             record.KindClient,
		Conv:             httpconv.Conventions,
		PID:              c.meta.PID,
		StartUnixNano:    start,
		Method:           httpfield.MethodOther,
		Scheme:           c.meta.Scheme,
		ProtoVersion:     "2",
		StreamID:         id,
		RequestBodySize:  -1,
		ResponseBodySize: -1,
		Local:            c.meta.Local,
		Peer:             c.meta.Peer,
		RPCStatusCode:    -1,
	}
	if c.reqDir == stream.Ingress {
		rec.Kind = record.KindServer
	}
	if f.hasMethod {
		rec.Method, rec.MethodOriginal = f.method, f.methodOrig
	}
	if f.hasPath {
		rec.Path = f.path
	}
	if f.hasAuthority || f.hasHost {
		rec.Host, rec.HostPort = f.host, f.port
	}
	if rec.Scheme == "" {
		rec.Scheme = f.scheme
		if rec.Scheme == "" {
			rec.Scheme = "http"
		}
	}
	if f.tpCount == 1 && f.tpOK { // a repeated traceparent is invalid
		rec.HasTraceParent = true
		rec.TraceID, rec.ParentSpanID, rec.TraceFlags = f.tp.TraceID, f.tp.ParentID, f.tp.Flags
	}
	var st *h2stream
	if n := len(c.free); n > 0 {
		st, c.free = c.free[n-1], c.free[:n-1]
	} else {
		st = new(h2stream)
	}
	*st = h2stream{id: id, rec: rec, last: now, grpc: f.grpcContent}
	c.streams[id] = st
	c.opened++
	c.last = st
	c.maxOpen = max(c.maxOpen, len(c.streams))
	return st
}

// evict drops the least recently active stream.
func (c *Conn) evict() {
	var old *h2stream
	for _, st := range c.streams {
		if old == nil || st.last < old.last || st.last == old.last && st.id < old.id {
			old = st
		}
	}
	c.drop(old)
}

// reset ends a stream reset by RST_STREAM sent in direction dir.
func (c *Conn) reset(st *h2stream, dir stream.Direction, code uint32, known bool, now uint64, emit func(*record.Record)) {
	if !st.grpc {
		c.finish(st, now, ErrorRSTStream, emit)
		return
	}
	// gRPC (PROTOCOL-HTTP2.md, "Errors") says which status the library
	// that receives a RST_STREAM reports; the sender's own status is its
	// application's business, which we cannot see.
	if st.rec.RPCStatusCode < 0 && known && dir == stream.Ingress {
		st.rec.RPCStatusCode = grpcStatusForRST(code)
	}
	errType := ""
	if st.rec.RPCStatusCode < 0 {
		errType = ErrorRSTStream
	}
	c.finish(st, now, errType, emit)
}

// grpcStatusForRST maps an HTTP/2 error code to the gRPC status its receiver
// reports; -1 where gRPC defines none.
func grpcStatusForRST(code uint32) int {
	switch code {
	case 0x0, 0x1, 0x2, 0x3, 0x4, 0x6, 0x9, 0xa: // NO_ERROR … CONNECT_ERROR
		return grpcInternal
	case 0x7: // REFUSED_STREAM
		return grpcUnavailable
	case 0x8: // CANCEL
		return grpcCancelled
	case 0xb: // ENHANCE_YOUR_CALM
		return grpcResourceExhausted
	case 0xc: // INADEQUATE_SECURITY
		return grpcPermissionDenied
	}
	return -1
}

// goAway ends the streams a server's GOAWAY refuses: those above last.
func (c *Conn) goAway(s *side, last uint32, now uint64, emit func(*record.Record)) {
	if c.reqDir == 0 || s.dir == c.reqDir {
		return // only a server's GOAWAY refuses requests
	}
	for _, id := range c.sortedIDs() {
		if id <= last {
			continue
		}
		st := c.streams[id]
		if c.reqDir == stream.Ingress {
			c.drop(st) // the server never processed it
			continue
		}
		errType := ErrorGoAway
		if st.grpc && st.rec.RPCStatusCode < 0 {
			// PROTOCOL-HTTP2.md: such streams are UNAVAILABLE.
			st.rec.RPCStatusCode, errType = grpcUnavailable, ""
		}
		c.finish(st, now, errType, emit)
	}
}

// finish emits the record of st, ending at end.
func (c *Conn) finish(st *h2stream, end uint64, errType string, emit func(*record.Record)) {
	rec := st.rec
	// Wall-clock times come from a monotonic clock plus an offset that is
	// refreshed now and then: never let a correction make End < Start.
	rec.EndUnixNano = max(end, rec.StartUnixNano)
	rec.RequestBodySize = st.reqBody
	if st.respSeen {
		rec.ResponseBodySize = st.respBody
	}
	if errType != "" {
		rec.ErrorType = errType
	}
	if st.grpc {
		rec.Conv = GRPC
		if len(rec.Path) > 1 && rec.Path[0] == '/' {
			rec.RPCMethod = rec.Path[1:]
		}
	}
	c.lastEnd = max(c.lastEnd, rec.EndUnixNano)
	c.forget(st)
	c.stats.Records++
	if emit != nil {
		emit(rec)
	}
}

// drop forgets st without a record.
func (c *Conn) drop(st *h2stream) {
	c.stats.Incomplete++
	c.lastEnd = max(c.lastEnd, st.last)
	c.forget(st)
}

// InFlight returns the server request that was being answered at at (Unix
// ns) and still is, or nil when that is not certain. Which stream a handler
// serves is not in what the kernel sees: certain only on a connection that
// never had two streams open at once and never lost a frame (a request
// whose HEADERS went unseen could be the one), with its one stream started
// by at and no stream ended since. Clients that send one request at a time
// are linked; concurrent streams leave the handlers' calls roots.
func (c *Conn) InFlight(at uint64) *record.Record {
	if c.reqDir != stream.Ingress || c.closed || c.lossy || c.maxOpen > 1 || c.lastEnd > at {
		return nil
	}
	for _, st := range c.streams {
		if !st.tainted && st.rec != nil && st.rec.StartUnixNano <= at {
			return st.rec
		}
	}
	return nil
}

func (c *Conn) forget(st *h2stream) {
	delete(c.streams, st.id)
	*st = h2stream{}
	c.free = append(c.free, st)
}

// sortedIDs returns the tracked stream ids in order, in scratch space.
func (c *Conn) sortedIDs() []uint32 {
	c.ids = c.ids[:0]
	for id := range c.streams {
		c.ids = append(c.ids, id)
	}
	slices.Sort(c.ids)
	return c.ids
}
