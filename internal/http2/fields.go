package http2

import "bytes"

// The helpers below follow internal/http1's (fields.go) so that both
// parsers normalise alike.

// methodOther is the semconv http.request.method for methods outside the
// well-known set, and for a :method we could not read.
const methodOther = "_OTHER"

// methodName maps a method token to its semconv value without allocating;
// ok is false for methods outside the well-known set.
func methodName(m []byte) (name string, ok bool) {
	switch string(m) {
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

// fieldSet collects what the parser needs from one header block. It is
// reused from block to block; the interning caches survive reset.
type fieldSet struct {
	method, methodOrig string
	hasMethod          bool
	path               string
	hasPath            bool
	host               string
	port               int
	hasAuthority       bool // :authority (wins over host)
	hasHost            bool
	scheme             string
	status             int // 0 when no :status was read
	grpcContent        bool
	grpcStatus         int // -1 when absent
	tpCount            int
	tp                 traceContext
	tpOK               bool
	// request/response: a request or response pseudo-header was read.
	request, response bool
	// unknown counts fields whose name could not be known.
	unknown int

	lastPath, lastHost string
}

func (f *fieldSet) reset() {
	lp, lh := f.lastPath, f.lastHost
	*f = fieldSet{grpcStatus: -1, lastPath: lp, lastHost: lh}
}

func (f *fieldSet) unknownField() { f.unknown++ }

func (f *fieldSet) field(name, value []byte) {
	switch string(name) {
	case ":method":
		f.request = true
		if f.hasMethod {
			return
		}
		f.hasMethod = true
		var known bool
		f.method, known = methodName(value)
		if !known {
			f.methodOrig = string(value)
		}
	case ":path":
		f.request = true
		if f.hasPath {
			return
		}
		if k := bytes.IndexAny(value, "?#"); k >= 0 {
			value = value[:k]
		}
		if len(value) > 0 && value[0] == '/' || string(value) == "*" {
			f.hasPath = true
			f.path = intern(&f.lastPath, value)
		}
	case ":authority":
		f.request = true
		if f.hasAuthority {
			return
		}
		f.hasAuthority = true
		f.setHost(value)
	case "host":
		if f.hasAuthority || f.hasHost {
			return
		}
		f.hasHost = true
		f.setHost(value)
	case ":scheme":
		f.request = true
		switch string(value) {
		case "http":
			f.scheme = "http"
		case "https":
			f.scheme = "https"
		}
	case ":protocol":
		f.request = true
	case ":status":
		f.response = true
		if f.status == 0 && len(value) == 3 {
			if n, ok := parseUint(value); ok && n >= 100 {
				f.status = n
			}
		}
	case "content-type":
		const grpc = "application/grpc"
		f.grpcContent = len(value) >= len(grpc) && bytes.EqualFold(value[:len(grpc)], []byte(grpc))
	case "grpc-status":
		if n, ok := parseUint(value); ok && len(value) <= 9 {
			f.grpcStatus = n
		}
	case "traceparent":
		f.tpCount++
		f.tpOK = parseTraceparent(value, &f.tp)
	}
}

func (f *fieldSet) setHost(v []byte) {
	if k := bytes.LastIndexByte(v, '@'); k >= 0 {
		v = v[k+1:] // userinfo is not allowed, but never export it
	}
	host, port := splitHostPort(v)
	f.host, f.port = intern(&f.lastHost, host), port
}

// parseUint parses a non-empty run of decimal digits (at most 9).
func parseUint(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// intern returns *last when it equals b, else makes and remembers a string.
func intern(last *string, b []byte) string {
	if string(b) != *last {
		*last = string(b)
	}
	return *last
}

// splitHostPort splits an authority into host (without the brackets of an
// IPv6 literal) and port (0 when absent or invalid).
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
	if len(b) > 5 {
		return 0
	}
	n, ok := parseUint(b)
	if !ok || n > 65535 {
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
	var fl [1]byte
	if !decodeHex(fl[:], v[53:55]) {
		return false
	}
	tc.flags = fl[0]
	return tc.traceID != [16]byte{} && tc.parentID != [8]byte{}
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

// hexVal maps lowercase hex digits to their value and other bytes to 0xff.
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
