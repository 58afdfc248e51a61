package mysql

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
	// maxQueue: commands sent and not yet answered (a MariaDB connector's
	// pipeline). Past it the oldest are forgotten (counted Incomplete).
	maxQueue = 256
	// maxStatements: prepared statements remembered by id. Past it one is
	// forgotten: its executes are then reported with the operation unknown.
	maxStatements = 1024
	// keepText: statement text kept of one COM_QUERY or COM_STMT_PREPARE.
	keepText = 16 << 10
	// keepHandshake: bytes kept of the handshake response, to step over
	// the user name and the authentication data to the database. They are
	// cleared once read.
	keepHandshake = 1024
	// keepGreeting: bytes kept of the server's greeting (its version).
	keepGreeting = 256
	// keepAnswer: bytes kept of a server packet: enough for an OK's status
	// flags, an ERR's number, a prepare's statement id and counts, a column
	// definition's catalog; never a row's values.
	keepAnswer = 32
	// keepCommand: bytes kept of other commands (the command, a statement
	// id; never an execute's parameter values).
	keepCommand = 5
	// maxNamespace: the longest database name (MySQL's limit is 64).
	maxNamespace = 64
)

// stmt is what is known of a statement: known false when its text was
// not seen.
type stmt struct {
	known bool
	sqltext.Statement
}

type reqKind uint8

const (
	rqQuery   reqKind = iota + 1 // COM_QUERY: an operation
	rqExecute                    // COM_STMT_EXECUTE: an operation
	rqPrepare                    // COM_STMT_PREPARE: an operation only when it fails
	rqOne                        // one packet answers: COM_PING, COM_INIT_DB, COM_STMT_RESET, ...
	rqRows                       // rows or definitions up to an EOF: COM_STMT_FETCH, COM_FIELD_LIST
	rqAuth                       // COM_CHANGE_USER: an authentication exchange, up to OK or ERR
)

// answer is where the answer to the request at the head has got to.
type answer uint8

const (
	asStart    answer = iota // its first packet is to come
	asColumns                // a result set's column definitions
	asRows                   // a result set's rows
	asInfile                 // LOCAL INFILE: the client sends a file, then OK or ERR
	asPrepared               // a prepare's parameter and column definitions
)

// item is a command sent and not yet (fully) answered.
type item struct {
	kind  reqKind
	info  stmt
	start uint64
	// ns: the database the connection uses once the command succeeds
	// (COM_INIT_DB, USE).
	ns string
	at answer
	// seq: the sequence id the answer's next packet must have.
	seq byte
	// defs, eofs (asPrepared): definitions and EOF packets still to come.
	defs, eofs int
	// lost: server bytes of this answer were past the kernel's copy: an
	// error in them would not have been seen.
	lost bool
}

// walker follows the packet boundaries of one direction.
type walker struct {
	fromClient bool
	// sync: the walker knows where it is in the stream. Lost when bytes
	// past the kernel's copy hold a packet boundary.
	sync   bool
	hdr    [4]byte
	nhdr   int
	inBody bool
	plen   int // the current packet's payload length
	left   int // its payload bytes still to come
	seq    byte
	// cont: the current packet continues the payload of the one before
	// (which had 0xffffff bytes); more: the next one continues this one.
	cont, more bool
	body       []byte
	keep       int
	lost       bool // payload bytes were past the copy or the keep bound
	// start: the time of the transfer the current packet began in.
	start uint64
}

func (w *walker) reset() {
	w.nhdr, w.inBody, w.left, w.lost = 0, false, 0, false
	w.cont, w.more = false, false
	w.body = w.body[:0]
}

// Conn follows one connection of an application to a MySQL or MariaDB
// server, from the client's side: its commands are egress, the server's
// answers ingress.
type Conn struct {
	meta     stream.Meta
	st       *protocol.Stats
	withText bool
	names    sqltext.Names

	conv      record.Conventions
	namespace string
	// greeted: the server's greeting was seen; connecting: from it to the
	// end of authentication.
	greeted, connecting bool
	// sawServer: a server packet was seen.
	sawServer bool
	// serverCaps, clientCaps: the capabilities of the greeting and of the
	// handshake response (when greeted).
	serverCaps, clientCaps uint32
	// opaque: the connection switched to TLS or to the compressed
	// protocol: nothing more can be read.
	opaque bool

	out, in walker
	q       []item // commands in flight: q[head:]
	head    int

	stmts        map[uint32]stmt
	lastPrepared stmt // the statement id 0xffffffff (MariaDB) names

	now    uint64 // time of the transfer being parsed
	lastIn uint64 // time of the last server transfer
	emitFn func(*record.Record)
	closed bool
}

