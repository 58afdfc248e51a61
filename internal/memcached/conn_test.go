package memcached

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
	Peer:  netip.MustParseAddrPort("10.0.0.2:11211"),
}

const (
	in  = stream.Ingress
	out = stream.Egress
)

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

func run(t *testing.T, opt *protocol.Options, evs ...stream.Event) ([]*record.Record, protocol.Stats) {
	t.Helper()
	var st protocol.Stats
	p := NewConn(testMeta, &st, opt)
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

// summary is "op[/status][/errtype] start-end" for each record.
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
		out = append(out, fmt.Sprintf("%s %d-%d", s, r.StartUnixNano, r.EndUnixNano))
	}
	return out
}

func TestConversations(t *testing.T) {
	big := strings.Repeat("v", 100_000)
	cases := []struct {
		name                        string
		evs                         []stream.Event
		want                        []string
		incomplete, unknown, desync uint64
	}{
		{
			name: "one command at a time: storage, retrieval, a miss, incr, delete",
			evs: []stream.Event{
				whole(out, 10, "set k 0 0 5\r\nhello\r\n"), whole(in, 20, "STORED\r\n"),
				whole(out, 30, "get k\r\n"), whole(in, 40, "VALUE k 0 5\r\nhello\r\nEND\r\n"),
				whole(out, 50, "get nope\r\n"), whole(in, 60, "END\r\n"),
				whole(out, 70, "incr n 1\r\n"), whole(in, 80, "NOT_FOUND\r\n"),
				whole(out, 90, "delete k\r\n"), whole(in, 100, "DELETED\r\n"),
			},
			want: []string{"set 10-20", "get 30-40", "get 50-60", "incr 70-80", "delete 90-100"},
		},
		{
			name: "errors: an unknown command, a client error, a server error",
			evs: []stream.Event{
				whole(out, 10, "frobnicate k\r\n"), whole(in, 20, "ERROR\r\n"),
				whole(out, 30, "set k 0 0 abc\r\n"), whole(in, 40, "CLIENT_ERROR bad command line format\r\n"),
				whole(out, 50, "set k 0 0 1\r\nx\r\n"), whole(in, 60, "SERVER_ERROR out of memory storing object\r\n"),
			},
			want: []string{"_OTHER/ERROR 10-20", "set/CLIENT_ERROR 30-40", "set/SERVER_ERROR 50-60"},
		},
		{
			name: "pipelined: a multi-get with values split over reads, stats, version",
			evs: []stream.Event{
				whole(out, 10, "get a b c\r\nstats\r\nversion\r\n"),
				whole(in, 20, "VALUE a 0 3\r\naaa\r\nVALUE c 1 2"), whole(in, 21, "\r\ncc\r\nEND\r\nSTAT pid 1\r\nSTAT uptime 5\r\n"),
				whole(in, 22, "END\r\nVERSION 1.6.18\r\n"),
			},
			want: []string{"get 10-21", "stats 10-22", "version 10-22"},
		},
		{
			name: "a large value over writes and reads, passed over by length",
			evs: []stream.Event{
				copied(out, 10, "set big 0 0 100000\r\n"+big), whole(out, 11, "\r\n"), whole(in, 20, "STORED\r\n"),
				copied(out, 30, "gets big\r\n"), copied(in, 40, "VALUE big 0 100000 7\r\n"+big[:60000]),
				{Dir: in, UnixNano: 41, Len: 40_000 + 2 + 5, Tail: []byte("\r\nEND\r\n")},
			},
			want: []string{"set 10-20", "gets 30-41"},
		},
		{
			name: "noreply and quit have no reply: seen, counted incomplete",
			evs: []stream.Event{
				whole(out, 10, "set a 0 0 1 noreply\r\nx\r\ndelete b noreply\r\nget a\r\n"), whole(in, 20, "VALUE a 0 1\r\nx\r\nEND\r\n"),
				whole(out, 30, "quit\r\n"),
			},
			want:       []string{"get 10-20"},
			incomplete: 3,
		},
		{
			name: "meta commands",
			evs: []stream.Event{
				whole(out, 10, "ms k 2 T0\r\nhi\r\nmg k v f\r\nmg nope v\r\nmd k\r\nmn\r\n"),
				whole(in, 20, "HD\r\nVA 2 f0\r\nhi\r\nEN\r\nHD\r\nMN\r\n"),
			},
			want: []string{"ms 10-20", "mg 10-20", "mg 10-20", "md 10-20", "mn 10-20"},
		},
		{
			name: "a quiet meta command: replies no longer pair",
			evs: []stream.Event{
				whole(out, 10, "mg a v\r\n"), whole(in, 20, "EN\r\n"),
				whole(out, 30, "mg b v q\r\nmn\r\n"), whole(in, 40, "MN\r\n"),
			},
			want:       []string{"mg 10-20"},
			incomplete: 1,
		},
		{
			name: "a command left waiting when the connection closes",
			evs: []stream.Event{
				whole(out, 10, "get k\r\n"),
			},
			want: []string{"get/connection_closed 10-11"},
		},
		{
			name: "replies past the copy: the commands waiting are incomplete",
			evs: []stream.Event{
				whole(out, 10, "get a\r\nget b\r\nget c\r\n"),
				copied(in, 20, "VALUE a 0 5000\r\n"+big[:5000]+"\r\nEND\r\nEND\r\nEND\r\n"),
				whole(out, 30, "version\r\n"), whole(in, 40, "VERSION 1\r\n"),
			},
			// get a's reply ends at its END, which was not copied.
			want:       []string{"version 30-40"},
			incomplete: 3,
			desync:     1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs, st := run(t, nil, tc.evs...)
			if got := summary(recs); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("records:\n got %q\nwant %q", got, tc.want)
			}
			if st.Incomplete != tc.incomplete || st.Unknown != tc.unknown || st.Desync != tc.desync {
				t.Errorf("stats %+v, want incomplete %d, unknown %d, desync %d", st, tc.incomplete, tc.unknown, tc.desync)
			}
			for _, r := range recs {
				if r.Kind != record.KindClient || r.Conv != Conventions || r.PID != testMeta.PID || r.Peer != testMeta.Peer {
					t.Errorf("record %+v", *r)
				}
			}
		})
	}
}

