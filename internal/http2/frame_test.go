package http2

import "testing"

func TestLooksLikeHTTP2(t *testing.T) {
	c, s := newPeer(), newPeer()
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"preface", cat(prefaceB, c.settings()), true},
		{"preface start", prefaceB[:14], true},
		{"server SETTINGS", s.settings(0x3, 100), true},
		{"SETTINGS ACK", s.settingsAck(), true},
		{"request HEADERS and DATA", cat(c.headers(1, false, grpcReq(sayHello)...), c.data(1, true, 5)), true},
		{"response cut by the copy", cat(s.headers(1, false, grpcResp...), s.data(1, false, 10000))[:100], true},
		{"frame header alone (Go server read)", c.data(3, true, 100)[:9], true},
		{"HTTP/1 request", []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), false},
		{"HTTP/1 response", []byte("HTTP/1.1 200 OK\r\n\r\n"), false},
		{"TLS ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, false},
		{"short", []byte{0, 0, 0, 4}, false},
		{"HEADERS on an even stream", frame(frameHeaders, flagEndHeaders, 2, []byte{0x82}), false},
		{"HEADERS on stream 0", frame(frameHeaders, flagEndHeaders, 0, []byte{0x82}), false},
		{"SETTINGS on a stream", frame(frameSettings, 0, 1), false},
		{"undefined flag", frame(frameData, 0x2, 1), false},
		{"unknown type", frame(0x20, 0, 1), false},
		{"reserved bit", frame(frameData, 0, 1<<31|1), false},
		{"PING of the wrong length", frame(framePing, 0, 0, []byte{1}), false},
		{"CONTINUATION first", frame(frameContinuation, flagEndHeaders, 1, []byte{0x82}), false},
		{"good frame then garbage", cat(s.ping(), []byte("garbage and more garbage")), false},
	} {
		if got := LooksLikeHTTP2(tc.b); got != tc.want {
			t.Errorf("%s: LooksLikeHTTP2(%x) = %v, want %v", tc.name, tc.b[:min(len(tc.b), 24)], got, tc.want)
		}
	}
}