// NewConn returns a parser for one client connection.
func NewConn(meta stream.Meta, st *protocol.Stats, opt *protocol.Options) *Conn {
	return &Conn{
		meta: meta, st: st, withText: opt != nil && opt.QueryText, conv: MySQL,
		out: walker{fromClient: true, sync: true},
		in:  walker{sync: true},
	}
}

// Upgraded: MySQL never hands a connection to another protocol.
func (c *Conn) Upgraded() bool { return false }

// Feed parses one transfer.
func (c *Conn) Feed(ev *stream.Event, emit func(*record.Record)) {
	if c.closed {
		return
	}
	if c.opaque {
		c.st.Skipped++
		return
	}
	c.now = ev.UnixNano
	c.emitFn = emit
	defer func() { c.emitFn = nil }()
	if ev.Dir == stream.Egress {
		c.walk(&c.out, ev)
		return
	}
	c.walk(&c.in, ev)
	c.lastIn = ev.UnixNano
}

// Flush: an answer can take as long as the server takes; nothing ends by
// idleness.
func (c *Conn) Flush(uint64, time.Duration, func(*record.Record)) {}

// Close counts the operations never answered: the connection ended before
// their answer (or after it, unseen).
func (c *Conn) Close(_ uint64, _ func(*record.Record)) {
	if c.closed {
		return
	}
	c.closed = true
	for _, it := range c.q[c.head:] {
		c.discard(it)
	}
	c.q, c.head = nil, 0
}

// walk parses the packets of one transfer in w's direction.
func (c *Conn) walk(w *walker, ev *stream.Event) {
	p, n := ev.Payload, ev.Len
	if len(p) > n {
		p = p[:n]
	}
	pos := 0
	if !w.sync {
		// the client writes whole commands: its place is found again at a
		// transfer that begins with one; the server's, at the client's next
		// command, or where a result set ends at the end of a transfer
		if !w.fromClient || !clientStart(p, n) {
			if w.fromClient || c.peek() == nil {
				// bytes of no answer in flight; a large answer's rows
				// past a lost boundary are not skipped, only not read
				c.st.Skipped++
			}
			c.tailSync(w, ev)
			return
		}
		w.sync = true
		w.reset()
	}
	for pos < n {
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
		}
		k := copy(w.hdr[w.nhdr:], p[pos:])
		w.nhdr += k
		pos += k
		if w.nhdr < 4 {
			if pos >= n {
				return // the header continues in the next transfer
			}
			c.lose(w)
			c.tailSync(w, ev)
			return
		}
		w.nhdr = 0
		w.inBody = true
		w.plen = packetLen(w.hdr[:])
		w.left = w.plen
		w.seq = w.hdr[3]
		w.cont, w.more = w.more, w.plen == maxPacket
		w.body = w.body[:0]
		w.lost = false
		peek, havePeek := byte(0), pos < len(p) && w.plen > 0
		if havePeek {
			peek = p[pos]
		}
		w.keep = c.keepFor(w, peek, havePeek)
		if w.left == 0 {
			c.deliver(w)
		}
	}
}

// keepFor: how many payload bytes of the packet w has just begun are
// worth keeping; peek is its first byte, when copied.
func (c *Conn) keepFor(w *walker, peek byte, havePeek bool) int {
	if w.cont || !havePeek {
		return 0
	}
	if !w.fromClient {
		if w.seq == 0 && peek == 10 {
			return keepGreeting
		}
		return keepAnswer
	}
	if w.seq != 0 {
		if w.seq == 1 && c.connecting {
			return keepHandshake
		}
		return 0 // authentication data, a file's contents
	}
	switch peek {
	case comQuery, comStmtPrepare:
		return keepText
	case comInitDB:
		return 1 + maxNamespace
	case comChangeUser:
		return 1 // a user name and authentication data follow
	}
	return keepCommand
}

// lose: the walker lost its place (a header lies past the kernel's copy).
func (c *Conn) lose(w *walker) {
	w.sync = false
	w.reset()
	c.st.Desync++
	if !w.fromClient {
		if h := c.peek(); h != nil {
			h.lost = true
		}
	}
}

