package memcached

import (
	"bytes"
	"strings"
	"time"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
	"github.com/ebpfred/ebpfred/internal/wire"
)

// ErrorConnectionClosed is the error.type of a command whose connection
// closed before its reply.
const ErrorConnectionClosed = "connection_closed"

const (
	// maxLine bounds a line read whole: a storage command's (a key is at
	// most 250 bytes), a reply's. Retrieval commands, whose lines list any
	// number of keys, are passed over instead.
	maxLine = 1024
	// maxData bounds a data block's announced length (memcached's item
	// size limit is far below).
	maxData    = 1 << 30
	maxPending = 1 << 16
	// maxResync: writes that begin no command while the commands'
	// framing is lost, after which the connection is given back to
	// detection.
	maxResync = 64
	opOther   = "_OTHER"
)

// Conn follows one connection of a memcached client.
type Conn struct {
	meta      stream.Meta
	st        *protocol.Stats
	queryText bool

	out, in wire.Cursor
	// skipping: the command whose line is being passed over (a retrieval
	// command's line went on past the last write).
	skipping *waiting
	// valueData: passing over a VALUE's data past the last read;
	// metaData: a VA's, which ends the reply.
	valueData, metaData bool
	// started: the reply in progress began.
	started bool

	queue wire.Queue[waiting]
	// outLost: the commands' framing is lost until a write begins with a
	// command. inLost: where the replies are is not known until commands
	// written in sync wait for them. inDesync: the replies' framing was
	// lost, so the commands waiting may have had their replies unseen.
	outLost, inLost, inDesync bool
	resync                    int
	lastIn                    uint64
	// passive: replies can no longer be paired (quiet meta commands).
	passive, gaveUp, closed bool
}

type waiting struct {
	op    string
	text  string
	start uint64
	reply uint8
}

// NewConn returns the parser of one client connection; opt may be nil.
func NewConn(meta stream.Meta, st *protocol.Stats, opt *protocol.Options) *Conn {
	return &Conn{meta: meta, st: st, queryText: opt != nil && opt.QueryText, inLost: true,
		queue: wire.NewQueue[waiting](maxPending, &st.Incomplete)}
}

// Upgraded: a connection whose writes stopped being commands where one must
// begin is given back to detection.
func (c *Conn) Upgraded() bool { return c.gaveUp }

// Feed parses one transfer.
func (c *Conn) Feed(ev *stream.Event, emit func(*record.Record)) {
	switch {
	case c.closed || c.gaveUp:
	case c.passive:
		c.st.Skipped++
	case ev.Dir == stream.Egress:
		c.feedOut(ev, emit)
	default:
		c.feedIn(ev, emit)
	}
}

func (c *Conn) feedOut(ev *stream.Event, emit func(*record.Record)) {
	c.out.Begin(ev)
	if c.outLost {
		if !c.out.AtStart() || Detect(c.out.Known(), stream.Egress, false) == protocol.No {
			c.out.Reset()
			c.st.Skipped++
			if c.resync++; c.resync > maxResync {
				c.giveUp()
			}
			return
		}
		c.outLost, c.resync = false, 0
	}
	if c.skipping != nil {
		switch c.out.SkipLine() {
		case wire.OK:
			c.queue.Push(*c.skipping)
			c.skipping = nil
		case wire.More:
			return
		default:
			c.skipping = nil
			c.loseOut()
			return
		}
	}
	if c.out.AtStart() && c.inDesync {
		// The client writes again: what it read since the replies'
		// framing was lost ended the replies it waited for.
		c.settle(emit)
	}
	for first := true; !c.out.AtEnd() && !c.passive; first = false {
		switch c.parseCommand(ev.UnixNano) {
		case wire.OK:
		case wire.More:
			return
		case wire.Bad:
			if first && c.out.AtStart() {
				c.giveUp()
				return
			}
			c.st.ParseErrors++
			c.loseOut()
			return
		case wire.Lost:
			c.loseOut()
			return
		}
	}
}

