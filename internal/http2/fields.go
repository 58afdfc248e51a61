package http2

import (
	"bytes"

	"github.com/ebpfred/ebpfred/internal/httpfield"
)

// The helpers below follow internal/http1's (fields.go) so that both
// parsers normalise alike.

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
	tp                 httpfield.TraceContext
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
		f.method, known = httpfield.MethodName(value)
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
			f.path = httpfield.Intern(&f.lastPath, value)
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
		f.tpOK = httpfield.ParseTraceparent(value, &f.tp)
	}
}

func (f *fieldSet) setHost(v []byte) {
	if k := bytes.LastIndexByte(v, '@'); k >= 0 {
		v = v[k+1:] // userinfo is not allowed, but never export it
	}
	host, port := httpfield.SplitHostPort(v)
	f.host, f.port = httpfield.Intern(&f.lastHost, host), port
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
