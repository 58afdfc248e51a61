// Package fuzzframe holds the fuzz input formats the protocol parsers
// share: Decode/Encode for those of binary protocols (PostgreSQL, MySQL),
// DecodeShort/EncodeShort for Redis, memcached and Kafka. A seed corpus is
// written from a table test's transfers, and any bytes the fuzzer makes
// decode to transfers (and closes and flushes) whose times only move
// forward.
package fuzzframe

import (
	"encoding/binary"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// A fuzz input is a flags byte (bit 0: report query text), then ops, each a
// control byte, a 2-byte big-endian content length and the content (cut at
// the input's end). Lengths, not separators, frame the ops: the binary
// protocols' messages (PostgreSQL, MySQL) hold every byte value. The control byte:
//
//	bits 0-1  0 transfer in, 1 transfer out, 2 Close, 3 Flush
//	bit 2     length-only transfer: Len is the content length times
//	          1 + bits 5-7, Tail the content's last 8 bytes
//	bit 3     the kernel copied only the first half of the content
//	bit 4     the clock steps by 1 ms before the op (else by 1 ns)
type Op struct {
	Ev    *stream.Event // a transfer
	Close bool          // Close at T
	Flush bool          // Flush at T
	T     uint64
}

// Decode reads a fuzz input.
func Decode(data []byte) (protocol.Options, []Op) {
	var opt protocol.Options
	if len(data) == 0 {
		return opt, nil
	}
	opt.QueryText = data[0]&1 == 1
	data = data[1:]
	var ops []Op
	t := uint64(1_000_000)
	for len(data) >= 3 {
		ctl := data[0]
		n := int(binary.BigEndian.Uint16(data[1:3]))
		data = data[3:]
		content := data[:min(n, len(data))]
		data = data[len(content):]
		if ctl&0x10 != 0 {
			t += 1_000_000
		} else {
			t++
		}
		dir := stream.Ingress
		if ctl&1 == 1 {
			dir = stream.Egress
		}
		tail := content[max(0, len(content)-8):]
		switch {
		case ctl&3 == 2:
			ops = append(ops, Op{Close: true, T: t})
		case ctl&3 == 3:
			ops = append(ops, Op{Flush: true, T: t})
		case len(content) == 0:
		case ctl&4 != 0:
			ops = append(ops, Op{Ev: &stream.Event{Dir: dir, UnixNano: t, Len: len(content) * (1 + int(ctl>>5)), Tail: tail}})
		default:
			p := content
			if ctl&8 != 0 {
				p = content[:len(content)/2]
			}
			ops = append(ops, Op{Ev: &stream.Event{Dir: dir, UnixNano: t, Len: len(content), Payload: p, Tail: tail}})
		}
	}
	return opt, ops
}

// Encode writes transfers in the fuzz input format (a seed corpus).
func Encode(opt protocol.Options, evs []stream.Event) []byte {
	b := []byte{0}
	if opt.QueryText {
		b[0] = 1
	}
	for _, e := range evs {
		data := e.Payload
		if len(data) > 0xffff {
			continue
		}
		ctl := byte(0)
		if e.Dir == stream.Egress {
			ctl = 1
		}
		if len(e.Payload) < e.Len {
			ctl |= 8 // roughly: the half of what was copied
		}
		b = append(b, ctl)
		b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
		b = append(b, data...)
	}
	return b
}
