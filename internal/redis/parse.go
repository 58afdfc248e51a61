package redis

import (
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/wire"
)

// Where the command being written is.
const (
	cmdStart     uint8 = iota // its "*N" line
	cmdArgHeader              // an argument's "$L" line
	cmdArgBody                // an argument read whole (a name)
)

type cmdParse struct {
	state  uint8
	args   int // arguments in all
	arg    int // the argument being read
	argLen int
	start  uint64
	op     string
	kind   uint8
	db     string
}

// parseCommand reads the next element of the command being written.
func (c *Conn) parseCommand(now uint64) wire.Status {
	p := &c.cmd
	switch p.state {
	case cmdStart:
		// Redis passes over empty lines between commands (redis-cli
		// --pipe writes one before its closing ECHO).
		if k := c.out.Known(); len(k) >= 2 && k[0] == '\r' && k[1] == '\n' {
			c.out.Skip(2)
			return wire.OK
		} else if len(k) >= 1 && k[0] == '\n' {
			c.out.Skip(1)
			return wire.OK
		}
		line, st := c.out.Line(maxHeader)
		if st != wire.OK {
			return st
		}
		n, ok := length(line, '*')
		if !ok || n < 1 || n > maxArgs {
			return wire.Bad
		}
		*p = cmdParse{state: cmdArgHeader, args: n, start: now, op: opOther}
		return wire.OK
	case cmdArgHeader:
		line, st := c.out.Line(maxHeader)
		if st != wire.OK {
			return st
		}
		n, ok := length(line, '$')
		if !ok || n > maxBulk {
			return wire.Bad
		}
		p.argLen = n
		if n <= maxName && (p.arg == 0 || p.arg == 1 && (p.kind == kindContainer || p.kind == kindSelect)) {
			p.state = cmdArgBody
			return wire.OK
		}
		c.out.Skip(int64(n) + 2) // a key, a value: never looked at
		return c.nextArg()
	}
	b, st := c.out.Take(p.argLen + 2)
	if st != wire.OK {
		return st
	}
	if b[p.argLen] != '\r' || b[p.argLen+1] != '\n' {
		return wire.Bad
	}
	arg := b[:p.argLen]
	switch {
	case p.arg == 0:
		p.op, p.kind = lookup(arg)
	case p.kind == kindContainer:
		p.op = subcommand(p.op, arg)
		if p.op == "CLIENT REPLY" {
			p.kind = kindReplyOff
		}
	case p.kind == kindSelect:
		p.db = dbName(arg)
	}
	return c.nextArg()
}

// nextArg moves to the next argument, or queues the command when it was
// the last.
func (c *Conn) nextArg() wire.Status {
	p := &c.cmd
	if p.arg++; p.arg < p.args {
		p.state = cmdArgHeader
		return wire.OK
	}
	w := waiting{op: p.op, start: p.start, kind: p.kind, db: p.db, args: p.args}
	c.cmd = cmdParse{}
	if w.kind == kindReplyOff {
		// CLIENT REPLY OFF|SKIP|ON: which replies come is no longer known.
		c.st.Incomplete++
		c.goPassive()
		return wire.OK
	}
	c.queue.Push(w)
	return wire.OK
}

// length parses a header line: the type byte t and a decimal, or -1 (a
// null).
func length(line []byte, t byte) (int, bool) {
	if len(line) < 2 || line[0] != t {
		return 0, false
	}
	if len(line) == 3 && line[1] == '-' && line[2] == '1' {
		return -1, true
	}
	return atoi(line[1:])
}

// replyParse is where the reply being read is: the elements still to come
// at each level of nesting.
type replyParse struct {
	depth   int
	left    [maxDepth]int
	started bool // a reply began
	top     byte // its type
	status  string
	errType string
	inLine  bool // passing over the rest of a simple element's line
	// inBulk: passing over a bulk element's bytes past the window; it
	// ends (and may end the reply) in a later read.
	inBulk bool
}

// parseReply reads the next element of the replies.
func (c *Conn) parseReply(now uint64, emit func(*record.Record)) wire.Status {
	p := &c.rep
	if p.inLine {
		if st := c.in.SkipLine(); st != wire.OK {
			return st
		}
		p.inLine = false
		return c.elementDone(now, emit)
	}
	k := c.in.Known()
	if k == nil {
		if c.in.AtEnd() {
			return wire.More
		}
		return wire.Lost
	}
	t := k[0]
	if !p.started {
		if c.queue.AtBarrier() {
			// Replies to commands whose framing was lost: how many is
			// not known. Wait for the client's next command.
			c.inLost, c.inDesync = true, true
			c.in.Reset()
			return wire.OK
		}
		p.started, p.top = true, t
	}
	switch t {
	case '+', ':', ',', '_', '#', '(', '-':
		if t == '-' && p.depth == 0 {
			p.status = errorCode(k[1:])
			if p.status == "" {
				p.errType = opOther
			}
		}
		if st := c.in.SkipLine(); st != wire.OK {
			p.inLine = st == wire.More
			return st
		}
		return c.elementDone(now, emit)
	case '$', '=', '!':
		line, st := c.in.Line(maxHeader)
		if st != wire.OK {
			return st
		}
		n, ok := length(line, t)
		if !ok || n > maxBulk {
			return wire.Bad
		}
		if n >= 0 {
			if t == '!' && p.depth == 0 {
				p.status = errorCode(c.in.Known())
				if p.status == "" {
					p.errType = opOther
				}
			}
			c.in.Skip(int64(n) + 2)
			if c.in.Skipping() > 0 {
				p.inBulk = true
				return wire.More
			}
		}
		return c.elementDone(now, emit)
	case '*', '%', '~', '>', '|':
		line, st := c.in.Line(maxHeader)
		if st != wire.OK {
			return st
		}
		n, ok := length(line, t)
		if !ok || n > maxArgs {
			return wire.Bad
		}
		if n <= 0 {
			return c.elementDone(now, emit)
		}
		if p.depth == maxDepth {
			return wire.Bad
		}
		if t == '%' || t == '|' {
			n *= 2
		}
		p.left[p.depth] = n
		p.depth++
		return wire.OK
	}
	return wire.Bad
}

// elementDone counts an element read; when it ends the reply, the reply is
// paired with the oldest waiting command.
func (c *Conn) elementDone(now uint64, emit func(*record.Record)) wire.Status {
	p := &c.rep
	for p.depth > 0 {
		if p.left[p.depth-1]--; p.left[p.depth-1] > 0 {
			return wire.OK
		}
		p.depth--
	}
	top, status, errType := p.top, p.status, p.errType
	c.rep = replyParse{}
	var kind uint8
	if f := c.queue.Front(); f != nil {
		kind = f.Cmd.kind
	}
	switch top {
	case '|':
		return wire.OK // an attribute: the reply follows
	case '>':
		// Out of band (RESP3), except the confirmation of a subscription.
		if kind == kindSubscribe && !c.queue.AtBarrier() {
			c.answer(now, "", emit)
		}
		return wire.OK
	}
	c.answerWith(now, status, errType, emit)
	if (kind == kindSubscribe || kind == kindStream) && status == "" && errType == "" {
		c.goPassive()
	}
	return wire.OK
}
