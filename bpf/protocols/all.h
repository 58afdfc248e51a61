/* The kernel halves of the protocols (one header each, under
 * bpf/protocols/; Go halves under internal/, listed in internal/protocols).
 * Each header defines <name>_may_start(p): whether the PEEK leading bytes p
 * of a transfer can begin one of its messages, so that the transfer is
 * copied. Adding a protocol: its header, and one line in each list below.
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
#include "postgres.h"

#define EBPFRED_PROTOCOLS(X) \
	X(http1)             \
	X(memcached)         \
	X(redis)             \
	X(http2)             \
	X(postgres)

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
