package kafka

import "encoding/binary"

// API keys the parser reports (others are paired and passed over).
const (
	apiProduce = 0
	apiFetch   = 1
)

// Bounds of what is believed of a message's header.
const (
	// maxAPIKey, maxAPIVersion: above every key and version Kafka has
	// (keys reach the 90s, versions the teens), with room for new ones.
	maxAPIKey     = 127
	maxAPIVersion = 31
	// maxMessage: a request or response longer than this is not Kafka's
	// (a broker's socket.request.max.bytes defaults to 100 MiB).
	maxMessage = 1 << 30
	// minRequest: api_key, api_version, correlation_id, client_id's length.
	minRequest = 10
	// maxClientID: a client id longer than this is taken for garbage.
	maxClientID = 1024
)

// flexible says whether version of api key uses the flexible encoding
// (compact strings and arrays, tagged fields), for the keys whose bodies
// are read.
func flexible(key, version int16) bool {
	switch key {
	case apiProduce:
		return version >= 9
	case apiFetch:
		return version >= 12
	}
	return false
}

// reader reads the fields of a message's head as far as its bytes go:
// short is set once a field runs past them (the kernel's copy, or the
// head kept), bad once a field cannot be Kafka's.
type reader struct {
	b          []byte
	i          int
	short, bad bool
}

func (r *reader) ok() bool { return !r.short && !r.bad }

func (r *reader) need(n int) bool {
	if !r.ok() {
		return false
	}
	if n < 0 || len(r.b)-r.i < n {
		r.short = true
		return false
	}
	return true
}

func (r *reader) int8() int8 {
	if !r.need(1) {
		return 0
	}
	r.i++
	return int8(r.b[r.i-1])
}

func (r *reader) int16() int16 {
	if !r.need(2) {
		return 0
	}
	r.i += 2
	return int16(binary.BigEndian.Uint16(r.b[r.i-2:]))
}

func (r *reader) int32() int32 {
	if !r.need(4) {
		return 0
	}
	r.i += 4
	return int32(binary.BigEndian.Uint32(r.b[r.i-4:]))
}

func (r *reader) skip(n int) {
	if r.need(n) {
		r.i += n
	}
}

// uvarint reads an unsigned varint of at most 5 bytes (a 32-bit value).
func (r *reader) uvarint() uint32 {
	var v uint32
	for s := 0; s < 35; s += 7 {
		if !r.need(1) {
			return 0
		}
		c := r.b[r.i]
		r.i++
		v |= uint32(c&0x7f) << s
		if c < 0x80 {
			return v
		}
	}
	r.bad = true
	return 0
}

// length reads a string's, bytes' or array's length: int16 (strings) or
// int32 (bytes, arrays), or in the flexible encoding an unsigned varint of
// the length plus one. -1 is null; below that it is bad.
func (r *reader) length(flex, wide bool) int {
	var n int
	switch {
	case flex:
		n = int(r.uvarint()) - 1
	case wide:
		n = int(r.int32())
	default:
		n = int(r.int16())
	}
	if n < -1 {
		r.bad = true
	}
	return n
}

// str reads a (nullable) string; its bytes point into r's.
func (r *reader) str(flex bool) []byte {
	n := r.length(flex, false)
	if n <= 0 || !r.need(n) {
		return nil
	}
	r.i += n
	return r.b[r.i-n : r.i]
}

// tags passes over a flexible structure's tagged fields.
func (r *reader) tags() {
	n := r.uvarint()
	for k := uint32(0); k < n && r.ok(); k++ {
		r.uvarint() // tag
		r.skip(int(r.uvarint()))
	}
}

// reqHeader is what a request's header and the head of its body say.
type reqHeader struct {
	key, version int16
	corr         int32
	// topic: the only topic of a Produce or Fetch, nil when there are
	// several or none, the request names topics by id, or its name is
	// past the bytes known.
	topic []byte
	// noAck: a Produce with acks 0, which the broker does not answer.
	noAck bool
	// short: the head ended before the topic could be read.
	short bool
}

