package wire

import (
	"testing"

	"github.com/ebpfred/ebpfred/internal/stream"
)

// whole is a transfer copied whole.
func whole(s string) *stream.Event {
	return &stream.Event{Len: len(s), Payload: []byte(s), Tail: []byte(s[max(0, len(s)-8):])}
}

// cut is a transfer of n bytes of which head was copied, ending with tail.
func cut(head string, n int, tail string) *stream.Event {
	return &stream.Event{Len: n, Payload: []byte(head), Tail: []byte(tail)}
}

func TestLineAcrossTransfers(t *testing.T) {
	var c Cursor
	c.Begin(whole("*2\r\n$3\r\nGE"))
	if l, st := c.Line(20); st != OK || string(l) != "*2" {
		t.Fatalf("line 1: %q %v", l, st)
	}
	if l, st := c.Line(20); st != OK || string(l) != "$3" {
		t.Fatalf("line 2: %q %v", l, st)
	}
	if l, st := c.Take(5); st != More || l != nil {
		t.Fatalf("take across: %q %v", l, st)
	}
	if !c.AtEnd() {
		t.Fatal("a kept element uses the window up")
	}
	c.Begin(whole("T\r\n$1\r"))
	if c.AtStart() {
		t.Error("a window that begins with kept bytes is not at a transfer's start")
	}
	if b, st := c.Take(5); st != OK || string(b) != "GET\r\n" {
		t.Fatalf("take joined: %q %v", b, st)
	}
	if _, st := c.Line(20); st != More {
		t.Fatalf("CR at the end: %v", st)
	}
	c.Begin(whole("\nk\r\n"))
	if l, st := c.Line(20); st != OK || string(l) != "$1" {
		t.Fatalf("CRLF split: %q %v", l, st)
	}
	if b, st := c.Take(3); st != OK || string(b) != "k\r\n" || !c.AtEnd() {
		t.Fatalf("last: %q %v", b, st)
	}
}

func TestSkipOverHolesAndTransfers(t *testing.T) {
	var c Cursor
	// "$10000\r\n" + 10000 bytes + "\r\n" + "+OK\r\n": head and tail copied.
	c.Begin(cut("$10000\r\nxxxx", 10000+8+2+5, "x\r\n+OK\r\n"))
	l, st := c.Line(20)
	if st != OK || string(l) != "$10000" {
		t.Fatalf("%q %v", l, st)
	}
	c.Skip(10002)
	if l, st := c.Line(20); st != OK || string(l) != "+OK" || !c.AtEnd() {
		t.Fatalf("the line in the tail: %q %v", l, st)
	}

	// A value over three transfers, the next element in the third's hole.
	c.Begin(cut("$9000\r\nxx", 4000, "xxxxxxxx"))
	c.Line(20)
	c.Skip(9002)
	if !c.AtEnd() || c.Skipping() != 9002-(4000-7) {
		t.Fatalf("skipping %d", c.Skipping())
	}
	c.Begin(cut("xxxx", 4000, "xxxxxxxx"))
	if !c.AtEnd() || c.Skipping() != 1009 {
		t.Fatalf("skipping %d", c.Skipping())
	}
	c.Begin(cut("xxxx", 4000, "xxxxxxxx"))
	if _, st := c.Line(20); st != Lost {
		t.Fatalf("a line in the hole: %v", st)
	}
	c.Reset()
	if !c.AtEnd() || c.Skipping() != 0 {
		t.Fatal("Reset leaves the window")
	}
}

func TestHeadMeetsTail(t *testing.T) {
	var c Cursor
	c.Begin(cut("+OK\r\n+O", 14, "OK\r\n:1\r\n"))
	for _, want := range []string{"+OK", "+OK", ":1"} {
		if l, st := c.Line(20); st != OK || string(l) != want {
			t.Fatalf("%q %v, want %q", l, st, want)
		}
	}
	if !c.AtEnd() {
		t.Fatal("not at end")
	}
}

func TestSkipLine(t *testing.T) {
	var c Cursor
	c.Begin(whole("-ERR a long message\r"))
	if st := c.SkipLine(); st != More {
		t.Fatalf("%v", st)
	}
	c.Begin(whole("\n+OK\r\n"))
	if st := c.SkipLine(); st != OK {
		t.Fatalf("%v", st)
	}
	if l, st := c.Line(10); st != OK || string(l) != "+OK" {
		t.Fatalf("%q %v", l, st)
	}
	c.Begin(cut("-ERR no end here", 5000, "\r\n"))
	if st := c.SkipLine(); st != Lost {
		t.Fatalf("over a hole: %v", st)
	}
}

func TestLimits(t *testing.T) {
	var c Cursor
	c.Begin(whole("*123456789012345\r\n"))
	if _, st := c.Line(10); st != Bad {
		t.Fatalf("too long: %v", st)
	}
	c.Begin(whole("*1234567890123"))
	if _, st := c.Line(10); st != Bad {
		t.Fatalf("too long, no end: %v", st)
	}
	if _, st := c.Take(MaxCarry + 1); st != Bad {
		t.Fatalf("take too much: %v", st)
	}
}
