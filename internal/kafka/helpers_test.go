package kafka

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

var testMeta = stream.Meta{
	PID:   42,
	Local: netip.MustParseAddrPort("10.0.0.1:50000"),
	Peer:  netip.MustParseAddrPort("10.0.0.2:9092"),
}

const (
	in  = stream.Ingress
	out = stream.Egress
)

// whole is a transfer the kernel copied whole.
func whole(dir stream.Direction, t uint64, b []byte) stream.Event {
	return stream.Event{Dir: dir, UnixNano: t, Len: len(b), Payload: b, Tail: b[max(0, len(b)-8):]}
}

// copied is the transfer b as the kernel reports it with CopyAll on: its
// first 4 KiB and its last 8 bytes.
func copied(dir stream.Direction, t uint64, b []byte) stream.Event {
	ev := whole(dir, t, b)
	ev.Payload = ev.Payload[:min(len(b), 4096)]
	return ev
}

// lengthOnly is a transfer of n bytes the kernel copied nothing of.
func lengthOnly(dir stream.Direction, t uint64, n int) stream.Event {
	return stream.Event{Dir: dir, UnixNano: t, Len: n}
}

// enc writes Kafka's primitive types; flex selects the flexible encoding
// of strings, arrays and bytes.
type enc struct {
	b    []byte
	flex bool
}

func (e *enc) i8(v int8)   { e.b = append(e.b, byte(v)) }
func (e *enc) i16(v int16) { e.b = binary.BigEndian.AppendUint16(e.b, uint16(v)) }
func (e *enc) i32(v int32) { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }
func (e *enc) i64(v int64) { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *enc) uvar(v uint32) {
	e.b = binary.AppendUvarint(e.b, uint64(v))
}

// length writes a length: int16 (strings) or int32 (arrays, bytes), or
// the flexible encoding's length plus one; -1 is null.
func (e *enc) length(n int, wide bool) {
	switch {
	case e.flex:
		e.uvar(uint32(n + 1))
	case wide:
		e.i32(int32(n))
	default:
		e.i16(int16(n))
	}
}

func (e *enc) str(s string) { e.length(len(s), false); e.b = append(e.b, s...) }
func (e *enc) null()        { e.length(-1, false) }
func (e *enc) arr(n int)    { e.length(n, true) }
func (e *enc) bytes(b []byte) {
	e.length(len(b), true)
	e.b = append(e.b, b...)
}
func (e *enc) tags() {
	if e.flex {
		e.uvar(0)
	}
}

// request is a whole request: size, header v1 (v2 with tags when
// headerTags), body.
func request(key, version int16, corr int32, clientID string, headerTags bool, body func(e *enc)) []byte {
	e := &enc{}
	e.i16(key)
	e.i16(version)
	e.i32(corr)
	if clientID == "" {
		e.i16(-1)
	} else {
		e.i16(int16(len(clientID)))
		e.b = append(e.b, clientID...)
	}
	if headerTags {
		e.uvar(0)
	}
	e.flex = flexible(key, version)
	if body != nil {
		body(e)
	}
	return sized(e.b)
}

// response is a whole response: size, correlation id, (tags when
// headerTags), body.
func response(corr int32, flex, headerTags bool, body func(e *enc)) []byte {
	e := &enc{flex: flex}
	e.i32(corr)
	if headerTags {
		e.uvar(0)
	}
	if body != nil {
		body(e)
	}
	return sized(e.b)
}

