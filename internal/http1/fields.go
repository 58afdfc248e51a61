package http1

import "bytes"

// methodOther is the semconv http.request.method for methods outside the
// well-known set.
const methodOther = "_OTHER"

// methodName maps a method token to its semconv value without allocating;
// ok is false for methods outside the well-known set.
func methodName(m []byte) (name string, ok bool) {
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
	return methodOther, false
}

// splitTarget returns the path of a request-target (without query or
// fragment) and, for the absolute and authority forms, its authority.
// complete says whether the whole target was seen; when it was not, a part
// is returned only if its end was seen (never a truncated path).
func splitTarget(t []byte, complete, connect bool) (path []byte, pathOK bool, auth []byte, authOK bool) {
	if len(t) == 0 {
		return nil, false, nil, false
	}
	switch {
	case t[0] == '/': // origin-form
		path, pathOK = cutPath(t, complete)
		return path, pathOK, nil, false
	case len(t) == 1 && t[0] == '*' && complete: // asterisk-form
		return t, true, nil, false
	case connect: // authority-form
		return nil, false, t, complete
	}
	// absolute-form: scheme "://" authority [path] [?query] [#fragment]
	s := schemeLen(t)
	if s == 0 || len(t) < s+3 || string(t[s:s+3]) != "://" {
		return nil, false, nil, false // not a form we recognise
	}
	rest := t[s+3:]
	k := bytes.IndexAny(rest, "/?#")
	if k < 0 {
		if !complete {
			return nil, false, nil, false
		}
		return slash, true, stripUserinfo(rest), true
	}
	auth = stripUserinfo(rest[:k])
	if rest[k] != '/' {
		return slash, true, auth, true // empty path means "/"
	}
	path, pathOK = cutPath(rest[k:], complete)
	return path, pathOK, auth, true
}

var slash = []byte("/")

// cutPath drops the query and fragment from an origin-form target.
func cutPath(t []byte, complete bool) ([]byte, bool) {
	if k := bytes.IndexAny(t, "?#"); k >= 0 {
		return t[:k], true
	}
	if !complete {
		return nil, false
	}
	return t, true
}

// schemeLen returns the length of a URI scheme at the start of t, 0 if none.
func schemeLen(t []byte) int {
	for i, c := range t {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return i
		}
	}
	return len(t)
}

func stripUserinfo(a []byte) []byte {
	if k := bytes.LastIndexByte(a, '@'); k >= 0 {
		return a[k+1:]
	}
	return a
}

// splitHostPort splits a Host value or an authority into host (without the
// brackets of an IPv6 literal) and port (0 when absent or invalid).
func splitHostPort(a []byte) (host []byte, port int) {
	if len(a) > 0 && a[0] == '[' {
		k := bytes.IndexByte(a, ']')
		if k < 0 {
			return a, 0
		}
		host, a = a[1:k], a[k+1:]
		if len(a) > 1 && a[0] == ':' {
			return host, parsePort(a[1:])
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
	return a[:k], parsePort(a[k+1:])
}

func parsePort(b []byte) int {
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

// traceContext is a parsed W3C traceparent.
type traceContext struct {
	traceID  [16]byte
	parentID [8]byte
	flags    uint8
}

// parseTraceparent parses a version-00 traceparent strictly (W3C Trace
// Context §3.2): exactly 55 characters, lowercase hex, non-zero ids.
func parseTraceparent(v []byte, tc *traceContext) bool {
	if len(v) != 55 || v[0] != '0' || v[1] != '0' || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	if !decodeHex(tc.traceID[:], v[3:35]) || !decodeHex(tc.parentID[:], v[36:52]) {
		return false
	}
	var f [1]byte
	if !decodeHex(f[:], v[53:55]) {
		return false
	}
	tc.flags = f[0]
	return !allZero(tc.traceID[:]) && !allZero(tc.parentID[:])
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
