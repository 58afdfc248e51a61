package postgres

import (
	"bytes"
	"encoding/binary"
)

// The wire protocol v3 (https://www.postgresql.org/docs/current/protocol-message-formats.html):
// after the start-up messages (untyped: a 4-byte length, then a 4-byte
// code), every message is a type byte and a 4-byte big-endian length that
// counts itself but not the type.

// Codes of the untyped start-up messages.
const (
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
	codeCancelRequest = 80877102
	protocolMajor3    = 3 << 16
)

// maxMessage bounds a plausible message length (the server's own limit
// for most messages is 1 GB).
const maxMessage = 1 << 30

// frontend says whether t is the type of a message a client sends.
func frontend(t byte) bool {
	switch t {
	case 'Q', 'P', 'B', 'E', 'D', 'C', 'S', 'H', 'X', 'F', 'd', 'c', 'f', 'p':
		return true
	}
	return false
}

// backend says whether t is the type of a message a server sends.
func backend(t byte) bool {
	switch t {
	case 'R', 'K', 'S', 'Z', 'T', 'D', 'C', 'E', 'N', '1', '2', '3', 'n', 's', 't', 'I', 'A', 'G', 'H', 'W', 'd', 'c', 'V', 'v':
		return true
	}
	return false
}

// cstring returns the NUL-terminated string at the start of b and what
// follows it; ok false when b holds no NUL.
func cstring(b []byte) (s, rest []byte, ok bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

// printable: text a statement, a name or a tag can be (UTF-8 allowed, no
// control bytes but white space).
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// shapeOK checks what can be checked of a message of type t and length n
// (its length field) whose body's first bytes are body (all of it when
// len(body) == n-4). It is strict: it is what tells a message boundary
// from bytes that happen to look like one.
func shapeOK(t byte, n int, body []byte, fromClient bool) bool {
	if n < 4 || n > maxMessage {
		return false
	}
	whole := len(body) == n-4
	if fromClient {
		return frontendShape(t, n, body, whole)
	}
	return backendShape(t, n, body, whole)
}

func frontendShape(t byte, n int, body []byte, whole bool) bool {
	switch t {
	case 'S', 'H', 'X', 'c':
		return n == 4
	case 'Q':
		if n < 5 {
			return false
		}
		text := body
		if whole {
			if body[len(body)-1] != 0 {
				return false
			}
			text = body[:len(body)-1]
		}
		return bytes.IndexByte(text, 0) < 0 && printable(text)
	case 'P':
		if n < 4+1+1+2 {
			return false
		}
		name, rest, ok := cstring(body)
		if !ok {
			return !whole && len(body) < 64 && printable(body)
		}
		if !printable(name) {
			return false
		}
		query, rest, ok := cstring(rest)
		if !ok {
			return !whole && printable(rest)
		}
		if !printable(query) {
			return false
		}
		if whole {
			if len(rest) < 2 {
				return false
			}
			np := int(binary.BigEndian.Uint16(rest))
			return len(rest) == 2+4*np
		}
		return true
	case 'B':
		if n < 4+1+1+2+2+2 {
			return false
		}
		portal, rest, ok := cstring(body)
		if !ok {
			return !whole && len(body) < 64 && printable(body)
		}
		stmt, _, ok := cstring(rest)
		if !ok {
			return !whole && len(rest) < 64 && printable(rest)
		}
		return printable(portal) && printable(stmt)
	case 'E':
		if n < 4+1+4 {
			return false
		}
		portal, rest, ok := cstring(body)
		if !ok {
			return !whole && len(body) < 64 && printable(body)
		}
		return printable(portal) && (!whole || len(rest) == 4)
	case 'D', 'C':
		if n < 4+1+1 || len(body) > 0 && body[0] != 'S' && body[0] != 'P' {
			return false
		}
		if whole {
			name, rest, ok := cstring(body[1:])
			return ok && len(rest) == 0 && printable(name)
		}
		return true
	case 'F':
		return n >= 4+4+2+2+2
	case 'p', 'd', 'f':
		return true
	}
	return false
}

func backendShape(t byte, n int, body []byte, whole bool) bool {
	switch t {
	case 'Z':
		return n == 5 && (len(body) == 0 || body[0] == 'I' || body[0] == 'T' || body[0] == 'E')
	case '1', '2', '3', 'n', 'I', 's', 'c':
		return n == 4
	case 'K':
		return n >= 12
	case 'R':
		return n >= 8
	case 'C':
		if n < 5 {
			return false
		}
		if whole {
			tag, rest, ok := cstring(body)
			return ok && len(rest) == 0 && len(tag) > 0 && printable(tag)
		}
		return printable(body)
	case 'S':
		if n < 6 {
			return false
		}
		if whole {
			k, rest, ok := cstring(body)
			if !ok || !printable(k) {
				return false
			}
			v, rest, ok := cstring(rest)
			return ok && len(rest) == 0 && printable(v)
		}
		return true
	case 'E', 'N':
		return fieldsShape(n, body, whole)
	case 'D':
		return dataRowShape(n, body)
	case 'T':
		if n < 6 {
			return false
		}
		if len(body) >= 2 {
			nf := int(binary.BigEndian.Uint16(body))
			// each field: a name, then 18 bytes
			return n-6 >= nf*19
		}
		return true
	case 't':
		if n < 6 {
			return false
		}
		if len(body) >= 2 {
			return n-6 == 4*int(binary.BigEndian.Uint16(body))
		}
		return true
	case 'A', 'G', 'H', 'W', 'd', 'V', 'v':
		return true
	}
	return false
}

// fieldsShape: ErrorResponse and NoticeResponse, fields of a type byte and
// a string, ended by a 0 byte.
func fieldsShape(n int, body []byte, whole bool) bool {
	if n < 5 {
		return false
	}
	b := body
	for len(b) > 0 {
		if b[0] == 0 {
			return len(b) == 1 && whole // the terminator ends the message
		}
		if b[0] < 'A' || b[0] > 'z' {
			return false
		}
		_, rest, ok := cstring(b[1:])
		if !ok {
			return !whole
		}
		b = rest
	}
	return !whole
}

// dataRowShape: a column count, then each column's length (-1: NULL) and
// bytes; the lengths must add up to the message's.
func dataRowShape(n int, body []byte) bool {
	if n < 6 {
		return false
	}
	if len(body) < 2 {
		return true
	}
	cols := int(binary.BigEndian.Uint16(body))
	pos, size := 2, n-4
	for i := 0; i < cols; i++ {
		if pos+4 > size {
			return false
		}
		if pos+4 > len(body) {
			return true // the rest is past the copy
		}
		l := int(int32(binary.BigEndian.Uint32(body[pos:])))
		if l < -1 {
			return false
		}
		pos += 4 + max(l, 0)
	}
	return pos == size
}

// untyped reads a start-up message at the start of b (b[0] is 0: no type
// byte); n is its length, code its code (0 when b is too short).
func untyped(b []byte) (n, code int) {
	if len(b) < 8 {
		return 0, 0
	}
	return int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:]))
}

