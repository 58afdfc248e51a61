// Package replay records the kernel's event stream of a live run to a file
// and replays such a file through the pipeline, the span builder and the
// RED aggregator, without root and without a kernel: parsers and telemetry
// can then be changed against fixed inputs with exact, reviewable diffs of
// their OTLP output (testdata/ at the repository's top).
//
// A stream file is JSON lines. The first line is the Header: the processes
// whose events follow (what discovery knew of them, so that the replayed
// resources are the recorded ones) and the offset that turns the kernel's
// monotonic clock into wall-clock time. Each further line is one kernel
// event, its bytes written as JSON text when they are text (HTTP/1 reads
// as itself in a diff) and in hex otherwise.
package replay

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/ebpfred/ebpfred/internal/probes"
)

// Version is the stream format's version, the Header's "ebpfred_events".
const Version = 1

// Header is a stream file's first line.
type Header struct {
	Version int `json:"ebpfred_events"`
	// WallOffset: wall-clock ns = the kernel's monotonic ns + WallOffset,
	// as it was while recording.
	WallOffset uint64    `json:"wall_offset"`
	Processes  []Process `json:"processes"`
	// Note says what was recorded and how (the command, the clients).
	Note string `json:"note,omitempty"`
}

// Process is what a replay knows of a recorded process.
type Process struct {
	PID            uint32 `json:"pid"`
	ServiceName    string `json:"service_name"`
	ExecutableName string `json:"executable_name,omitempty"`
}

// line is one event as written: the fields of probes.Event that are set.
type line struct {
	Type string `json:"t"`
	TLS  bool   `json:"tls,omitempty"`
	Mono uint64 `json:"mono"`
	Sock string `json:"sock,omitempty"`
	PID  uint32 `json:"pid"`
	FD   uint32 `json:"fd,omitempty"`
	Len  uint32 `json:"len,omitempty"`
	// Bytes that are valid UTF-8 are written as JSON text (HTTP/1 reads
	// as itself), others in hex.
	Payload    string `json:"payload,omitempty"`
	PayloadHex string `json:"payload_hex,omitempty"`
	Tail       string `json:"tail,omitempty"`
	TailHex    string `json:"tail_hex,omitempty"`
	Addr       string `json:"addr,omitempty"`
	Family     uint16 `json:"family,omitempty"`
	LocalPort  uint16 `json:"lport,omitempty"`
	RemotePort uint16 `json:"rport,omitempty"`
	LocalAddr  string `json:"laddr,omitempty"`
	RemoteAddr string `json:"raddr,omitempty"`
	Trace      *trace `json:"trace,omitempty"`
}

type trace struct {
	TraceID  string           `json:"trace_id"`
	SpanID   string           `json:"span_id"`
	ParentID string           `json:"parent_id,omitempty"`
	Flags    uint8            `json:"flags"`
	Role     probes.TraceRole `json:"role"`
}

var typeNames = map[probes.EventType]string{
	probes.EventDataIn: "in", probes.EventDataOut: "out", probes.EventClose: "close",
	probes.EventExec: "exec", probes.EventFork: "fork", probes.EventExit: "exit",
	probes.EventConn: "conn", probes.EventRoute: "route", probes.EventRouteStream: "route_stream",
	probes.EventTrace: "trace",
}

var typeByName = func() map[string]probes.EventType {
	m := make(map[string]probes.EventType, len(typeNames))
	for t, n := range typeNames {
		m[n] = t
	}
	return m
}()

// Writer writes a stream file.
type Writer struct {
	w   *bufio.Writer
	enc *json.Encoder
	n   int
}

// NewWriter writes h and returns a Writer for the events that follow.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Version = Version
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	return &Writer{w: bw, enc: enc}, nil
}

// Write writes one event; it copies nothing it keeps.
func (w *Writer) Write(e *probes.Event) error {
	name, ok := typeNames[e.Type]
	if !ok {
		return fmt.Errorf("replay: event type %d has no name in the stream format", e.Type)
	}
	l := line{Type: name, TLS: e.TLS, Mono: e.Mono, PID: e.TGID, FD: e.FD, Len: e.Len, Addr: string(e.Addr)}
	l.Payload, l.PayloadHex = text(e.Payload)
	l.Tail, l.TailHex = text(e.Tail)
	if e.Sock != 0 {
		l.Sock = "0x" + strconv.FormatUint(e.Sock, 16)
	}
	if e.Type == probes.EventConn {
		l.Family, l.LocalPort, l.RemotePort = e.Family, e.LocalPort, e.RemotePort
		l.LocalAddr, l.RemoteAddr = addrString(e.Family, &e.LocalAddr), addrString(e.Family, &e.RemoteAddr)
	}
	if e.Type == probes.EventTrace {
		t := e.Trace
		l.Trace = &trace{TraceID: fmt.Sprintf("%x", t.TraceID), SpanID: fmt.Sprintf("%x", t.SpanID),
			Flags: t.Flags, Role: t.Role}
		if t.ParentID != ([8]byte{}) {
			l.Trace.ParentID = fmt.Sprintf("%x", t.ParentID)
		}
	}
	w.n++
	return w.enc.Encode(&l)
}

