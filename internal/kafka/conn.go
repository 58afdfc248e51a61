package kafka

import (
	"encoding/binary"
	"time"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
	"github.com/ebpfred/ebpfred/internal/wire"
)

// Bounds of what one connection keeps.
const (
	// maxPending: requests sent and not yet answered (a client keeps a
	// handful in flight per connection: max.in.flight.requests).
	maxPending = 1024
	// maxHead: bytes of a message read whole (its header and the head of
	// its body: topic, first partition) when they come in several
	// transfers. Within one transfer, every byte the kernel copied is read.
	maxHead = wire.MaxCarry
	// maxResync: transfers written while the requests' framing is lost
	// that begin no request, after which the connection is given back to
	// detection.
	maxResync = 64
)

// pending is a request written and not yet answered.
type pending struct {
	corr         int32
	key, version int16
	start        uint64
	topic        string
}

// reported: Produce and Fetch become records; other requests are only
// paired.
func (p *pending) reported() bool { return p.key == apiProduce || p.key == apiFetch }

// half follows the messages of one direction.
type half struct {
	cur wire.Cursor
	// sized: the current message's size is read; the cursor is at its
	// first byte after the size.
	sized bool
	size  int
	// start: the time of the transfer the current message began in.
	start uint64
	// inBody: the current message's head was read; the cursor is passing
	// over the rest of it, past this transfer.
	inBody bool
	// lost: the framing is lost until a transfer begins with a message
	// start of the right shape. tentative: a 4-byte transfer was taken
	// for a response's size; the correlation id after it decides.
	lost, tentative bool
}

// Conn follows one connection of a Kafka client: its requests are
// egress, the broker's responses ingress.
type Conn struct {
	meta stream.Meta
	st   *protocol.Stats

	out, in half
	queue   []pending // oldest first
	// resp: the request the response being read answers (valid while
	// in.inBody), with the error code its head carried.
	resp     pending
	respOK   bool
	respCode int16

	topics map[string]string // topic names seen, so that a record's costs no allocation
	resync int
	gaveUp bool
	closed bool
	emitFn func(*record.Record)
}

// NewConn returns the parser of one client connection.
func NewConn(meta stream.Meta, st *protocol.Stats, _ *protocol.Options) *Conn {
	return &Conn{meta: meta, st: st, in: half{lost: true}}
}

// Upgraded: a connection whose writes stopped being requests where one
// must begin is given back to detection.
func (c *Conn) Upgraded() bool { return c.gaveUp }

// Feed parses one transfer.
func (c *Conn) Feed(ev *stream.Event, emit func(*record.Record)) {
	if c.closed || c.gaveUp {
		return
	}
	c.emitFn = emit
	defer func() { c.emitFn = nil }()
	if ev.Dir == stream.Egress {
		c.feed(&c.out, ev)
	} else {
		c.feed(&c.in, ev)
	}
}

func (c *Conn) feed(h *half, ev *stream.Event) {
	out := h == &c.out
	h.cur.Begin(ev)
	if h.inBody {
		if h.cur.Skipping() > 0 {
			return
		}
		h.inBody = false
		c.ended(h, ev.UnixNano)
	}
	if h.lost {
		if !c.resyncAt(h, ev, out) {
			h.cur.Reset()
			c.st.Skipped++
			if out {
				if c.resync++; c.resync > maxResync {
					c.giveUp()
				}
			}
			return
		}
		h.lost, c.resync = false, 0
	}
	for !h.cur.AtEnd() && !h.lost {
		if !h.sized {
			if h.start == 0 {
				h.start = ev.UnixNano
			}
			b, s := h.cur.Take(4)
			switch s {
			case wire.More:
				return
			case wire.Lost, wire.Bad:
				c.lose(h)
				return
			}
			size := int(int32(binary.BigEndian.Uint32(b)))
			if size < 4 || size > maxMessage || (out && size < minRequest) {
				c.st.ParseErrors++
				c.lose(h)
				return
			}
			h.size, h.sized = size, true
		}
		head, more := c.head(h)
		if more {
			return
		}
		if out {
			c.request(head, h.size, h.start, ev.UnixNano)
		} else {
			c.response(head)
		}
		if h.lost {
			return
		}
		h.cur.Skip(int64(h.size))
		h.sized, h.size = false, 0
		if h.cur.Skipping() > 0 {
			h.inBody = true
			return
		}
		c.ended(h, ev.UnixNano)
	}
}

// head returns the known bytes of the current message from the cursor on
// (at most its size), without moving the cursor. more: they go on in the
// next transfer and fewer than maxHead are known; they are kept for it.
func (c *Conn) head(h *half) (b []byte, more bool) {
	want := min(h.size, maxHead)
	k := h.cur.Known()
	if len(k) >= want {
		return k[:min(len(k), h.size)], false
	}
	// Take keeps k for the next transfer when k reaches this one's end;
	// when it does not (the kernel's copy ended first), k is all there is.
	if _, s := h.cur.Take(want); s == wire.More {
		return nil, true
	}
	return k, false
}

// ended: the current message of h ended at now.
func (c *Conn) ended(h *half, now uint64) {
	h.start = 0
	if h == &c.in && c.respOK {
		c.respOK = false
		c.emit(&c.resp, now, errorName(c.respCode), "")
	}
}

