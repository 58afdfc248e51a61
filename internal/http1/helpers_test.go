package http1

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

const (
	in  = stream.Ingress
	out = stream.Egress
	// copyLimit is how many leading bytes the kernel copies.
	copyLimit = 1024
)

var testMeta = stream.Meta{
	PID:   42,
	Local: netip.MustParseAddrPort("10.0.0.1:8080"),
	Peer:  netip.MustParseAddrPort("10.0.0.2:50000"),
}

// kernelCopies mirrors the kernel's rule for copying leading bytes: an
// uppercase token of 3–7 letters and a space, "HTTP/1." or "PRI * HTTP/2".
func kernelCopies(b string) bool {
	if strings.HasPrefix(b, "HTTP/1.") || strings.HasPrefix(b, "PRI * HTTP/2") {
		return true
	}
	i := 0
	for i < len(b) && i < 8 && 'A' <= b[i] && b[i] <= 'Z' {
		i++
	}
	return i >= 3 && i <= 7 && i < len(b) && b[i] == ' '
}

// op is one step of a scenario: a transfer, a Close or a Flush.
type op struct {
	ev    *stream.Event
	close bool
	flush bool
	t     uint64        // Close and Flush time
	idle  time.Duration // Flush
}

// xfer is a transfer as the kernel reports it.
func xfer(dir stream.Direction, t uint64, data string) op {
	ev := &stream.Event{Dir: dir, UnixNano: t, Len: len(data)}
	if kernelCopies(data) {
		ev.Payload = []byte(data[:min(len(data), copyLimit)])
	}
	ev.Tail = []byte(data[max(0, len(data)-8):])
	return op{ev: ev}
}

// whole is a transfer the kernel copies whole whatever its first bytes: one
// of at most 256 bytes, or the one after a transfer shorter than 16.
func whole(dir stream.Direction, t uint64, data string) op {
	o := xfer(dir, t, data)
	o.ev.Payload = []byte(data)
	return o
}

// blob is a length-only transfer of n bytes ending with tail.
func blob(dir stream.Direction, t uint64, n int, tail string) op {
	if tail == "" {
		tail = strings.Repeat("x", min(n, 8))
	}
	return op{ev: &stream.Event{Dir: dir, UnixNano: t, Len: n, Tail: []byte(tail)}}
}

func closeAt(t uint64) op                     { return op{close: true, t: t} }
func flushAt(t uint64, idle time.Duration) op { return op{flush: true, t: t, idle: idle} }

// run feeds ops to a new Conn and returns the records and stats.
func run(t testing.TB, ops []op) ([]record.Record, Stats, *Conn) {
	t.Helper()
	var stats Stats
	c := NewConn(testMeta, &stats)
	var got []record.Record
	emit := func(r *record.Record) { got = append(got, *r) }
	for _, o := range ops {
		switch {
		case o.ev != nil:
			c.Feed(o.ev, emit)
		case o.close:
			c.Close(o.t, emit)
		case o.flush:
			c.Flush(o.t, o.idle, emit)
		}
	}
	return got, stats, c
}

// rec builds the expected record with the defaults of testMeta.
func rec(kind record.Kind, start, end uint64, method, path string, status int, reqBody, respBody int64, opts ...func(*record.Record)) record.Record {
	r := record.Record{
		Kind:             kind,
		Conv:             httpconv.Conventions,
		PID:              42,
		StartUnixNano:    start,
		EndUnixNano:      end,
		Method:           method,
		Path:             path,
		Scheme:           "http",
		ProtoVersion:     "1.1",
		StatusCode:       status,
		RequestBodySize:  reqBody,
		ResponseBodySize: respBody,
		Local:            testMeta.Local,
		Peer:             testMeta.Peer,
		RPCStatusCode:    -1,
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func host(h string, port int) func(*record.Record) {
	return func(r *record.Record) { r.Host, r.HostPort = h, port }
}

func proto(v string) func(*record.Record) {
	return func(r *record.Record) { r.ProtoVersion = v }
}

func other(m string) func(*record.Record) {
	return func(r *record.Record) { r.Method, r.MethodOriginal = "_OTHER", m }
}

func closed() func(*record.Record) {
	return func(r *record.Record) { r.ErrorType = ErrorConnectionClosed }
}

func srv(start, end uint64, method, path string, status int, reqBody, respBody int64, opts ...func(*record.Record)) record.Record {
	return rec(record.KindServer, start, end, method, path, status, reqBody, respBody, opts...)
}

func cli(start, end uint64, method, path string, status int, reqBody, respBody int64, opts ...func(*record.Record)) record.Record {
	return rec(record.KindClient, start, end, method, path, status, reqBody, respBody, opts...)
}

func diffRecords(got, want []record.Record) string {
	var b strings.Builder
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			fmt.Fprintf(&b, "record %d missing:\n  want %+v\n", i, want[i])
		case i >= len(want):
			fmt.Fprintf(&b, "record %d unexpected:\n  got  %+v\n", i, got[i])
		case !reflect.DeepEqual(got[i], want[i]):
			fmt.Fprintf(&b, "record %d:\n  got  %+v\n  want %+v\n", i, got[i], want[i])
		}
	}
	return b.String()
}
