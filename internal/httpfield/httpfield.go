// Package httpfield holds the header-field rules the HTTP/1 and HTTP/2
// parsers share: semconv method names, Host/:authority splitting, W3C
// traceparent parsing, and string interning. All of it works on bytes the
// kernel copied and allocates only when a value changes.
package httpfield

import "bytes"

// MethodOther is the semconv http.request.method for methods outside the
// well-known set.
const MethodOther = "_OTHER"

// MethodName maps a method token to its semconv value without allocating;
// ok is false for methods outside the well-known set.
func MethodName(m []byte) (name string, ok bool) {
	switch string(m) { // the compiler does not allocate for this conversion
	case "GET":
		return "GET", true
	case "HEAD":
		return "HEAD", true
	case "POST":
		return "POST", true
	case "PUT":
		return "PUT", true
	case "DELETE":
		return "DELETE", true
	case "CONNECT":
		return "CONNECT", true
	case "OPTIONS":
		return "OPTIONS", true
	case "TRACE":
		return "TRACE", true
	case "PATCH":
		return "PATCH", true
	}
	return MethodOther, false
}

// SplitHostPort splits a Host value or an authority into host (without the
// brackets of an IPv6 literal) and port (0 when absent or invalid).
func SplitHostPort(a []byte) (host []byte, port int) {
	if len(a) > 0 && a[0] == '[' {
		k := bytes.IndexByte(a, ']')
		if k < 0 {
			return a, 0
		}
		host, a = a[1:k], a[k+1:]
		if len(a) > 1 && a[0] == ':' {
			return host, ParsePort(a[1:])
		}
		return host, 0
	}
	k := bytes.LastIndexByte(a, ':')
	if k < 0 {
		return a, 0
	}
	if bytes.IndexByte(a[:k], ':') >= 0 {
		return a, 0 // an unbracketed IPv6 address: no port to find
	}
	return a[:k], ParsePort(a[k+1:])
}

// ParsePort parses a decimal port, 1-65535; 0 when invalid.
func ParsePort(b []byte) int {
	if len(b) == 0 || len(b) > 5 {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0
	}
	return n
}

// TraceContext is a parsed W3C traceparent.
type TraceContext struct {
	TraceID  [16]byte
	ParentID [8]byte
	Flags    uint8
}

// ParseTraceparent parses a version-00 traceparent strictly (W3C Trace
// Context §3.2): exactly 55 characters, lowercase hex, non-zero ids.
func ParseTraceparent(v []byte, tc *TraceContext) bool {
	if len(v) != 55 || v[0] != '0' || v[1] != '0' || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	if !decodeHex(tc.TraceID[:], v[3:35]) || !decodeHex(tc.ParentID[:], v[36:52]) {
		return false
	}
	var f [1]byte
	if !decodeHex(f[:], v[53:55]) {
		return false
	}
	tc.Flags = f[0]
	return !allZero(tc.TraceID[:]) && !allZero(tc.ParentID[:])
}

func decodeHex(dst, src []byte) bool {
	for i := range dst {
		hi, lo := hexVal[src[2*i]], hexVal[src[2*i+1]]
		if hi|lo == 0xff {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// hexVal maps lowercase hex digits to their value and other bytes to 0xff
// (traceparent allows lowercase only).
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
	}
	return t
}()

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Intern returns b as a string, reusing *last when it is equal: a
// connection's path and host rarely change from one request to the next.
func Intern(last *string, b []byte) string {
	if string(b) != *last { // no allocation for the comparison
		*last = string(b)
	}
	return *last
}