// request handles the head of a request written: it waits for its
// response, or (a Produce with acks 0, which nothing answers) is reported
// at once.
func (c *Conn) request(b []byte, size int, start, now uint64) {
	if len(b) < 8 {
		// Its header was not copied: its response cannot be paired.
		c.st.Truncated++
		return
	}
	hd, ok := parseRequest(b, size)
	if !ok {
		c.st.ParseErrors++
		c.lose(&c.out)
		return
	}
	p := pending{corr: hd.corr, key: hd.key, version: hd.version, start: start}
	if !p.reported() {
		c.push(p)
		return
	}
	if hd.short {
		c.st.Truncated++
	}
	p.topic = c.intern(hd.topic)
	if hd.key == apiProduce && hd.noAck {
		c.emit(&p, now, "", "")
		return
	}
	c.push(p)
}

func (c *Conn) push(p pending) {
	if len(c.queue) >= maxPending {
		c.drop(1)
	}
	c.queue = append(c.queue, p)
}

// drop forgets the n oldest requests: their responses were not seen.
func (c *Conn) drop(n int) {
	for i := range n {
		if c.queue[i].reported() {
			c.st.Incomplete++
		}
	}
	c.queue = c.queue[:copy(c.queue, c.queue[n:])]
}

// response handles the head of a response read: the request whose
// correlation id it carries is answered (the requests before it, whose
// responses were not seen, are dropped). Its record is emitted once the
// response's last byte is read.
func (c *Conn) response(b []byte) {
	if len(b) < 4 {
		c.st.Truncated++
		return
	}
	i := c.find(int32(binary.BigEndian.Uint32(b)))
	if i < 0 {
		if c.in.tentative {
			// not a response's start after all
			c.in.tentative, c.in.lost = false, true
			c.in.cur.Reset()
			c.st.Skipped++
			return
		}
		c.st.Incomplete++ // a response to a request not seen
		return
	}
	c.in.tentative = false
	c.drop(i)
	p := c.queue[0]
	c.queue = c.queue[:copy(c.queue, c.queue[1:])]
	if p.reported() {
		c.resp, c.respOK, c.respCode = p, true, responseError(b[4:], p.key, p.version)
	}
}

func (c *Conn) find(corr int32) int {
	for i := range c.queue {
		if c.queue[i].corr == corr {
			return i
		}
	}
	return -1
}

// resyncAt says whether the transfer just begun starts a message of h's
// direction: a request detection accepts; a response whose correlation id
// is a request's waiting, or a short transfer that can begin a response
// (clients read the size alone, then the rest), taken tentatively until
// the correlation id that follows is checked.
func (c *Conn) resyncAt(h *half, ev *stream.Event, out bool) bool {
	if !h.cur.AtStart() {
		return false
	}
	k := h.cur.Known()
	if out {
		return Detect(k, stream.Egress, false) == protocol.Yes
	}
	if len(k) < 4 || len(c.queue) == 0 {
		return false
	}
	size := int(int32(binary.BigEndian.Uint32(k)))
	if size < 4 || size > maxMessage {
		return false
	}
	if len(k) >= 8 {
		return c.find(int32(binary.BigEndian.Uint32(k[4:]))) >= 0
	}
	h.tentative = len(k) == ev.Len
	return h.tentative
}

// lose: h's framing is lost. A response being read is lost with it.
func (c *Conn) lose(h *half) {
	c.st.Desync++
	h.lost, h.sized, h.inBody, h.start = true, false, false, 0
	h.cur.Reset()
	if h == &c.in && c.respOK {
		c.respOK = false
		c.st.Incomplete++
	}
}

func (c *Conn) giveUp() {
	c.gaveUp = true
	c.drop(len(c.queue))
}

// emit reports p, answered at end.
func (c *Conn) emit(p *pending, end uint64, status, errType string) {
	r := record.New()
	r.Kind = record.KindClient
	r.Conv = Conventions
	r.PID = c.meta.PID
	r.Local, r.Peer = c.meta.Local, c.meta.Peer
	r.StartUnixNano = p.start
	r.EndUnixNano = max(end, p.start)
	r.Operation = operation(p.key)
	r.Target = p.topic
	r.Status = status
	r.ErrorType = errType
	c.st.Records++
	c.emitFn(r)
}

// intern returns name as a string, the same one for every request of the
// connection naming it (a client names few topics).
func (c *Conn) intern(name []byte) string {
	if len(name) == 0 {
		return ""
	}
	if s, ok := c.topics[string(name)]; ok {
		return s
	}
	if c.topics == nil {
		c.topics = map[string]string{}
	}
	if len(c.topics) >= 64 {
		return string(name)
	}
	s := string(name)
	c.topics[s] = s
	return s
}

// Flush: a response can take as long as the broker takes (a Fetch waits
// up to its max_wait); nothing ends by idleness.
func (c *Conn) Flush(uint64, time.Duration, func(*record.Record)) {}

// Close ends the connection: the requests still waiting are counted
// incomplete. A client closes connections with a Fetch in flight as a
// matter of course (a consumer stopping), so that is no failure to report.
func (c *Conn) Close(uint64, func(*record.Record)) {
	if c.closed {
		return
	}
	c.closed = true
	if c.respOK {
		c.respOK = false
		c.st.Incomplete++
	}
	c.drop(len(c.queue))
}
