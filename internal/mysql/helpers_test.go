package mysql

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

var testMeta = stream.Meta{PID: 42, Local: netip.MustParseAddrPort("127.0.0.1:40000"),
	Peer: netip.MustParseAddrPort("127.0.0.1:3306"), Scheme: "http"}

const (
	in  = stream.Ingress
	out = stream.Egress
)

// pkt builds one packet (a payload under 16 MiB).
func pkt(seq int, parts ...string) string {
	body := strings.Join(parts, "")
	n := len(body)
	return string([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(seq)}) + body
}

func u16(v int) string { return string(binary.LittleEndian.AppendUint16(nil, uint16(v))) }
func u32(v int) string { return string(binary.LittleEndian.AppendUint32(nil, uint32(v))) }

// Capabilities a modern client and server both have.
const (
	testCaps = capProtocol41 | capSecureConnection | capPluginAuthLenencData | 0x80000 /* plugin auth */ | capConnectWithDB
)

// greet is a server's Initial Handshake.
func greet(version string, caps uint32) string {
	return pkt(0, "\x0a", version, "\x00", u32(7), "abcdefgh", "\x00", u16(int(caps&0xffff)), "\x2d", u16(2),
		u16(int(caps>>16)), "\x15", strings.Repeat("\x00", 10), "ijklmnopqrst\x00", "mysql_native_password\x00")
}

// handshake is a client's HandshakeResponse41.
func handshake(caps uint32, user, auth, db string) string {
	b := u32(int(caps)) + u32(1<<24) + "\x2d" + strings.Repeat("\x00", 23) + user + "\x00"
	b += string([]byte{byte(len(auth))}) + auth
	if caps&capConnectWithDB != 0 {
		b += db + "\x00"
	}
	return pkt(1, b, "mysql_native_password\x00")
}

// okPkt is an OK packet with status flags (no rows affected).
func okPkt(seq int, flags int) string { return pkt(seq, "\x00\x00\x00", u16(flags), u16(0)) }

// okEnd is the OK that ends a result set under CLIENT_DEPRECATE_EOF.
func okEnd(seq int, flags int) string { return pkt(seq, "\xfe\x00\x00", u16(flags), u16(0)) }

func eof(seq int, flags int) string { return pkt(seq, "\xfe", u16(0), u16(flags)) }

func errPkt(seq int, code int, state string) string {
	return pkt(seq, "\xff", u16(code), "#", state, "it failed")
}

func lenencStr(s string) string {
	if len(s) < 251 {
		return string([]byte{byte(len(s))}) + s
	}
	return "\xfc" + u16(len(s)) + s
}

func colDef(seq int, name string) string {
	return pkt(seq, lenencStr("def"), lenencStr("shop"), lenencStr("t"), lenencStr("t"), lenencStr(name), lenencStr(name),
		"\x0c", u16(33), u32(255), "\xfd", u16(0), "\x00", "\x00\x00")
}

func row(seq int, vals ...string) string {
	var b string
	for _, v := range vals {
		b += lenencStr(v)
	}
	return pkt(seq, b)
}

// resultSet is the text result set of cols and rows, its packets
// numbered from seq 1; deprecateEOF: no EOF after the definitions, an OK
// with header 0xfe at the end. flags are the last packet's.
func resultSet(cols []string, rows [][]string, deprecateEOF bool, flags int) string {
	seq := 1
	b := pkt(seq, string([]byte{byte(len(cols))}))
	for _, c := range cols {
		seq++
		b += colDef(seq, c)
	}
	if !deprecateEOF {
		seq++
		b += eof(seq, 0x0002)
	}
	for _, r := range rows {
		seq++
		b += row(seq, r...)
	}
	seq++
	if deprecateEOF {
		return b + okEnd(seq, flags)
	}
	return b + eof(seq, flags)
}

func query(text string) string   { return pkt(0, "\x03", text) }
func prepare(text string) string { return pkt(0, "\x16", text) }
func execute(id int, params ...string) string {
	b := "\x17" + u32(id) + "\x00" + u32(1)
	if len(params) > 0 {
		b += "\x00\x01" + strings.Repeat("\xfe\x00", len(params))
		for _, p := range params {
			b += lenencStr(p)
		}
	}
	return pkt(0, b)
}
func closeStmt(id int) string { return pkt(0, "\x19", u32(id)) }
func resetStmt(id int) string { return pkt(0, "\x1a", u32(id)) }
func initDB(db string) string { return pkt(0, "\x02", db) }

var (
	ping = pkt(0, "\x0e")
	quit = pkt(0, "\x01")
)

// prepareOK is a COM_STMT_PREPARE's answer with its definitions.
func prepareOK(id int, params, cols []string, deprecateEOF bool) string {
	seq := 1
	b := pkt(seq, "\x00", u32(id), u16(len(cols)), u16(len(params)), "\x00", u16(0))
	for _, group := range [][]string{params, cols} {
		for _, name := range group {
			seq++
			b += colDef(seq, name)
		}
		if len(group) > 0 && !deprecateEOF {
			seq++
			b += eof(seq, 0x0002)
		}
	}
	return b
}

// connected is a MariaDB server's greeting, the client's handshake
// response (user "app", a password hash, database db) and the OK.
func connected(db string) []stream.Event {
	caps := uint32(testCaps)
	if db == "" {
		caps &^= capConnectWithDB
	}
	return []stream.Event{
		ev(in, 1, greet("5.5.5-10.11.19-MariaDB-0+deb12u1", testCaps|capDeprecateEOF)),
		ev(out, 2, handshake(caps|capDeprecateEOF, "app", "secret-hash-20-bytes", db)),
		ev(in, 3, okPkt(2, 0x0002)),
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
