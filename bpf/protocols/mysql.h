/* MySQL/MariaDB client/server protocol, the kernel half (Go side:
 * internal/mysql). Once user space recognises a connection it has every
 * transfer's head copied (protocol.Protocol.CopyAll): a result set's
 * packets can end anywhere. This rule covers the large transfers before
 * that: a long COM_QUERY or COM_STMT_PREPARE, a COM_STMT_EXECUTE with
 * large parameters, a result set or a prepare's answer on a connection
 * seen mid-way. Small transfers (the greeting, the handshake) are copied
 * whole anyway.
 *
 * Every packet is a 3-byte little-endian length, a sequence id (0 for a
 * command, 1, 2, ... for the packets of its answer), then the payload.
 * The rule reads the PEEK bytes as two little-endian words: all.h asks
 * it, with redis's, from one global function (see there). */
#ifndef EBPFRED_PROTOCOLS_MYSQL_H
#define EBPFRED_PROTOCOLS_MYSQL_H

_Static_assert(PEEK == 16, "mysql_start takes the PEEK bytes as two words");

/* MY_DEF: a column definition's first bytes, "\3def" (its catalog), as a
 * little-endian word. */
#define MY_DEF ((__u32)3 | (__u32)'d' << 8 | (__u32)'e' << 16 | (__u32)'f' << 24)

/* mysql_start: the PEEK leading bytes lo, hi can begin
 *  - a command (sequence id 0): COM_QUERY or COM_STMT_PREPARE whose text
 *    begins with a printable byte (or COM_QUERY's query-attributes prefix
 *    0, 1), or COM_STMT_EXECUTE with its iteration count of 1;
 *  - an answer (sequence id 1): a column count (a byte 1-250, and MariaDB's
 *    metadata flag) followed by a column definition with sequence id 2, or
 *    a prepare's OK (12 bytes, header 0, filler 0). */
static __always_inline int mysql_start(__u64 lo, __u64 hi)
{
	__u32 len = lo & 0xffffff;
	__u8 seq = lo >> 24, b0 = lo >> 32, b1 = lo >> 40, b2 = lo >> 48;
	if (seq == 0) {
		switch (b0) {
		case 0x03: /* COM_QUERY */
			if (b1 == 0 && b2 == 1)
				return len >= 4;
			/* fall through */
		case 0x16: /* COM_STMT_PREPARE */
			return len >= 2 && (b1 >= 0x20 || b1 == '\t' || b1 == '\n' || b1 == '\r');
		case 0x17: /* COM_STMT_EXECUTE: id, flags, then the count at 10-13 */
			return len >= 10 && (__u32)(hi >> 16) == 1;
		}
		return 0;
	}
	if (seq != 1)
		return 0;
	if (len == 1 && b0 >= 1 && b0 <= 250) /* column count; definition at 5 */
		return (__u8)(hi) == 2 && (__u32)(hi >> 8) == MY_DEF;
	if (len == 2 && b0 >= 1 && b0 <= 250 && b1 <= 1) /* with MariaDB's flag; at 6 */
		return (__u8)(hi >> 8) == 2 && (__u32)(hi >> 16) == MY_DEF;
	return len == 12 && b0 == 0 && (__u8)(hi >> 40) == 0; /* prepare OK */
}

/* mysql_may_start: see mysql_start. */
static __always_inline int mysql_may_start(const __u8 *p)
{
	__u64 lo, hi;
	__builtin_memcpy(&lo, p, 8);
	__builtin_memcpy(&hi, p + 8, 8);
	return mysql_start(lo, hi);
}

#endif
