package http1

import "bytes"

// parseResult says how far a message head could be read.
type parseResult uint8

const (
	// headComplete: start line and header block up to the blank line.
	headComplete parseResult = iota + 1
	// headPartial: the bytes ran out before the blank line; what was seen
	// so far is consistent with an HTTP/1.x head.
	headPartial
	// headMalformed: an HTTP/1.x start line followed by a header block we
	// cannot trust for framing (bad line, bad or conflicting length).
	headMalformed
	// headNotHTTP: the bytes are not an HTTP/1.x request or status line.
	headNotHTTP
)

// maxMethodLen bounds the method token; the kernel only copies transfers
// starting with 3–7 uppercase letters, longer tokens are not HTTP for us.
const maxMethodLen = 20

// head is what the parser learned from one message head. Byte slices alias
// the parsed buffer: copy them before the buffer changes.
type head struct {
	resp bool

	method    []byte // request: the method token
	target    []byte // request: the request-target as far as seen
	targetEnd bool   // request: the SP after the target was seen
	minor     int8   // HTTP/1.minor, -1 when not seen
	status    int    // response: status code, 0 when not seen
	lineDone  bool   // the start line's line end was seen

	end int // complete: offset just past the blank line

	cl      int64 // Content-Length, -1 when absent
	te      bool  // Transfer-Encoding present
	chunked bool  // the final transfer coding is chunked
	host    []byte
	hasHost bool
	tp      []byte // traceparent value (OWS trimmed)
	tpCount int
}

func (h *head) reset(resp bool) {
	*h = head{resp: resp, minor: -1, cl: -1}
}

// parseHead reads a request (resp false) or response head from b, which
// starts at the first byte of the message. Header lines cut off by the end of
// b are ignored: a partial value could be wrong, and we never invent values.
func parseHead(b []byte, resp bool, h *head) parseResult {
	h.reset(resp)
	var i int
	var r parseResult
	if resp {
		i, r = parseStatusLine(b, h)
	} else {
		i, r = parseRequestLine(b, h)
	}
	if r != 0 {
		return r
	}
	h.lineDone = true
	return parseFields(b, i, h)
}

// parseRequestLine reads "method SP target SP HTTP/1.d CRLF" and returns the
// offset of the first header line, or a non-zero result when it stops early.
func parseRequestLine(b []byte, h *head) (int, parseResult) {
	i := 0
	for i < len(b) && i < maxMethodLen && isTchar(b[i]) {
		i++
	}
	// A token that runs to the end of what we have is the start of a
	// method split across transfers (Go's net/http reads a request's first
	// byte alone; the kernel copies such short transfers and the next one).
	if i > 0 && i == len(b) && i < maxMethodLen {
		return 0, headPartial
	}
	if i == 0 || i == len(b) || b[i] != ' ' {
		return 0, headNotHTTP
	}
	h.method = b[:i]
	i++
	j := i
	for j < len(b) && b[j] != ' ' {
		if c := b[j]; c <= ' ' || c == 0x7f {
			return 0, headNotHTTP // CTL in target, or HTTP/0.9 request
		}
		j++
	}
	h.target = b[i:j]
	if j == len(b) {
		return 0, headPartial
	}
	if j == i {
		return 0, headNotHTTP // empty target
	}
	h.targetEnd = true
	j++
	j, r := parseVersion(b, j, h)
	if r != 0 {
		return 0, r
	}
	return parseLineEnd(b, j)
}

// parseStatusLine reads "HTTP/1.d SP 3DIGIT [SP reason] CRLF".
func parseStatusLine(b []byte, h *head) (int, parseResult) {
	j, r := parseVersion(b, 0, h)
	if r != 0 {
		return 0, r
	}
	if j == len(b) {
		return 0, headPartial
	}
	if b[j] != ' ' {
		return 0, headNotHTTP
	}
	j++
	code := 0
	for k := 0; k < 3; k++ {
		if j == len(b) {
			return 0, headPartial
		}
		c := b[j]
		if c < '0' || c > '9' {
			return 0, headNotHTTP
		}
		code = code*10 + int(c-'0')
		j++
	}
	if code < 100 {
		return 0, headNotHTTP
	}
	if j < len(b) && b[j] != ' ' && b[j] != '\r' && b[j] != '\n' {
		return 0, headNotHTTP // four digits or junk after the code
	}
	h.status = code
	// The reason phrase is free text: skip to the line end.
	k := bytes.IndexByte(b[j:], '\n')
	if k < 0 {
		return 0, headPartial
	}
	return j + k + 1, 0
}

