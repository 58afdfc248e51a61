package postgres

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

var testMeta = stream.Meta{PID: 42, Local: netip.MustParseAddrPort("127.0.0.1:40000"),
	Peer: netip.MustParseAddrPort("127.0.0.1:5432"), Scheme: "http"}

const (
	in  = stream.Ingress
	out = stream.Egress
)

// msg builds a typed message.
func msg(t byte, parts ...string) string {
	body := strings.Join(parts, "")
	b := make([]byte, 5, 5+len(body))
	b[0] = t
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return string(append(b, body...))
}

func u16(v int) string { return string(binary.BigEndian.AppendUint16(nil, uint16(v))) }
func u32(v int) string { return string(binary.BigEndian.AppendUint32(nil, uint32(v))) }

// untypedMsg builds a start-up message with code and body.
func untypedMsg(code int, body string) string {
	return u32(8+len(body)) + u32(code) + body
}

func startupMsg(params ...string) string {
	return untypedMsg(protocolMajor3, strings.Join(params, "\x00")+"\x00\x00")
}

var sslRequest = untypedMsg(codeSSLRequest, "")

func query(text string) string       { return msg('Q', text, "\x00") }
func parse(name, text string) string { return msg('P', name, "\x00", text, "\x00", u16(0)) }
func bind(portal, stmt string, params ...string) string {
	b := portal + "\x00" + stmt + "\x00" + u16(0) + u16(len(params))
	for _, p := range params {
		b += u32(len(p)) + p
	}
	return msg('B', b, u16(0))
}
func describe(kind byte, name string) string { return msg('D', string(kind), name, "\x00") }
func execute(portal string) string           { return msg('E', portal, "\x00", u32(0)) }
func closeMsg(kind byte, name string) string { return msg('C', string(kind), name, "\x00") }

var (
	syncMsg       = msg('S')
	flushMsg      = msg('H')
	terminate     = msg('X')
	parseComplete = msg('1')
	bindComplete  = msg('2')
	closeComplete = msg('3')
	noData        = msg('n')
	authOK        = msg('R', u32(0))
)

func ready(status byte) string   { return msg('Z', string(status)) }
func complete(tag string) string { return msg('C', tag, "\x00") }
func rowDesc(cols ...string) string {
	b := u16(len(cols))
	for _, c := range cols {
		b += c + "\x00" + u32(0) + u16(0) + u32(25) + u16(0xffff) + u32(0xffffffff) + u16(0)
	}
	return msg('T', b)
}
func dataRow(vals ...string) string {
	b := u16(len(vals))
	for _, v := range vals {
		b += u32(len(v)) + v
	}
	return msg('D', b)
}
func errorResp(code string) string {
	return msg('E', "SERROR\x00VERROR\x00C", code, "\x00Mit failed\x00\x00")
}
func paramStatus(k, v string) string { return msg('S', k, "\x00", v, "\x00") }
func notice() string                 { return msg('N', "SNOTICE\x00C00000\x00Mnote\x00\x00") }

// connected is a start-up and its answers, up to the first ReadyForQuery.
func connected(db string) []stream.Event {
	params := []string{"user", "app"}
	if db != "" {
		params = append(params, "database", db)
	}
	return []stream.Event{
		ev(out, 1, startupMsg(params...)),
		ev(in, 2, authOK+paramStatus("server_version", "15.18")+msg('K', u32(7), u32(9))+ready('I')),
	}
}

// ev is a transfer copied whole.
func ev(dir stream.Direction, t uint64, data string) stream.Event {
	b := []byte(data)
	return stream.Event{Dir: dir, UnixNano: t, Len: len(b), Payload: b, Tail: b[max(0, len(b)-8):]}
}

// evCut is a transfer of which the kernel copied the first copied bytes.
func evCut(dir stream.Direction, t uint64, data string, copied int) stream.Event {
	b := []byte(data)
	return stream.Event{Dir: dir, UnixNano: t, Len: len(b), Payload: b[:min(copied, len(b))], Tail: b[max(0, len(b)-8):]}
}

// run feeds events to a fresh parser, closes it, and returns its records
// and stats.
func run(opt protocol.Options, evs ...stream.Event) ([]*record.Record, protocol.Stats) {
	var st protocol.Stats
	c := NewConn(testMeta, &st, &opt)
	var recs []*record.Record
	emit := func(r *record.Record) { recs = append(recs, r) }
	var last uint64
	for i := range evs {
		e := evs[i]
		c.Feed(&e, emit)
		last = max(last, e.UnixNano)
	}
	c.Close(last+1, emit)
	return recs, st
}
