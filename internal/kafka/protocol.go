// Package kafka follows the Kafka wire protocol from the client's side: an
// application producing to and fetching from Kafka brokers. Each Produce
// and Fetch request becomes one record (messaging.client.operation.duration,
// a CLIENT span) with the messaging conventions (messaging.system "kafka"):
// a Produce is "send", a Fetch "poll" (messaging.operation.type send and
// receive); its destination is the topic when the request names exactly
// one, by name (Produce v13+ and Fetch v13+ name topics by id: then none,
// never guessed); a failure's error.type is the broker's error name
// (UNKNOWN_TOPIC_OR_PARTITION) as the response's head carries it: a
// Fetch's top-level error or its first partition's, a Produce's first
// failed partition as far as the bytes copied go. Every other request
// (ApiVersions, Metadata, heartbeats, offset commits, ...) is paired with
// its response and passed over; it makes no record.
//
// Nothing of the messages is read: not their keys, values or headers; of
// a request, only its header (api key, version, correlation id, client
// id's length) and the fields before its first topic's name.
//
// Framing: every message is an int32 size and that many bytes. Requests
// carry a correlation id their response repeats; a broker answers a
// connection's requests in order, but responses are paired by that id, so
// that a response not seen (or a Produce with acks 0, which has none and
// is reported when written) never shifts the pairing. Bytes past the
// kernel's copy are passed over by the size; when a size itself was not
// copied the framing is lost (counted Desync) until a transfer begins with
// a request, or with a response to a request waiting.
//
// A request's duration runs from the write that began it to the read that
// ended its response. Requests still waiting when the connection closes
// are counted incomplete: a consumer closes connections with a Fetch
// waiting as a matter of course.
//
// Its kernel half, which transfers are copied, is bpf/protocols/kafka.h.
package kafka

import (
	"encoding/binary"

	"github.com/ebpfred/ebpfred/internal/msgconv"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Operation names (messaging.operation.name), as the conventions name a
// Kafka producer's send and a consumer's poll.
const (
	OpSend = "send"
	OpPoll = "poll"
)

func operation(key int16) string {
	if key == apiProduce {
		return OpSend
	}
	return OpPoll
}

func operationType(op string) string {
	switch op {
	case OpSend:
		return msgconv.TypeSend
	case OpPoll:
		return msgconv.TypeReceive
	}
	return ""
}

// Conventions are the messaging client conventions, messaging.system
// "kafka".
var Conventions = msgconv.New("kafka", operationType)

// Protocol is Kafka. Responses can follow each other in one read (a
// client reading into a buffer): every transfer's head is copied.
var Protocol = &protocol.Protocol{
	Name:   "kafka",
	Detect: Detect,
	New: func(meta stream.Meta, st *protocol.Stats, opt *protocol.Options) protocol.Parser {
		return NewConn(meta, st, opt)
	},
	Conventions: []record.Conventions{Conventions},
	CopyAll:     true,
}

// Detect says whether b, written by the process, begins a Kafka request:
// a size of at least a header's, an api key and version in their ranges,
// a correlation id that is not negative, a client id of printable
// characters (or null), and for a Produce or Fetch a body whose first
// fields hold values the protocol allows. The broker's side (requests
// read) is No, and so are responses: their correlation id and size say
// too little.
func Detect(b []byte, dir stream.Direction, _ bool) protocol.Verdict {
	if dir != stream.Egress || len(b) == 0 {
		return protocol.No
	}
	// What the first bytes must be, byte by byte, before they are all
	// there: the size's top byte, the api key's and version's high bytes.
	if b[0] != 0 && b[0] > maxMessage>>24 {
		return protocol.No
	}
	if len(b) < 14 {
		if (len(b) > 4 && b[4] != 0) || (len(b) > 6 && b[6] != 0) || (len(b) > 8 && b[8] >= 0x80) {
			return protocol.No
		}
		return protocol.Maybe
	}
	size := int(int32(binary.BigEndian.Uint32(b)))
	if size < minRequest || size > maxMessage {
		return protocol.No
	}
	h, ok := parseRequest(b[4:], size)
	if !ok {
		return protocol.No
	}
	// A client id cut short by the bytes seen: its characters so far
	// were fine, but the request's fields after it decide.
	if h.short && (h.key == apiProduce || h.key == apiFetch) && len(b) < 64 {
		return protocol.Maybe
	}
	return protocol.Yes
}