// parseVersion matches "HTTP/1.0" or "HTTP/1.1" at b[i:].
func parseVersion(b []byte, i int, h *head) (int, parseResult) {
	const v = "HTTP/1."
	for k := 0; k < len(v); k++ {
		if i+k == len(b) {
			return 0, headPartial
		}
		if b[i+k] != v[k] {
			return 0, headNotHTTP
		}
	}
	i += len(v)
	if i == len(b) {
		return 0, headPartial
	}
	switch b[i] {
	case '0':
		h.minor = 0
	case '1':
		h.minor = 1
	default:
		return 0, headNotHTTP
	}
	return i + 1, 0
}

// parseLineEnd accepts CRLF or a bare LF at b[i:].
func parseLineEnd(b []byte, i int) (int, parseResult) {
	if i == len(b) {
		return 0, headPartial
	}
	if b[i] == '\r' {
		i++
		if i == len(b) {
			return 0, headPartial
		}
	}
	if b[i] != '\n' {
		return 0, headNotHTTP
	}
	return i + 1, 0
}

// parseFields reads header lines from b[i:] up to the blank line.
func parseFields(b []byte, i int, h *head) parseResult {
	bad := false
	for {
		if i == len(b) {
			return headPartial
		}
		switch b[i] {
		case '\n':
			h.end = i + 1
			return finishFields(h, bad)
		case '\r':
			if i+1 == len(b) {
				return headPartial
			}
			if b[i+1] == '\n' {
				h.end = i + 2
				return finishFields(h, bad)
			}
		}
		k := bytes.IndexByte(b[i:], '\n')
		if k < 0 {
			return headPartial // cut mid-line: ignore the partial line
		}
		line := b[i : i+k]
		i += k + 1
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if line[0] == ' ' || line[0] == '\t' {
			bad = true // obsolete line folding: rejected by RFC 9112 servers
			continue
		}
		colon := nameEnd(line)
		if colon <= 0 {
			bad = true
			continue
		}
		if !field(h, line[:colon], trimOWS(line[colon+1:])) {
			bad = true
		}
	}
}

func finishFields(h *head, bad bool) parseResult {
	if bad {
		return headMalformed
	}
	return headComplete
}

// field records the header fields the parser uses and reports false when a
// framing field is invalid.
func field(h *head, name, value []byte) bool {
	switch len(name) {
	case 4:
		if eqLower(name, "host") {
			if h.hasHost {
				return false // RFC 9112 §3.2: more than one Host is an error
			}
			h.host, h.hasHost = value, true
		}
	case 11:
		if eqLower(name, "traceparent") {
			h.tp = value
			h.tpCount++
		}
	case 14:
		if eqLower(name, "content-length") {
			n, ok := parseContentLength(value)
			if !ok || (h.cl >= 0 && h.cl != n) {
				return false
			}
			h.cl = n
		}
	case 17:
		if eqLower(name, "transfer-encoding") {
			// Codings accumulate across fields: only the final one decides.
			h.te = true
			last := value
			if k := bytes.LastIndexByte(value, ','); k >= 0 {
				last = trimOWS(value[k+1:])
			}
			h.chunked = eqLower(last, "chunked")
			if len(last) == 0 && len(value) > 0 {
				return false
			}
		}
	}
	return true
}

// parseContentLength accepts a decimal length, or a list of identical ones
// ("5, 5", which RFC 9110 §8.6 lets a recipient accept).
func parseContentLength(v []byte) (int64, bool) {
	n := int64(-1)
	for len(v) > 0 {
		item := v
		if k := bytes.IndexByte(v, ','); k >= 0 {
			item, v = trimOWS(v[:k]), trimOWS(v[k+1:])
			if len(v) == 0 {
				return 0, false
			}
		} else {
			v = nil
		}
		m, ok := parseDecimal(item)
		if !ok || (n >= 0 && m != n) {
			return 0, false
		}
		n = m
	}
	return n, n >= 0
}

// parseDecimal parses a non-empty run of digits, refusing values that would
// not fit comfortably in an int64.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// isPreface reports whether b starts like the HTTP/2 connection preface
// (at least its "PRI * HTTP/2" start, as far as b reaches).
func isPreface(b []byte) bool {
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	const start = len("PRI * HTTP/2")
	if len(b) < start {
		return false
	}
	n := min(len(b), len(preface))
	return string(b[:n]) == preface[:n]
}

// tchar per RFC 9110 §5.6.2.
var tchars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTchar(c byte) bool { return tchars[c] }

// nameEnd returns the offset of the colon ending a valid field name at the
// start of line, or -1.
func nameEnd(line []byte) int {
	for i, c := range line {
		if !tchars[c] {
			if c == ':' && i > 0 {
				return i
			}
			return -1
		}
	}
	return -1
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// eqLower compares b case-insensitively with lower, which is lowercase.
func eqLower(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
