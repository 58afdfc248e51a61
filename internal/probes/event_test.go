//go:build linux && amd64

package probes

import (
	"encoding/binary"
	"testing"
)

// decode of an EVENT_ROUTE_STREAM record laid out as struct
// route_stream_event in bpf/ebpfred.h: header, route[128], addr[64], with
// the address length in the header's tail_len byte.
func TestDecodeRouteStream(t *testing.T) {
	b := make([]byte, hdrSize+routeMax+addrMax)
	le := binary.LittleEndian
	le.PutUint64(b[0:], 123)
	le.PutUint32(b[16:], 42) // tgid
	le.PutUint32(b[20:], 7)  // stream id
	route, addr := "GET /items/{id}", "127.0.0.1:5555"
	le.PutUint32(b[24:], uint32(len(route)))
	le.PutUint16(b[28:], uint16(len(route)))
	b[30] = byte(EventRouteStream)
	b[31] = byte(len(addr))
	copy(b[hdrSize:], route)
	copy(b[hdrSize+routeMax:], addr)
	var e Event
	if !decode(b, &e) {
		t.Fatal("decode refused a whole record")
	}
	if e.Type != EventRouteStream || e.TGID != 42 || e.FD != 7 || string(e.Payload) != route || string(e.Addr) != addr || e.Tail != nil {
		t.Errorf("decoded %+v (payload %q, addr %q)", e, e.Payload, e.Addr)
	}
	if decode(b[:hdrSize+routeMax], &e) {
		t.Error("decode accepted a cut record")
	}
	// A data event after it has no address.
	d := make([]byte, hdrSize+2)
	d[30] = byte(EventDataIn)
	le.PutUint32(d[24:], 2)
	le.PutUint16(d[28:], 2)
	if !decode(d, &e) || e.Addr != nil || len(e.Payload) != 2 {
		t.Errorf("data event after a route event: %+v", e)
	}
}

// decode of an EVENT_GO_LINK record laid out as struct go_link_event in
// bpf/ebpfred.h: header (ts and len: the transfer it is about), parent_sk,
// since.
func TestDecodeGoLink(t *testing.T) {
	b := make([]byte, goLinkSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], 123)
	le.PutUint64(b[8:], 0xffff1111) // the client socket
	le.PutUint32(b[16:], 42)
	le.PutUint32(b[20:], 9)
	le.PutUint32(b[24:], 700) // the transfer's length
	b[30] = byte(EventGoLink)
	le.PutUint64(b[hdrSize:], 0xffff2222)
	le.PutUint64(b[hdrSize+8:], 100)
	var e Event
	if !decode(b, &e) {
		t.Fatal("decode refused a whole record")
	}
	if e.Type != EventGoLink || e.Mono != 123 || e.Sock != 0xffff1111 || e.TGID != 42 || e.FD != 9 || e.Len != 700 ||
		e.ParentSock != 0xffff2222 || e.Since != 100 || e.Payload != nil || e.Tail != nil {
		t.Errorf("decoded %+v", e)
	}
	if decode(b[:goLinkSize-1], &e) {
		t.Error("decode accepted a cut record")
	}
}
