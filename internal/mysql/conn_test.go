package mysql

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

func rows(n, width int) [][]string {
	var r [][]string
	for i := 0; i < n; i++ {
		r = append(r, []string{fmt.Sprintf("%0*d", width, i)})
	}
	return r
}

type scenario struct {
	name  string
	evs   []stream.Event
	want  []string
	stats protocol.Stats // Records is checked against want; zero fields unchecked but for Incomplete, Unknown and Skipped
	ns    string
	// system: db.system.name of the records ("mariadb" when empty)
	system string
}

func scenarios() []scenario {
	return []scenario{
		{
			name: "COM_QUERY: a result set (CLIENT_DEPRECATE_EOF)",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT * FROM users WHERE id = 1")),
				ev(in, 20, resultSet([]string{"id", "name"}, [][]string{{"1", "ann"}}, true, 0x0002)),
			}),
			want: []string{"SELECT|users|SELECT users||10-20"},
			ns:   "shop",
		},
		{
			name: "COM_QUERY: a result set with EOF packets, rows over three reads",
			evs: func() []stream.Event {
				rs := resultSet([]string{"v"}, rows(50, 20), false, 0x0002)
				return with(connected("shop"), []stream.Event{
					ev(out, 10, query("SELECT v FROM big")),
					ev(in, 20, rs[:101]), ev(in, 21, rs[101:500]), ev(in, 22, rs[500:]),
				})
			}(),
			want: []string{"SELECT|big|SELECT big||10-22"},
		},
		{
			name: "COM_QUERY: OK, then an ERR (error number as the status)",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("INSERT INTO items VALUES (1, 'secret')")), ev(in, 11, okPkt(1, 0x0002)),
				ev(out, 20, query("INSERT INTO items VALUES (1, 'secret')")), ev(in, 25, errPkt(1, 1062, "23000")),
				ev(out, 30, query("SELEC 1")), ev(in, 31, errPkt(1, 1064, "42000")),
				ev(out, 40, query("SELECT * FROM nope")), ev(in, 41, errPkt(1, 1146, "42S02")),
			}),
			want: []string{"INSERT|items|INSERT items||10-11", "INSERT|items|INSERT items|1062|20-25",
				"SELEC||SELEC|1064|30-31", "SELECT|nope|SELECT nope|1146|40-41"},
		},
		{
			name: "a MySQL server: db.system.name mysql",
			evs: []stream.Event{
				ev(in, 1, greet("8.0.36", testCaps)),
				ev(out, 2, handshake(testCaps, "app", "x", "shop")),
				ev(in, 3, okPkt(2, 0x0002)),
				ev(out, 10, query("SELECT 1")), ev(in, 11, resultSet([]string{"1"}, [][]string{{"1"}}, false, 0x0002)),
			},
			want:   []string{"SELECT||SELECT||10-11"},
			ns:     "shop",
			system: "mysql",
		},
		{
			name: "several statements in one COM_QUERY: one operation up to the last result, the first error ends it",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT 1; SELECT 2")),
				ev(in, 20, resultSet([]string{"1"}, [][]string{{"1"}}, true, 0x000a)),
				ev(in, 21, pkt(5, "\x01")+colDef(6, "2")+row(7, "2")+okEnd(8, 0x0002)),
				ev(out, 30, query("SELECT 1; SELECT * FROM nope; SELECT 3")),
				ev(in, 40, resultSet([]string{"1"}, [][]string{{"1"}}, true, 0x000a)+errPkt(5, 1146, "42S02")),
			}),
			want: []string{"SELECT||SELECT SELECT||10-21", "SELECT||SELECT SELECT nope SELECT|1146|30-40"},
		},
		{
			name: "a CALL: its results, then the OK that ends it",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("CALL p()")),
				ev(in, 20, resultSet([]string{"x"}, [][]string{{"1"}}, true, 0x000a)+okPkt(5, 0x0002)),
			}),
			want: []string{"CALL||CALL||10-20"},
		},
		{
			name: "prepared statements: text learned at prepare, id from its answer, executed twice, closed",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, prepare("UPDATE users SET n = ? WHERE id = ?")),
				ev(in, 11, prepareOK(7, []string{"?", "?"}, nil, true)),
				ev(out, 20, execute(7, "secret", "1")), ev(in, 21, okPkt(1, 0x0002)),
				ev(out, 30, execute(7, "x", "2")), ev(in, 35, errPkt(1, 1062, "23000")),
				ev(out, 40, closeStmt(7)),
				ev(out, 50, execute(7, "y", "3")), ev(in, 51, errPkt(1, 1243, "HY000")),
			}),
			want:  []string{"UPDATE|users|UPDATE users||20-21", "UPDATE|users|UPDATE users|1062|30-35", "|||1243|50-51"},
			stats: protocol.Stats{Unknown: 1},
		},
		{
			name: "prepare with EOF packets (no CLIENT_DEPRECATE_EOF): a binary result set",
			evs: []stream.Event{
				ev(in, 1, greet("5.5.5-10.11.19-MariaDB", testCaps)),
				ev(out, 2, handshake(testCaps, "app", "x", "shop")),
				ev(in, 3, okPkt(2, 0x0002)),
				ev(out, 10, prepare("SELECT name FROM users WHERE id = ?")),
				ev(in, 11, prepareOK(1, []string{"?"}, []string{"name"}, false)),
				ev(out, 20, execute(1, "7")),
				ev(in, 30, pkt(1, "\x01")+colDef(2, "name")+eof(3, 0x0002)+pkt(4, "\x00\x00", lenencStr("ann"))+eof(5, 0x0002)),
				ev(out, 40, resetStmt(1)), ev(in, 41, okPkt(1, 0x0002)),
				ev(out, 50, execute(1, "8")),
				ev(in, 60, pkt(1, "\x01")+colDef(2, "name")+eof(3, 0x0002)+eof(4, 0x0002)),
			},
			want: []string{"SELECT|users|SELECT users||20-30", "SELECT|users|SELECT users||50-60"},
			ns:   "shop",
		},
		{
			name: "prepare with EOF packets, capabilities not seen: each EOF taken as it comes",
			evs: []stream.Event{
				ev(out, 10, prepare("SELECT a, b FROM t WHERE x = ? AND y = ?")),
				ev(in, 11, prepareOK(3, []string{"?", "?"}, []string{"a", "b"}, false)),
				ev(out, 20, execute(3, "1", "2")),
				ev(in, 30, pkt(1, "\x02")+colDef(2, "a")+colDef(3, "b")+eof(4, 0)+pkt(5, "\x00\x00\x01\x31\x01\x32")+eof(6, 0x0002)),
			},
			want:   []string{"SELECT|t|SELECT t||20-30"},
			system: "mysql",
		},
		{
			name: "a prepare that fails is the operation that failed",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, prepare("SELECT * FROM nope WHERE id = ?")),
				ev(in, 20, errPkt(1, 1146, "42S02")),
				ev(out, 30, prepare("SELEC ?")),
				ev(in, 31, errPkt(1, 1064, "42000")),
			}),
			want: []string{"SELECT|nope|SELECT nope|1146|10-20", "SELEC||SELEC|1064|30-31"},
		},
		{
			name: "go-sql-driver: prepare, execute, close for each call with arguments",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, prepare("SELECT SLEEP(?)")),
				ev(in, 11, prepareOK(5, []string{"?"}, []string{"SLEEP(?)"}, true)),
				ev(out, 20, execute(5, "0.05")),
				ev(in, 70, pkt(1, "\x01")+colDef(2, "SLEEP(?)")+pkt(3, "\x00\x00", "\x00\x00\x00\x00\x00\x00\x00\x00")+okEnd(4, 0x0002)),
				ev(out, 71, closeStmt(5)),
				ev(out, 80, ping), ev(in, 81, okPkt(1, 0x0002)),
			}),
			want: []string{"SELECT||SELECT||20-70"},
		},
		{
			name: "MariaDB's direct execute: statement id -1 is the one prepared last, pipelined",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, prepare("DELETE FROM t WHERE id = ?")+execute(0xffffffff, "1")),
				ev(in, 20, prepareOK(9, []string{"?"}, nil, true)+okPkt(1, 0x0002)),
			}),
			want: []string{"DELETE|t|DELETE t||10-20"},
		},
		{
			name: "COM_INIT_DB and USE change db.namespace; COM_PING is no operation",
			evs: with(connected(""), []stream.Event{
				ev(out, 10, query("SELECT 1")), ev(in, 11, resultSet([]string{"1"}, [][]string{{"1"}}, true, 2)),
				ev(out, 20, initDB("shop")), ev(in, 21, okPkt(1, 0x0002)),
				ev(out, 30, query("SELECT 2")), ev(in, 31, resultSet([]string{"2"}, [][]string{{"2"}}, true, 2)),
				ev(out, 40, initDB("nodb")), ev(in, 41, errPkt(1, 1049, "42000")),
				ev(out, 50, query("USE `other`")), ev(in, 51, okPkt(1, 0x0002)),
				ev(out, 60, ping), ev(in, 61, okPkt(1, 0x0002)),
				ev(out, 70, query("SELECT 3")), ev(in, 71, resultSet([]string{"3"}, [][]string{{"3"}}, true, 2)),
				ev(out, 80, quit),
			}),
			want: []string{"SELECT||SELECT||10-11", "SELECT||SELECT||30-31", "USE||USE||50-51", "SELECT||SELECT||70-71"},
		},
		{
			name: "opened before: an answer to a command not seen; an execute of a statement not seen is unknown",
			evs: []stream.Event{
				ev(in, 5, okPkt(1, 0x0002)),
				ev(out, 10, execute(1, "1")),
				ev(in, 20, pkt(1, "\x01")+colDef(2, "x")+pkt(3, "\x00\x00\x01\x31")+okEnd(4, 0x0002)),
				ev(out, 30, query("SELECT 1")),
				ev(in, 40, resultSet([]string{"1"}, [][]string{{"1"}}, true, 2)),
			},
			want:   []string{"||||10-20", "SELECT||SELECT||30-40"},
			stats:  protocol.Stats{Unknown: 1, Incomplete: 1},
			system: "mysql",
		},
		{
			name: "a command and an answer split across transfers, inside headers",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT * FROM t")[:2]),
				ev(out, 11, query("SELECT * FROM t")[2:]),
				ev(in, 20, okPkt(1, 2)[:3]),
				ev(in, 21, okPkt(1, 2)[3:]),
			}),
			want: []string{"SELECT|t|SELECT t||10-21"},
		},
		{
			name: "a large result: bytes past the copy skipped, the end found in the last bytes",
			evs: func() []stream.Event {
				rs := resultSet([]string{"v"}, rows(400, 90), true, 0x0002)
				return with(connected("shop"), []stream.Event{
					ev(out, 10, query("SELECT v FROM big")),
					evCut(in, 20, rs[:16384], 4096),
					evCut(in, 21, rs[16384:], 4096),
					ev(out, 30, query("SELECT 1")),
					ev(in, 40, resultSet([]string{"1"}, [][]string{{"1"}}, true, 2)),
				})
			}(),
			want:  []string{"SELECT|big|SELECT big||10-21", "SELECT||SELECT||30-40"},
			stats: protocol.Stats{Desync: 1},
		},
		{
			name: "a large result whose end is not seen: over by the last read before the next command, status unknown",
			evs: func() []stream.Event {
				rs := resultSet([]string{"v"}, rows(400, 90), true, 0x0002)
				return with(connected("shop"), []stream.Event{
					ev(out, 10, query("SELECT v FROM big")),
					evCut(in, 20, rs[:16384], 4096),
					{Dir: in, UnixNano: 21, Len: len(rs) - 16384}, // length only
					ev(out, 30, query("SELECT 1")),
					ev(in, 40, resultSet([]string{"1"}, [][]string{{"1"}}, true, 2)),
				})
			}(),
			want:  []string{"SELECT|big|SELECT big||10-21", "SELECT||SELECT||30-40"},
			stats: protocol.Stats{Desync: 1, Unknown: 1},
		},
		{
			name: "a large row over three reads: its body past the copy skipped by its length",
			evs: func() []stream.Event {
				answer := pkt(1, "\x01") + colDef(2, "doc") + row(3, strings.Repeat("d", 60000)) + okEnd(4, 0x0002)
				return with(connected("shop"), []stream.Event{
					ev(out, 10, query("SELECT doc FROM docs")),
					evCut(in, 20, answer[:30000], 4096),
					{Dir: in, UnixNano: 21, Len: len(answer) - 30000 - 50},
					ev(in, 22, answer[len(answer)-50:]),
				})
			}(),
			want: []string{"SELECT|docs|SELECT docs||10-22"},
		},
		{
			name: "payloads of 16 MiB and more: packets of 0xffffff bytes and a shorter one, the continuation never read as a packet of its own",
			evs: func() []stream.Event {
				full := "\xff\xff\xff"
				text := "INSERT INTO blobs VALUES ('" + strings.Repeat("x", maxPacket-len("\x03INSERT INTO blobs VALUES ('"))
				bigQuery := full + "\x00" + "\x03" + text
				value := strings.Repeat("v", maxPacket+50)
				bigRow := full + "\x03" + "\xfe" + string([]byte{byte(len(value)), byte(len(value) >> 8), byte(len(value) >> 16), 0, 0, 0, 0, 0}) +
					value[:maxPacket-9]
				rest := "\xfe" + value[maxPacket-9+1:] // the continuation begins with 0xfe, like an EOF
				return with(connected("shop"), []stream.Event{
					evCut(out, 10, bigQuery, 4096),
					ev(out, 11, pkt(1, "');")),
					ev(in, 20, okPkt(2, 0x0002)),
					ev(out, 30, query("SELECT v FROM blobs")),
					evCut(in, 40, pkt(1, "\x01")+colDef(2, "v")+bigRow, 4096),
					ev(in, 41, pkt(4, rest)+okEnd(5, 0x0002)),
				})
			}(),
			want:  []string{"INSERT|blobs|INSERT blobs||10-20", "SELECT|blobs|SELECT blobs||30-41"},
			stats: protocol.Stats{Truncated: 1},
		},
		{
			name: "a long statement cut by the copy: truncated, no collection",
			evs: with(connected("shop"), []stream.Event{
				evCut(out, 10, query("INSERT INTO t VALUES "+strings.Repeat("(1),", 5000)+"(1)"), 4096),
				ev(in, 20, okPkt(1, 0x0002)),
			}),
			want:  []string{"INSERT|t|INSERT t||10-20"},
			stats: protocol.Stats{Truncated: 1},
		},
		{
			name: "LOCAL INFILE: the client's file is not a command; the OK ends the operation",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t")),
				ev(in, 11, pkt(1, "\xfb/tmp/x")),
				ev(out, 12, pkt(2, "1\tsecret\n")+pkt(3, "")),
				ev(in, 20, okPkt(4, 0x0002)),
			}),
			want: []string{"LOAD|t|LOAD t||10-20"},
		},
		{
			name: "closed before the answer: incomplete, not reported",
			evs: with(connected("shop"), []stream.Event{
				ev(out, 10, query("SELECT SLEEP(10)")),
			}),
			stats: protocol.Stats{Incomplete: 1},
		},
		{
			name: "refused at authentication: no operation",
			evs: []stream.Event{
				ev(in, 1, greet("5.5.5-10.11.19-MariaDB", testCaps)),
				ev(out, 2, handshake(testCaps, "app", "wrong", "shop")),
				ev(in, 3, pkt(2, "\xfemysql_native_password\x00", "0123456789abcdefghij\x00")),
				ev(out, 4, pkt(3, "01234567890123456789")),
				ev(in, 5, errPkt(4, 1045, "28000")),
			},
		},
		{
			name: "an SSLRequest: TLS follows, nothing more is read",
			evs: []stream.Event{
				ev(in, 1, greet("5.5.5-10.11.19-MariaDB", testCaps|capSSL)),
				ev(out, 2, pkt(1, u32(testCaps|capSSL), u32(1<<24), "\x2d", strings.Repeat("\x00", 23))),
				ev(out, 3, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
				ev(in, 4, "\x16\x03\x03\x00\x7a\x02"),
			},
			stats: protocol.Stats{Skipped: 2},
		},
	}
}