// parseRequest reads the header of a request (the bytes after its size)
// and, for Produce and Fetch, the head of its body. ok is false when the
// bytes are not a Kafka request: a field out of its range (the checks
// detection relies on), or, past the header, a body that breaks the
// protocol. Bytes that end early are not an error: what they did not
// reach is unknown (h.short).
func parseRequest(b []byte, size int) (h reqHeader, ok bool) {
	r := reader{b: b}
	h.key, h.version, h.corr = r.int16(), r.int16(), r.int32()
	if r.short {
		h.short = true
		return h, true
	}
	if h.key < 0 || h.key > maxAPIKey || h.version < 0 || h.version > maxAPIVersion || h.corr < 0 {
		return h, false
	}
	// client_id: always a (non-compact) nullable string
	n := r.length(false, false)
	if r.bad || n > maxClientID || n > size-minRequest {
		return h, false
	}
	if n > 0 {
		id := b[min(r.i, len(b)):min(r.i+n, len(b))]
		for _, c := range id {
			if c < ' ' || c > '~' {
				return h, false
			}
		}
		r.skip(n)
	}
	if h.key != apiProduce && h.key != apiFetch {
		return h, true
	}
	flex := flexible(h.key, h.version)
	if flex {
		r.tags()
	}
	if h.key == apiProduce {
		ok = produceHead(&r, &h, flex)
	} else {
		ok = fetchHead(&r, &h, flex)
	}
	h.short = r.short
	if r.bad {
		return h, false
	}
	return h, ok
}

// produceHead: [transactional_id (v3+)] acks timeout topics...
func produceHead(r *reader, h *reqHeader, flex bool) bool {
	if h.version >= 3 {
		r.str(flex)
	}
	acks, timeout := r.int16(), r.int32()
	if r.ok() && (acks < -1 || acks > 1 || timeout < 0) {
		return false
	}
	h.noAck = r.ok() && acks == 0
	h.topic = onlyTopic(r, flex, h.version >= 13)
	return true
}

// fetchHead: [replica_id (v0-14)] max_wait min_bytes [max_bytes (v3+)]
// [isolation_level (v4+)] [session_id session_epoch (v7+)] topics...
func fetchHead(r *reader, h *reqHeader, flex bool) bool {
	v := h.version
	if v <= 14 {
		r.int32() // replica_id: -1 for a consumer, a broker's id for a follower
	}
	wait, minBytes := r.int32(), r.int32()
	if r.ok() && (wait < 0 || minBytes < 0) {
		return false
	}
	if v >= 3 {
		r.int32()
	}
	if v >= 4 {
		if iso := r.int8(); r.ok() && iso != 0 && iso != 1 {
			return false
		}
	}
	if v >= 7 {
		r.skip(8)
	}
	h.topic = onlyTopic(r, flex, v >= 13)
	return true
}

// onlyTopic reads a topics array's length and, when it holds exactly one
// topic named by name (not by id), its name.
func onlyTopic(r *reader, flex, byID bool) []byte {
	n := r.length(flex, true)
	if !r.ok() || n != 1 || byID {
		return nil
	}
	name := r.str(flex)
	if !r.ok() || !topicChars(name) {
		return nil
	}
	return name
}

// topicChars: a topic name Kafka allows (letters, digits, '.', '_', '-';
// at most 249).
func topicChars(b []byte) bool {
	if len(b) == 0 || len(b) > 249 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// responseError reads, from a Produce or Fetch response's body (after
// the correlation id), the first error code it can reach: Fetch's
// top-level error (v7+), else the partitions' errors as far as the bytes
// known go (a Fetch's records follow its first partition's header, so
// only that partition's). 0 when none was seen.
func responseError(b []byte, key, version int16) int16 {
	r := reader{b: b}
	flex := flexible(key, version)
	if flex {
		r.tags() // response header v1
	}
	if key == apiFetch {
		if version >= 1 {
			r.int32() // throttle_time_ms
		}
		if version >= 7 {
			if code := r.int16(); code != 0 && r.ok() {
				return code
			}
			r.int32() // session_id
		}
		if r.length(flex, true) < 1 || !topicKey(&r, flex, version >= 13) {
			return 0
		}
		if r.length(flex, true) < 1 {
			return 0
		}
		r.int32() // partition_index
		if code := r.int16(); r.ok() {
			return code
		}
		return 0
	}
	topics := r.length(flex, true)
	for t := 0; t < topics && r.ok(); t++ {
		if !topicKey(&r, flex, version >= 13) {
			return 0
		}
		parts := r.length(flex, true)
		for p := 0; p < parts && r.ok(); p++ {
			r.int32() // index
			if code := r.int16(); code != 0 && r.ok() {
				return code
			}
			r.skip(8) // base_offset
			if version >= 2 {
				r.skip(8) // log_append_time_ms
			}
			if version >= 5 {
				r.skip(8) // log_start_offset
			}
			if version >= 8 {
				errs := r.length(flex, true)
				for e := 0; e < errs && r.ok(); e++ {
					r.int32()
					r.str(flex)
					if flex {
						r.tags()
					}
				}
				r.str(flex) // error_message
			}
			if flex {
				r.tags()
			}
		}
		if flex {
			r.tags()
		}
	}
	return 0
}

// topicKey passes over a topic's name or id.
func topicKey(r *reader, flex, byID bool) bool {
	if byID {
		r.skip(16)
	} else {
		r.str(flex)
	}
	return r.ok()
}
