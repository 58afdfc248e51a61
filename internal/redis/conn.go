package redis

import (
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

// Limits of what is read whole: a header line ("*3", "$5"), the arguments
// whose content matters (a command's name, a subcommand, SELECT's index).
const (
	maxHeader  = 20
	maxArgs    = 1 << 24
	maxBulk    = 512 << 20
	maxDepth   = 16
	maxPending = 1 << 16
	// maxResync: transfers written while the commands' framing is lost
	// that begin no command, after which the connection is given back to
	// detection (it may never have been Redis).
	maxResync = 64
)

// Conn follows one connection of a Redis client.
type Conn struct {
	meta stream.Meta
	st   *protocol.Stats
	// queryText: report db.query.text (protocol.Options.QueryText).
	queryText bool

	out wire.Cursor // the commands written
	in  wire.Cursor // the replies read
	cmd cmdParse
	rep replyParse

	queue wire.Queue[waiting] // commands waiting for their replies, oldest first
	ns    string              // db.namespace: the index of the last SELECT answered

	// outLost: the commands' framing is lost until a transfer begins with
	// a command. inLost: where the replies are is not known (before the
	// first command, or once inDesync) until a read that follows commands
	// written in sync. inDesync: the replies' framing was lost, so the
	// commands waiting may have had their replies unseen.
	outLost, inLost, inDesync bool
	resync                    int
	lastIn                    uint64 // Unix ns of the last read
	// passive: the connection carries no more replies to pair (RESP2
	// pub/sub, MONITOR, CLIENT REPLY OFF); its transfers are skipped.
	passive bool
	gaveUp  bool
	closed  bool
}

// waiting is a command written whose reply is awaited.
type waiting struct {
	op    string
	start uint64
	kind  uint8
	db    string // SELECT: the index
	args  int    // its arguments, the name included
}

// NewConn returns the parser of one client connection; opt may be nil.
func NewConn(meta stream.Meta, st *protocol.Stats, opt *protocol.Options) *Conn {
	return &Conn{meta: meta, st: st, queryText: opt != nil && opt.QueryText, inLost: true,
		queue: wire.NewQueue[waiting](maxPending, &st.Incomplete)}
}

// Upgraded: a connection whose writes stopped being commands where one
// must begin is given back to detection.
func (c *Conn) Upgraded() bool { return c.gaveUp }

// Feed parses one transfer.
func (c *Conn) Feed(ev *stream.Event, emit func(*record.Record)) {
	if c.closed || c.gaveUp {
		return
	}
	if c.passive {
		c.st.Skipped++
		return
	}
	if ev.Dir == stream.Egress {
		c.feedOut(ev, emit)
	} else {
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
		c.cmd = cmdParse{}
	}
	expectStart := c.out.AtStart() && c.cmd.state == cmdStart
	if expectStart && c.inDesync {
		// The client writes again: whatever it read since the
		// replies' framing was lost ended the replies it waited for.
		c.settle(emit)
	}
	for first := true; !c.out.AtEnd() && !c.passive; first = false {
		switch c.parseCommand(ev.UnixNano) {
		case wire.OK:
		case wire.More:
			return
		case wire.Bad:
			if first && expectStart {
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

func (c *Conn) feedIn(ev *stream.Event, emit func(*record.Record)) {
	c.lastIn = ev.UnixNano
	if c.inLost {
		if !c.queue.Ready() {
			c.st.Skipped++
			return
		}
		// Commands were written in sync since: their replies begin here.
		c.in.Reset()
		c.rep = replyParse{}
		c.inLost, c.inDesync = false, false
	}
	c.in.Begin(ev)
	if c.rep.inBulk {
		if c.in.Skipping() > 0 {
			return
		}
		c.rep.inBulk = false
		c.elementDone(ev.UnixNano, emit)
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

// loseOut: the commands' framing is lost; their replies cannot be paired
// past what was written before.
func (c *Conn) loseOut() {
	c.st.Desync++
	c.outLost = true
	c.out.Reset()
	c.cmd = cmdParse{}
	c.queue.PushBarrier()
}

// loseIn: the replies' framing is lost. The reply in progress, if any, is
// the oldest command's.
func (c *Conn) loseIn() {
	c.st.Desync++
	if c.rep.started {
		c.queue.LoseFront()
	}
	c.inLost, c.inDesync = true, true
	c.in.Reset()
	c.rep = replyParse{}
}

// settle ends what waited while the replies' framing was lost: a command
// alone whose reply began ends at the last read; anything else is
// incomplete.
func (c *Conn) settle(emit func(*record.Record)) {
	if c.queue.SettleOne() {
		c.answer(c.lastIn, "", emit)
	}
}

// goPassive: no more replies to pair on this connection.
func (c *Conn) goPassive() {
	c.passive = true
	c.queue.Drop()
}

func (c *Conn) giveUp() {
	c.gaveUp = true
	c.queue.Drop()
}

// answer pairs the oldest waiting command with a reply that ended at at;
// status is its error code ("" for success). errType is for an error reply
// without a code.
func (c *Conn) answer(at uint64, status string, emit func(*record.Record)) {
	c.answerWith(at, status, "", emit)
}

func (c *Conn) answerWith(at uint64, status, errType string, emit func(*record.Record)) {
	if c.queue.Len() == 0 {
		c.st.Incomplete++ // a reply to a command not seen
		return
	}
	w, ok := c.queue.Pop()
	if !ok {
		return // a reply to a command whose framing was lost
	}
	r := record.New()
	r.Kind = record.KindClient
	r.Conv = Conventions
	r.PID = c.meta.PID
	r.Local, r.Peer = c.meta.Local, c.meta.Peer
	r.StartUnixNano = w.start
	r.EndUnixNano = max(at, w.start)
	r.Operation = w.op
	r.Namespace = c.ns
	r.Status = status
	r.ErrorType = errType
	if c.queryText {
		r.QueryText = queryText(w.op, w.args)
	}
	c.st.Records++
	emit(r)
	if status == "" && errType == "" && w.kind == kindSelect && w.db != "" {
		c.ns = w.db
	}
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
	if c.gaveUp || c.passive {
		c.queue.Drop()
		return
	}
	if c.inDesync {
		c.settle(emit)
	}
	for c.queue.Ready() {
		c.answerWith(at, "", ErrorConnectionClosed, emit)
	}
	c.queue.Drop()
}

// maxQueryArgs bounds the "?" of a db.query.text: an MSET of thousands of
// keys says no more with all of them.
const maxQueryArgs = 32

// queryText is a command's db.query.text: its operation (a container's
// subcommand included) and a "?" for each argument after it, at most
// maxQueryArgs of them and then "…".
func queryText(op string, args int) string {
	words := 1 + strings.Count(op, " ")
	n := args - words
	if n <= 0 {
		return op
	}
	var b strings.Builder
	b.Grow(len(op) + 2*min(n, maxQueryArgs) + 4)
	b.WriteString(op)
	for i := 0; i < min(n, maxQueryArgs); i++ {
		b.WriteString(" ?")
	}
	if n > maxQueryArgs {
		b.WriteString(" …")
	}
	return b.String()
}
