package http2

// Frame types and flags of RFC 9113 §6.
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

const (
	frameHeaderLen = 9
	// maxFrameLen is the largest frame length HTTP/2 allows (2^24-1).
	maxFrameLen = 1<<24 - 1
	// defaultMaxFrame is SETTINGS_MAX_FRAME_SIZE's initial value.
	defaultMaxFrame = 1 << 14
	// settingHeaderTableSize, settingEnablePush, settingMaxFrameSize are
	// SETTINGS parameter ids.
	settingHeaderTableSize = 0x1
	settingEnablePush      = 0x2
	settingMaxFrameSize    = 0x5
)

// preface is the client connection preface (RFC 9113 §3.4).
const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// frameHeader is the 9-byte header of a frame.
type frameHeader struct {
	length   uint32
	typ      uint8
	flags    uint8
	streamID uint32
	reserved bool // the R bit, which senders leave 0
}

func parseFrameHeader(b []byte) frameHeader {
	_ = b[8]
	sid := uint32(b[5])<<24 | uint32(b[6])<<16 | uint32(b[7])<<8 | uint32(b[8])
	return frameHeader{
		length:   uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:      b[3],
		flags:    b[4],
		streamID: sid & (1<<31 - 1),
		reserved: sid>>31 != 0,
	}
}

// definedFlags are the flags each known frame type defines.
var definedFlags = [...]uint8{
	frameData:         flagEndStream | flagPadded,
	frameHeaders:      flagEndStream | flagEndHeaders | flagPadded | flagPriority,
	framePriority:     0,
	frameRSTStream:    0,
	frameSettings:     flagAck,
	framePushPromise:  flagEndHeaders | flagPadded,
	framePing:         flagAck,
	frameGoAway:       0,
	frameWindowUpdate: 0,
	frameContinuation: flagEndHeaders,
}

// wellFormed checks what any peer's frame satisfies, known type or not:
// the stream-0 rules and fixed lengths of RFC 9113 §6. A frame that breaks
// them would be a connection error, so in a synchronised stream of frames it
// means we lost the frame boundaries.
func wellFormed(h frameHeader) bool {
	switch h.typ {
	case frameData, frameHeaders, frameContinuation:
		if h.streamID == 0 {
			return false
		}
		need := uint32(0)
		if h.flags&flagPadded != 0 && h.typ != frameContinuation {
			need++
		}
		if h.typ == frameHeaders && h.flags&flagPriority != 0 {
			need += 5
		}
		return h.length >= need
	case framePriority:
		return h.streamID != 0 && h.length == 5
	case frameRSTStream:
		return h.streamID != 0 && h.length == 4
	case frameSettings:
		if h.flags&flagAck != 0 {
			return h.streamID == 0 && h.length == 0
		}
		return h.streamID == 0 && h.length%6 == 0
	case framePushPromise:
		need := uint32(4)
		if h.flags&flagPadded != 0 {
			need++
		}
		return h.streamID != 0 && h.length >= need
	case framePing:
		return h.streamID == 0 && h.length == 8
	case frameGoAway:
		return h.streamID == 0 && h.length >= 8
	case frameWindowUpdate:
		return h.length == 4
	}
	return true
}

// plausibility says what is known about the sender of a frame, to judge a
// candidate frame header when frame boundaries are not known.
type plausibility struct {
	maxLen uint32
	client bool // the sender is known to be the client
	push   bool // server push was seen on the connection: even stream ids
}

// plausible is stricter than wellFormed: a known type, no undefined flags,
// the R bit clear, a length within the receiver's limit and stream ids of
// the parity the sender may use.
func (p plausibility) plausible(h frameHeader) bool {
	if h.typ >= uint8(len(definedFlags)) || h.flags&^definedFlags[h.typ] != 0 || h.reserved ||
		h.length > p.maxLen || !wellFormed(h) {
		return false
	}
	odd := h.streamID&1 == 1
	switch h.typ {
	case frameData, frameHeaders, frameContinuation:
		// Even streams are server-pushed: only the server sends on them.
		return odd || (p.push && !p.client)
	case framePushPromise:
		return odd && !p.client
	case framePriority, frameRSTStream:
		return odd || p.push
	case frameWindowUpdate:
		return h.streamID == 0 || odd || p.push
	}
	return true
}

// chain reports whether vis, the first copied bytes of a transfer of total
// bytes, starts with a sequence of plausible frame headers: every header
// whose bytes are visible, following the lengths, must be plausible, and the
// first must not be a CONTINUATION (its header block began where we could
// not see it).
func (p plausibility) chain(vis []byte, total int) bool {
	off, n := 0, 0
	for off+frameHeaderLen <= len(vis) && off < total {
		h := parseFrameHeader(vis[off:])
		if !p.plausible(h) || (n == 0 && h.typ == frameContinuation) {
			return false
		}
		n++
		off += frameHeaderLen + int(h.length)
	}
	return n > 0
}

// LooksLikeHTTP2 reports whether b, the first bytes of a transfer, looks
// like HTTP/2: the client connection preface (or its first 14 bytes, "PRI *
// HTTP/2.0"), or a sequence of plausible frame headers (known types, valid
// flags and lengths, client-style odd stream ids), for connections that
// were open before we started.
func LooksLikeHTTP2(b []byte) bool {
	if len(b) >= 14 && string(b[:min(len(b), len(preface))]) == preface[:min(len(b), len(preface))] {
		return true
	}
	return plausibility{maxLen: maxFrameLen}.chain(b, len(b))
}
