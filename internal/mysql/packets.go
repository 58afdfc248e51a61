package mysql

import (
	"bytes"
	"encoding/binary"
	"strconv"
)

// The client/server protocol
// (https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html,
// MariaDB's is the same at this level): every packet is a 3-byte
// little-endian payload length, a sequence id, then the payload. A payload
// of 2^24-1 bytes or more is sent as packets of exactly 0xffffff bytes and
// a last shorter one (possibly empty), with consecutive sequence ids. Each
// command starts a new sequence at 0; its answer's packets continue it
// (1, 2, ...).

// maxPacket is the payload length of a packet that the next one continues.
const maxPacket = 0xffffff

// Commands (the first byte of a command packet's payload).
const (
	comQuit             = 0x01
	comInitDB           = 0x02
	comQuery            = 0x03
	comFieldList        = 0x04
	comStatistics       = 0x09
	comPing             = 0x0e
	comChangeUser       = 0x11
	comStmtPrepare      = 0x16
	comStmtExecute      = 0x17
	comStmtSendLongData = 0x18
	comStmtClose        = 0x19
	comStmtReset        = 0x1a
	comSetOption        = 0x1b
	comStmtFetch        = 0x1c
	comResetConnection  = 0x1f
)

// Capability flags read from the greeting and the handshake response.
const (
	capConnectWithDB        = 0x00000008
	capCompress             = 0x00000020
	capProtocol41           = 0x00000200
	capSSL                  = 0x00000800
	capSecureConnection     = 0x00008000
	capPluginAuthLenencData = 0x00200000
	capDeprecateEOF         = 0x01000000
)

// Server status flags (in OK and EOF packets).
const (
	statusMoreResults  = 0x0008
	statusCursorExists = 0x0040
)

// Payload headers of the server's generic answers.
const (
	hdrOK     = 0x00
	hdrInfile = 0xfb
	hdrEOF    = 0xfe
	hdrErr    = 0xff
)

// packetLen returns the payload length in a packet header.
func packetLen(h []byte) int { return int(h[0]) | int(h[1])<<8 | int(h[2])<<16 }

// lenenc reads a length-encoded integer at the start of b: its value and
// its size; size 0 when b is too short or the first byte is not one
// (0xfb is NULL in a row, 0xff an error).
func lenenc(b []byte) (v uint64, size int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), 1
	case c == 0xfc && len(b) >= 3:
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3
	case c == 0xfd && len(b) >= 4:
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case c == 0xfe && len(b) >= 9:
		return binary.LittleEndian.Uint64(b[1:]), 9
	}
	return 0, 0
}

// isEOF: an EOF packet (header 0xfe, warnings, status flags: 5 bytes in
// protocol 4.1). The OK packet a result set ends with under
// CLIENT_DEPRECATE_EOF has the same header and at least 7 bytes.
func isEOF(b []byte, plen int) bool { return len(b) > 0 && b[0] == hdrEOF && plen == 5 }

// isTerminator: the packet ending a result set's rows: an EOF, or an OK
// with header 0xfe (CLIENT_DEPRECATE_EOF). A row can begin with 0xfe only
// as the length prefix of a value of 2^24 bytes or more, in a packet of
// 0xffffff bytes.
func isTerminator(b []byte, plen int) bool {
	return len(b) > 0 && b[0] == hdrEOF && plen < maxPacket && (plen == 5 || plen >= 7)
}

// statusFlags returns the server status flags of an OK or EOF packet (the
// first bytes b of a payload of plen bytes); ok false when they are not in b.
func statusFlags(b []byte, plen int) (flags uint16, ok bool) {
	if isEOF(b, plen) {
		if len(b) < 5 {
			return 0, false
		}
		return binary.LittleEndian.Uint16(b[3:]), true
	}
	// OK: header, affected rows, last insert id, status flags, warnings
	_, n1 := lenenc(b[1:])
	if n1 == 0 {
		return 0, false
	}
	_, n2 := lenenc(b[1+n1:])
	if n2 == 0 || len(b) < 1+n1+n2+2 {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b[1+n1+n2:]), true
}

// errCode reads an ERR packet: its error number, and whether it is a
// final error (MariaDB's progress reports use the number 0xffff).
func errCode(b []byte) (code uint16, ok bool) {
	if len(b) < 3 || b[0] != hdrErr {
		return 0, false
	}
	code = binary.LittleEndian.Uint16(b[1:])
	return code, code != 0xffff
}

