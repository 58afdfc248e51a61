/* memcached's text protocol, the kernel half (Go side: internal/memcached).
 * Once user space recognises a connection it has every transfer's head
 * copied (protocol.Protocol.CopyAll): pipelined replies can end anywhere.
 * This rule covers the transfers before that: a large pipelined write, a
 * read of many values. Small transfers are copied whole anyway.
 *
 * The rule needs only the first four bytes, as one word: inline and
 * loop-free, and listed before redis in all.h. (As a call after redis's, it
 * kept the peek pointer live across two calls: 32 more bytes of stack in
 * the capture programs, over their budget.) */
#ifndef EBPFRED_PROTOCOLS_MEMCACHED_H
#define EBPFRED_PROTOCOLS_MEMCACHED_H

/* MC4: four bytes as the little-endian word they are in memory. */
#define MC4(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)
#define MC3(a, b, c) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16)

/* memcached_start: a command (the first four bytes of its name, which are
 * lower-case) or a reply (upper-case words, a number) begins with the four
 * bytes w4 (little-endian). Meta commands and replies are two letters and a
 * space or CRLF. */
static __always_inline int memcached_start(__u32 w4)
{
	__u32 w3 = w4 & 0xffffff, w2 = w4 & 0xffff;
	__u8 c0 = w4, c1 = w4 >> 8, c2 = w4 >> 16;
	switch (w4) {
	/* commands */
	case MC4('g', 'e', 't', ' '): case MC4('g', 'e', 't', 's'):
	case MC4('s', 'e', 't', ' '): case MC4('a', 'd', 'd', ' '):
	case MC4('c', 'a', 's', ' '): case MC4('g', 'a', 't', ' '):
	case MC4('g', 'a', 't', 's'): case MC4('i', 'n', 'c', 'r'):
	case MC4('d', 'e', 'c', 'r'): case MC4('t', 'o', 'u', 'c'):
	case MC4('d', 'e', 'l', 'e'): case MC4('a', 'p', 'p', 'e'):
	case MC4('p', 'r', 'e', 'p'): case MC4('r', 'e', 'p', 'l'):
	case MC4('s', 't', 'a', 't'): case MC4('v', 'e', 'r', 's'):
	case MC4('f', 'l', 'u', 's'): case MC4('v', 'e', 'r', 'b'):
	case MC4('m', 'n', '\r', '\n'):
	/* replies */
	case MC4('V', 'A', 'L', 'U'): case MC4('E', 'N', 'D', '\r'):
	case MC4('S', 'T', 'O', 'R'): case MC4('N', 'O', 'T', '_'):
	case MC4('E', 'X', 'I', 'S'): case MC4('D', 'E', 'L', 'E'):
	case MC4('T', 'O', 'U', 'C'): case MC4('E', 'R', 'R', 'O'):
	case MC4('C', 'L', 'I', 'E'): case MC4('S', 'E', 'R', 'V'):
	case MC4('S', 'T', 'A', 'T'): case MC4('V', 'E', 'R', 'S'):
	case MC4('O', 'K', '\r', '\n'): case MC4('E', 'N', '\r', '\n'):
	case MC4('M', 'N', '\r', '\n'):
		return 1;
	}
	switch (w3) {
	case MC3('m', 'g', ' '): case MC3('m', 's', ' '): case MC3('m', 'd', ' '):
	case MC3('m', 'a', ' '): case MC3('m', 'e', ' '): case MC3('V', 'A', ' '):
		return 1;
	}
	/* meta replies: HD, NF, NS, EX, then flags or CRLF */
	if (w2 == MC3('H', 'D', 0) || w2 == MC3('N', 'F', 0) || w2 == MC3('N', 'S', 0) || w2 == MC3('E', 'X', 0)) {
		__u8 c = w4 >> 16;
		return c == ' ' || c == '\r';
	}
	/* a number (incr, decr): 1 to 3 digits shown here, then CRLF or more
	 * digits */
	if (c0 < '0' || c0 > '9')
		return 0;
	if (c1 == '\r')
		return c2 == '\n';
	return c1 >= '0' && c1 <= '9' && (c2 == '\r' || (c2 >= '0' && c2 <= '9'));
}

/* memcached_may_start: see memcached_start. */
static __always_inline int memcached_may_start(const __u8 *p)
{
	__u32 w4;
	__builtin_memcpy(&w4, p, 4);
	return memcached_start(w4);
}

#endif
