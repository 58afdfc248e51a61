package fuzzframe

import "github.com/ebpfred/ebpfred/internal/stream"

// The short format, of the parsers of Redis, memcached and Kafka: a list
// of transfers, each a header byte, a length byte and that many bytes. The
// header's bit 0 is the direction (1: written); bits 1-2 what the kernel
// copied: 0 all of it, 1 its first half, 2 nothing but its last 8 bytes
// (and the transfer is 37 times longer), 3 all of it, then an idle Flush;
// the bits above add to the time between transfers.

// Transfer is one transfer of the short format.
type Transfer struct {
	Ev    stream.Event
	Flush bool // an idle Flush follows
}

// EncodeShort writes transfers copied whole in the short format (a seed
// corpus), cut in pieces of at most 255 bytes.
func EncodeShort(evs []stream.Event) []byte {
	var b []byte
	for _, ev := range evs {
		h := byte(0)
		if ev.Dir == stream.Egress {
			h = 1
		}
		for p := ev.Payload; len(p) > 0; p = p[min(len(p), 255):] {
			n := min(len(p), 255)
			b = append(b, h, byte(n))
			b = append(b, p[:n]...)
		}
	}
	return b
}

// DecodeShort reads a short-format input.
func DecodeShort(data []byte) []Transfer {
	var out []Transfer
	t := uint64(1000)
	for len(data) >= 2 {
		h, n := data[0], int(data[1])
		data = data[2:]
		n = min(n, len(data))
		if n == 0 {
			continue
		}
		b := data[:n:n]
		data = data[n:]
		t += uint64(h>>3) + 1
		tr := Transfer{Ev: stream.Event{Dir: stream.Ingress, UnixNano: t, Len: n, Payload: b, Tail: b[max(0, n-8):]}}
		if h&1 == 1 {
			tr.Ev.Dir = stream.Egress
		}
		switch h >> 1 & 3 {
		case 1:
			tr.Ev.Payload = tr.Ev.Payload[:n/2]
		case 2:
			tr.Ev.Payload = nil
			tr.Ev.Len = 37 * n
		case 3:
			tr.Flush = true
		}
		out = append(out, tr)
	}
	return out
}