// errShape says whether the first bytes b of a payload of plen bytes can
// be an ERR packet: a header, an error number, and in protocol 4.1 '#'
// and a five-character SQLSTATE before the message.
func errShape(b []byte, plen int) bool {
	if len(b) < 3 || b[0] != hdrErr || plen < 3 {
		return false
	}
	code := binary.LittleEndian.Uint16(b[1:])
	if code < 1000 && code != 0xffff {
		return false
	}
	if len(b) > 3 && b[3] == '#' {
		if len(b) < 9 {
			return plen >= 9
		}
		for _, c := range b[4:9] {
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

// okShape says whether b (a whole payload of plen bytes, or its first
// bytes) can be an OK packet: header 0, two length-encoded integers,
// status flags and warnings.
func okShape(b []byte, plen int) bool {
	if len(b) == 0 || b[0] != hdrOK || plen < 7 {
		return false
	}
	_, n1 := lenenc(b[1:])
	if n1 == 0 {
		return len(b) < 2
	}
	_, n2 := lenenc(b[1+n1:])
	return n2 != 0 || len(b) < 1+n1+1
}

// isColumnDef: a column definition packet starts with its catalog, which
// is always "def".
func isColumnDef(b []byte) bool { return len(b) >= 4 && string(b[:4]) == "\x03def" }

// printable: text a statement or a name can be (UTF-8 allowed, no control
// bytes but white space).
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// greeting reads the server's Initial Handshake packet (protocol 10): the
// server's version string says MariaDB or not, and its capabilities.
// ok false when b is not one.
func greeting(b []byte, plen int) (mariadb bool, caps uint32, ok bool) {
	if len(b) < 2 || b[0] != 10 || plen < 2+4+8+1+2 || plen > 1024 {
		return false, 0, false
	}
	i := bytes.IndexByte(b[1:], 0)
	if i < 1 || i > 100 || !printable(b[1:1+i]) || b[1] < '0' || b[1] > '9' {
		return false, 0, false
	}
	mariadb = bytes.Contains(b[1:1+i], []byte("MariaDB"))
	rest := b[1+i+1:] // thread id 4, auth data 8, filler 1, caps low 2, charset 1, status 2, caps high 2
	if len(rest) >= 4+8+1+2 {
		caps = uint32(binary.LittleEndian.Uint16(rest[13:]))
	}
	if len(rest) >= 4+8+1+2+1+2+2 {
		caps |= uint32(binary.LittleEndian.Uint16(rest[18:])) << 16
	}
	return mariadb, caps, true
}

// handshakeResponse reads the client's HandshakeResponse41 (or its
// SSLRequest, the same first 32 bytes): its capabilities, and the database
// it names, if any. The user name and the authentication data are stepped
// over, never returned.
func handshakeResponse(b []byte) (caps uint32, db []byte, ok bool) {
	if len(b) < 32 {
		return 0, nil, false
	}
	caps = binary.LittleEndian.Uint32(b)
	if caps&capProtocol41 == 0 {
		return caps, nil, false
	}
	if caps&capConnectWithDB == 0 || len(b) == 32 {
		return caps, nil, true
	}
	rest := b[32:]
	i := bytes.IndexByte(rest, 0) // the user name
	if i < 0 {
		return caps, nil, true
	}
	rest = rest[i+1:]
	switch {
	case caps&capPluginAuthLenencData != 0:
		n, size := lenenc(rest)
		if size == 0 || uint64(len(rest)-size) < n {
			return caps, nil, true
		}
		rest = rest[size+int(n):]
	case caps&capSecureConnection != 0:
		if len(rest) < 1 || len(rest)-1 < int(rest[0]) {
			return caps, nil, true
		}
		rest = rest[1+int(rest[0]):]
	default:
		j := bytes.IndexByte(rest, 0)
		if j < 0 {
			return caps, nil, true
		}
		rest = rest[j+1:]
	}
	j := bytes.IndexByte(rest, 0)
	if j < 0 || j > 64 || !printable(rest[:j]) {
		return caps, nil, true
	}
	return caps, rest[:j], true
}

// commandShape says whether the first bytes b of a client payload of plen
// bytes are a command of the right shape.
func commandShape(b []byte, plen int) bool {
	if len(b) == 0 || plen < 1 {
		return false
	}
	whole := len(b) >= plen
	switch b[0] {
	case comQuit, comPing, comResetConnection, comStatistics:
		return plen == 1
	case comStmtClose, comStmtReset:
		return plen == 5
	case comStmtFetch:
		return plen == 9
	case comSetOption:
		return plen == 3
	case comStmtSendLongData:
		return plen >= 7
	case comInitDB:
		return plen >= 2 && plen <= 1+64 && printable(b[1:min(len(b), plen)])
	case comStmtExecute:
		if plen < 10 {
			return false
		}
		// statement id, flags, then an iteration count that is always 1
		return len(b) < 10 || binary.LittleEndian.Uint32(b[6:10]) == 1
	case comQuery, comStmtPrepare:
		if plen < 2 {
			return false
		}
		text := b[1:min(len(b), plen)]
		if b[0] == comQuery {
			text = skipQueryAttributes(text)
		}
		if whole && len(text) == 0 {
			return false
		}
		return printable(text)
	}
	return false
}

// skipQueryAttributes steps over the prefix a COM_QUERY has when the
// client sends query attributes (MySQL 8's CLIENT_QUERY_ATTRIBUTES): a
// parameter count of 0 and a parameter set count of 1. SQL text never
// begins with a NUL byte, so the prefix tells itself.
func skipQueryAttributes(text []byte) []byte {
	if len(text) >= 2 && text[0] == 0 && text[1] == 1 {
		return text[2:]
	}
	return text
}

// codeString returns an error number as text, without allocating for the
// common ones.
func codeString(code uint16) string {
	switch code {
	case 1045:
		return "1045" // access denied
	case 1048:
		return "1048" // column cannot be null
	case 1049:
		return "1049" // unknown database
	case 1054:
		return "1054" // unknown column
	case 1062:
		return "1062" // duplicate entry
	case 1064:
		return "1064" // syntax error
	case 1146:
		return "1146" // no such table
	case 1205:
		return "1205" // lock wait timeout
	case 1213:
		return "1213" // deadlock
	case 1243:
		return "1243" // unknown prepared statement handler
	case 1292:
		return "1292" // incorrect value
	case 1317:
		return "1317" // query interrupted
	case 1364:
		return "1364" // field has no default
	case 1366:
		return "1366" // incorrect string value
	case 1406:
		return "1406" // data too long
	case 1451:
		return "1451" // foreign key: row is referenced
	case 1452:
		return "1452" // foreign key: no parent row
	}
	return strconv.Itoa(int(code))
}