// tailSync: a server transfer whose bytes could not all be read ends where
// its last 8 bytes are a result set's last packet (an EOF, or an OK with
// header 0xfe) with no more results to follow: the answer at the head is
// over, and the next transfer starts at a packet boundary. (An error would
// have ended it with an ERR instead: its status is known.)
func (c *Conn) tailSync(w *walker, ev *stream.Event) {
	t := ev.Tail
	if w.fromClient || len(t) < 8 || len(ev.Payload) >= ev.Len {
		return
	}
	var flags uint16
	switch {
	case t[0] == 0 && t[1] == 0 && t[3] == hdrEOF: // 05 00 00 seq fe warnings status
		flags = binary.LittleEndian.Uint16(t[6:])
	case t[1] == hdrEOF && t[2] == 0 && t[3] == 0: // ... seq fe 00 00 status warnings
		flags = binary.LittleEndian.Uint16(t[4:])
	default:
		return
	}
	if flags&statusMoreResults != 0 {
		return
	}
	h := c.peek()
	if h == nil || h.at != asColumns && h.at != asRows {
		return
	}
	h.lost = false
	w.sync = true
	w.reset()
	c.finish("")
}

// deliver handles the packet w has just read whole (or as much of it as
// was copied and kept).
func (c *Conn) deliver(w *walker) {
	body, plen, seq, cont, lost, start := w.body, w.plen, w.seq, w.cont, w.lost, w.start
	w.inBody, w.left = false, 0
	if w.fromClient {
		c.fromClient(body, plen, seq, cont, lost, start)
	} else if !cont {
		c.fromServer(body, plen, seq)
	}
	w.body = w.body[:0]
}

func (c *Conn) fromClient(b []byte, plen int, seq byte, cont, lost bool, start uint64) {
	if cont {
		// a command of 16 MiB or more: its answer follows its last packet
		if l := c.last(); l != nil && l.at == asStart {
			l.seq = seq + 1
		}
		return
	}
	if seq != 0 {
		if seq == 1 && c.connecting {
			c.handshakeResponse(b, plen)
		}
		return // authentication data, a LOCAL INFILE's contents
	}
	if len(b) == 0 {
		return
	}
	c.connecting = false
	if !c.in.sync {
		// The server's answers were lost; the client sends its next
		// command only once it has read them all: they are over, and the
		// server's next transfer starts an answer.
		c.answersLost()
		c.in.sync = true
		c.in.reset()
	}
	switch b[0] {
	case comQuery:
		text, complete := c.statementText(skipQueryAttributes(b[1:]), plen, lost)
		info := c.analyze(text, complete)
		c.push(item{kind: rqQuery, info: info, start: start, ns: useTarget(info, text), seq: 1})
	case comStmtPrepare:
		text, complete := c.statementText(b[1:], plen, lost)
		c.push(item{kind: rqPrepare, info: c.analyze(text, complete), start: start, seq: 1})
	case comStmtExecute:
		var info stmt
		if len(b) >= 5 {
			info = c.stmt(binary.LittleEndian.Uint32(b[1:]))
		}
		c.push(item{kind: rqExecute, info: info, start: start, seq: 1})
	case comStmtClose:
		if len(b) >= 5 {
			delete(c.stmts, binary.LittleEndian.Uint32(b[1:]))
		}
	case comStmtSendLongData, comQuit:
		// no answer
	case comInitDB:
		ns := ""
		if !lost && len(b) > 1 && printable(b[1:]) {
			ns = string(b[1:])
		}
		c.push(item{kind: rqOne, ns: ns, start: start, seq: 1})
	case comStmtFetch, comFieldList:
		c.push(item{kind: rqRows, start: start, seq: 1})
	case comChangeUser:
		c.push(item{kind: rqAuth, start: start, seq: 1})
	default:
		// COM_PING, COM_STMT_RESET, COM_RESET_CONNECTION, COM_SET_OPTION,
		// COM_STATISTICS, ...: one packet answers
		c.push(item{kind: rqOne, start: start, seq: 1})
	}
}

// handshakeResponse reads the client's capabilities and the database of
// its handshake response; the packet's other bytes (the user name, the
// authentication data) are cleared, never kept.
func (c *Conn) handshakeResponse(b []byte, plen int) {
	caps, db, ok := handshakeResponse(b)
	if ok {
		c.clientCaps = caps
		if caps&capSSL != 0 && plen == 32 {
			c.opaque = true // an SSLRequest: TLS follows
		}
		if len(db) > 0 {
			c.namespace = string(db)
		}
	}
	clear(b)
}

// statementText is a COM_QUERY's or a COM_STMT_PREPARE's statement (the
// rest of its payload), and whether it is whole (not cut by the copy).
func (c *Conn) statementText(text []byte, plen int, lost bool) ([]byte, bool) {
	if lost {
		c.st.Truncated++
	}
	return text, !lost && plen < maxPacket
}

