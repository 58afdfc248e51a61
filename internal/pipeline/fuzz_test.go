package pipeline

import (
	"encoding/binary"
	"testing"

	"github.com/ebpfred/ebpfred/internal/probes"
)

// FuzzEvents feeds the pipeline a sequence of kernel events built from the
// input: what a hostile or broken peer (or a ring that dropped events in
// the middle of a stream) can make the kernel report. Each event is a
// header of 8 bytes (type, socket, direction-independent length, payload
// length) and its payload. The pipeline must not panic, and once every
// process is gone it follows no connection.
func FuzzEvents(f *testing.F) {
	ev := func(typ probes.EventType, sock byte, payload string) []byte {
		h := []byte{byte(typ), sock, 0, 0, 0, 0, 0, 0}
		binary.LittleEndian.PutUint16(h[2:], uint16(len(payload)))
		binary.LittleEndian.PutUint16(h[4:], uint16(len(payload)))
		return append(h, payload...)
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	f.Add(cat(ev(probes.EventConn, 1, ""), ev(probes.EventDataIn, 1, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
		ev(probes.EventDataOut, 1, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), ev(probes.EventClose, 1, "")))
	f.Add(cat(ev(probes.EventDataIn, 2, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
		ev(probes.EventDataOut, 2, "\x00\x00\x00\x04\x01\x00\x00\x00\x00")))
	f.Add(cat(ev(probes.EventDataIn, 3, "POST /x HTTP/1.1\r\nContent-Length: 100000\r\n\r\n"), ev(probes.EventDataIn, 3, "GET /y HTTP/1.1\r\n\r\n"),
		ev(probes.EventDataOut, 3, "HTTP/1.1 101 Switching\r\nUpgrade: h2c\r\n\r\n"), ev(probes.EventRoute, 3, "GET /items/{id}")))
	f.Fuzz(func(t *testing.T, b []byte) {
		fx := newFixture(100)
		var e probes.Event
		for len(b) >= 8 {
			typ, sock := probes.EventType(b[0]%10), uint64(b[1]%4+1)
			n := int(binary.LittleEndian.Uint16(b[4:])) % 4096
			total := binary.LittleEndian.Uint16(b[2:])
			b = b[8:]
			n = min(n, len(b))
			e = probes.Event{Type: typ, Mono: uint64(len(b)) * 1000, Sock: sock, TGID: 100, FD: uint32(sock),
				Len: uint32(max(int(total), n)), Payload: b[:n], LocalPort: 80, RemotePort: uint16(sock), Family: 2}
			if typ == probes.EventExec {
				e.Payload = []byte("/usr/bin/selected")
			}
			if typ == probes.EventRouteStream {
				e.Addr = []byte("127.0.0.1:1")
			}
			if n > 8 {
				e.Tail = b[n-8 : n]
			}
			b = b[n:]
			fx.p.Handle(&e)
			if typ == probes.EventExit {
				e = probes.Event{Type: probes.EventConn, TGID: 100, Sock: sock}
				fx.p.Handle(&e) // a new process with the old pid
			}
		}
		fx.p.Tick()
		fx.p.Removed([]uint32{100})
		if n := fx.stats.OpenConns.Load(); n != 0 {
			t.Fatalf("%d connections followed after their process was gone", n)
		}
	})
}

// FuzzMuxRoute: Go route events carry bytes read from the application's
// memory.
func FuzzMuxRoute(f *testing.F) {
	for _, s := range []string{"GET example.com/items/{id}", "/{$}", "POST /a/{b...}", "", " ", "GET\t/x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := muxRoute(b)
		if len(r) > 0 && r[0] != '/' {
			t.Fatalf("muxRoute(%q) = %q, which does not start with /", b, r)
		}
	})
}
