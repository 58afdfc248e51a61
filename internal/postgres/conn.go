package postgres

import (
	"encoding/binary"
	"time"

	"github.com/ebpfred/ebpfred/internal/dbconv"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/sqltext"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Bounds of what one connection keeps.
const (
	// maxQueue: requests sent and not yet answered (a pipeline). Past it
	// the oldest are forgotten (counted Incomplete).
	maxQueue = 1024
	// maxStatements: named prepared statements and portals remembered (a
	// driver's statement cache: pgx keeps 512). Past it one is forgotten:
	// its Executes are then reported with the operation unknown.
	maxStatements = 1024
	// keepText: statement text kept of one Query or Parse.
	keepText = 16 << 10
	// keepNames: bytes kept of a Bind, Execute, Describe or Close: its
	// names (at most 63 bytes each), never Bind's parameter values.
	keepNames = 2 * 65
	// keepStartup: bytes kept of a start-up message.
	keepStartup = 2048
	// keepError: bytes kept of an ErrorResponse (its code comes early).
	keepError = 512
)

// stmt is what is known of a prepared statement (or of the statement a
// portal runs): known false when its Parse was not seen.
type stmt struct {
	known bool
	sqltext.Statement
}

type itemKind uint8

const (
	itStartup  itemKind = iota + 1 // StartupMessage: ends at ReadyForQuery
	itSSL                          // SSLRequest: a one-byte answer
	itGSS                          // GSSENCRequest: a one-byte answer
	itQuery                        // Query (simple protocol): a record at ReadyForQuery
	itParse                        // Parse: ParseComplete
	itBind                         // Bind: BindComplete
	itDescribe                     // Describe: RowDescription or NoData
	itExecute                      // Execute: a record at CommandComplete (or its error)
	itClose                        // Close: CloseComplete
	itSync                         // Sync: ReadyForQuery
	itFunc                         // FunctionCall: ReadyForQuery
	// itGap: client bytes past the kernel's copy whose messages could not
	// be read; the answers to them are reported with the operation unknown.
	itGap
)

// item is a request sent and not yet (fully) answered.
type item struct {
	kind   itemKind
	info   stmt
	start  uint64
	status string // itQuery: the SQLSTATE of its first error
	sawZ   bool   // itGap: a ReadyForQuery went by while nothing followed it
}

// cycleEnd: the kinds whose answer ends with ReadyForQuery.
func (k itemKind) cycleEnd() bool {
	return k == itStartup || k == itQuery || k == itSync || k == itFunc || k == itGap || k == itSSL || k == itGSS
}

// walker follows the message boundaries of one direction.
type walker struct {
	fromClient bool
	// sync: the walker knows where it is in the stream. Lost when bytes
	// past the kernel's copy hold a message boundary; found again at a
	// transfer whose bytes are messages of the right shape.
	sync   bool
	hdr    [5]byte
	nhdr   int
	inBody bool
	typ    byte // 0: an untyped start-up message
	left   int  // body bytes still to come
	body   []byte
	keep   int
	lost   bool // body bytes were past the copy or the keep bound
	// startupOK (client): no typed message was sent yet, so a 0 byte at a
	// boundary begins a start-up message.
	startupOK bool
	// single (server): the next byte is the one-byte answer to an
	// SSLRequest or a GSSENCRequest.
	single bool
	// start: the time of the transfer the current message began in.
	start uint64
}

func (w *walker) reset() {
	w.nhdr, w.inBody, w.left, w.lost = 0, false, 0, false
	w.body = w.body[:0]
}

// Conn follows one connection of an application to a PostgreSQL server,
// from the client's side: its requests are egress, the server's answers
// ingress.
type Conn struct {
	meta     stream.Meta
	st       *protocol.Stats
	withText bool
	names    sqltext.Names

	namespace string
	out, in   walker
	q         []item // requests in flight: q[head:]
	head      int

	unnamedStmt, unnamedPortal stmt
	stmts, portals             map[string]stmt

	group     uint64 // start of the extended-protocol operation being sent
	groupOpen bool
	now       uint64 // time of the transfer being parsed
	sent      uint64 // time of the transfer the request being read began in
	emitFn    func(*record.Record)

	// tls: the server accepted an SSLRequest; the bytes are TLS until its
	// plaintext (a start-up message) arrives.
	tls bool
	// opaque: GSSAPI encryption was accepted: nothing more can be read.
	opaque bool
	// lostIn: server bytes were lost since the last ReadyForQuery: an
	// error in them would not have been seen.
	lostIn bool
	// drain: server bytes were lost while several request cycles were in
	// flight, which were dropped; answers are ignored up to the next
	// ReadyForQuery.
	drain  bool
	closed bool
	// dead: scratch of resync, offsets known not to start messages.
	dead []uint64
}

// NewConn returns a parser for one client connection.
func NewConn(meta stream.Meta, st *protocol.Stats, opt *protocol.Options) *Conn {
	c := &Conn{meta: meta, st: st, withText: opt != nil && opt.QueryText}
	c.out = walker{fromClient: true, startupOK: true}
	c.in = walker{}
	return c
}

// Upgraded: PostgreSQL never hands a connection to another protocol.
func (c *Conn) Upgraded() bool { return false }

// Feed parses one transfer.
func (c *Conn) Feed(ev *stream.Event, emit func(*record.Record)) {
	if c.closed {
		return
	}
	c.now = ev.UnixNano
	c.emitFn = emit
	defer func() { c.emitFn = nil }()
	if c.opaque {
		c.st.Skipped++
		return
	}
	if ev.Dir == stream.Egress {
		if c.tls {
			// TLS records until the plaintext's start-up message
			if !clientStart(ev.Payload, ev.Len, true) {
				c.st.Skipped++
				return
			}
			c.tls = false
			c.out = walker{fromClient: true, startupOK: true}
			c.in = walker{}
		}
		c.walk(&c.out, ev)
		return
	}
	if c.tls {
		c.st.Skipped++
		return
	}
	c.walk(&c.in, ev)
}

// Flush: an answer can take as long as the server takes; nothing ends by
// idleness.
func (c *Conn) Flush(uint64, time.Duration, func(*record.Record)) {}

// Close counts the requests never answered: the connection ended before
// their answer (or after it, unseen).
func (c *Conn) Close(_ uint64, _ func(*record.Record)) {
	if c.closed {
		return
	}
	c.closed = true
	for _, it := range c.q[c.head:] {
		if it.kind == itQuery || it.kind == itExecute {
			c.st.Incomplete++
		}
	}
	c.q, c.head = nil, 0
}

// walk parses the messages of one transfer in w's direction.
func (c *Conn) walk(w *walker, ev *stream.Event) {
	p, n := ev.Payload, ev.Len
	if len(p) > n {
		p = p[:n]
	}
	pos := 0
	if !w.sync {
		k, ok := c.resync(w, p, n, 0)
		if !ok {
			c.st.Skipped++
			c.tailSync(w, ev)
			return
		}
		pos = k
		w.sync = true
		w.reset()
	}
	for pos < n {
		if !w.sync {
			// lost in this transfer: the server's answers may resume in
			// its copied bytes
			k, ok := c.resync(w, p, n, pos)
			if !ok {
				c.tailSync(w, ev)
				return
			}
			pos = k
			w.sync = true
			w.reset()
		}
		if w.inBody {
			take := min(w.left, n-pos)
			vis := max(0, min(pos+take, len(p))-pos)
			keep := max(0, min(vis, w.keep-len(w.body)))
			if keep > 0 {
				w.body = append(w.body, p[pos:pos+keep]...)
			}
			if keep < take {
				w.lost = true // the body kept is not the whole body
			}
			pos += take
			w.left -= take
			if w.left == 0 {
				c.deliver(w)
			}
			continue
		}
		if pos >= len(p) {
			c.lose(w) // the next header is past the copy
			c.tailSync(w, ev)
			return
		}
		if w.nhdr == 0 {
			w.start = ev.UnixNano
			if w.single {
				c.oneByte(w, p[pos])
				pos++
				if c.tls || c.opaque {
					return
				}
				continue
			}
			w.typ = 1 // typed, unless:
			if w.fromClient && w.startupOK && p[pos] == 0 {
				w.typ = 0
			}
		}
		need := 5
		if w.typ == 0 {
			need = 4
		}
		at, began := pos, w.nhdr == 0
		k := copy(w.hdr[w.nhdr:need], p[pos:])
		w.nhdr += k
		pos += k
		if w.nhdr < need {
			if pos >= n {
				return // the header continues in the next transfer
			}
			c.lose(w)
			c.tailSync(w, ev)
			return
		}
		var length int
		if w.typ == 0 {
			length = int(binary.BigEndian.Uint32(w.hdr[:4]))
		} else {
			w.typ = w.hdr[0]
			length = int(binary.BigEndian.Uint32(w.hdr[1:5]))
		}
		if length < 4 || length > maxMessage || w.typ != 0 && !validType(w.typ, w.fromClient) ||
			w.typ == 0 && (length < 8 || length > 10000) {
			c.st.ParseErrors++
			c.lose(w)
			if w.fromClient {
				c.tailSync(w, ev)
				return
			}
			// not a message: look again from the next byte
			pos = at
			if began {
				pos++
			}
			continue
		}
		w.nhdr = 0
		w.inBody = true
		w.left = length - 4
		w.body = w.body[:0]
		w.lost = false
		w.keep = keepFor(w.typ, w.fromClient)
		if w.left == 0 {
			c.deliver(w)
		}
	}
}

// keepFor: how many body bytes of a message are worth keeping.
func keepFor(t byte, fromClient bool) int {
	if fromClient {
		switch t {
		case 'Q', 'P':
			return keepText
		case 0:
			return keepStartup
		case 'B', 'E', 'D', 'C':
			return keepNames
		}
		return 0 // PasswordMessage and SASL responses included
	}
	if t == 'E' {
		return keepError
	}
	return 0
}

// lose: the walker lost its place (a header lies past the kernel's copy,
// or the bytes are not messages).
func (c *Conn) lose(w *walker) {
	w.sync = false
	w.reset()
	c.st.Desync++
	if w.fromClient {
		// the requests in the lost bytes are answered all the same
		c.groupOpen = false
		if l := c.last(); l == nil || l.kind != itGap || l.start != c.now {
			c.push(item{kind: itGap, start: c.now})
		}
	} else {
		c.lostAnswers()
	}
}

// lostAnswers: server bytes were lost. With one request cycle in flight,
// what follows still belongs to it (its status may be missing); with more,
// which answers were lost cannot be told: they are dropped.
func (c *Conn) lostAnswers() {
	c.lostIn = true
	cycles := 0
	for _, it := range c.q[c.head:] {
		if it.kind.cycleEnd() {
			cycles++
		}
	}
	if cycles > 1 {
		c.dropAll()
		c.drain = true
	}
}

// tailSync: a transfer whose bytes could not all be read ends where its
// last 8 bytes show a message end (a client's Sync, a server's
// ReadyForQuery): the next transfer starts at a boundary.
func (c *Conn) tailSync(w *walker, ev *stream.Event) {
	t := ev.Tail
	if len(t) < 5 || len(ev.Payload) >= ev.Len {
		return
	}
	if w.fromClient {
		if string(t[len(t)-5:]) == "S\x00\x00\x00\x04" {
			w.sync = true
		}
		return
	}
	if len(t) >= 6 && string(t[len(t)-6:len(t)-1]) == "Z\x00\x00\x00\x05" {
		if s := t[len(t)-1]; s == 'I' || s == 'T' || s == 'E' {
			w.sync = true
			if c.drain {
				c.drain = false
				return
			}
			c.ready()
		}
	}
}

// resync looks for a message boundary in a transfer of a walker that lost
// its place: the client's at the transfer's start (a client writes whole
// messages, bar a split of a very large batch), the server's at the first
// offset from which the bytes are messages of the right shape.
//
// The server's search is linear in the copied bytes: a chain of messages
// that is rejected from one offset is rejected from every message start on
// its path too (fewer messages, the same end), so those are marked and no
// later chain walks past them.
func (c *Conn) resync(w *walker, p []byte, n, from int) (int, bool) {
	if w.fromClient {
		return 0, from == 0 && clientStart(p, n, w.startupOK)
	}
	words := (len(p) + 63) / 64
	if cap(c.dead) < words {
		c.dead = make([]uint64, words)
	}
	dead := c.dead[:words]
	clear(dead)
	isDead := func(k int) bool { return dead[k/64]&(1<<(k%64)) != 0 }
	for k := from; k < len(p); k++ {
		if !backend(p[k]) || isDead(k) {
			continue
		}
		msgs, end, ok := 0, k, true
		for end < len(p) && end < n {
			if end > k && isDead(end) {
				ok = false
				break
			}
			m, e, good := chainStep(p, end, false)
			if !good {
				ok = false
				break
			}
			if m == 0 {
				break // a header cut by the copy
			}
			msgs++
			end = e
		}
		covers := end >= len(p) || len(p)-end < 5 && len(p) < n
		if ok && msgs >= 1 && covers && (k == 0 || msgs >= 2 || end == n) {
			if k > from {
				c.lostAnswers()
			}
			return k, true
		}
		for at := k; at < end && at < len(p); {
			dead[at/64] |= 1 << (at % 64)
			m, e, good := chainStep(p, at, false)
			if !good || m == 0 {
				break
			}
			at = e
		}
	}
	return 0, false
}

// clientStart says whether a client transfer's bytes p (of n) begin with
// messages: a start-up message (when one can still come), or typed
// messages of the right shape that start a request.
func clientStart(p []byte, n int, startupOK bool) bool {
	if len(p) == 0 {
		return false
	}
	if p[0] == 0 {
		if !startupOK {
			return false
		}
		l, code := untyped(p)
		switch {
		case l == 8 && (code == codeSSLRequest || code == codeGSSENCRequest), l == 16 && code == codeCancelRequest:
			return true
		case code>>16 == 3:
			return startupShape(l, p)
		}
		return false
	}
	switch p[0] {
	case 'Q', 'P', 'B', 'E', 'D', 'C', 'S', 'F', 'H', 'X':
	default:
		return false
	}
	msgs, _, ok := chain(p, 0, n, true)
	return ok && msgs >= 1
}

// oneByte handles the server's one-byte answer to an SSLRequest ('S' or
// 'N') or a GSSENCRequest ('G' or 'N').
func (c *Conn) oneByte(w *walker, b byte) {
	w.single = false
	head := c.peek()
	switch {
	case b == 'S' && head != nil && head.kind == itSSL:
		c.tls = true
	case b == 'G' && head != nil && head.kind == itGSS:
		c.opaque = true
	case b == 'N':
	default:
		// not an answer byte: an old server's ErrorResponse; parse it
		w.typ = 1
		w.hdr[0] = b
		w.nhdr = 1
		return
	}
	if head != nil && (head.kind == itSSL || head.kind == itGSS) {
		c.pop()
	}
}

// deliver handles the message w has just read whole (or as much of it as
// was copied and kept).
func (c *Conn) deliver(w *walker) {
	t, body, lost := w.typ, w.body, w.lost
	w.reset()
	if w.fromClient {
		c.sent = w.start
		if t != 0 {
			w.startupOK = false
		}
		c.fromClient(t, body, lost)
		return
	}
	c.fromServer(t, body)
}

func (c *Conn) fromClient(t byte, body []byte, lost bool) {
	switch t {
	case 0:
		if len(body) < 4 {
			return
		}
		// the server's answers start now
		c.in.sync = true
		c.in.reset()
		switch code := int(binary.BigEndian.Uint32(body)); {
		case code == codeSSLRequest:
			c.push(item{kind: itSSL})
			c.in.single = true
		case code == codeGSSENCRequest:
			c.push(item{kind: itGSS})
			c.in.single = true
		case code>>16 == 3:
			c.startup(body[4:])
			c.out.startupOK = false
			c.push(item{kind: itStartup})
		}
	case 'Q':
		text, complete := c.statementText(body, lost)
		c.groupOpen = false
		c.unnamedStmt, c.unnamedPortal = stmt{}, stmt{}
		c.push(item{kind: itQuery, info: c.analyze(text, complete), start: c.sent})
	case 'P':
		name, rest, ok := cstring(body)
		if !ok {
			c.push(item{kind: itParse, start: c.groupStart()})
			return
		}
		text, complete := c.statementText(rest, lost)
		info := c.analyze(text, complete)
		c.setStmt(name, info)
		c.push(item{kind: itParse, info: info, start: c.groupStart()})
	case 'B':
		portal, rest, ok := cstring(body)
		var info stmt
		if ok {
			if name, _, ok := cstring(rest); ok {
				info = c.stmt(name)
			}
			c.setPortal(portal, info)
		}
		c.push(item{kind: itBind, info: info, start: c.groupStart()})
	case 'D':
		var info stmt
		if len(body) > 1 {
			if name, _, ok := cstring(body[1:]); ok {
				if body[0] == 'S' {
					info = c.stmt(name)
				} else {
					info = c.portal(name)
				}
			}
		}
		c.push(item{kind: itDescribe, info: info, start: c.groupStart()})
	case 'E':
		var info stmt
		if portal, _, ok := cstring(body); ok {
			info = c.portal(portal)
		}
		c.push(item{kind: itExecute, info: info, start: c.groupStart()})
		c.groupOpen = false
	case 'C':
		if len(body) > 1 {
			if name, _, ok := cstring(body[1:]); ok {
				if body[0] == 'S' {
					c.setStmt(name, stmt{})
				} else {
					c.setPortal(name, stmt{})
				}
			}
		}
		c.push(item{kind: itClose, start: c.sent})
	case 'S':
		c.groupOpen = false
		c.push(item{kind: itSync, start: c.sent})
	case 'F':
		c.groupOpen = false
		c.push(item{kind: itFunc, start: c.sent})
	}
}

// statementText is a Query's or a Parse's statement: up to its NUL, or all
// that was kept when the message was cut (counted Truncated).
func (c *Conn) statementText(b []byte, lost bool) ([]byte, bool) {
	if text, _, ok := cstring(b); ok {
		return text, true
	}
	if lost {
		c.st.Truncated++
	}
	return b, !lost
}

// startup reads the database from a StartupMessage's parameters: the
// "database" parameter, else the user name (the server's default). No
// other parameter is looked at.
func (c *Conn) startup(b []byte) {
	var db, user []byte
	for len(b) > 0 && b[0] != 0 {
		k, rest, ok := cstring(b)
		if !ok {
			break
		}
		v, rest, ok := cstring(rest)
		if !ok {
			break
		}
		switch string(k) {
		case "database":
			db = v
		case "user":
			user = v
		}
		b = rest
	}
	if len(db) == 0 {
		db = user
	}
	c.namespace = string(db)
}

func (c *Conn) groupStart() uint64 {
	if !c.groupOpen {
		c.group, c.groupOpen = c.sent, true
	}
	return c.group
}

func (c *Conn) analyze(text []byte, complete bool) stmt {
	return stmt{known: true, Statement: sqltext.Analyze(sqltext.PostgreSQL, text, complete, c.withText, &c.names)}
}

func (c *Conn) stmt(name []byte) stmt {
	if len(name) == 0 {
		return c.unnamedStmt
	}
	return c.stmts[string(name)]
}

func (c *Conn) portal(name []byte) stmt {
	if len(name) == 0 {
		return c.unnamedPortal
	}
	return c.portals[string(name)]
}

func (c *Conn) setStmt(name []byte, s stmt) {
	if len(name) == 0 {
		c.unnamedStmt = s
		return
	}
	c.stmts = setBounded(c.stmts, name, s)
}

func (c *Conn) setPortal(name []byte, s stmt) {
	if len(name) == 0 {
		c.unnamedPortal = s
		return
	}
	c.portals = setBounded(c.portals, name, s)
}

func setBounded(m map[string]stmt, name []byte, s stmt) map[string]stmt {
	if !s.known {
		delete(m, string(name))
		return m
	}
	if m == nil {
		m = make(map[string]stmt)
	}
	if _, ok := m[string(name)]; !ok && len(m) >= maxStatements {
		for k := range m { // forget one: its Executes become unknown
			delete(m, k)
			break
		}
	}
	m[string(name)] = s
	return m
}

func (c *Conn) fromServer(t byte, body []byte) {
	if c.drain {
		if t == 'Z' {
			c.drain = false
		}
		return
	}
	switch t {
	case 'N', 'S', 'A', 'Z':
	default:
		// An answer after lost bytes: an error in them would have ended
		// the cycle with a ReadyForQuery at once, so there was none.
		c.lostIn = false
	}
	switch t {
	case '1':
		c.answered(itParse)
	case '2':
		c.answered(itBind)
	case '3':
		c.answered(itClose)
	case 'T', 'n':
		if h := c.peek(); h != nil && h.kind == itDescribe {
			c.pop()
		}
	case 'C', 'I', 's':
		c.executed()
	case 'E':
		c.failed(sqlstate(body))
	case 'Z':
		c.ready()
	}
}

// sqlstate returns the code ('C' field) of an ErrorResponse.
func sqlstate(b []byte) string {
	for len(b) > 1 {
		f := b[0]
		v, rest, ok := cstring(b[1:])
		if !ok {
			break
		}
		if f == 'C' {
			if len(v) == 5 && printable(v) {
				return internCode(v)
			}
			break
		}
		b = rest
	}
	return "_OTHER" // an error whose code was not seen
}

// answered pops the request of kind k that a ParseComplete, BindComplete
// or CloseComplete answers. An answer that matches no request in flight is
// one to a request that was not seen.
func (c *Conn) answered(k itemKind) {
	h := c.peek()
	if h == nil || h.kind == itGap {
		return
	}
	if h.kind == k {
		c.pop()
		return
	}
	c.skipTo(func(it *item) bool { return it.kind == k })
	if h := c.peek(); h != nil && h.kind == k {
		c.pop()
	}
}

// skipTo drops the requests in flight before the first that match says
// is the one being answered (requests whose answers were lost), when
// there is one.
func (c *Conn) skipTo(match func(*item) bool) {
	for i := c.head; i < len(c.q); i++ {
		if match(&c.q[i]) {
			for c.head < i {
				c.discard(c.pop())
			}
			return
		}
	}
}

// discard counts a request dropped unanswered.
func (c *Conn) discard(it item) {
	if it.kind == itQuery || it.kind == itExecute {
		c.st.Incomplete++
	}
}

// executed: a CommandComplete, EmptyQueryResponse or PortalSuspended ends
// the Execute in flight (or one statement of a simple Query).
func (c *Conn) executed() {
	h := c.peek()
	switch {
	case h == nil:
		c.st.Incomplete++ // its request was not seen
	case h.kind == itQuery:
	case h.kind == itGap:
		c.emit(item{kind: itExecute, start: h.start}, "", false)
	case h.kind == itExecute:
		c.emit(c.pop(), "", false)
	default:
		c.skipTo(func(it *item) bool { return it.kind == itExecute || it.kind.cycleEnd() })
		if h := c.peek(); h != nil && h.kind == itExecute {
			c.emit(c.pop(), "", false)
		}
	}
}

// failed: an ErrorResponse with SQLSTATE code. In a simple Query it is the
// query's status; in the extended protocol the request at the head failed
// and the server skips every request up to the next Sync.
func (c *Conn) failed(code string) {
	h := c.peek()
	if h == nil {
		c.st.Incomplete++
		return
	}
	switch h.kind {
	case itQuery:
		if h.status == "" {
			h.status = code
		}
		return
	case itStartup, itSSL, itGSS:
		c.pop() // the connection was refused: not an operation
		return
	case itGap:
		c.emit(item{kind: itExecute, start: h.start}, code, false)
		return
	case itSync, itFunc:
		return // a failure at Sync (a deferred constraint): no request of its own
	}
	f := c.pop()
	// the requests the server skips, up to the Sync
	var exec *item
	for c.head < len(c.q) && !c.q[c.head].kind.cycleEnd() {
		it := c.pop()
		if it.kind == itExecute {
			if exec == nil && f.kind != itExecute {
				e := it
				exec = &e
				continue
			}
			c.st.Incomplete++
		}
	}
	switch {
	case f.kind == itExecute:
		c.emit(f, code, false)
	case exec != nil:
		if !exec.info.known {
			exec.info = f.info
		}
		c.emit(*exec, code, false)
	default:
		// a Parse, Bind or Describe failed with no Execute to stand for
		c.emit(f, code, false)
	}
}

// ready: a ReadyForQuery ends the request cycle at the head.
func (c *Conn) ready() {
	lost := c.lostIn
	c.lostIn = false
	h := c.peek()
	if h == nil {
		return
	}
	if h.kind == itGap {
		if c.head+1 < len(c.q) {
			c.pop()
		} else {
			h.sawZ = true
		}
		return
	}
	for c.head < len(c.q) {
		it := c.pop()
		switch it.kind {
		case itQuery:
			c.emit(it, it.status, lost && it.status == "")
			return
		case itExecute:
			// its CommandComplete was not seen
			if lost {
				c.emit(it, "", true)
			} else {
				c.st.Incomplete++
			}
		}
		if it.kind.cycleEnd() {
			return
		}
	}
}

// emit reports the request it as one operation ending now. statusLost:
// server bytes were lost, so an error may have gone unseen.
func (c *Conn) emit(it item, status string, statusLost bool) {
	r := dbconv.SQLRecord(Conventions, c.meta, it.start, c.now, c.namespace, it.info.known, it.info.Statement, status)
	if !it.info.known || statusLost {
		c.st.Unknown++
	}
	c.st.Records++
	if c.emitFn != nil {
		c.emitFn(r)
	}
}

func (c *Conn) peek() *item {
	if c.head < len(c.q) {
		return &c.q[c.head]
	}
	return nil
}

func (c *Conn) last() *item {
	if c.head < len(c.q) {
		return &c.q[len(c.q)-1]
	}
	return nil
}

func (c *Conn) pop() item {
	it := c.q[c.head]
	c.q[c.head] = item{}
	c.head++
	if c.head == len(c.q) {
		c.q, c.head = c.q[:0], 0
	}
	return it
}

func (c *Conn) push(it item) {
	if l := c.last(); l != nil && l.kind == itGap && l.sawZ {
		// the client wrote again after a ReadyForQuery: the answers to
		// the lost bytes are over
		c.q = c.q[:len(c.q)-1]
		if c.head == len(c.q) {
			c.q, c.head = c.q[:0], 0
		}
	}
	if len(c.q)-c.head >= maxQueue {
		c.discard(c.pop())
	}
	if c.head > 0 && len(c.q) == cap(c.q) {
		n := copy(c.q, c.q[c.head:])
		clear(c.q[n:])
		c.q, c.head = c.q[:n], 0
	}
	c.q = append(c.q, it)
}

// dropAll forgets every request in flight (their answers cannot be told
// apart any more).
func (c *Conn) dropAll() {
	for c.head < len(c.q) {
		c.discard(c.pop())
	}
}

// internCode returns a SQLSTATE as a string, without allocating for the
// common ones.
func internCode(b []byte) string {
	switch string(b) {
	case "42P01":
		return "42P01"
	case "42601":
		return "42601"
	case "23505":
		return "23505"
	case "23503":
		return "23503"
	case "23502":
		return "23502"
	case "22012":
		return "22012"
	case "40001":
		return "40001"
	case "40P01":
		return "40P01"
	case "57014":
		return "57014"
	case "42703":
		return "42703"
	case "25P02":
		return "25P02"
	case "22P02":
		return "22P02"
	case "42883":
		return "42883"
	case "28P01":
		return "28P01"
	case "3D000":
		return "3D000"
	}
	return string(b)
}