// parseCommand reads the next command written.
func (c *Conn) parseCommand(now uint64) wire.Status {
	k := c.out.Known()
	if k == nil {
		return wire.Lost
	}
	i := bytes.IndexAny(k[:min(len(k), maxName+1)], " \r")
	if i < 0 {
		if len(k) > maxName {
			return wire.Bad
		}
		_, st := c.out.Line(maxLine) // keeps the name's start for the next write
		return st
	}
	cmd, known := commands[string(k[:i])]
	op := opOther
	if known {
		op = opNames[string(k[:i])]
	} else {
		cmd = command{reply: replyLine}
	}
	w := waiting{op: op, start: now, reply: cmd.reply}
	if cmd.reply == replyValues {
		// Any number of keys: the line is passed over.
		if c.queryText {
			w.text = op + " ?"
		}
		switch st := c.out.SkipLine(); st {
		case wire.OK:
			c.queue.Push(w)
		case wire.More:
			c.skipping = &w
		default:
			return st
		}
		return wire.OK
	}
	line, st := c.out.Line(maxLine)
	if st != wire.OK {
		return st
	}
	tokens := bytes.Fields(line)
	noreply := len(tokens) > 1 && string(tokens[len(tokens)-1]) == "noreply"
	if cmd.data > 0 {
		if len(tokens) <= cmd.data {
			return wire.Bad
		}
		// A length that is no number is answered with CLIENT_ERROR,
		// and no data is read.
		if n, ok := atoi(tokens[cmd.data]); ok && n <= maxData {
			c.out.Skip(int64(n) + 2) // the value: never looked at
		}
	}
	if cmd.meta {
		for _, f := range tokens[min(len(tokens), 2):] {
			if len(f) == 1 && f[0] == 'q' {
				// Quiet mode: which replies come is no longer known.
				c.st.Incomplete++ // seen, never reported: its replies cannot be told apart
				c.goPassive()
				return wire.OK
			}
		}
	}
	if c.queryText {
		w.text = queryText(op, len(tokens)-1)
	}
	if noreply || cmd.reply == 0 {
		c.st.Incomplete++ // noreply, quit: no reply to end it, so never reported
		return wire.OK
	}
	c.queue.Push(w)
	return wire.OK
}

func (c *Conn) feedIn(ev *stream.Event, emit func(*record.Record)) {
	c.lastIn = ev.UnixNano
	if c.inLost {
		if !c.queue.Ready() {
			c.st.Skipped++
			return
		}
		// Commands were written in sync since: their replies begin here.
		c.in.Reset()
		c.resetReply()
		c.inLost, c.inDesync = false, false
	}
	c.in.Begin(ev)
	if c.valueData || c.metaData {
		if c.in.Skipping() > 0 {
			return
		}
		if c.metaData {
			c.answer(ev.UnixNano, "", "", emit)
		}
		c.valueData, c.metaData = false, false
	}
	for !c.in.AtEnd() && !c.inLost && !c.passive {
		switch c.parseReply(ev.UnixNano, emit) {
		case wire.OK:
		case wire.More:
			return
		case wire.Bad:
			c.st.ParseErrors++
			c.loseIn()
			return
		case wire.Lost:
			c.loseIn()
			return
		}
	}
}

func (c *Conn) resetReply() { c.valueData, c.metaData, c.started = false, false, false }

// parseReply reads the next line of the replies.
func (c *Conn) parseReply(now uint64, emit func(*record.Record)) wire.Status {
	if c.queue.Len() == 0 || c.queue.AtBarrier() {
		// A reply to a command not seen, or to commands whose framing
		// was lost: wait for the client's next command.
		if c.queue.Len() == 0 {
			c.st.Incomplete++
		}
		c.inLost, c.inDesync = true, c.queue.Len() > 0
		c.in.Reset()
		return wire.OK
	}
	c.started = true
	line, st := c.in.Line(maxLine)
	if st != wire.OK {
		return st
	}
	switch {
	case string(line) == "ERROR":
		c.answer(now, "ERROR", "", emit)
		return wire.OK
	case bytes.HasPrefix(line, []byte("CLIENT_ERROR")):
		c.answer(now, "CLIENT_ERROR", "", emit)
		return wire.OK
	case bytes.HasPrefix(line, []byte("SERVER_ERROR")):
		c.answer(now, "SERVER_ERROR", "", emit)
		return wire.OK
	}
	reply := c.queue.Front().Cmd.reply
	switch reply {
	case replyValues, replyStats:
		if string(line) == "END" {
			c.answer(now, "", "", emit)
			return wire.OK
		}
		if reply == replyStats && bytes.HasPrefix(line, []byte("STAT ")) {
			return wire.OK
		}
		if reply == replyValues && bytes.HasPrefix(line, []byte("VALUE ")) {
			// VALUE <key> <flags> <bytes> [<cas>]
			tokens := bytes.Fields(line)
			if len(tokens) < 4 {
				return wire.Bad
			}
			return c.skipData(tokens[3], false)
		}
		return wire.Bad
	case replyMeta:
		if bytes.HasPrefix(line, []byte("VA ")) {
			tokens := bytes.Fields(line)
			if len(tokens) < 2 {
				return wire.Bad
			}
			if st := c.skipData(tokens[1], true); st != wire.OK {
				return st
			}
			if !c.metaData {
				c.answer(now, "", "", emit)
			}
			return wire.OK
		}
	}
	c.answer(now, "", "", emit)
	return wire.OK
}

