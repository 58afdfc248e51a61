/* Redis (RESP2 and RESP3), the kernel half (Go side: internal/redis). Once
 * user space recognises a connection it has every transfer's head copied
 * (protocol.Protocol.CopyAll): pipelined replies can end anywhere. This
 * rule covers the transfers before that: a large pipelined write, a read
 * of many replies. Small transfers are copied whole anyway.
 *
 * The rule is a global function of two scalars (the PEEK bytes as two
 * little-endian words): verified once, whatever calls it, its loops cost
 * the callers neither instructions nor stack. */
#ifndef EBPFRED_PROTOCOLS_REDIS_H
#define EBPFRED_PROTOCOLS_REDIS_H

_Static_assert(PEEK == 16, "redis_start takes the PEEK bytes as two words");

/* redis_at: byte i (0-15) of the PEEK bytes lo, hi. */
static __always_inline __u8 redis_at(__u64 lo, __u64 hi, int i)
{
	return i < 8 ? lo >> (8 * i) : hi >> (8 * (i - 8));
}

/* redis_start: a command ("*3\r\n$3\r\nSET...": an array of bulk strings)
 * or a reply of any RESP type begins with the PEEK bytes lo, hi. Replies
 * are recognised by their first line only: a '+' line could begin other
 * things, and a needless copy costs less than a lost pipeline. */
__attribute__((noinline)) int redis_start(__u64 lo, __u64 hi)
{
	__u8 t = lo, c1 = lo >> 8, c2 = lo >> 16, c3 = lo >> 24;
	int digits = 0, i;
	switch (t) {
	case '*': /* array: a command, or a reply */
	case '$': /* bulk string */
	case '%': /* map */
	case '~': /* set */
	case '>': /* push */
	case '|': /* attribute */
	case '=': /* verbatim string */
	case '!': /* bulk error */
	case ':': /* integer */
	case '(': /* big number */
		/* a length or a number ("-1" for a null), then CRLF */
		for (i = 1; i < PEEK - 1; i++) {
			__u8 c = redis_at(lo, hi, i);
			if (c >= '0' && c <= '9') {
				digits++;
				continue;
			}
			if (c == '-' && i == 1)
				continue;
			return digits > 0 && c == '\r' && redis_at(lo, hi, i + 1) == '\n';
		}
		return 0;
	case '-': /* error: its prefix is upper-case ("ERR", "WRONGTYPE") */
		if (c1 < 'A' || c1 > 'Z')
			return 0;
		/* fall through */
	case '+': /* simple string: printable text up to CRLF or beyond */
		for (i = 1; i < PEEK - 1; i++) {
			__u8 c = redis_at(lo, hi, i);
			if (c == '\r')
				return i > 1 && redis_at(lo, hi, i + 1) == '\n';
			if (c < ' ' || c > '~')
				return 0;
		}
		return 1;
	case '_': /* null */
		return c1 == '\r' && c2 == '\n';
	case '#': /* boolean */
		return (c1 == 't' || c1 == 'f') && c2 == '\r' && c3 == '\n';
	case ',': /* double */
		return (c1 >= '0' && c1 <= '9') || c1 == '-' || c1 == 'i' || c1 == 'n';
	}
	return 0;
}

#endif
