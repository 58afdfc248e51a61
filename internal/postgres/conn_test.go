package postgres

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// show is a record as the tables below write it:
// "operation|target|summary|status|start-end".
func show(r *record.Record) string {
	return fmt.Sprintf("%s|%s|%s|%s|%d-%d", r.Operation, r.Target, r.Summary, r.Status, r.StartUnixNano, r.EndUnixNano)
}

func with(evs ...[]stream.Event) []stream.Event {
	var out []stream.Event
	for _, e := range evs {
		out = append(out, e...)
	}
	return out
}

func rows(n int, width int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(dataRow(fmt.Sprintf("%0*d", width, i)))
	}
	return b.String()
}

type scenario struct {
	name  string
	evs   []stream.Event
	want  []string
	stats protocol.Stats // Records is checked against want; zero fields unchecked but for Incomplete and Unknown
	ns    string
}

func scenarios() []scenario {
	return []scenario{
		{
			name: "simple query",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT * FROM users WHERE id = 1")),
				ev(in, 20, rowDesc("id", "name")+dataRow("1", "ann")+complete("SELECT 1")+ready('I')),
			}),
			want: []string{"SELECT|users|SELECT users||10-20"},
			ns:   "shop",
		},
		{
			name: "no database parameter: the user's name is the database",
			evs: with(connected(""), []stream.Event{
				ev(out, 10, query("BEGIN")), ev(in, 11, complete("BEGIN")+ready('T')),
				ev(out, 12, query("COMMIT")), ev(in, 13, complete("COMMIT")+ready('I')),
			}),
			want: []string{"BEGIN||BEGIN||10-11", "COMMIT||COMMIT||12-13"},
			ns:   "app",
		},
		{
			name: "simple query error: SQLSTATE",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT * FROM nope")),
				ev(in, 20, errorResp("42P01")+ready('I')),
			}),
			want: []string{"SELECT|nope|SELECT nope|42P01|10-20"},
			ns:   "shop",
		},
		{
			name: "several statements in one Query: one operation, the first error",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("INSERT INTO t VALUES (1); SELECT 1/0; SELECT 2")),
				ev(in, 20, complete("INSERT 0 1")+rowDesc("x")+errorResp("22012")+ready('I')),
			}),
			want: []string{"INSERT||INSERT t SELECT SELECT|22012|10-20"},
		},
		{
			name: "notices and parameter changes anywhere are not answers",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SET application_name = 'x'")),
				ev(in, 20, notice()+paramStatus("application_name", "x")+complete("SET")+ready('I')),
			}),
			want: []string{"SET||SET||10-20"},
		},
		{
			name: "extended: a named statement learned at Parse, executed twice",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, parse("s1", "UPDATE users SET n = $1 WHERE id = $2")+describe('S', "s1")+syncMsg),
				ev(in, 11, parseComplete+msg('t', u16(2), u32(25), u32(23))+noData+ready('I')),
				ev(out, 20, bind("", "s1", "x", "1")+execute("")+syncMsg),
				ev(in, 21, bindComplete+complete("UPDATE 1")+ready('I')),
				ev(out, 30, bind("", "s1", "y", "2")+execute("")+syncMsg),
				ev(in, 35, bindComplete+errorResp("23505")+ready('I')),
			}),
			want: []string{"UPDATE|users|UPDATE users||20-21", "UPDATE|users|UPDATE users|23505|30-35"},
		},
		{
			name: "extended, unnamed, one round trip (Parse Bind Describe Execute Sync)",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, parse("", "SELECT name FROM users WHERE id = $1")+bind("", "", "7")+describe('P', "")+execute("")+syncMsg),
				ev(in, 20, parseComplete+bindComplete+rowDesc("name")+dataRow("ann")+complete("SELECT 1")+ready('I')),
			}),
			want: []string{"SELECT|users|SELECT users||10-20"},
		},
		{
			name: "pipelined: three operations in one write, answers in two reads",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, parse("", "INSERT INTO a VALUES ($1)")+bind("", "", "1")+execute("")+
					parse("", "SELECT * FROM b")+bind("", "")+execute("")+
					parse("", "DELETE FROM c")+bind("", "")+execute("")+syncMsg),
				ev(in, 20, parseComplete+bindComplete+complete("INSERT 0 1")+parseComplete+bindComplete),
				ev(in, 30, dataRow("x")+complete("SELECT 1")+parseComplete+bindComplete+complete("DELETE 0")+ready('I')),
			}),
			want: []string{"INSERT|a|INSERT a||10-20", "SELECT|b|SELECT b||10-30", "DELETE|c|DELETE c||10-30"},
		},
		{
			name: "pipelined: an error skips the rest up to Sync (not executed: incomplete)",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, parse("", "INSERT INTO a VALUES (1)")+bind("", "")+execute("")+
					parse("", "SELECT 1")+bind("", "")+execute("")+syncMsg+
					parse("", "SELECT 2")+bind("", "")+execute("")+syncMsg),
				ev(in, 20, parseComplete+bindComplete+errorResp("23505")+ready('I')+
					parseComplete+bindComplete+dataRow("2")+complete("SELECT 1")+ready('I')),
			}),
			want:  []string{"INSERT|a|INSERT a|23505|10-20", "SELECT||SELECT||10-20"},
			stats: protocol.Stats{Incomplete: 1},
		},
		{
			name: "a Parse that fails: the operation fails, its Execute never runs",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, parse("", "SELEC 1")+bind("", "")+execute("")+syncMsg),
				ev(in, 20, errorResp("42601")+ready('I')),
			}),
			want: []string{"SELEC||SELEC|42601|10-20"},
		},
		{
			name: "pgx: prepare (Parse Describe Sync) then Bind Execute Sync",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, parse("stmtcache_1", "SELECT pg_sleep($1)")+describe('S', "stmtcache_1")+syncMsg),
				ev(in, 11, parseComplete+msg('t', u16(1), u32(701))+rowDesc("pg_sleep")+ready('I')),
				ev(out, 20, bind("", "stmtcache_1", "0.2")+describe('P', "")+execute("")+syncMsg),
				ev(in, 220, bindComplete+rowDesc("pg_sleep")+dataRow("")+complete("SELECT 1")+ready('I')),
			}),
			want: []string{"SELECT||SELECT||20-220"},
		},
		{
			name: "Close forgets a statement: a later Execute of that name is unknown",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, parse("s", "SELECT 1")+closeMsg('S', "s")+syncMsg),
				ev(in, 11, parseComplete+closeComplete+ready('I')),
				ev(out, 20, bind("", "s")+execute("")+syncMsg),
				ev(in, 21, errorResp("26000")+ready('I')),
			}),
			want:  []string{"|||26000|20-21"},
			stats: protocol.Stats{Unknown: 1},
		},
		{
			name: "opened before: an Execute of a statement whose Parse was not seen is unknown",
			evs: []stream.Event{
				ev(in, 5, complete("SELECT 3")+ready('I')), // the answer to a request not seen
				ev(out, 10, bind("", "stmtcache_9", "1")+execute("")+syncMsg),
				ev(in, 20, bindComplete+dataRow("1")+complete("SELECT 1")+ready('I')),
				ev(out, 30, query("SELECT 1")),
				ev(in, 40, rowDesc("x")+dataRow("1")+complete("SELECT 1")+ready('I')),
			},
			want:  []string{"||||10-20", "SELECT||SELECT||30-40"},
			stats: protocol.Stats{Unknown: 1, Incomplete: 1},
		},
		{
			name: "SSLRequest refused: the start-up follows in the clear",
			evs: []stream.Event{
				ev(out, 1, sslRequest), ev(in, 2, "N"),
				ev(out, 3, startupMsg("user", "u", "database", "d")), ev(in, 4, authOK+ready('I')),
				ev(out, 10, query("SELECT 1")), ev(in, 20, complete("SELECT 1")+ready('I')),
			},
			want: []string{"SELECT||SELECT||10-20"},
			ns:   "d",
		},
		{
			name: "SSLRequest accepted: ciphertext skipped, the plaintext continues",
			evs: []stream.Event{
				ev(out, 1, sslRequest), ev(in, 2, "S"),
				ev(out, 3, "\x16\x03\x01\x00\x05hello"), ev(in, 4, "\x16\x03\x03\x00\x02hi"),
				ev(out, 5, startupMsg("user", "u", "database", "tlsdb")), ev(in, 6, authOK+ready('I')),
				ev(out, 10, query("SELECT 1")), ev(in, 20, complete("SELECT 1")+ready('I')),
			},
			want: []string{"SELECT||SELECT||10-20"},
			ns:   "tlsdb",
		},
		{
			name: "a request split across writes, an answer split inside a header",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT * FROM t")[:3]),
				ev(out, 11, query("SELECT * FROM t")[3:]),
				ev(in, 20, complete("SELECT 0")+ready('I')[:2]),
				ev(in, 21, ready('I')[2:]),
			}),
			want: []string{"SELECT|t|SELECT t||10-21"},
		},
		{
			name: "a large result: bytes past the copy skipped by length, the place found again",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT * FROM big")),
				evCut(in, 20, rowDesc("v")+rows(200, 90), 4096),
				evCut(in, 21, rows(100, 90)[37:], 4096),
				ev(in, 22, rows(3, 90)+complete("SELECT 300")+ready('I')),
			}),
			want:  []string{"SELECT|big|SELECT big||10-22"},
			stats: protocol.Stats{Desync: 2},
		},
		{
			name: "a large result ending past the copy: ended by the ReadyForQuery in its last bytes, status unknown",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT * FROM big")),
				evCut(in, 20, rowDesc("v")+rows(200, 90)+complete("SELECT 200")+ready('I'), 4096),
				ev(out, 30, query("SELECT 1")),
				ev(in, 40, complete("SELECT 1")+ready('I')),
			}),
			want:  []string{"SELECT|big|SELECT big||10-20", "SELECT||SELECT||30-40"},
			stats: protocol.Stats{Unknown: 1, Desync: 1},
		},
		{
			name: "a large row over three reads: its body past the copy skipped by its length",
			evs: func() []stream.Event {
				answer := rowDesc("doc") + dataRow(strings.Repeat("d", 100000)) + complete("SELECT 1") + ready('I')
				return with(connected("shop"), []stream.Event{
					ev(out, 10, query("SELECT doc FROM docs")),
					evCut(in, 20, answer[:60000], 4096),
					{Dir: in, UnixNano: 21, Len: len(answer) - 60000 - 50}, // length only
					ev(in, 22, answer[len(answer)-50:]),
				})
			}(),
			want: []string{"SELECT|docs|SELECT docs||10-22"},
		},
		{
			name: "the answer ends past the copy of its read: ended by the ReadyForQuery in its last bytes, status unknown",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT doc FROM docs")),
				evCut(in, 20, rowDesc("doc")+dataRow(strings.Repeat("d", 100000))+complete("SELECT 1")+ready('I'), 4096),
			}),
			want:  []string{"SELECT|docs|SELECT docs||10-20"},
			stats: protocol.Stats{Unknown: 1, Desync: 1},
		},
		{
			name: "a batch larger than the copy: what is past it is answered with the operation unknown",
			evs: with(connected("shop"), []stream.Event{
				evCut(out, 10, strings.Repeat(parse("", "INSERT INTO t VALUES (1)")+bind("", "")+execute(""), 80)+syncMsg, 4096),
				ev(in, 20, strings.Repeat(parseComplete+bindComplete+complete("INSERT 0 1"), 80)+ready('I')),
				ev(out, 30, query("SELECT 1")),
				ev(in, 40, complete("SELECT 1")+ready('I')),
			}),
			want: func() []string {
				var w []string
				// 56 bytes a Parse+Bind+Execute: 73 whole in 4096 bytes, the
				// 74th's Parse cut, its Bind's header past the copy
				for i := 0; i < 80; i++ {
					if i < 73 {
						w = append(w, "INSERT|t|INSERT t||10-20")
					} else {
						w = append(w, "||||10-20")
					}
				}
				return append(w, "SELECT||SELECT||30-40")
			}(),
			stats: protocol.Stats{Unknown: 7, Desync: 1},
		},
		{
			name: "COPY FROM STDIN: one operation up to ReadyForQuery",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("COPY items FROM STDIN")),
				ev(in, 11, msg('G', "\x00", u16(1), u16(0))),
				ev(out, 12, msg('d', "1\tx\n")+msg('d', "2\ty\n")+msg('c')),
				ev(in, 20, complete("COPY 2")+ready('I')),
			}),
			want: []string{"COPY|items|COPY items||10-20"},
		},
		{
			name: "closed before the answer: incomplete, not reported",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT pg_sleep(10)")),
				ev(out, 11, parse("", "SELECT 1")+bind("", "")+execute("")+syncMsg),
			}),
			stats: protocol.Stats{Incomplete: 2},
		},
		{
			name: "the password never leaves: a PasswordMessage is not kept",
			evs: []stream.Event{
				ev(out, 1, startupMsg("user", "u", "database", "d")),
				ev(in, 2, msg('R', u32(3))),
				ev(out, 3, msg('p', "hunter2\x00")),
				ev(in, 4, authOK+ready('I')),
				ev(out, 10, query("SELECT 'hunter2'")), ev(in, 20, complete("SELECT 1")+ready('I')),
			},
			want: []string{"SELECT||SELECT||10-20"},
			ns:   "d",
		},
		{
			name: "garbage from the server is skipped, the next answer found",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT 1")),
				ev(in, 20, "\x00\x01\x02garbage"+complete("SELECT 1")+ready('I')),
			}),
			want:  []string{"SELECT||SELECT||10-20"},
			stats: protocol.Stats{Desync: 1},
		},
	}
}