// 100 commands in one write are 100 operations, each with its reply.
func TestPipelineOfHundred(t *testing.T) {
	var w, r strings.Builder
	var want []string
	for i := 0; i < 100; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&w, "set key:%d 0 0 1\r\nx\r\n", i)
			r.WriteString("STORED\r\n")
			want = append(want, "set 10-20")
		} else {
			fmt.Fprintf(&w, "incr key:%d 1\r\n", i)
			r.WriteString("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
			want = append(want, "incr/CLIENT_ERROR 10-20")
		}
	}
	recs, st := run(t, nil, copied(out, 10, w.String()), copied(in, 20, r.String()))
	if got := summary(recs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records:\n got %q\nwant %q", got, want)
	}
	if st.Records != 100 || st.Incomplete != 0 || st.Desync != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestQueryText(t *testing.T) {
	recs, _ := run(t, &protocol.Options{QueryText: true},
		whole(out, 10, "set user:42 0 0 3\r\nabc\r\nget user:42 user:43\r\nversion\r\n"),
		whole(in, 20, "STORED\r\nEND\r\nVERSION 1\r\n"))
	var got []string
	for _, r := range recs {
		got = append(got, r.QueryText)
	}
	if want := []string{"set ? ? ? ?", "get ?", "version"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("query text %q, want %q", got, want)
	}
	recs, _ = run(t, nil, whole(out, 10, "get k\r\n"), whole(in, 20, "END\r\n"))
	if len(recs) != 1 || recs[0].QueryText != "" {
		t.Errorf("query text off: %+v", recs)
	}
}

func TestDetect(t *testing.T) {
	for _, c := range []struct {
		b    string
		dir  stream.Direction
		want protocol.Verdict
	}{
		{"get k\r\n", out, protocol.Yes},
		{"set k 0 0 1\r\nx\r\n", out, protocol.Yes},
		{"version\r\n", out, protocol.Yes},
		{"mg k v\r\n", out, protocol.Yes},
		{"ge", out, protocol.Maybe},
		{"get", out, protocol.Maybe},
		{"get ", out, protocol.Maybe},
		{"version\r", out, protocol.Maybe},
		{"get k\r\n", in, protocol.No},
		{"GET / HTTP/1.1\r\n", out, protocol.No},
		{"get\r\n", out, protocol.No},
		{"frobnicate k\r\n", out, protocol.No},
		{"STORED\r\n", in, protocol.No},
		{"*1\r\n$4\r\nPING\r\n", out, protocol.No},
	} {
		if got := Detect([]byte(c.b), c.dir, true); got != c.want {
			t.Errorf("Detect(%q, %v) = %v, want %v", c.b, c.dir, got, c.want)
		}
	}
}