func sized(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// records is a record batch's stand-in: its bytes are never read.
var records = []byte("key=secret-key value=secret-value......................")

// produce is a Produce request of version v with acks to the topics
// (names; ids from v13).
func produce(v int16, corr int32, acks int16, topics ...string) []byte {
	return request(apiProduce, v, corr, "app-1", v >= 9, func(e *enc) {
		if v >= 3 {
			e.null() // transactional_id
		}
		e.i16(acks)
		e.i32(30000)
		e.arr(len(topics))
		for _, t := range topics {
			topicKeyEnc(e, t, v >= 13)
			e.arr(1)
			e.i32(0)
			e.bytes(records)
			e.tags()
			e.tags()
		}
		e.tags()
	})
}

func topicKeyEnc(e *enc, t string, byID bool) {
	if byID {
		var id [16]byte
		copy(id[:], t)
		e.b = append(e.b, id[:]...)
		return
	}
	e.str(t)
}

// produceResponse answers a Produce of version v: one partition per topic,
// with the error codes given in turn.
func produceResponse(v int16, corr int32, topics []string, codes ...int16) []byte {
	return response(corr, v >= 9, v >= 9, func(e *enc) {
		e.arr(len(topics))
		for i, t := range topics {
			topicKeyEnc(e, t, v >= 13)
			e.arr(1)
			e.i32(0)
			e.i16(codes[i])
			e.i64(42)
			if v >= 2 {
				e.i64(-1)
			}
			if v >= 5 {
				e.i64(0)
			}
			if v >= 8 {
				e.arr(0)
				e.null()
			}
			e.tags()
			e.tags()
		}
		if v >= 1 {
			e.i32(0)
		}
		e.tags()
	})
}

// fetch is a Fetch request of version v for the topics.
func fetch(v int16, corr int32, topics ...string) []byte {
	return request(apiFetch, v, corr, "app-1", v >= 12, func(e *enc) {
		if v <= 14 {
			e.i32(-1)
		}
		e.i32(500)
		e.i32(1)
		if v >= 3 {
			e.i32(50 << 20)
		}
		if v >= 4 {
			e.i8(0)
		}
		if v >= 7 {
			e.i32(0)
			e.i32(-1)
		}
		e.arr(len(topics))
		for _, t := range topics {
			topicKeyEnc(e, t, v >= 13)
			e.arr(1)
			e.i32(0)
			if v >= 9 {
				e.i32(-1)
			}
			e.i64(0)
			if v >= 12 {
				e.i32(-1)
			}
			if v >= 5 {
				e.i64(-1)
			}
			e.i32(1 << 20)
			e.tags()
			e.tags()
		}
		if v >= 7 {
			e.arr(0)
		}
		if v >= 11 {
			e.str("")
		}
		e.tags()
	})
}

// fetchResponse answers a Fetch of version v on one topic's partition 0:
// top is the top-level error (v7+), code the partition's, recs its
// records.
func fetchResponse(v int16, corr int32, topic string, top, code int16, recs []byte) []byte {
	return response(corr, v >= 12, v >= 12, func(e *enc) {
		if v >= 1 {
			e.i32(0)
		}
		if v >= 7 {
			e.i16(top)
			e.i32(0)
		}
		e.arr(1)
		topicKeyEnc(e, topic, v >= 13)
		e.arr(1)
		e.i32(0)
		e.i16(code)
		e.i64(10)
		if v >= 4 {
			e.i64(10)
		}
		if v >= 5 {
			e.i64(0)
		}
		if v >= 4 {
			e.arr(-1)
		}
		if v >= 11 {
			e.i32(-1)
		}
		e.bytes(recs)
		e.tags()
		e.tags()
		e.tags()
	})
}

// other is a request of an api key whose body is not read (Metadata,
// ApiVersions, Heartbeat, ...): some body bytes.
func other(key, version int16, corr int32) []byte {
	return request(key, version, corr, "app-1", false, func(e *enc) { e.b = append(e.b, 0, 0, 0, 0) })
}

func otherResponse(corr int32) []byte {
	return response(corr, false, false, func(e *enc) { e.b = append(e.b, make([]byte, 20)...) })
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// run feeds evs to a new parser, closes it after the last, and returns the
// records and the stats.
func run(t *testing.T, evs ...stream.Event) ([]*record.Record, protocol.Stats) {
	t.Helper()
	var st protocol.Stats
	p := NewConn(testMeta, &st, nil)
	var recs []*record.Record
	emit := func(r *record.Record) { recs = append(recs, r) }
	var last uint64
	for i := range evs {
		p.Feed(&evs[i], emit)
		last = max(last, evs[i].UnixNano)
	}
	p.Close(last+1, emit)
	return recs, st
}

// summary is "op[ topic][/error] start-end" for each record.
func summary(recs []*record.Record) []string {
	var out []string
	for _, r := range recs {
		s := r.Operation
		if r.Target != "" {
			s += " " + r.Target
		}
		if et := Conventions.ErrorType(r); et != "" {
			s += "/" + et
		}
		out = append(out, fmt.Sprintf("%s %d-%d", s, r.StartUnixNano, r.EndUnixNano))
	}
	return out
}