// skipData passes over a data block of the length in n and its CRLF. When
// it runs past the read, the reply goes on in the next one.
func (c *Conn) skipData(n []byte, meta bool) wire.Status {
	size, ok := atoi(n)
	if !ok || size > maxData {
		return wire.Bad
	}
	c.in.Skip(int64(size) + 2)
	if c.in.Skipping() > 0 {
		c.valueData, c.metaData = !meta, meta
		return wire.More
	}
	return wire.OK
}

// loseOut: the commands' framing is lost.
func (c *Conn) loseOut() {
	c.st.Desync++
	c.outLost = true
	c.out.Reset()
	c.queue.PushBarrier()
}

// loseIn: the replies' framing is lost. The reply in progress, if any, is
// the oldest command's.
func (c *Conn) loseIn() {
	c.st.Desync++
	if c.started {
		c.queue.LoseFront()
	}
	c.inLost, c.inDesync = true, true
	c.in.Reset()
	c.resetReply()
}

// settle ends what waited while the replies' framing was lost: a command
// alone whose reply began ends at the last read; anything else is
// incomplete.
func (c *Conn) settle(emit func(*record.Record)) {
	if c.queue.SettleOne() {
		c.answer(c.lastIn, "", "", emit)
	}
}

func (c *Conn) goPassive() {
	c.passive = true
	c.queue.Drop()
}

func (c *Conn) giveUp() {
	c.gaveUp = true
	c.queue.Drop()
}

// answer pairs the oldest waiting command with a reply that ended at at.
func (c *Conn) answer(at uint64, status, errType string, emit func(*record.Record)) {
	c.started = false
	w, ok := c.queue.Pop()
	if !ok {
		return
	}
	r := record.New()
	r.Kind = record.KindClient
	r.Conv = Conventions
	r.PID = c.meta.PID
	r.Local, r.Peer = c.meta.Local, c.meta.Peer
	r.StartUnixNano = w.start
	r.EndUnixNano = max(at, w.start)
	r.Operation = w.op
	r.Status = status
	r.ErrorType = errType
	r.QueryText = w.text
	c.st.Records++
	emit(r)
}

// Flush ends a command whose reply's end could not be seen once the
// connection was idle for idle.
func (c *Conn) Flush(now uint64, idle time.Duration, emit func(*record.Record)) {
	if c.closed || c.gaveUp || !c.inDesync || c.queue.Len() == 0 {
		return
	}
	if now >= c.lastIn+uint64(idle) && c.queue.Front().Lost {
		c.settle(emit)
	}
}

// Close ends the connection at at: commands still waiting failed
// (connection_closed), except those whose framing was lost (incomplete).
func (c *Conn) Close(at uint64, emit func(*record.Record)) {
	if c.closed {
		return
	}
	defer func() { c.closed = true }()
	if c.skipping != nil {
		c.st.Incomplete++
		c.skipping = nil
	}
	if c.gaveUp || c.passive {
		c.queue.Drop()
		return
	}
	if c.inDesync {
		c.settle(emit)
	}
	for c.queue.Ready() {
		c.answer(at, "", ErrorConnectionClosed, emit)
	}
	c.queue.Drop()
}

// atoi parses a non-negative decimal of at most 10 digits.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// maxQueryArgs bounds the "?" of a db.query.text.
const maxQueryArgs = 32

// queryText is a command's db.query.text: its name and a "?" for each other
// token (keys, flags, lengths alike).
func queryText(op string, args int) string {
	if args <= 0 {
		return op
	}
	var b strings.Builder
	b.WriteString(op)
	for i := 0; i < min(args, maxQueryArgs); i++ {
		b.WriteString(" ?")
	}
	if args > maxQueryArgs {
		b.WriteString(" …")
	}
	return b.String()
}
