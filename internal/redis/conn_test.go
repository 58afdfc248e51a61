package redis

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

func TestConversations(t *testing.T) {
	big := strings.Repeat("v", 100_000)
	lrange := "*3000\r\n" + strings.Repeat("$10\r\n0123456789\r\n", 3000)
	cases := []struct {
		name       string
		evs        []stream.Event
		want       []string
		incomplete uint64
		desync     uint64
	}{
		{
			name: "one command at a time",
			evs: []stream.Event{
				whole(out, 10, cmd("SET", "k", "v")), whole(in, 20, "+OK\r\n"),
				whole(out, 30, cmd("get", "k")), whole(in, 40, "$1\r\nv\r\n"),
				whole(out, 50, cmd("GET", "nope")), whole(in, 60, "$-1\r\n"),
				whole(out, 70, cmd("INCR", "n")), whole(in, 80, ":1\r\n"),
			},
			want: []string{"SET 10-20", "GET 30-40", "GET 50-60", "INCR 70-80"},
		},
		{
			name: "error replies: their prefix",
			evs: []stream.Event{
				whole(out, 10, cmd("LPUSH", "k", "v")), whole(in, 20, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
				whole(out, 30, cmd("NOSUCH")), whole(in, 40, "-ERR unknown command 'NOSUCH', with args beginning with: \r\n"),
				whole(out, 50, cmd("EVAL", "return redis.error_reply('my error')", "0")), whole(in, 60, "-my error\r\n"),
			},
			want: []string{"LPUSH/WRONGTYPE 10-20", "_OTHER/ERR 30-40", "EVAL/_OTHER 50-60"},
		},
		{
			name: "subcommands, modules, SELECT",
			evs: []stream.Event{
				whole(out, 10, cmd("CLIENT", "SETNAME", "app")), whole(in, 20, "+OK\r\n"),
				whole(out, 30, cmd("config", "get", "maxmemory")), whole(in, 40, "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"),
				whole(out, 50, cmd("CLIENT", "FROBNICATE")), whole(in, 60, "-ERR unknown subcommand 'FROBNICATE'.\r\n"),
				whole(out, 70, cmd("JSON.GET", "k")), whole(in, 80, "$2\r\n{}\r\n"),
				whole(out, 90, cmd("SELECT", "99")), whole(in, 100, "-ERR DB index is out of range\r\n"),
				whole(out, 110, cmd("SELECT", "2")), whole(in, 120, "+OK\r\n"),
				whole(out, 130, cmd("GET", "k")), whole(in, 140, "$-1\r\n"),
			},
			want: []string{"CLIENT SETNAME 10-20", "CONFIG GET 30-40", "CLIENT/ERR 50-60", "JSON.GET 70-80",
				"SELECT/ERR 90-100", "SELECT 110-120", "GET@2 130-140"},
		},
		{
			name: "pipelined, SELECT applies to the commands after it",
			evs: []stream.Event{
				whole(out, 10, cmd("SELECT", "3")+cmd("SET", "a", "1")+cmd("GET", "a")),
				whole(in, 20, "+OK\r\n+OK\r\n"), whole(in, 30, "$1\r\n1\r\n"),
			},
			want: []string{"SELECT 10-20", "SET@3 10-20", "GET@3 10-30"},
		},
		{
			name: "a reply split over reads, a value over writes",
			evs: []stream.Event{
				whole(out, 10, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n"+big[:100]),
				{Dir: out, UnixNano: 11, Len: 99_900 + 2, Tail: []byte("vvvvvv\r\n")},
				whole(in, 20, "+O"), whole(in, 21, "K\r"), whole(in, 22, "\n"),
				copied(out, 30, cmd("GET", "k")),
				copied(in, 40, "$100000\r\n"+big[:5000]),
				{Dir: in, UnixNano: 41, Len: 95_000 + 2, Tail: []byte("vvvvvv\r\n")},
			},
			want: []string{"SET 10-22", "GET 30-41"},
		},
		{
			name: "RESP3: a map, a push between replies, an attribute, a blob error",
			evs: []stream.Event{
				whole(out, 10, cmd("HELLO", "3")), whole(in, 20, "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n"),
				whole(out, 30, cmd("GET", "k")), whole(in, 40, ">3\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n_\r\n"),
				whole(in, 41, "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n$1\r\nv\r\n"),
				whole(out, 50, cmd("EVAL", "x", "0")), whole(in, 60, "!21\r\nSYNTAX invalid syntax\r\n"),
			},
			want: []string{"HELLO 10-20", "GET 30-41", "EVAL/SYNTAX 50-60"},
		},
		{
			name: "RESP2 pub/sub: the subscription, then nothing is paired",
			evs: []stream.Event{
				whole(out, 10, cmd("SUBSCRIBE", "ch")), whole(in, 20, "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"),
				whole(in, 30, "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
				whole(out, 40, cmd("PING")), whole(in, 50, "*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
			},
			want: []string{"SUBSCRIBE 10-20"},
		},
		{
			name: "RESP3 pub/sub on a connection that goes on",
			evs: []stream.Event{
				whole(out, 10, cmd("SUBSCRIBE", "a", "b")),
				whole(in, 20, ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"),
				whole(in, 30, ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"),
				whole(out, 40, cmd("PING")), whole(in, 50, "+PONG\r\n"),
			},
			want: []string{"SUBSCRIBE 10-20", "PING 40-50"},
		},
		{
			name: "a blocked pop that times out, then the connection closes with a command waiting",
			evs: []stream.Event{
				whole(out, 10, cmd("BLPOP", "q", "0.2")), whole(in, 200_000_010, "*-1\r\n"),
				whole(out, 200_000_020, cmd("BLPOP", "q", "0")),
			},
			want: []string{"BLPOP 10-200000010", "BLPOP/connection_closed 200000020-200000021"},
		},
		{
			name: "a reply whose structure was not copied ends at the last read before the next command",
			evs: []stream.Event{
				whole(out, 10, cmd("LRANGE", "l", "0", "-1")),
				copied(in, 20, lrange[:20000]), copied(in, 21, lrange[20000:]),
				whole(out, 30, cmd("PING")), whole(in, 40, "+PONG\r\n"),
			},
			want:   []string{"LRANGE 10-21", "PING 30-40"},
			desync: 1,
		},
		{
			// The first reply's length says where it ends; the next
			// ones begin where nothing was copied.
			name: "pipelined replies past the copy: the commands waiting are incomplete",
			evs: []stream.Event{
				whole(out, 10, strings.Repeat(cmd("GET", "k"), 3)),
				copied(in, 20, "$5000\r\n"+big[:5000]+"\r\n$1\r\nv\r\n"+"$1\r\nv\r\n"),
				whole(out, 30, cmd("PING")), whole(in, 40, "+PONG\r\n"),
			},
			want:       []string{"GET 10-20", "PING 30-40"},
			incomplete: 2,
			desync:     1,
		},
		{
			name: "commands past the copy: replies pair up to them, then again from the next write",
			evs: []stream.Event{
				copied(out, 10, cmd("SET", "k", big[:5000])+cmd("GET", "k")),
				whole(in, 20, "+OK\r\n"), whole(in, 21, "$5000\r\n"+big[:5000]+"\r\n"),
				whole(out, 30, cmd("PING")), whole(in, 40, "+PONG\r\n"),
			},
			want:   []string{"SET 10-20", "PING 30-40"},
			desync: 1,
			// SET's value is passed over by its length; GET begins
			// where nothing was copied: from there the commands are
			// behind a barrier, unknown in number, and not counted.
		},
		{
			name: "empty lines between commands (redis-cli --pipe) are passed over",
			evs: []stream.Event{
				whole(out, 10, cmd("PING")), whole(in, 20, "+PONG\r\n"),
				whole(out, 30, "\r\n"+cmd("ECHO", "x")), whole(in, 40, "$1\r\nx\r\n"),
			},
			want: []string{"PING 10-20", "ECHO 30-40"},
		},
		{
			name: "replies to commands not seen (a connection seen mid-way) are skipped",
			evs: []stream.Event{
				whole(in, 5, "+OK\r\n"),
				whole(out, 10, cmd("PING")), whole(in, 20, "+PONG\r\n"),
			},
			want: []string{"PING 10-20"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs, st := run(t, tc.evs...)
			if got := summary(recs); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("records:\n got %q\nwant %q", got, tc.want)
			}
			if st.Incomplete != tc.incomplete || st.Desync != tc.desync || st.ParseErrors != 0 {
				t.Errorf("stats %+v, want incomplete %d, desync %d", st, tc.incomplete, tc.desync)
			}
			for _, r := range recs {
				if r.Kind != record.KindClient || r.Conv != Conventions || r.PID != testMeta.PID || r.Peer != testMeta.Peer {
					t.Errorf("record %+v", *r)
				}
			}
		})
	}
}

// 100 commands in one write are 100 operations, each paired with its reply
// in order: a reply ends in the read that holds its last byte.
func TestPipelineOfHundred(t *testing.T) {
	const wrongType = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
	const split = 777
	var w, r strings.Builder
	var want []string
	for i := 0; i < 100; i++ {
		reply, op := "+OK\r\n", "SET"
		if i%2 == 0 {
			w.WriteString(cmd("SET", fmt.Sprintf("key:%d", i), "x"))
		} else {
			w.WriteString(cmd("GETDEL", fmt.Sprintf("nokey:%d", i)))
			reply, op = wrongType, "GETDEL/WRONGTYPE"
		}
		r.WriteString(reply)
		end := 20
		if r.Len() > split {
			end = 30
		}
		want = append(want, fmt.Sprintf("%s 10-%d", op, end))
	}
	reply := r.String()
	recs, st := run(t, copied(out, 10, w.String()), copied(in, 20, reply[:split]), copied(in, 30, reply[split:]))
	if got := summary(recs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records:\n got %q\nwant %q", got, want)
	}
	if st.Records != 100 || st.Incomplete != 0 || st.Desync != 0 || st.ParseErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A connection recognised by mistake is given back at the first write that
// is not a command where one must begin.
func TestGivesBackWhatIsNotRedis(t *testing.T) {
	recs, stats := run(t,
		whole(out, 10, cmd("PING")), whole(in, 20, "+PONG\r\n"),
		whole(out, 30, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	)
	if len(recs) != 1 || stats.ParseErrors != 0 {
		t.Fatalf("records %q, stats %+v", summary(recs), stats)
	}
	var s2 = NewConn(testMeta, &stats, nil)
	for _, ev := range []stream.Event{whole(out, 10, cmd("PING")), whole(out, 30, "GET / HTTP/1.1\r\n\r\n")} {
		s2.Feed(&ev, func(*record.Record) {})
	}
	if !s2.Upgraded() {
		t.Error("an HTTP request where a command must begin: not given back")
	}
}

// db.query.text only when asked, and then the command's shape: its
// operation and a "?" for each other argument, never a key or a value.
func TestQueryText(t *testing.T) {
	evs := []stream.Event{
		whole(out, 10, cmd("SET", "user:42:email", "a@example.com")+cmd("CLIENT", "SETNAME", "app")+cmd("PING")+
			cmd(append([]string{"MSET"}, strings.Split(strings.Repeat("k v ", 20), " ")[:40]...)...)+cmd("CLIENT", "FROB", "x")),
		whole(in, 20, "+OK\r\n+OK\r\n+PONG\r\n+OK\r\n-ERR unknown subcommand\r\n"),
	}
	want := []string{"SET ? ?", "CLIENT SETNAME ?", "PING", "MSET" + strings.Repeat(" ?", 32) + " …", "CLIENT ? ?"}
	for _, on := range []bool{false, true} {
		var st protocol.Stats
		p := NewConn(testMeta, &st, &protocol.Options{QueryText: on})
		var got []string
		for i := range evs {
			p.Feed(&evs[i], func(r *record.Record) { got = append(got, r.QueryText) })
		}
		if !on {
			if fmt.Sprint(got) != fmt.Sprint(make([]string, len(want))) {
				t.Errorf("query text off: %q", got)
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("query text:\n got %q\nwant %q", got, want)
		}
	}
}

func TestDetect(t *testing.T) {
	for _, c := range []struct {
		b    string
		dir  stream.Direction
		want protocol.Verdict
	}{
		{cmd("SET", "k", "v"), out, protocol.Yes},
		{cmd("ping"), out, protocol.Yes},
		{cmd("JSON.GET", "k"), out, protocol.Yes},
		{cmd("NOSUCHCMD", "x"), out, protocol.Yes}, // Redis answers it: an error
		{"*3\r\n$3\r\nSE", out, protocol.Maybe},
		{"*3\r\n", out, protocol.Maybe},
		{"*", out, protocol.Maybe},
		{cmd("SET", "k", "v"), in, protocol.No}, // a server reading commands
		{"+OK\r\n", in, protocol.No},
		{"*3\r\n$3\r\nS T\r\n", out, protocol.No},
		{"*3\r\n+OK\r\n", out, protocol.No},
		{"*0\r\n", out, protocol.No},
		{"*3\r\n$0\r\n\r\n", out, protocol.No},
		{"*3\r\n$40\r\n", out, protocol.No}, // longer than a name
		{"*3\r\n$3\r\nSETX\r\n", out, protocol.No},
		{"GET / HTTP/1.1\r\n", out, protocol.No},
		{"*12345678\r\n", out, protocol.No},
	} {
		if got := Detect([]byte(c.b), c.dir, true); got != c.want {
			t.Errorf("Detect(%q, %v) = %v, want %v", c.b, c.dir, got, c.want)
		}
	}
}