func TestConn(t *testing.T) {
	for _, s := range scenarios() {
		t.Run(s.name, func(t *testing.T) {
			recs, st := run(protocol.Options{}, s.evs...)
			system := s.system
			if system == "" {
				system = "mariadb"
			}
			var got []string
			for _, r := range recs {
				got = append(got, show(r))
				conv := MariaDB
				if system == "mysql" {
					conv = MySQL
				}
				if r.Conv != conv || r.Kind != record.KindClient || r.PID != testMeta.PID || r.Peer != testMeta.Peer {
					t.Errorf("record fields: %+v (want db.system.name %s)", *r, system)
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
				st.Skipped != s.stats.Skipped || s.stats.Desync != 0 && st.Desync != s.stats.Desync ||
				s.stats.Truncated != 0 && st.Truncated != s.stats.Truncated {
				t.Errorf("stats %+v, want Incomplete %d Unknown %d Skipped %d Desync %d Truncated %d", st, s.stats.Incomplete,
					s.stats.Unknown, s.stats.Skipped, s.stats.Desync, s.stats.Truncated)
			}
		})
	}
}

// The namespace follows COM_INIT_DB and USE, only once they succeed.
func TestNamespace(t *testing.T) {
	evs := with(connected("first"), []stream.Event{
		ev(out, 10, initDB("second")), ev(in, 11, okPkt(1, 2)),
		ev(out, 20, query("SELECT 1")), ev(in, 21, okPkt(1, 2)),
		ev(out, 30, initDB("nodb")), ev(in, 31, errPkt(1, 1049, "42000")),
		ev(out, 40, query("SELECT 1")), ev(in, 41, okPkt(1, 2)),
		ev(out, 50, query("use third;")), ev(in, 51, okPkt(1, 2)),
		ev(out, 60, query("SELECT 1")), ev(in, 61, okPkt(1, 2)),
	})
	recs, _ := run(protocol.Options{}, evs...)
	var got []string
	for _, r := range recs {
		got = append(got, r.Namespace)
	}
	// the USE itself ran in the database before it
	if want := "second second second third"; strings.Join(got, " ") != want {
		t.Errorf("namespaces %q, want %q", got, want)
	}
}

// Nothing of the handshake but the database is kept: not the user name,
// not the authentication data.
func TestHandshakeNotKept(t *testing.T) {
	var st protocol.Stats
	c := NewConn(testMeta, &st, &protocol.Options{QueryText: true})
	var recs []*record.Record
	evs := with(connected("shop"), []stream.Event{ev(out, 10, query("SELECT 1")), ev(in, 11, okPkt(1, 2))})
	for i := range evs {
		c.Feed(&evs[i], func(r *record.Record) { recs = append(recs, r) })
	}
	for _, w := range []*walker{&c.out, &c.in} {
		if b := w.body[:cap(w.body)]; strings.Contains(string(b), "app") || strings.Contains(string(b), "secret-hash") {
			t.Errorf("a walker's buffer still holds the handshake: %q", b)
		}
	}
	if len(recs) != 1 || recs[0].Namespace != "shop" || strings.Contains(fmt.Sprintf("%+v", *recs[0]), "secret-hash") {
		t.Errorf("records %v", recs)
	}
}

func TestQueryText(t *testing.T) {
	evs := with(connected("shop"), []stream.Event{
		ev(out, 10, query("SELECT * FROM users WHERE name = 'bob' AND age > 30")),
		ev(in, 20, okPkt(1, 2)),
		ev(out, 30, prepare("SELECT * FROM users WHERE id = ?")),
		ev(in, 31, prepareOK(1, []string{"?"}, []string{"id"}, true)),
		ev(out, 40, execute(1, "secret")),
		ev(in, 50, pkt(1, "\x01")+colDef(2, "id")+okEnd(3, 2)),
	})
	recs, _ := run(protocol.Options{QueryText: true}, evs...)
	want := []string{"SELECT * FROM users WHERE name = ? AND age > ?", "SELECT * FROM users WHERE id = ?"}
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
	pre := with(connected("shop"), []stream.Event{
		ev(out, 5, prepare("SELECT * FROM users WHERE id = ?")), ev(in, 6, prepareOK(1, []string{"?"}, []string{"id"}, true)),
	})
	emit := func(r *record.Record) { record.Release(r) }
	for i := range pre {
		c.Feed(&pre[i], emit)
	}
	evs := []stream.Event{
		ev(out, 10, execute(1, "1")),
		ev(in, 20, pkt(1, "\x01")+colDef(2, "id")+pkt(3, "\x00\x00\x01\x31")+okEnd(4, 2)),
		ev(out, 30, query("SELECT * FROM users WHERE id = 7")),
		ev(in, 40, resultSet([]string{"id"}, [][]string{{"7"}}, true, 2)),
		ev(out, 50, query("INSERT INTO users VALUES (1)")),
		ev(in, 60, errPkt(1, 1062, "23000")),
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
		t.Errorf("%v allocations per three operations", allocs)
	}
}
