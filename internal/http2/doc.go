// Package http2 turns the socket I/O of one HTTP/2 connection, as the kernel
// probes report it (package stream), into request records (package record):
// one record per stream, that is per request/response exchange or gRPC
// call, server or client side.
//
// # What the parser sees
//
// On a connection known to carry HTTP/2 the kernel follows the frames itself
// and reports a long transfer as several consecutive events, each with its
// first bytes (up to 4096) copied, split so that every frame header and
// every payload byte of a frame other than DATA is copied
// (bpf/protocols/http2.h, h2_report); DATA payloads past a window are not.
// To the parser these events are shorter transfers. Each direction is read
// as a sequence of frames whose boundaries are followed from the 9-byte
// frame headers across
// transfers: a frame may end in a later transfer, and a frame header may be
// split between two. Only frame headers and header blocks need to be seen;
// DATA payloads are counted, not read.
//
// # Losing and finding frame boundaries
//
// When a frame header lies beyond the copied bytes of a transfer (the kernel
// lost the boundaries, or gave up on a transfer of more than 256 KiB of
// dense frames), the direction is out of sync (Stats.Desync):
// nothing more is decoded from it until a transfer starts with a plausible
// sequence of frame headers: known types, defined flags, the stream-0 rules
// and fixed lengths of RFC 9113 §6, a length within the receiver's
// SETTINGS_MAX_FRAME_SIZE, odd stream ids (even ones only from a server once
// push was seen), and not a CONTINUATION. Streams open during a desync may
// have lost frames: their body sizes become unknown (-1), and Flush forgets
// them when they stay idle, since their end may have gone by unseen. A
// connection seen from the middle (open before we started) is read the same
// way, from its first plausible transfer.
//
// # HPACK
//
// Header blocks (HEADERS or PUSH_PROMISE and CONTINUATION frames) are
// decoded in order per direction, push promises included, so the dynamic
// tables stay right. The decoder is our own (hpack.go) because the table may
// be only partly known: when a block was cut by the copy limit
// (Stats.Truncated) or missed in a desync, or the connection was open before
// we started, the entries inserted since are still known exactly (they are
// the newest) while older ones are not. Fields from the static table, literal
// fields, and references to entries inserted since the loss are exact;
// others are reported unknown, never guessed. Huffman strings are decoded
// with golang.org/x/net/http2/hpack.
//
// A record takes what is known: a method it could not read is "_OTHER"
// (MethodOriginal empty), a status it could not read is 0 with an empty
// ErrorType, a path or authority it could not read is empty, and a gRPC
// status it could not read is -1. A stream that sent content-type
// application/grpc* (either way) or grpc-status is gRPC; on a connection
// seen from the middle gRPC may thus not be recognised.
//
// # Roles and streams
//
// The side that sends the connection preface, a SETTINGS with ENABLE_PUSH,
// or a header block with request pseudo-headers is the client; the side
// that sends :status or PUSH_PROMISE is the server. A request starts with
// its first HEADERS frame (the transfer that carried its first byte) and
// ends with the transfer that carried the END_STREAM of the response,
// trailers included; many streams are timed independently. Responses to
// requests we did not see (stream 1 after an h2c upgrade, whose request was
// HTTP/1.1, or streams open before we started) are counted as Incomplete.
// Pushed streams are not reported.
//
// Exchanges that end otherwise:
//   - RST_STREAM ends a stream at once with ErrorType "rst_stream" (the
//     status, if one came, is kept: the response was cut). For gRPC, when
//     the instrumented process received the RST_STREAM, RPCStatusCode is the
//     status gRPC's HTTP/2 mapping makes its library report (CANCEL →
//     CANCELLED, REFUSED_STREAM → UNAVAILABLE, …) and ErrorType stays empty;
//     when the process sent it, the status its application saw is unknown
//     and ErrorType is "rst_stream".
//   - A server's GOAWAY refuses the streams above its last-stream-id: a
//     client's are emitted with ErrorType "goaway" (gRPC: UNAVAILABLE, as
//     gRPC specifies), a server's are dropped (Incomplete): it never
//     processed them.
//   - Close emits exchanges in progress with ErrorType "connection_closed",
//     except a server's requests never answered and streams tainted by a
//     desync (Incomplete).
//
// # Costs
//
// Per connection, at most maxStreams (1024) tracked streams (the least
// recently active is dropped past it), a header block buffer of at most 16
// KiB per direction (only for blocks spread over frames or transfers; a
// block seen whole is decoded in place), and an HPACK table of at most 8 KiB
// of entries per direction (arena up to twice that). A warm unary gRPC call
// costs one allocation: its record.
package http2
