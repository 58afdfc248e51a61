package postgres

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
		{"StartupMessage", startupMsg("user", "app", "database", "shop"), out, yes},
		{"StartupMessage without user", startupMsg("database", "shop"), out, no},
		{"SSLRequest", sslRequest, out, yes},
		{"GSSENCRequest", untypedMsg(codeGSSENCRequest, ""), out, yes},
		{"CancelRequest", untypedMsg(codeCancelRequest, u32(1)+u32(2)), out, yes},
		{"start-up, first bytes", sslRequest[:5], out, maybe},
		{"Query", query("SELECT 1"), out, yes},
		{"Query cut by the copy", query("SELECT 1 FROM t")[:12], out, yes},
		{"extended batch", parse("", "SELECT $1") + bind("", "", "x") + execute("") + syncMsg, out, yes},
		{"Bind Execute Sync", bind("", "s1", "1") + execute("") + syncMsg, out, yes},
		{"a Query whose length is wrong", "Q\x00\x00\x00\x05SELECT 1\x00", out, no},
		{"a Query with control bytes", query("SEL\x01ECT"), out, no},
		{"server side: a request read", query("SELECT 1"), in, no},
		{"server side: a start-up read", startupMsg("user", "app"), in, no},
		{"answers ending with ReadyForQuery", complete("SELECT 1") + ready('I'), in, yes},
		{"answers not ending with ReadyForQuery", dataRow("1") + complete("SELECT 1"), in, no},
		{"server side: answers written", complete("SELECT 1") + ready('I'), out, no},
		{"HTTP/1 request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", out, no},
		{"HTTP/1 response", "HTTP/1.1 200 OK\r\n\r\n", in, no},
		{"TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", out, no},
		{"Redis", "*1\r\n$4\r\nPING\r\n", out, no},
		{"Kafka-like: length, api key 3, version 0", "\x00\x00\x00\x1a\x00\x03\x00\x00\x00\x00\x00\x01\x00\x06client\x00\x00\x00\x00", out, no},
		{"MySQL COM_QUERY", "\x09\x00\x00\x00\x03SELECT 1", out, no},
		{"a lone Sync", syncMsg, out, no},
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