// startupShape checks a start-up message of length n whose bytes from its
// start are b: code 3.x, then key/value strings ending with an empty key,
// among them "user" (the server requires it).
func startupShape(n int, b []byte) bool {
	if n < 8+5+1 || n > 10000 {
		return false
	}
	b = b[8:min(len(b), n)]
	whole := len(b) == n-8
	user := false
	for len(b) > 0 {
		if b[0] == 0 {
			return len(b) == 1 && user
		}
		k, rest, ok := cstring(b)
		if !ok {
			return !whole && printable(b)
		}
		if !printable(k) {
			return false
		}
		if string(k) == "user" {
			user = true
		}
		v, rest, ok := cstring(rest)
		if !ok {
			return !whole && printable(rest)
		}
		if !printable(v) {
			return false
		}
		b = rest
	}
	return !whole
}

// chain walks the messages of b from off, as the first bytes of a transfer
// of total bytes: it returns how many message headers it read, where the
// last message ends (possibly past b, even past total) and whether every
// header and every visible body had the right shape.
func chain(b []byte, off, total int, fromClient bool) (msgs, end int, ok bool) {
	pos := off
	for pos < len(b) && pos < total {
		m, next, good := chainStep(b, pos, fromClient)
		if !good {
			return msgs, pos, false
		}
		if m == 0 {
			return msgs, pos, true // a header cut by the copy or the transfer's end
		}
		msgs++
		pos = next
	}
	return msgs, pos, true
}

// chainStep reads the message header at b[pos:] (pos < len(b)): one
// message of the right shape ending at next (possibly past b), none (0,
// true) when its header is cut by b's end, or not a message (ok false).
func chainStep(b []byte, pos int, fromClient bool) (msgs, next int, ok bool) {
	t := b[pos]
	if !validType(t, fromClient) {
		return 0, pos, false
	}
	if pos+5 > len(b) {
		return 0, pos, true
	}
	n := int(binary.BigEndian.Uint32(b[pos+1:]))
	if n < 4 || n > maxMessage || !shapeOK(t, n, b[pos+5:min(len(b), pos+1+n)], fromClient) {
		return 0, pos, false
	}
	return 1, pos + 1 + n, true
}

func validType(t byte, fromClient bool) bool {
	if fromClient {
		return frontend(t)
	}
	return backend(t)
}
