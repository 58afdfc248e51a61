package kafka

import (
	"slices"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/stream"
)

func TestConn(t *testing.T) {
	big := make([]byte, 100000)
	orders := []string{"orders"}
	cases := []struct {
		name string
		evs  []stream.Event
		want []string
		// stats: Incomplete, Truncated, Desync, ParseErrors
		incomplete, desync uint64
	}{
		{
			name: "produce v7, not flexible, answered",
			evs:  []stream.Event{whole(out, 10, produce(7, 1, -1, "orders")), whole(in, 20, produceResponse(7, 1, orders, 0))},
			want: []string{"send orders 10-20"},
		},
		{
			name: "produce v9, flexible, the partition failed",
			evs:  []stream.Event{whole(out, 10, produce(9, 1, 1, "orders")), whole(in, 20, produceResponse(9, 1, orders, 3))},
			want: []string{"send orders/UNKNOWN_TOPIC_OR_PARTITION 10-20"},
		},
		{
			name: "produce v3, the oldest with a transactional id; an error code past the table",
			evs:  []stream.Event{whole(out, 10, produce(3, 5, -1, "a.b-c_d")), whole(in, 20, produceResponse(3, 5, []string{"a.b-c_d"}, 999))},
			want: []string{"send a.b-c_d/999 10-20"},
		},
		{
			name: "produce v0",
			evs:  []stream.Event{whole(out, 10, produce(0, 0, 1, "orders")), whole(in, 20, produceResponse(0, 0, orders, 0))},
			want: []string{"send orders 10-20"},
		},
		{
			name: "produce v13 names topics by id: no destination",
			evs:  []stream.Event{whole(out, 10, produce(13, 1, -1, "orders")), whole(in, 20, produceResponse(13, 1, orders, 0))},
			want: []string{"send 10-20"},
		},
		{
			name: "produce to two topics: no destination; the second one's error",
			evs: []stream.Event{whole(out, 10, produce(8, 1, -1, "orders", "audit")),
				whole(in, 20, produceResponse(8, 1, []string{"orders", "audit"}, 0, 29))},
			want: []string{"send/TOPIC_AUTHORIZATION_FAILED 10-20"},
		},
		{
			name: "produce with acks 0: no response, reported when written",
			evs: []stream.Event{whole(out, 10, produce(7, 1, 0, "orders")),
				whole(out, 30, produce(7, 2, -1, "orders")), whole(in, 40, produceResponse(7, 2, orders, 0))},
			want: []string{"send orders 10-10", "send orders 30-40"},
		},
		{
			name: "fetch v4, not flexible: an offset out of range",
			evs:  []stream.Event{whole(out, 10, fetch(4, 1, "orders")), whole(in, 20, fetchResponse(4, 1, "orders", 0, 1, nil))},
			want: []string{"poll orders/OFFSET_OUT_OF_RANGE 10-20"},
		},
		{
			name: "fetch v11, the top-level error",
			evs:  []stream.Event{whole(out, 10, fetch(11, 1, "orders")), whole(in, 20, fetchResponse(11, 1, "orders", 71, 0, nil))},
			want: []string{"poll orders/INVALID_FETCH_SESSION_EPOCH 10-20"},
		},
		{
			name: "fetch v12, flexible, with records",
			evs:  []stream.Event{whole(out, 10, fetch(12, 1, "orders")), whole(in, 20, fetchResponse(12, 1, "orders", 0, 0, records))},
			want: []string{"poll orders 10-20"},
		},
		{
			name: "fetch v13 names topics by id: no destination",
			evs:  []stream.Event{whole(out, 10, fetch(13, 1, "orders")), whole(in, 20, fetchResponse(13, 1, "orders", 0, 0, records))},
			want: []string{"poll 10-20"},
		},
		{
			name: "fetch v16 (no replica id in the body)",
			evs:  []stream.Event{whole(out, 10, fetch(16, 1, "orders")), whole(in, 20, fetchResponse(16, 1, "orders", 0, 6, nil))},
			want: []string{"poll/NOT_LEADER_OR_FOLLOWER 10-20"},
		},
		{
			name: "fetch of two topics: no destination",
			evs:  []stream.Event{whole(out, 10, fetch(11, 1, "orders", "audit")), whole(in, 20, fetchResponse(11, 1, "orders", 0, 0, nil))},
			want: []string{"poll 10-20"},
		},
		{
			name: "other requests are paired, not reported",
			evs: []stream.Event{
				whole(out, 10, other(18, 3, 0)), whole(in, 11, otherResponse(0)),
				whole(out, 12, other(3, 12, 1)), whole(in, 13, otherResponse(1)),
				whole(out, 20, produce(9, 2, -1, "orders")), whole(in, 30, produceResponse(9, 2, orders, 0)),
				whole(out, 40, other(12, 4, 3)), whole(in, 41, otherResponse(3)),
			},
			want: []string{"send orders 20-30"},
		},
		{
			name: "the size read alone, the rest over several reads, most not copied",
			evs: []stream.Event{
				whole(out, 10, fetch(12, 7, "orders")),
				func() stream.Event {
					r := fetchResponse(12, 7, "orders", 0, 0, big)
					return whole(in, 20, r[:4])
				}(),
				func() stream.Event {
					r := fetchResponse(12, 7, "orders", 0, 0, big)
					return copied(in, 21, r[4:50004])
				}(),
				lengthOnly(in, 22, 40000),
				func() stream.Event {
					r := fetchResponse(12, 7, "orders", 0, 0, big)
					return lengthOnly(in, 23, len(r)-90004)
				}(),
				whole(out, 30, produce(9, 8, -1, "orders")), whole(in, 40, produceResponse(9, 8, orders, 0)),
			},
			want: []string{"poll orders 10-23", "send orders 30-40"},
		},
		{
			name: "pipelined: two requests in one write, their responses in one read",
			evs: []stream.Event{
				whole(out, 10, cat(produce(9, 1, -1, "orders"), produce(9, 2, -1, "orders"))),
				whole(in, 20, cat(produceResponse(9, 1, orders, 0), produceResponse(9, 2, orders, 10))),
			},
			want: []string{"send orders 10-20", "send orders/MESSAGE_TOO_LARGE 10-20"},
		},
		{
			name: "a request and its response split mid-header",
			evs: func() []stream.Event {
				req, resp := produce(9, 1, -1, "orders"), produceResponse(9, 1, orders, 0)
				return []stream.Event{whole(out, 10, req[:2]), whole(out, 11, req[2:9]), whole(out, 12, req[9:]),
					whole(in, 20, resp[:6]), whole(in, 21, resp[6:])}
			}(),
			want: []string{"send orders 10-21"},
		},
		{
			name: "a response not seen: its request is incomplete, the next is paired by id",
			evs: []stream.Event{
				whole(out, 10, fetch(11, 1, "orders")), whole(out, 11, fetch(11, 2, "orders")),
				whole(in, 20, fetchResponse(11, 2, "orders", 0, 0, nil)),
			},
			want:       []string{"poll orders 11-20"},
			incomplete: 1,
		},
		{
			name: "a response to a request not seen",
			evs: []stream.Event{
				whole(out, 10, fetch(11, 5, "orders")), whole(in, 20, fetchResponse(11, 5, "orders", 0, 0, nil)),
				whole(in, 21, fetchResponse(11, 4, "orders", 0, 0, nil)),
			},
			want:       []string{"poll orders 10-20"},
			incomplete: 1,
		},
		{
			name:       "closed while a fetch waits: incomplete, not an error",
			evs:        []stream.Event{whole(out, 10, fetch(11, 1, "orders"))},
			incomplete: 1,
		},
		{
			name: "a write's size not copied: framing lost, found again at a request",
			evs: []stream.Event{
				whole(out, 10, produce(9, 1, -1, "orders")),
				copied(out, 11, cat(request(apiProduce, 9, 2, "app-1", true, func(e *enc) {
					e.null()
					e.i16(-1)
					e.i32(1000)
					e.arr(1)
					e.str("orders")
					e.arr(1)
					e.i32(0)
					e.bytes(make([]byte, 6000)) // past the copy, and the next request's start with it
					e.tags()
					e.tags()
					e.tags()
				}), produce(9, 3, -1, "orders"))),
				whole(out, 12, produce(9, 4, -1, "orders")),
				whole(in, 20, produceResponse(9, 1, orders, 0)),
				whole(in, 21, produceResponse(9, 4, orders, 0)),
			},
			want:       []string{"send orders 10-20", "send orders 12-21"},
			incomplete: 1, // corr 2 (3 was never seen whole)
			desync:     1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, st := run(t, c.evs...)
			if got := summary(recs); !slices.Equal(got, c.want) {
				t.Errorf("records\n got %q\nwant %q", got, c.want)
			}
			if st.Records != uint64(len(recs)) || st.Incomplete != c.incomplete || st.Desync != c.desync || st.ParseErrors != 0 {
				t.Errorf("stats %+v, want %d incomplete, %d desync, no parse errors", st, c.incomplete, c.desync)
			}
			for _, r := range recs {
				if r.Peer != testMeta.Peer || r.PID != testMeta.PID || r.Conv != Conventions {
					t.Errorf("record %+v: not the connection's", r)
				}
			}
		})
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		dir  stream.Direction
		want protocol.Verdict
	}{
		{"produce v9", produce(9, 0, -1, "orders"), out, protocol.Yes},
		{"produce v3", produce(3, 0, 1, "orders"), out, protocol.Yes},
		{"fetch v4", fetch(4, 0, "orders"), out, protocol.Yes},
		{"fetch v16", fetch(16, 0, "orders"), out, protocol.Yes},
		{"api versions v3", other(18, 3, 0), out, protocol.Yes},
		{"metadata v12", other(3, 12, 1), out, protocol.Yes},
		{"a request read: the broker's side", produce(9, 0, -1, "orders"), in, protocol.No},
		{"a response", produceResponse(9, 1, []string{"orders"}, 0), in, protocol.No},
		{"the size alone", produce(9, 0, -1, "orders")[:4], out, protocol.Maybe},
		{"the header cut short", produce(9, 0, -1, "orders")[:12], out, protocol.Maybe},
		{"produce cut in its client id", produce(9, 0, -1, "orders")[:16], out, protocol.Maybe},
		{"acks 2", func() []byte { b := produce(7, 0, -1, "orders"); b[4+10+5+2+1] = 2; return b }(), out, protocol.No},
		{"api version 40", func() []byte { b := other(3, 12, 1); b[7] = 40; return b }(), out, protocol.No},
		{"negative correlation id", other(3, 12, -5), out, protocol.No},
		{"client id not printable", request(3, 1, 0, "a\x01b", false, nil), out, protocol.No},
		{"size below a header", []byte{0, 0, 0, 8, 0, 3, 0, 1, 0, 0, 0, 0, 0xff, 0xff}, out, protocol.No},
		{"HTTP/1", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), out, protocol.No},
		{"PostgreSQL start-up", []byte("\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00database\x00shop\x00\x00"), out, protocol.No},
		{"PostgreSQL SSLRequest", []byte("\x00\x00\x00\x08\x04\xd2\x16\x2f"), out, protocol.No},
		{"Redis", []byte("*1\r\n$4\r\nPING\r\n"), out, protocol.No},
		{"TLS", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), out, protocol.No},
		{"HTTP/2 preface", []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), out, protocol.No},
	}
	for _, c := range cases {
		if got := Detect(c.b, c.dir, true); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A parser created mid-way (the collector started after the connection):
// the responses it reads before its first request was seen are passed
// over, and a response whose size is read alone is found.
func TestMidway(t *testing.T) {
	resp := fetchResponse(11, 9, "orders", 0, 0, records)
	recs, st := run(t,
		whole(in, 5, produceResponse(9, 3, []string{"orders"}, 0)[7:]),
		whole(out, 10, fetch(11, 9, "orders")),
		whole(in, 20, resp[:4]), whole(in, 21, resp[4:]),
	)
	if got, want := summary(recs), []string{"poll orders 10-21"}; !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	if st.Skipped != 1 || st.Incomplete != 0 || st.Desync != 0 {
		t.Errorf("stats %+v", st)
	}
}

// No record holds anything of the messages but the topic.
func TestNoContent(t *testing.T) {
	recs, _ := run(t, whole(out, 10, produce(9, 1, -1, "orders")), whole(in, 20, produceResponse(9, 1, []string{"orders"}, 0)))
	for _, r := range recs {
		for _, s := range []string{r.Operation, r.Target, r.Status, r.ErrorType, r.QueryText, r.Summary, r.Path} {
			if strings.Contains(s, "secret") || strings.Contains(s, "app-1") {
				t.Errorf("record holds message content: %q", s)
			}
		}
	}
}