// Count returns the events written.
func (w *Writer) Count() int { return w.n }

// Flush writes out what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }

// text returns b as text when it is valid UTF-8 (and has no NUL), else in
// hex.
func text(b []byte) (string, string) {
	if utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 {
		return string(b), ""
	}
	return "", hex.EncodeToString(b)
}

// Read reads a whole stream file.
func Read(r io.Reader) (Header, []probes.Event, error) {
	var h Header
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return h, nil, err
		}
		return h, nil, errors.New("replay: empty stream file (no header line)")
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
		return h, nil, fmt.Errorf("replay: header line: %w", err)
	}
	if h.Version != Version {
		return h, nil, fmt.Errorf("replay: stream format version %d, this build reads %d", h.Version, Version)
	}
	var evs []probes.Event
	for n := 2; sc.Scan(); n++ {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return h, nil, fmt.Errorf("replay: line %d: %w", n, err)
		}
		e, err := l.event()
		if err != nil {
			return h, nil, fmt.Errorf("replay: line %d: %w", n, err)
		}
		evs = append(evs, e)
	}
	return h, evs, sc.Err()
}

func (l *line) event() (probes.Event, error) {
	e := probes.Event{TLS: l.TLS, Mono: l.Mono, TGID: l.PID, FD: l.FD, Len: l.Len,
		Family: l.Family, LocalPort: l.LocalPort, RemotePort: l.RemotePort}
	t, ok := typeByName[l.Type]
	if !ok {
		return e, fmt.Errorf("unknown event type %q", l.Type)
	}
	e.Type = t
	var err error
	if l.Sock != "" {
		if e.Sock, err = strconv.ParseUint(l.Sock, 0, 64); err != nil {
			return e, fmt.Errorf("sock %q: %w", l.Sock, err)
		}
	}
	for _, f := range []struct {
		dst       *[]byte
		txt, hexa string
	}{{&e.Payload, l.Payload, l.PayloadHex}, {&e.Tail, l.Tail, l.TailHex}, {&e.Addr, l.Addr, ""}} {
		switch {
		case f.hexa != "":
			b, err := hex.DecodeString(f.hexa)
			if err != nil {
				return e, fmt.Errorf("bytes %.40q: %w", f.hexa, err)
			}
			*f.dst = b
		case f.txt != "":
			*f.dst = []byte(f.txt)
		}
	}
	if l.Type == "conn" {
		if err := setAddr(&e.LocalAddr, l.LocalAddr); err != nil {
			return e, err
		}
		if err := setAddr(&e.RemoteAddr, l.RemoteAddr); err != nil {
			return e, err
		}
	}
	if l.Trace != nil {
		t := &e.Trace
		t.Flags, t.Role = l.Trace.Flags, l.Trace.Role
		for _, f := range []struct {
			dst []byte
			s   string
		}{{t.TraceID[:], l.Trace.TraceID}, {t.SpanID[:], l.Trace.SpanID}, {t.ParentID[:], l.Trace.ParentID}} {
			if f.s == "" {
				continue
			}
			if n, err := hex.Decode(f.dst, []byte(f.s)); err != nil || n != len(f.dst) || len(f.s) != 2*len(f.dst) {
				return e, fmt.Errorf("trace id %q is not %d hex bytes", f.s, len(f.dst))
			}
		}
	}
	return e, nil
}

// addrString writes a connection address as the kernel gave it: an IPv4
// one from its first 4 bytes, an IPv6 one (v4-mapped included, not
// unmapped) from all 16.
func addrString(family uint16, a *[16]byte) string {
	if family == afInet {
		return netip.AddrFrom4([4]byte(a[:4])).String()
	}
	return netip.AddrFrom16(*a).String()
}

const afInet = 2

// setAddr fills a as the kernel does (see addrString).
func setAddr(a *[16]byte, s string) error {
	if s == "" {
		return nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("address %q: %w", s, err)
	}
	if ip.Is4() {
		b := ip.As4()
		copy(a[:4], b[:])
		return nil
	}
	*a = ip.As16()
	return nil
}