func (c *Conn) analyze(text []byte, complete bool) stmt {
	return stmt{known: true, Statement: sqltext.Analyze(sqltext.MySQL, text, complete, c.withText, &c.names)}
}

// stmt returns what is known of statement id: MariaDB's id 0xffffffff
// names the statement prepared last, whose answer may not have come yet
// (a prepare and its execute sent together).
func (c *Conn) stmt(id uint32) stmt {
	if id == 0xffffffff {
		for i := len(c.q) - 1; i >= c.head; i-- {
			if c.q[i].kind == rqPrepare {
				return c.q[i].info
			}
		}
		return c.lastPrepared
	}
	return c.stmts[id]
}

func (c *Conn) setStmt(id uint32, s stmt) {
	c.lastPrepared = s
	if c.stmts == nil {
		c.stmts = make(map[uint32]stmt)
	}
	if _, ok := c.stmts[id]; !ok && len(c.stmts) >= maxStatements {
		for k := range c.stmts { // forget one: its executes become unknown
			delete(c.stmts, k)
			break
		}
	}
	c.stmts[id] = s
}

// fromServer handles a server packet (the first of its payload): b is
// what was kept of it, plen its length, seq its sequence id.
func (c *Conn) fromServer(b []byte, plen int, seq byte) {
	first := !c.sawServer
	c.sawServer = true
	if seq == 0 && first {
		if mariadb, caps, ok := greeting(b, plen); ok {
			// the connection's first packet (a row of a long answer can
			// have sequence id 0 too, and look like a greeting)
			c.greeted, c.connecting = true, true
			c.serverCaps = caps
			if mariadb {
				c.conv = MariaDB
			}
			return
		}
	}
	if c.connecting {
		switch {
		case len(b) == 0:
		case b[0] == hdrOK:
			c.connecting = false
			if c.clientCaps&c.serverCaps&capCompress != 0 {
				c.opaque = true // the compressed protocol follows
			}
		case b[0] == hdrErr:
			c.connecting = false // refused: the server closes the connection
		}
		return // an authentication switch or more data
	}
	h := c.peek()
	if h == nil {
		if seq == 1 {
			c.st.Incomplete++ // the answer to a command not seen
		}
		return
	}
	if len(b) == 0 {
		if plen > 0 && h.at == asStart && seq == h.seq {
			// its first bytes were past the copy: what it is cannot be told
			h.lost = true
		}
		if seq == h.seq {
			h.seq++
		}
		return
	}
	c.answer(h, b, plen, seq)
}

// answer handles a packet of the answer to h.
func (c *Conn) answer(h *item, b []byte, plen int, seq byte) {
	if h.at != asInfile && h.kind != rqAuth {
		if seq != h.seq {
			if h.at == asStart {
				return // not this answer's: the last packet of the one before
			}
			if h.at == asPrepared && seq == 1 {
				// the definitions were not sent (MySQL's optional
				// metadata): this is the next command's answer
				c.finish("")
				if h := c.peek(); h != nil {
					c.answer(h, b, plen, seq)
				}
				return
			}
			c.st.Desync++ // packets were lost
		}
		h.seq = seq + 1
	}
	if b[0] == hdrErr && h.at != asPrepared {
		code, final := errCode(b)
		switch {
		case len(b) < 3:
			c.finish("_OTHER") // an error whose number was not seen
		case final:
			c.finish(codeString(code))
		}
		return
	}
	switch h.at {
	case asStart:
		c.first(h, b, plen)
	case asColumns:
		switch {
		case isColumnDef(b):
		case isEOF(b, plen):
			flags, _ := statusFlags(b, plen)
			if flags&statusCursorExists != 0 {
				c.finish("") // the rows come with COM_STMT_FETCH
				return
			}
			h.at = asRows
		case isTerminator(b, plen):
			c.terminated(h, b, plen)
		default:
			h.at = asRows // a row: no EOF after the definitions
		}
	case asRows:
		if isTerminator(b, plen) {
			c.terminated(h, b, plen)
		}
	case asInfile:
		if b[0] == hdrOK {
			c.terminated(h, b, plen)
		}
	case asPrepared:
		if isEOF(b, plen) {
			if h.eofs > 0 {
				h.eofs--
			}
		} else {
			h.defs--
		}
		if h.defs <= 0 && h.eofs == 0 {
			c.finish("")
		}
	}
}

