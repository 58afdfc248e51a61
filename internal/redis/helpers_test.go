package redis

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

var testMeta = stream.Meta{
	PID:   42,
	Local: netip.MustParseAddrPort("10.0.0.1:50000"),
	Peer:  netip.MustParseAddrPort("10.0.0.2:6379"),
}

const (
	in  = stream.Ingress
	out = stream.Egress
)

// whole is a transfer the kernel copied whole.
func whole(dir stream.Direction, t uint64, s string) stream.Event {
	return stream.Event{Dir: dir, UnixNano: t, Len: len(s), Payload: []byte(s), Tail: []byte(s[max(0, len(s)-8):])}
}

// copied is the transfer s as the kernel reports it with CopyAll on: its
// first 4 KiB and its last 8 bytes.
func copied(dir stream.Direction, t uint64, s string) stream.Event {
	ev := whole(dir, t, s)
	ev.Payload = ev.Payload[:min(len(s), 4096)]
	return ev
}

// cmd encodes a command as clients do.
func cmd(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// run feeds evs to a new parser, closes it after the last, and returns the
// records and the stats.
func run(t *testing.T, evs ...stream.Event) ([]*record.Record, protocol.Stats) {
	t.Helper()
	var st protocol.Stats
	p := NewConn(testMeta, &st, nil)
	var recs []*record.Record
	emit := func(r *record.Record) { recs = append(recs, r) }
	var last uint64
	for i := range evs {
		p.Feed(&evs[i], emit)
		last = max(last, evs[i].UnixNano)
	}
	p.Close(last+1, emit)
	return recs, st
}

// summary is "OP[/status][/errtype][@ns] start-end" for each record.
func summary(recs []*record.Record) []string {
	var out []string
	for _, r := range recs {
		s := r.Operation
		if r.Status != "" {
			s += "/" + r.Status
		}
		if r.ErrorType != "" {
			s += "/" + r.ErrorType
		}
		if r.Namespace != "" {
			s += "@" + r.Namespace
		}
		out = append(out, fmt.Sprintf("%s %d-%d", s, r.StartUnixNano, r.EndUnixNano))
	}
	return out
}
