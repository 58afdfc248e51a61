/* Pieces of HTTP/1 request-head scanning that both sides of propagation use:
 * sk_msg on the bytes being sent, the sys_exit data path on the bytes a
 * server read.
 *
 * Verifier notes. The scans are loops whose body carries no state from one
 * byte to the next except the index, and each lives in a global function
 * whose result is an unknown number to its caller: every way out of a loop
 * then ends the function at once, and the caller is verified once instead of
 * once per place a loop stopped. A byte-at-a-time state machine (method →
 * request line → header lines, "traceparent:" matched incrementally) was
 * tried first: the verifier tracks each state field's exact value, the paths
 * multiply, and a 1 KiB scan exceeds its budget of a million instructions.
 */
#ifndef EBPFRED_PROPAGATE_SCAN_H
#define EBPFRED_PROPAGATE_SCAN_H

/* Bytes of a request's start that are looked at: its request line, and the
 * headers that follow in the same transfer within this bound. */
#define SCAN_MAX 1024

/* is_tp_name: p[0:12] is "traceparent:" in any case. Two loads and one
 * test rather than a branch per byte: inside a scan loop every branch is a
 * state the verifier keeps pending, and 1 KiB of them overflows its queue.
 * (| 0x20 folds only the upper-case letters onto the lower-case ones we
 * compare with; ':' is compared as it is.) */
static __always_inline int is_tp_name(const __u8 *p)
{
	__u64 a;
	__u32 b;
	__builtin_memcpy(&a, p, 8);
	__builtin_memcpy(&b, p + 8, 4);
	__u64 d = ((a | 0x2020202020202020ULL) ^ 0x7261706563617274ULL) /* "tracepar" */
		  | ((b | 0x00202020U) ^ 0x3a746e65U);                  /* "ent:" */
	asm volatile("" : "+r"(d)); /* one test, not one per byte */
	return d == 0;
}

/* method_len: the length of the upper-case method token (3 to 15 letters)
 * that p[0:16] starts with, followed by a space; 0 if it is not one. */
static __always_inline int method_len(const __u8 *p)
{
	for (int i = 0; i < 16; i++) {
		if (p[i] == ' ')
			return i >= 3 ? i : 0;
		if (p[i] < 'A' || p[i] > 'Z')
			return 0;
	}
	return 0;
}

/* is_http1_eol: p[0:10] is "HTTP/1.0\r\n" or "HTTP/1.1\r\n", the end of a
 * request line (the HTTP/2 preface ends in "HTTP/2.0" and fails here). */
static __always_inline int is_http1_eol(const __u8 *p)
{
	return p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && p[4] == '/' && p[5] == '1' &&
	       p[6] == '.' && (p[7] == '0' || p[7] == '1') && p[8] == '\r' && p[9] == '\n';
}

static __always_inline void rand_bytes(__u8 *dst, int n)
{
	for (int i = 0; i < n; i += 4) {
		__u32 r = bpf_get_prandom_u32();
		__builtin_memcpy(dst + i, &r, 4);
	}
}

/* new_span_id: random and never zero (zero means "none" in W3C). */
static __always_inline void new_span_id(__u8 *id)
{
	rand_bytes(id, 8);
	id[7] |= 1;
}

static __always_inline void new_trace_id(__u8 *id)
{
	rand_bytes(id, 16);
	id[15] |= 1;
}

#endif
