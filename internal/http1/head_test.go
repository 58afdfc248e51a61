package http1

import (
	"testing"
)

func TestParseHead(t *testing.T) {
	tests := []struct {
		name string
		in   string
		resp bool
		want parseResult
		// checked when not zero
		method, target string
		status         int
		cl             int64
		chunked        bool
		lineDone       bool
	}{
		{name: "request", in: "GET /x HTTP/1.1\r\nContent-Length: 3\r\n\r\n", want: headComplete, method: "GET", target: "/x", cl: 3, lineDone: true},
		{name: "bare LF", in: "GET /x HTTP/1.0\nHost: a\n\n", want: headComplete, method: "GET", target: "/x", cl: -1, lineDone: true},
		{name: "method only", in: "GET ", want: headPartial, method: "GET", cl: -1},
		{name: "bare token may continue in the next transfer", in: "GETTING", want: headPartial, cl: -1},
		{name: "no SP after method", in: "GETTING/x", want: headNotHTTP},
		{name: "target cut", in: "GET /very/lo", want: headPartial, method: "GET", target: "/very/lo", cl: -1},
		{name: "version cut", in: "GET /x HTTP/1", want: headPartial, method: "GET", target: "/x", cl: -1},
		{name: "HTTP/0.9", in: "GET /x\r\n", want: headNotHTTP},
		{name: "HTTP/2 request line", in: "GET /x HTTP/2.0\r\n\r\n", want: headNotHTTP},
		{name: "HTTP/1.2", in: "GET /x HTTP/1.2\r\n\r\n", want: headNotHTTP},
		{name: "empty target", in: "GET  HTTP/1.1\r\n\r\n", want: headNotHTTP},
		{name: "SMTP", in: "EHLO mail.example.com\r\n", want: headNotHTTP},
		{name: "header line cut", in: "GET /x HTTP/1.1\r\nContent-Len", want: headPartial, method: "GET", target: "/x", cl: -1, lineDone: true},
		{name: "cut value ignored", in: "GET /x HTTP/1.1\r\nContent-Length: 12", want: headPartial, cl: -1, lineDone: true},
		{name: "header without colon", in: "GET /x HTTP/1.1\r\nbogus\r\n\r\n", want: headMalformed, lineDone: true, cl: -1},
		{name: "space before colon", in: "GET /x HTTP/1.1\r\nHost : a\r\n\r\n", want: headMalformed, lineDone: true, cl: -1},
		{name: "obs-fold", in: "GET /x HTTP/1.1\r\nA: b\r\n  c\r\n\r\n", want: headMalformed, lineDone: true, cl: -1},
		{name: "two Hosts", in: "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", want: headMalformed, lineDone: true, cl: -1},
		{name: "negative length", in: "POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", want: headMalformed, lineDone: true, cl: -1},
		{name: "huge length", in: "POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", want: headMalformed, lineDone: true, cl: -1},
		{name: "TE chunked not last", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", want: headComplete, lineDone: true, cl: -1},
		{name: "TE over two fields", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", want: headComplete, lineDone: true, cl: -1, chunked: true},
		{name: "status", in: "HTTP/1.1 404 Not Found\r\n\r\n", resp: true, want: headComplete, status: 404, lineDone: true, cl: -1},
		{name: "status without reason", in: "HTTP/1.1 200\r\n\r\n", resp: true, want: headComplete, status: 200, lineDone: true, cl: -1},
		{name: "status cut", in: "HTTP/1.1 20", resp: true, want: headPartial, cl: -1},
		{name: "status code cut after digits", in: "HTTP/1.1 200 O", resp: true, want: headPartial, status: 200, cl: -1},
		{name: "four-digit status", in: "HTTP/1.1 2000 OK\r\n\r\n", resp: true, want: headNotHTTP},
		{name: "status below 100", in: "HTTP/1.1 099 X\r\n\r\n", resp: true, want: headNotHTTP},
		{name: "request on the response side", in: "GET / HTTP/1.1\r\n\r\n", resp: true, want: headNotHTTP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h head
			got := parseHead([]byte(tt.in), tt.resp, &h)
			if got != tt.want {
				t.Fatalf("result = %d, want %d", got, tt.want)
			}
			if got == headNotHTTP {
				return
			}
			if tt.method != "" && string(h.method) != tt.method {
				t.Errorf("method = %q, want %q", h.method, tt.method)
			}
			if tt.target != "" && string(h.target) != tt.target {
				t.Errorf("target = %q, want %q", h.target, tt.target)
			}
			if h.status != tt.status {
				t.Errorf("status = %d, want %d", h.status, tt.status)
			}
			if h.cl != tt.cl {
				t.Errorf("cl = %d, want %d", h.cl, tt.cl)
			}
			if h.chunked != tt.chunked {
				t.Errorf("chunked = %v, want %v", h.chunked, tt.chunked)
			}
			if h.lineDone != tt.lineDone {
				t.Errorf("lineDone = %v, want %v", h.lineDone, tt.lineDone)
			}
			if got == headComplete && h.end != len(tt.in) {
				t.Errorf("end = %d, want %d", h.end, len(tt.in))
			}
		})
	}
}

func TestSplitTarget(t *testing.T) {
	tests := []struct {
		target         string
		complete       bool
		connect        bool
		path, auth     string
		pathOK, authOK bool
	}{
		{target: "/a/b?c=d#e", complete: true, path: "/a/b", pathOK: true},
		{target: "/a/b#e", complete: true, path: "/a/b", pathOK: true},
		{target: "/a/b", complete: false},
		{target: "/a/b?cut", complete: false, path: "/a/b", pathOK: true},
		{target: "*", complete: true, path: "*", pathOK: true},
		{target: "http://h/p?q", complete: true, path: "/p", pathOK: true, auth: "h", authOK: true},
		{target: "https://u:pw@h:8443", complete: true, path: "/", pathOK: true, auth: "h:8443", authOK: true},
		{target: "http://h?q", complete: true, path: "/", pathOK: true, auth: "h", authOK: true},
		{target: "http://h/long", complete: false, auth: "h", authOK: true},
		{target: "http://ho", complete: false},
		{target: "h:443", complete: true, connect: true, auth: "h:443", authOK: true},
		{target: "h:443", complete: true},
		{target: "1http://h/p", complete: true},
	}
	for _, tt := range tests {
		path, pathOK, auth, authOK := splitTarget([]byte(tt.target), tt.complete, tt.connect)
		if string(path) != tt.path || pathOK != tt.pathOK || string(auth) != tt.auth || authOK != tt.authOK {
			t.Errorf("splitTarget(%q, %v, %v) = %q %v %q %v, want %q %v %q %v", tt.target, tt.complete, tt.connect,
				path, pathOK, auth, authOK, tt.path, tt.pathOK, tt.auth, tt.authOK)
		}
	}
}

func TestChunkEnded(t *testing.T) {
	tests := []struct {
		tails []string // tails of successive body transfers (each whole when short)
		lens  []int
		want  bool
	}{
		{[]string{"\r\n0\r\n\r\n"}, []int{100}, true},
		{[]string{"o\r\n0\r\n\r\n"}, []int{100}, true},
		{[]string{"0\r\n\r\n"}, []int{5}, true}, // empty chunked body
		{[]string{"xxxxxx\r\n", "0\r\n\r\n"}, []int{100, 5}, true},
		{[]string{"xxxxxxx\n", "0\r\n", "\r\n"}, []int{100, 3, 2}, true},
		{[]string{"x: 10\r\n\r\n"[1:]}, []int{100}, false},
		{[]string{"X-Sum: 1\r\n\r\n"[4:]}, []int{100}, false}, // trailers: not detected
		{[]string{"0\r\n\r\n"}, []int{100}, false},            // preceding byte unknown
		{[]string{"xxxxxxxx", "0\r\n\r\n"[1:]}, []int{100, 4}, false},
	}
	for i, tt := range tests {
		var h half
		for j, tail := range tt.tails {
			h.body += int64(tt.lens[j])
			h.pushTail(tt.lens[j], []byte(tail))
		}
		if got := h.chunkEnded(); got != tt.want {
			t.Errorf("case %d: chunkEnded = %v, want %v (window %q)", i, got, tt.want, h.win[:h.nwin])
		}
	}
}
