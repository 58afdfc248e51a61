package http1

import (
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// maxChunkSize bounds a chunk size so that parsing it cannot overflow.
const maxChunkSize = 1 << 56

// readChunked follows a chunked body from off (RFC 9112 §7.1): sizes,
// extensions and trailers are parsed from visible bytes, chunk data is
// skipped by counting. When the framing continues in bytes that were not
// copied, the body switches to the tail heuristic (fChunkTail).
func (c *Conn) readChunked(h *half, ev *stream.Event, vis, tail []byte, off int, emit func(*record.Record)) int {
	from := off
	tailStart := ev.Len - len(tail)
	for off < ev.Len {
		if h.cs == csData {
			n := min(int64(ev.Len-off), h.remain)
			off += int(n)
			h.body += n
			h.remain -= n
			if h.remain == 0 {
				h.cs = csDataCR
			}
			continue
		}
		var b byte
		switch {
		case off < len(vis):
			b = vis[off]
		case off >= tailStart:
			b = tail[off-tailStart]
		default:
			return c.loseChunkSync(h, ev, tail, from, off, emit)
		}
		off++
		h.body++
		ok := true
		switch h.cs {
		case csSize:
			if d, isHex := hexDigit(b); isHex {
				if h.csize >= maxChunkSize {
					ok = false
					break
				}
				h.csize = h.csize<<4 | int64(d)
				h.cdigit = true
				break
			}
			switch {
			case !h.cdigit:
				ok = false
			case b == '\r':
				h.cs = csSizeLF
			case b == '\n':
				h.sizeDone()
			case b == ';' || b == ' ' || b == '\t':
				h.cs = csExt
			default:
				ok = false
			}
		case csExt:
			if b == '\n' {
				h.sizeDone()
			}
		case csSizeLF:
			ok = b == '\n'
			h.sizeDone()
		case csDataCR:
			switch b {
			case '\r':
				h.cs = csDataLF
			case '\n':
				h.cs = csSize
			default:
				ok = false
			}
		case csDataLF:
			ok = b == '\n'
			h.cs = csSize
		case csTrailer:
			switch b {
			case '\r':
				h.cs = csEndLF
			case '\n':
				c.endBody(h, ev.UnixNano, emit)
				return off
			default:
				h.cs = csTrailerLine
			}
		case csTrailerLine:
			if b == '\n' {
				h.cs = csTrailer
			}
		case csEndLF:
			if b != '\n' {
				ok = false
				break
			}
			c.endBody(h, ev.UnixNano, emit)
			return off
		}
		if !ok {
			c.stats.ParseErrors++
			return c.loseChunkSync(h, ev, tail, from, off, emit)
		}
	}
	return off
}

// sizeDone acts on a complete chunk-size line.
func (h *half) sizeDone() {
	if h.csize == 0 {
		h.cs = csTrailer // last chunk: trailer fields, then CRLF
	} else {
		h.cs, h.remain = csData, h.csize
	}
	h.csize, h.cdigit = 0, false
}

// loseChunkSync switches to the tail heuristic at off; the body bytes of
// this transfer began at from.
func (c *Conn) loseChunkSync(h *half, ev *stream.Event, tail []byte, from, off int, emit func(*record.Record)) int {
	h.framing = fChunkTail
	h.body += int64(ev.Len - off)
	h.nwin = 0
	h.pushTail(ev.Len-from, tail)
	if h.chunkEnded() {
		c.endBody(h, ev.UnixNano, emit)
	}
	return ev.Len
}

// pushTail appends to the window the tail of a transfer whose last n bytes
// are body bytes. The window restarts when bytes between it and the tail
// were not seen.
func (h *half) pushTail(n int, tail []byte) {
	if len(tail) > n {
		tail = tail[len(tail)-n:]
	}
	if len(tail) < n {
		h.nwin = 0
	}
	if len(tail) >= len(h.win) {
		h.nwin = copy(h.win[:], tail[len(tail)-len(h.win):])
		return
	}
	if drop := h.nwin + len(tail) - len(h.win); drop > 0 {
		copy(h.win[:], h.win[drop:h.nwin])
		h.nwin -= drop
	}
	h.nwin += copy(h.win[h.nwin:], tail)
}

// chunkEnded reports whether the window ends with a last chunk: "0\r\n\r\n"
// right after a line end, or as the whole body.
func (h *half) chunkEnded() bool {
	const last = "0\r\n\r\n"
	w := h.win[:h.nwin]
	n := len(w)
	if n < len(last) || string(w[n-len(last):]) != last {
		return false
	}
	if n > len(last) {
		return w[n-len(last)-1] == '\n'
	}
	return h.body == int64(len(last))
}

func hexDigit(b byte) (byte, bool) {
	switch {
	case '0' <= b && b <= '9':
		return b - '0', true
	case 'a' <= b && b <= 'f':
		return b - 'a' + 10, true
	case 'A' <= b && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}
