package mysql

import (
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/protocoltest"
	"github.com/ebpfred/ebpfred/internal/stream"
)

func TestDetect(t *testing.T) {
	yes, no, maybe := protocol.Yes, protocol.No, protocol.Maybe
	for _, c := range []struct {
		name string
		b    string
		dir  stream.Direction
		want protocol.Verdict
	}{
		{"MariaDB greeting", greet("5.5.5-10.11.19-MariaDB-0+deb12u1", testCaps), in, yes},
		{"MySQL greeting", greet("8.0.36", testCaps), in, yes},
		{"greeting, first bytes", greet("8.0.36", testCaps)[:4], in, maybe},
		{"greeting, first bytes only (a client that reads the header alone)", greet("8.0.36", testCaps)[:20], in, yes},
		{"a greeting of another protocol version", "\x20\x00\x00\x00\x09" + "8.0.36\x00" + "0123456789abcdefghijklmnop", in, no},
		{"COM_QUERY", query("SELECT 1"), out, yes},
		{"COM_QUERY cut by the copy", query("SELECT * FROM t WHERE a = 1")[:12], out, yes},
		{"COM_QUERY with query attributes", pkt(0, "\x03\x00\x01SELECT 1"), out, yes},
		{"COM_STMT_PREPARE", prepare("SELECT ?"), out, yes},
		{"COM_STMT_EXECUTE", execute(1, "x"), out, yes},
		{"COM_STMT_CLOSE then COM_QUERY", closeStmt(1) + query("SELECT 1"), out, yes},
		{"COM_PING", ping, out, yes},
		{"COM_INIT_DB", initDB("shop"), out, yes},
		{"a command with sequence id 1", pkt(1, "\x03SELECT 1"), out, no},
		{"COM_QUERY with control bytes", query("SEL\x01ECT"), out, no},
		{"COM_QUERY whose length is wrong", "\x03\x00\x00\x00\x03SELECT 1", out, no},
		{"an unknown command", pkt(0, "\x60abc"), out, no},
		{"server side: a command read", query("SELECT 1"), in, no},
		{"server side: a greeting written", greet("8.0.36", testCaps), out, no},
		{"an OK answer", okPkt(1, 2), in, yes},
		{"an ERR answer", errPkt(1, 1146, "42S02"), in, yes},
		{"a result set", resultSet([]string{"a"}, [][]string{{"1"}}, true, 2), in, yes},
		{"rows alone", row(5, "x") + row(6, "y"), in, no},
		{"HTTP/1 request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", out, no},
		{"HTTP/1 response", "HTTP/1.1 200 OK\r\n\r\n", in, no},
		{"TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", out, no},
		{"Redis", "*1\r\n$4\r\nPING\r\n", out, no},
		{"Redis reply", "+OK\r\n", in, no},
		{"PostgreSQL Query", "Q\x00\x00\x00\x0dSELECT 1\x00", out, no},
		{"PostgreSQL StartupMessage", "\x00\x00\x00\x13\x00\x03\x00\x00user\x00app\x00\x00", out, no},
		{"PostgreSQL ReadyForQuery", "Z\x00\x00\x00\x05I", in, no},
		{"memcached", "get k\r\n", out, no},
		{"empty", "", out, no},
	} {
		if got := Detect([]byte(c.b), c.dir, true); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestContract(t *testing.T) {
	var convs []protocoltest.Conversation
	for _, s := range scenarios() {
		n := len(s.want) + int(s.stats.Incomplete)
		convs = append(convs, protocoltest.Conversation{Name: s.name, Meta: testMeta, Events: s.evs, Requests: n})
	}
	protocoltest.Contract(t, Protocol, convs)
}
