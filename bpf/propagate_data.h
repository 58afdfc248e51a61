/* Trace-context propagation, the capture side: included by ebpfred.c after
 * struct event, struct conn_info and the events ring are defined. data()
 * calls prop_data() just before it submits a data event, when (and only
 * when) the loader set `propagation`; otherwise the verifier drops the call
 * as dead code and the data path is unchanged.
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

/* Set by the loader when context_propagation is "headers". */
volatile const __u8 propagation = 0;

#define PAYLOAD_MASK (MAX_PAYLOAD - 1)

/* tp_request_end: the offset after the request line that e's first len
 * payload bytes start with, or 0. */
__attribute__((noinline)) int tp_request_end(struct event *e, __u32 len)
{
	if (!e || len < 16 || len > MAX_PAYLOAD || !method_len(e->payload))
		return 0;
	for (__u32 i = 15; i < SCAN_MAX; i++) {
		if (i >= len)
			return 0;
		if (e->payload[i] != '\n')
			continue;
		return is_http1_eol(e->payload + i - 9) ? i + 1 : 0;
	}
	return 0;
}

/* tp_find: the offset just after "traceparent:" in the header lines from
 * offset from, or 0. */
__attribute__((noinline)) int tp_find(struct event *e, __u32 from, __u32 len)
{
	if (!e || from < 16 || from >= SCAN_MAX || len > MAX_PAYLOAD)
		return 0;
	for (__u32 j = 0; j < SCAN_MAX; j++) {
		__u64 at = (__u64)from - 1 + j;
		if (at + 13 > len)
			return 0;
		asm volatile("%0 &= 2047" : "+r"(at));
		const __u8 *q = e->payload + at;
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

/* tp_parse reads a version-00 traceparent value at offset at (after OWS),
 * with the rules user space applies (internal/httpfield.ParseTraceparent:
 * 55 characters, lower-case hex, ids not zero): trace id and flags into c,
 * the caller's span id into c->parent_id. */
__attribute__((noinline)) int tp_parse(struct event *e, __u32 at, __u32 len, struct tp_ctx *c)
{
	if (!e || !c || len > MAX_PAYLOAD)
		return 0;
	__u8 v[TP_VALUE_LEN + 1];
	__u32 o = at;
	for (int i = 0; i < 4 && o < len; i++) {
		__u8 ch = e->payload[o & PAYLOAD_MASK];
		if (ch != ' ' && ch != '\t')
			break;
		o++;
	}
	if (o + TP_VALUE_LEN + 1 > len)
		return 0;
	o &= PAYLOAD_MASK;
	__builtin_memcpy(v, e->payload + o, sizeof(v));
	if (v[0] != '0' || v[1] != '0' || v[2] != '-' || v[35] != '-' || v[52] != '-')
		return 0;
	if (v[55] != '\r' && v[55] != ' ' && v[55] != '\t')
		return 0;
	__u8 any_t = 0, any_p = 0;
#pragma unroll
	for (int i = 0; i < 16; i++) {
		int hi = hex_val(v[3 + 2 * i]), lo = hex_val(v[4 + 2 * i]);
		if (hi < 0 || lo < 0)
			return 0;
		c->trace_id[i] = hi << 4 | lo;
		any_t |= c->trace_id[i];
	}
#pragma unroll
	for (int i = 0; i < 8; i++) {
		int hi = hex_val(v[36 + 2 * i]), lo = hex_val(v[37 + 2 * i]);
		if (hi < 0 || lo < 0)
			return 0;
		c->parent_id[i] = hi << 4 | lo;
		any_p |= c->parent_id[i];
	}
	int hi = hex_val(v[53]), lo = hex_val(v[54]);
	if (hi < 0 || lo < 0 || !any_t || !any_p)
		return 0;
	c->flags = hi << 4 | lo;
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

/* prop_data: see the top of this file. e holds the transfer's first
 * e->payload_len bytes. A global function: verified once, on its own, and
 * its stack is not added to data()'s. */
__attribute__((noinline)) int prop_data(struct event *e, struct conn_info *ci, __u32 tgid, __u32 fd, __u32 type)
{
	if (!e || !ci)
		return 0;
	__u64 id = current_pid_tgid(); /* as sk_msg keys injected */
	__u32 len = e->payload_len;
	if (type == EVENT_DATA_OUT) {
		struct tp_ctx *in = bpf_map_lookup_elem(&injected, &id);
		if (in) {
			/* the ports tell a leftover (a send that failed after
			 * sk_msg ran) from this write's own */
			if (in->sport == ci->sport && in->dport == ci->dport)
				prop_emit(TP_ROLE_CLIENT, tgid, fd, ci->sk, in);
			bpf_map_delete_elem(&injected, &id);
			return 0;
		}
		if (len >= 5 && e->payload[0] == 'H' && e->payload[1] == 'T' && e->payload[2] == 'T' &&
		    e->payload[3] == 'P' && e->payload[4] == '/')
			bpf_map_delete_elem(&thread_ctx, &id);
		return 0;
	}
	if (ci->h2)
		return 0;
	int end = tp_request_end(e, len);
	if (end <= 0)
		return 0;
	struct tp_ctx c = {};
	int at = tp_find(e, end, len);
	if (at <= 0 || !tp_parse(e, at, len, &c)) {
		__builtin_memset(&c, 0, sizeof(c));
		new_trace_id(c.trace_id);
		c.flags = 1;
	}
	new_span_id(c.span_id);
	prop_emit(TP_ROLE_SERVER, tgid, fd, ci->sk, &c);
	/* what the thread's outgoing requests descend from: this span */
	bpf_map_update_elem(&thread_ctx, &id, &c, BPF_ANY);
	return 0;
}

#endif
