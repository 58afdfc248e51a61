//go:build linux && amd64

package probes

import (
	"encoding/binary"
	"testing"
)

// FuzzDecode: a ring record is decoded without trusting its length
// fields. decode must not panic, and what it returns must lie within the
// record.
func FuzzDecode(f *testing.F) {
	rec := func(typ byte, payloadLen uint16, tailLen byte, size int) []byte {
		b := make([]byte, size)
		binary.LittleEndian.PutUint32(b[24:], uint32(payloadLen))
		binary.LittleEndian.PutUint16(b[28:], payloadLen)
		b[30], b[31] = typ, tailLen
		return b
	}
	f.Add(rec(byte(EventDataIn), 16, 0, hdrSize+16))
	f.Add(rec(byte(EventDataOut)|eventFlagTLS, 4000, 8, hdrSize+10))
	f.Add(rec(byte(EventConn), 0, 0, connSize))
	f.Add(rec(byte(EventTrace), 0, 0, traceSize))
	f.Add(rec(byte(EventRouteStream), 200, 200, hdrSize+routeMax+addrMax))
	f.Add(rec(byte(EventExec), 65535, 255, hdrSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		if !decode(b, &e) {
			return
		}
		for _, s := range [][]byte{e.Payload, e.Tail, e.Addr} {
			if len(s) > len(b) {
				t.Fatalf("a field of %d bytes from a record of %d", len(s), len(b))
			}
		}
		if len(e.Tail) > 8 {
			t.Fatalf("tail of %d bytes", len(e.Tail))
		}
	})
}
