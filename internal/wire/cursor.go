// Package wire follows one direction of a connection's byte stream through
// what the kernel reported of it: for each transfer its length, its first
// bytes when they were copied and its last few bytes (stream.Event). For
// protocols whose messages say their own lengths (RESP, memcached's text
// protocol, Kafka), a parser reads the structure where it was copied and
// passes over the rest by length: a large value costs nothing, and the
// message after it is still found when its start was copied.
package wire

import (
	"bytes"

	"github.com/ebpfred/ebpfred/internal/stream"
)

// Status says what a read found.
type Status uint8

const (
	// OK: the element was read.
	OK Status = iota
	// More: the element goes on in the next transfer; what was seen of it
	// is kept and joined to that transfer's bytes.
	More
	// Lost: the element's bytes were not copied by the kernel: the
	// framing is lost from here.
	Lost
	// Bad: the bytes are not what the protocol allows (a line longer than
	// its limit).
	Bad
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case More:
		return "more"
	case Lost:
		return "lost"
	case Bad:
		return "bad"
	}
	return "unknown"
}

// MaxCarry bounds the bytes of an element kept from one transfer for the
// next: the elements read whole (header lines, short names) are small.
const MaxCarry = 512

// Cursor is a position in one direction of a connection's bytes. A window
// is one transfer, preceded by what was kept of the previous one (More).
// The slices its reads return point into the transfer (or the cursor's own
// buffer) and are valid until the next Begin.
type Cursor struct {
	win    []byte // the window's known leading bytes
	n      int    // the window's length
	tail   []byte // its known trailing bytes
	tailAt int    // where they start in the window
	pos    int
	// skip: bytes still to pass over after this window (an element whose
	// length is known runs past it).
	skip int64
	// cr: a line being passed over (SkipLine) ended the last window with
	// '\r'.
	cr bool
	// joined: the window begins with bytes kept from the previous one.
	joined bool
	carry  []byte
	buf    []byte
}

// Begin starts the window of transfer ev, after passing over what is still
// to be skipped.
func (c *Cursor) Begin(ev *stream.Event) {
	head := ev.Payload
	tailAt := ev.Len - len(ev.Tail)
	// meet: the copied head and the tail meet, so every byte is known.
	meet := len(head) < ev.Len && tailAt <= len(head)
	off := len(c.carry)
	if off == 0 && !meet {
		c.win = head
	} else {
		b := append(c.buf[:0], c.carry...)
		b = append(b, head...)
		if meet {
			b = append(b, ev.Tail[len(head)-tailAt:]...)
		}
		c.buf, c.win = b, b
	}
	c.n = off + ev.Len
	c.tail, c.tailAt = ev.Tail, off+tailAt
	c.carry = c.carry[:0]
	c.joined = off > 0
	c.pos = 0
	if c.skip > 0 {
		k := min(c.skip, int64(c.n))
		c.pos = int(k)
		c.skip -= k
	}
}

// Reset forgets the stream's position: what was kept and what was to be
// skipped. The rest of the window is passed over.
func (c *Cursor) Reset() {
	c.carry = c.carry[:0]
	c.skip = 0
	c.cr = false
	c.pos = c.n
}

// AtEnd says the window is used up.
func (c *Cursor) AtEnd() bool { return c.pos >= c.n }

// AtStart says the cursor is at the first byte of a transfer, with nothing
// kept from the previous one nor skipped into this one.
func (c *Cursor) AtStart() bool { return c.pos == 0 && c.n > 0 && !c.cr && !c.joined }

// Skipping says how many bytes past this window are still to be passed over.
func (c *Cursor) Skipping() int64 { return c.skip }

// Known returns the bytes known from the cursor on, contiguous, up to the
// window's end or the first byte that was not copied; nil when the next
// byte was not copied or the window is used up.
func (c *Cursor) Known() []byte {
	switch {
	case c.pos < len(c.win):
		return c.win[c.pos:]
	case c.pos >= c.tailAt && c.pos < c.n:
		return c.tail[c.pos-c.tailAt:]
	}
	return nil
}

// toEnd says the known bytes k (from the cursor on) reach the window's end.
func (c *Cursor) toEnd(k []byte) bool { return c.pos+len(k) >= c.n }

// Line reads a line ended by CRLF, at most max bytes without it, and
// returns it without the CRLF.
func (c *Cursor) Line(max int) ([]byte, Status) {
	if c.AtEnd() {
		return nil, More
	}
	k := c.Known()
	if k == nil {
		return nil, Lost
	}
	if i := bytes.Index(k, crlf); i >= 0 {
		if i > max {
			return nil, Bad
		}
		c.pos += i + 2
		return k[:i], OK
	}
	if len(k) > max+1 {
		return nil, Bad
	}
	if !c.toEnd(k) {
		return nil, Lost
	}
	c.keep(k)
	return nil, More
}

var crlf = []byte("\r\n")

// SkipLine passes over a line ended by CRLF, whatever its length, without
// keeping it: it may go on over several transfers.
func (c *Cursor) SkipLine() Status {
	for !c.AtEnd() {
		k := c.Known()
		if k == nil {
			return Lost
		}
		if c.cr {
			c.cr = false
			if k[0] == '\n' {
				c.pos++
				return OK
			}
		}
		if i := bytes.Index(k, crlf); i >= 0 {
			c.pos += i + 2
			return OK
		}
		if !c.toEnd(k) {
			return Lost
		}
		c.pos += len(k)
		c.cr = k[len(k)-1] == '\r'
	}
	return More
}

// Take reads exactly n bytes (n <= MaxCarry).
func (c *Cursor) Take(n int) ([]byte, Status) {
	if n > MaxCarry {
		return nil, Bad
	}
	if c.AtEnd() {
		return nil, More
	}
	k := c.Known()
	if len(k) >= n {
		c.pos += n
		return k[:n], OK
	}
	if k == nil || !c.toEnd(k) {
		return nil, Lost
	}
	c.keep(k)
	return nil, More
}

// Skip passes over n bytes, whether they were copied or not.
func (c *Cursor) Skip(n int64) {
	if rest := int64(c.n - c.pos); n > rest {
		c.pos = c.n
		c.skip += n - rest
		return
	}
	c.pos += int(n)
}

// keep moves k, the rest of the window, to the next one.
func (c *Cursor) keep(k []byte) {
	c.carry = append(c.carry[:0], k...)
	c.pos = c.n
}