func TestConn(t *testing.T) {
	for _, s := range scenarios() {
		t.Run(s.name, func(t *testing.T) {
			recs, st := run(protocol.Options{}, s.evs...)
			var got []string
			for _, r := range recs {
				got = append(got, show(r))
				if r.Conv != Conventions || r.Kind != record.KindClient || r.PID != testMeta.PID || r.Peer != testMeta.Peer {
					t.Errorf("record fields: %+v", *r)
				}
				if s.ns != "" && r.Namespace != s.ns {
					t.Errorf("namespace %q, want %q", r.Namespace, s.ns)
				}
				if r.QueryText != "" {
					t.Errorf("query text %q without the option", r.QueryText)
				}
			}
			if strings.Join(got, "\n") != strings.Join(s.want, "\n") {
				t.Errorf("records:\n got  %s\n want %s", strings.Join(got, "\n      "), strings.Join(s.want, "\n      "))
			}
			if st.Records != uint64(len(recs)) || st.Incomplete != s.stats.Incomplete || st.Unknown != s.stats.Unknown ||
				s.stats.Desync != 0 && st.Desync != s.stats.Desync {
				t.Errorf("stats %+v, want Incomplete %d Unknown %d Desync %d", st, s.stats.Incomplete, s.stats.Unknown, s.stats.Desync)
			}
		})
	}
}

