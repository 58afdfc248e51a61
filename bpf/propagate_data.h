/* Trace-context propagation, the capture side: included by capture.h.
 * report_xfer() calls prop_data() just before it submits a data event, when
 * (and only when) the loader set `propagation` (maps.h); otherwise the
 * verifier drops the call as dead code and the data path is unchanged.
 *
 * - A server request read (a transfer that starts with an HTTP/1 request
 *   line): the kernel picks the server span's ids, continuing the request's
 *   traceparent when it carries one, remembers them for the reading thread
 *   (thread_ctx) and reports them in a trace_event before the data event.
 * - A write during which sk_msg injected a traceparent (injected): the
 *   injected ids are reported in a trace_event before the data event.
 * - A response written ("HTTP/"): the thread's server span is over. */
#ifndef EBPFRED_PROPAGATE_DATA_H
#define EBPFRED_PROPAGATE_DATA_H

#include "propagate.h"
#include "propagate_scan.h"

#define PAYLOAD_MASK (MAX_PAYLOAD - 1)

/* The scans below are global functions with scalar arguments: each looks
 * at this CPU's work.e itself. Verified once each, their results are
 * unknown numbers to their callers, and their stacks stay tiny (a copy of
 * the value on the stack, as an earlier version had, cost 360 bytes and
 * pushed programs over the 512-byte limit on some kernels). */

/* tp_request_end: the offset after the request line that the event's first
 * len payload bytes start with, or 0. */
__attribute__((noinline)) int tp_request_end(__u32 len)
{
	struct work *w = get_work();
	if (!w || len < 16 || len > MAX_PAYLOAD || !method_len(w->e.payload))
		return 0;
	for (__u32 i = 15; i < SCAN_MAX; i++) {
		if (i >= len)
			return 0;
		if (w->e.payload[i] != '\n')
			continue;
		return is_http1_eol(w->e.payload + i - 9) ? i + 1 : 0;
	}
	return 0;
}

/* tp_find: the offset just after "traceparent:" in the header lines from
 * offset from, or 0. */
__attribute__((noinline)) int tp_find(__u32 from, __u32 len)
{
	struct work *w = get_work();
	if (!w || from < 16 || from >= SCAN_MAX || len > MAX_PAYLOAD)
		return 0;
	for (__u32 j = 0; j < SCAN_MAX; j++) {
		__u64 at = (__u64)from - 1 + j;
		if (at + 13 > len)
			return 0;
		asm volatile("%0 &= 2047" : "+r"(at));
		const __u8 *q = w->e.payload + at;
		if (q[0] != '\n')
			continue;
		if (q[1] == '\r')
			return 0;
		if (is_tp_name(q + 1))
			return at + 13;
	}
	return 0;
}

