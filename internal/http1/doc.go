// Package http1 turns the socket I/O of one HTTP/1.0 or HTTP/1.1 connection,
// as the kernel probes report it (package stream), into request records
// (package record): one record per request/response exchange, server or
// client side.
//
// # What the parser sees
//
// Events arrive in call order, one per read or write. The kernel copies the
// leading bytes of a transfer (Payload, about 1 KiB, maybe truncated) only
// when they look like the start of a message; every other transfer is
// length-only, with at most its last 8 bytes (Tail). So the parser follows the
// framing of each direction by counting bytes, and it is the framing state,
// not the presence of a payload, that decides whether a transfer starts a new
// message: a body transfer that happens to start with "GET " is body.
//
// # Framing
//
// Each direction is followed separately, as RFC 9112 §6.3 says:
//   - responses to HEAD, and 1xx, 204 and 304 responses have no body;
//   - Transfer-Encoding ending in chunked: chunked body; Content-Length:
//     counted body; a request with neither has no body; a response with
//     neither is read until the connection closes;
//   - 1xx responses other than 101 are interim (100 Continue, 103 Early
//     Hints): they are skipped and the request waits for its final response;
//   - 101 Switching Protocols, a 2xx answer to CONNECT, and the HTTP/2
//     connection preface end HTTP/1 parsing: see Conn.Upgraded.
//
// Chunked bodies are parsed chunk by chunk while their bytes are visible, and
// chunk data is skipped by counting. When the framing continues in bytes the
// kernel did not copy (typically each write is one whole chunk, length-only),
// the parser falls back to a heuristic: the body ends with the transfer whose
// last bytes, joined to the last bytes of the transfers before it, end with
// "\n0\r\n\r\n" (or whose body is exactly "0\r\n\r\n"): the last chunk right
// after the CRLF that closes the previous chunk's data. It misses a last chunk
// with extensions ("0;x\r\n") or with trailer fields ("0\r\nName: v\r\n\r\n"),
// whose end cannot be told from body bytes in 8 bytes of tail; and it ends the
// body early if chunk data itself ends with "\n0\r\n" at the end of a chunk.
// A missed end is caught by the rules for open-ended messages below.
//
// # Open-ended messages
//
// A response read until close, or a message whose framing is unknown (its
// header block was cut by the copy limit, malformed, or lost to a transfer we
// could not see, or a chunked body whose end the heuristic missed), ends
// with the last transfer before the next message start of the connection — a
// recognised request line on the request side, or status line on the
// response side — or before Close, or at Flush. The end time is always that
// of the last transfer that carried bytes of the message. Only a transfer
// that starts with a message start counts: a message starting in the middle
// of a transfer of an open-ended body is not seen. Values that the lost
// headers might have held are left unknown (body size -1), never guessed.
//
// A message start that falls past the copied bytes of a transfer (a request
// pipelined after a body longer than the copy) is unreadable; it still takes
// its place in the request queue, so later responses stay matched, and it is
// counted in Stats.Incomplete.
//
// # Costs
//
// A Conn keeps about 400 bytes of state. It allocates the record of each
// request, its path and Host strings unless they repeat the previous
// request's, the raw method when it is not a well-known one, a header buffer
// (at most 4 KiB, only when a header block continues into a later transfer)
// and the pipelining queue (at most 64 requests).
package http1
