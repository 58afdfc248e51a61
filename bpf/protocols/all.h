/* The kernel halves of the protocols (one header each, under
 * bpf/protocols/; Go halves under internal/, listed in internal/protocols).
 * Each header defines <name>_may_start(p): whether the PEEK leading bytes p
 * of a transfer can begin one of its messages, so that the transfer is
 * copied; or, for a rule with loops or many byte tests, <name>_start(lo,
 * hi), a global function of the PEEK bytes as two little-endian words.
 * Adding a protocol: its header, and one line in each list below (the
 * first, or the list of word rules).
 * A protocol whose framing the kernel must follow across transfers (HTTP/2:
 * frame headers anywhere in a transfer) defines its walk in its header too
 * (http2.h: h2_report), called by report_xfer for its connections.
 * Included by capture.h after the shared helpers (copy_chunk, iov_at,
 * submit, prop_data). */
#ifndef EBPFRED_PROTOCOLS_ALL_H
#define EBPFRED_PROTOCOLS_ALL_H

#include "http1.h"
#include "http2.h"
#include "redis.h"
#include "memcached.h"
#include "mysql.h"
#include "postgres.h"
#include "kafka.h"

#define EBPFRED_PROTOCOLS(X) \
	X(http1)             \
	X(memcached)         \
	X(words)             \
	X(http2)             \
	X(postgres)

/* The word rules, called in turn by one global function, words_start,
 * whose registers keep the words from one call to the next (X(words)
 * above). A second word rule called from may_start itself cost
 * report_xfer's frame a spill: sys_exit was 8 bytes over its stack
 * budget with Kafka's; this way it is where it was with Redis's alone. */
#define EBPFRED_WORD_PROTOCOLS(X) \
	X(redis)                  \
	X(mysql)                  \
	X(kafka)

/* words_start: some word rule's message can begin with the PEEK bytes
 * lo, hi. */
__attribute__((noinline)) int words_start(__u64 lo, __u64 hi)
{
#define EBPFRED_START(name)        \
	if (name##_start(lo, hi)) \
		return 1;
	EBPFRED_WORD_PROTOCOLS(EBPFRED_START)
#undef EBPFRED_START
	return 0;
}

/* words_may_start: see words_start. */
static __always_inline int words_may_start(const __u8 *p)
{
	__u64 lo, hi;
	__builtin_memcpy(&lo, p, 8);
	__builtin_memcpy(&hi, p + 8, 8);
	return words_start(lo, hi);
}

/* may_start: some protocol's message can begin with these bytes. */
static __always_inline int may_start(const __u8 *p)
{
#define EBPFRED_MAY_START(name)   \
	if (name##_may_start(p)) \
		return 1;
	EBPFRED_PROTOCOLS(EBPFRED_MAY_START)
#undef EBPFRED_MAY_START
	return 0;
}

/* tls_may_follow: a transfer of n bytes that begins with p (8 bytes, zero
 * past n) asks for TLS, or answers such a request, in a protocol's own
 * messages: TLS records may start with a later transfer. */
static __always_inline int tls_may_follow(const __u8 *p, __u64 n)
{
	return postgres_tls_may_follow(p, n);
}

#endif