static __always_inline int hex_val(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* hex_bytes decodes n bytes (2n lower-case hex digits) of the payload at
 * at into dst; the OR of the bytes (zero: an all-zero id), or -1. */
static __always_inline int hex_bytes(const __u8 *payload, __u32 at, __u8 *dst, int n)
{
	int any = 0;
	for (int i = 0; i < n; i++) {
		int hi = hex_val(payload[(at + 2 * i) & PAYLOAD_MASK]);
		int lo = hex_val(payload[(at + 2 * i + 1) & PAYLOAD_MASK]);
		if (hi < 0 || lo < 0)
			return -1;
		dst[i] = hi << 4 | lo;
		any |= dst[i];
	}
	return any;
}

/* tp_parse reads a version-00 traceparent value at offset at (after OWS),
 * with the rules user space applies (internal/httpfield.ParseTraceparent:
 * 55 characters, lower-case hex, ids not zero): trace id and flags into
 * work.tp, the caller's span id into work.tp.parent_id. */
__attribute__((noinline)) int tp_parse(__u32 at, __u32 len)
{
	struct work *w = get_work();
	if (!w || len > MAX_PAYLOAD)
		return 0;
	const __u8 *p = w->e.payload;
	__u32 o = at;
	for (int i = 0; i < 4 && o < len; i++) {
		__u8 ch = p[o & PAYLOAD_MASK];
		if (ch != ' ' && ch != '\t')
			break;
		o++;
	}
	if (o + TP_VALUE_LEN + 1 > len)
		return 0;
	o &= PAYLOAD_MASK;
	if (p[o] != '0' || p[(o + 1) & PAYLOAD_MASK] != '0' || p[(o + 2) & PAYLOAD_MASK] != '-' ||
	    p[(o + 35) & PAYLOAD_MASK] != '-' || p[(o + 52) & PAYLOAD_MASK] != '-')
		return 0;
	__u8 end = p[(o + 55) & PAYLOAD_MASK];
	if (end != '\r' && end != ' ' && end != '\t')
		return 0;
	struct tp_ctx *c = &w->tp;
	if (hex_bytes(p, o + 3, c->trace_id, 16) <= 0 || hex_bytes(p, o + 36, c->parent_id, 8) <= 0 ||
	    hex_bytes(p, o + 53, &c->flags, 1) < 0)
		return 0;
	return 1;
}

static __always_inline void prop_emit(__u8 role, __u32 tgid, __u32 fd, __u64 sk, const struct tp_ctx *c)
{
	struct trace_event *t = bpf_ringbuf_reserve(&events, sizeof(*t), 0);
	if (!t) {
		count(COUNTER_DROPPED);
		return;
	}
	__builtin_memset(t, 0, sizeof(*t));
	t->ts = bpf_ktime_get_ns();
	t->sk = sk;
	t->tgid = tgid;
	t->fd = fd;
	t->type = EVENT_TRACE;
	t->role = role;
	t->flags = c->flags;
	__builtin_memcpy(t->trace_id, c->trace_id, 16);
	__builtin_memcpy(t->span_id, c->span_id, 8);
	__builtin_memcpy(t->parent_id, c->parent_id, 8);
	bpf_ringbuf_submit(t, wakeup_flag());
}

/* sock_ctx_set: the server socket work.sk_key now carries the span in
 * work.tp (set), or no span any more (!set). A global function with no
 * stack: the capture programs have none to spare. */
__attribute__((noinline)) int sock_ctx_set(__u32 set)
{
	struct work *w = bpf_map_lookup_elem(&percpu_work, (const void *)&zero_key);
	if (!w)
		return 0;
	if (set)
		bpf_map_update_elem(&sock_ctx, &w->sk_key, &w->tp, BPF_ANY);
	else
		bpf_map_delete_elem(&sock_ctx, &w->sk_key);
	return 0;
}

/* prop_data: see the top of this file. The CPU's work.e holds the
 * transfer's first e.payload_len bytes. tgid_fd = tgid << 32 | fd;
 * type_h2 = the event type | the connection's h2 flag << 8; ports = sport |
 * dport << 16 (at most five arguments, all scalars). */
__attribute__((noinline)) int prop_data(__u64 tgid_fd, __u32 type_h2, __u64 sk, __u32 ports)
{
	struct work *w = get_work();
	if (!w)
		return 0;
	__u32 tgid = tgid_fd >> 32, fd = (__u32)tgid_fd;
	__u64 id = current_pid_tgid(); /* as sk_msg keys injected */
	w->sk_key = sk; /* for sock_ctx_set */
	__u32 len = w->e.payload_len;
	if ((type_h2 & 0xff) == EVENT_DATA_OUT) {
		struct tp_ctx *in = bpf_map_lookup_elem(&injected, &id);
		if (in) {
			/* the ports tell a leftover (a send that failed after
			 * sk_msg ran) from this write's own */
			if (in->sport == (__u16)ports && in->dport == (__u16)(ports >> 16))
				prop_emit(TP_ROLE_CLIENT, tgid, fd, sk, in);
			bpf_map_delete_elem(&injected, &id);
			return 0;
		}
		const __u8 *p = w->e.payload;
		if (len >= 5 && p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && p[4] == '/') {
			bpf_map_delete_elem(&thread_ctx, &id);
			if (go_context)
				sock_ctx_set(0);
		}
		return 0;
	}
	if (type_h2 >> 8)
		return 0; /* HTTP/2 */
	int end = tp_request_end(len);
	if (end <= 0)
		return 0;
	struct tp_ctx *c = &w->tp;
	__builtin_memset(c, 0, sizeof(*c));
	int at = tp_find(end, len);
	if (at <= 0 || !tp_parse(at, len)) {
		__builtin_memset(c, 0, sizeof(*c));
		new_trace_id(c->trace_id);
		c->flags = 1;
	}
	new_span_id(c->span_id);
	prop_emit(TP_ROLE_SERVER, tgid, fd, sk, c);
	/* what the thread's outgoing requests descend from: this span; and
	 * a Go handler's, found through its goroutine's connection */
	bpf_map_update_elem(&thread_ctx, &id, c, BPF_ANY);
	if (go_context)
		sock_ctx_set(1);
	return 0;
}

#endif