// first handles the first packet of the answer to h.
func (c *Conn) first(h *item, b []byte, plen int) {
	switch {
	case h.kind == rqAuth:
		if b[0] == hdrOK {
			c.finish("")
		}
		// an authentication switch or more data
	case h.kind == rqPrepare && b[0] == hdrOK && len(b) >= 9:
		// statement id, column count, parameter count
		c.setStmt(binary.LittleEndian.Uint32(b[1:]), h.info)
		cols, params := int(binary.LittleEndian.Uint16(b[5:])), int(binary.LittleEndian.Uint16(b[7:]))
		h.defs = cols + params
		if c.greeted && c.clientCaps&c.serverCaps&capDeprecateEOF == 0 {
			// both counts are known to be followed by an EOF
			h.eofs = min(cols, 1) + min(params, 1)
		}
		if h.defs == 0 {
			c.finish("")
			return
		}
		h.at = asPrepared
	case b[0] == hdrOK:
		c.terminated(h, b, plen)
	case h.kind == rqOne:
		c.finish("") // an EOF (COM_SET_OPTION), a text (COM_STATISTICS)
	case h.kind == rqRows:
		h.at = asRows
		if isTerminator(b, plen) {
			c.terminated(h, b, plen)
		}
	case b[0] == hdrInfile && h.kind == rqQuery:
		h.at = asInfile
	case b[0] == hdrEOF:
		c.finish("")
	default:
		h.at = asColumns // a column count
	}
}

// terminated: an OK, or the last packet of a result set: the answer is
// over unless the server says more results follow (several statements in
// one COM_QUERY, a CALL).
func (c *Conn) terminated(h *item, b []byte, plen int) {
	if flags, ok := statusFlags(b, plen); ok && flags&statusMoreResults != 0 {
		h.at = asStart
		return
	}
	c.finish("")
}

// finish ends the command at the head, with status (an error number, ""
// when it succeeded).
func (c *Conn) finish(status string) {
	it := c.pop()
	switch it.kind {
	case rqQuery, rqExecute:
		c.emit(it, status, it.lost && status == "")
	case rqPrepare:
		if status != "" {
			c.emit(it, status, false) // the operation failed at its prepare
		}
	}
	if status == "" && it.ns != "" {
		c.namespace = it.ns
	}
}

// answersLost: the server's bytes were lost and the client has sent its
// next command: every answer in flight is over, by the end of the last
// transfer read. The head's is reported with its status unknown; the
// others cannot be told apart.
func (c *Conn) answersLost() {
	if h := c.peek(); h != nil {
		h.lost = true
		now := c.now
		c.now = max(c.lastIn, h.start)
		c.finish("")
		c.now = now
	}
	for c.head < len(c.q) {
		c.discard(c.pop())
	}
}

// discard counts a command dropped unanswered.
func (c *Conn) discard(it item) {
	if it.kind == rqQuery || it.kind == rqExecute || it.kind == rqPrepare {
		c.st.Incomplete++
	}
}

// emit reports the command it as one operation ending now. statusLost:
// server bytes were lost, so an error may have gone unseen.
func (c *Conn) emit(it item, status string, statusLost bool) {
	r := dbconv.SQLRecord(c.conv, c.meta, it.start, c.now, c.namespace, it.info.known, it.info.Statement, status)
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

// useTarget returns the database a USE statement names ("" for any other
// statement): the connection uses it once the statement succeeds.
func useTarget(info stmt, text []byte) string {
	if len(info.Operation) != 3 || info.Operation[0]|0x20 != 'u' || info.Operation[1]|0x20 != 's' || info.Operation[2]|0x20 != 'e' {
		return ""
	}
	i := 0
	for i < len(text) && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') {
		i++
	}
	if len(text)-i < 4 {
		return ""
	}
	i += 3 // USE
	for i < len(text) && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') {
		i++
	}
	var name []byte
	if i < len(text) && text[i] == '`' {
		j := i + 1
		for j < len(text) && text[j] != '`' {
			j++
		}
		if j >= len(text) {
			return ""
		}
		name, i = text[i+1:j], j+1
	} else {
		j := i
		for j < len(text) && (text[j] >= 'a' && text[j] <= 'z' || text[j] >= 'A' && text[j] <= 'Z' ||
			text[j] >= '0' && text[j] <= '9' || text[j] == '_' || text[j] == '$') {
			j++
		}
		name, i = text[i:j], j
	}
	for i < len(text) && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r' || text[i] == ';') {
		i++
	}
	if i != len(text) || len(name) == 0 || len(name) > maxNamespace || !printable(name) {
		return ""
	}
	return string(name)
}
