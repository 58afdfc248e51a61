/* PostgreSQL wire protocol v3, the kernel half (Go side: internal/postgres).
 * Once user space recognises a connection it asks for every transfer's
 * head (Protocol.CopyAll): answers hold many length-prefixed messages. This
 * rule only has to let through, before that, a large transfer that begins
 * a conversation or a message: a start-up message, a request (Query,
 * Parse, Bind, ...) or an answer (ParseComplete, RowDescription, ...).
 * Smaller transfers are copied whole anyway. */
#ifndef EBPFRED_PROTOCOLS_POSTGRES_H
#define EBPFRED_PROTOCOLS_POSTGRES_H

/* The message types a transfer of either side can begin with, as bits
 * (type - '1') of two masks: from the client B C D E F H P Q S X,
 * from the server 1 2 3 A C D E G I K N R S T Z n s t. (PasswordMessage
 * and CopyData are never the start of anything worth copying.) */
#define PG_TYPE(c) (1ULL << ((c) - '1'))
#define PG_TYPES_LO                                                                                         \
	(PG_TYPE('1') | PG_TYPE('2') | PG_TYPE('3') | PG_TYPE('A') | PG_TYPE('B') | PG_TYPE('C') |         \
	 PG_TYPE('D') | PG_TYPE('E') | PG_TYPE('F') | PG_TYPE('G') | PG_TYPE('H') | PG_TYPE('I') |         \
	 PG_TYPE('K') | PG_TYPE('N') | PG_TYPE('P') | PG_TYPE('Q') | PG_TYPE('R') | PG_TYPE('S') |         \
	 PG_TYPE('T') | PG_TYPE('X') | PG_TYPE('Z') | PG_TYPE('n'))
/* 's' and 't' are past bit 63: bits of (type - '1' - 64) */
#define PG_TYPES_HI (1ULL << ('s' - '1' - 64) | 1ULL << ('t' - '1' - 64))

/* postgres_may_start: these leading bytes (PEEK of them) can begin
 *  - an untyped start-up message: a length under 64 KiB, then protocol
 *    3.0 (StartupMessage) or a request code 1234.5678-5680 (CancelRequest,
 *    SSLRequest, GSSENCRequest);
 *  - a typed message: a known type, then a length of 4 bytes to 16 MiB. */
static __always_inline int postgres_may_start(const __u8 *p)
{
	if (p[0] == 0)
		return p[1] == 0 && ((p[4] == 0 && p[5] == 3 && p[6] == 0 && p[7] == 0) ||
				     (p[4] == 0x04 && p[5] == 0xd2 && p[6] == 0x16 && p[7] >= 0x2e && p[7] <= 0x30));
	__u32 t = (__u32)p[0] - '1';
	if (t >= 68)
		return 0;
	__u64 set = t < 64 ? PG_TYPES_LO : PG_TYPES_HI;
	if (!((set >> (t & 63)) & 1))
		return 0;
	return p[1] == 0 && (p[2] != 0 || p[3] != 0 || p[4] >= 4);
}

/* postgres_tls_may_follow: p (8 bytes, zero past n) is an SSLRequest, or
 * the server's one-byte answer 'S' to it: the client's next transfer is a
 * TLS ClientHello, which the TLS capture has to see to follow the
 * connection (its plaintext comes from the TLS library's probes). */
static __always_inline int postgres_tls_may_follow(const __u8 *p, __u64 n)
{
	if (n == 1)
		return p[0] == 'S';
	return n == 8 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 8 && p[4] == 0x04 && p[5] == 0xd2 &&
	       p[6] == 0x16 && p[7] == 0x2f;
}

#endif