func TestQueryText(t *testing.T) {
	evs := with(connected("shop"), []stream.Event{
		ev(out, 10, query("SELECT * FROM users WHERE name = 'bob' AND age > 30")),
		ev(in, 20, complete("SELECT 0")+ready('I')),
		ev(out, 30, parse("", "SELECT * FROM users WHERE id = $1")+bind("", "", "secret")+execute("")+syncMsg),
		ev(in, 40, parseComplete+bindComplete+complete("SELECT 0")+ready('I')),
	})
	recs, _ := run(protocol.Options{QueryText: true}, evs...)
	want := []string{"SELECT * FROM users WHERE name = ? AND age > ?", "SELECT * FROM users WHERE id = $1"}
	if len(recs) != 2 || recs[0].QueryText != want[0] || recs[1].QueryText != want[1] {
		for _, r := range recs {
			t.Logf("%q", r.QueryText)
		}
		t.Fatalf("query texts, want %q", want)
	}
}

// Repeated statements on a connection cost no allocation but the record.
func TestAllocs(t *testing.T) {
	var st protocol.Stats
	c := NewConn(testMeta, &st, &protocol.Options{})
	pre := with(connected("shop"), []stream.Event{ev(out, 5, parse("s1", "SELECT * FROM users WHERE id = $1")+syncMsg), ev(in, 6, parseComplete+ready('I'))})
	emit := func(r *record.Record) { record.Release(r) }
	for i := range pre {
		c.Feed(&pre[i], emit)
	}
	evs := []stream.Event{
		ev(out, 10, bind("", "s1", "1")+execute("")+syncMsg),
		ev(in, 20, bindComplete+dataRow("1")+complete("SELECT 1")+ready('I')),
		ev(out, 30, query("SELECT * FROM users WHERE id = 7")),
		ev(in, 40, rowDesc("id")+dataRow("7")+complete("SELECT 1")+ready('I')),
	}
	for i := range evs {
		c.Feed(&evs[i], emit)
	}
	allocs := testing.AllocsPerRun(200, func() {
		for i := range evs {
			c.Feed(&evs[i], emit)
		}
	})
	if allocs > 0 {
		t.Errorf("%v allocations per two operations", allocs)
	}
}
