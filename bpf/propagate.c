// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ebpfred trace-context injection (context_propagation: headers).
 *
 * A cgroup sock_ops program puts the TCP connections that tracked processes
 * open into a sockhash; an sk_msg program on that sockhash sees every message
 * those processes send on them, in the sending thread, before TCP. When a
 * message starts with a whole HTTP/1 request line and its head (as far as
 * this message holds it) has no traceparent, it inserts one right after the
 * request line. The application's write still returns the length it passed;
 * the peer receives the longer request.
 *
 * Only connections a tracked process *connects* are added: TCP_CONNECT_CB
 * (or, on older kernels, the cgroup connect hooks) runs in the connecting
 * thread, so the pid check is exact there, whereas ACTIVE_ESTABLISHED_CB runs
 * when the SYN-ACK arrives, in whatever context received it. Everyone else's connections never enter the sockhash and keep
 * the kernel's plain TCP send path; they only pay the sock_ops calls at setup.
 * Accepted connections are never added: servers write responses there.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

/* tracked_pids and the propagation maps: the core object's (maps.h) */
#include "maps.h"
#include "propagate_scan.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* socket cookie → 1, between a tracked process's connect() and the
 * connection's establishment. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} prop_connecting SEC(".maps");

/* The connections whose messages sk_msg sees, by socket cookie. A closed
 * socket leaves the map by itself. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} prop_socks SEC(".maps");

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1

/* connecting: a tracked process is opening this connection (the caller
 * runs in its thread): remember the socket until it is established. */
static __always_inline void connecting(__u64 cookie)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return;
	__u8 one = 1;
	bpf_map_update_elem(&prop_connecting, &cookie, &one, BPF_ANY);
}

/* established: a connection is up; if a tracked process opened it, its
 * messages go through sk_msg from now on. */
static __always_inline void established(struct bpf_sock_ops *skops)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	if (!bpf_map_lookup_elem(&prop_connecting, &cookie))
		return;
	bpf_map_delete_elem(&prop_connecting, &cookie);
	bpf_sock_hash_update(skops, &prop_socks, &cookie, BPF_NOEXIST);
}

/* Where sock_ops programs may ask for the current process (recent
 * kernels), one program does both halves. */
SEC("sockops")
int ebpfred_sockops(struct bpf_sock_ops *skops)
{
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 1;
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		connecting(bpf_get_socket_cookie(skops));
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		established(skops);
		break;
	}
	return 1;
}

/* Elsewhere (Linux 6.1 among them, whose sock_ops programs have no pid
 * helper) the connecting process is recognised by cgroup connect hooks,
 * which run in the thread that calls connect() and have had the pid helpers
 * since Linux 6.0, and sock_ops only does the second half. The loader
 * chooses (internal/probes/propagate.go). */
SEC("cgroup/connect4")
int ebpfred_connect4(struct bpf_sock_addr *ctx)
{
	if (ctx->type == SOCK_STREAM)
		connecting(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("cgroup/connect6")
int ebpfred_connect6(struct bpf_sock_addr *ctx)
{
	if (ctx->type == SOCK_STREAM)
		connecting(bpf_get_socket_cookie(ctx));
	return 1;
}

SEC("sockops")
int ebpfred_sockops_established(struct bpf_sock_ops *skops)
{
	if ((skops->family == AF_INET || skops->family == AF_INET6) &&
	    skops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		established(skops);
	return 1;
}

/* request_line_end returns the offset just after the request line that msg
 * starts with (a method, a target, " HTTP/1.x\r\n", within SCAN_MAX
 * bytes), or 0 when msg does not start with a whole one. */
__attribute__((noinline)) int request_line_end(struct sk_msg_md *msg)
{
	if (!msg)
		return 0;
	__u8 *p = msg->data;
	if ((void *)(p + 16) > msg->data_end || !method_len(p))
		return 0;
	/* the shortest line, "GET / HTTP/1.1\r\n", has its LF at 15 */
	for (__u32 i = 15; i < SCAN_MAX; i++) {
		if ((void *)(p + i + 1) > msg->data_end)
			return 0;
		if (p[i] != '\n')
			continue;
		return is_http1_eol(p + i - 9) ? i + 1 : 0;
	}
	return 0;
}

/* has_traceparent says whether the header lines from offset from (just
 * after the request line) to the end of the head, or of the bytes at hand
 * within SCAN_MAX, include a traceparent. */
__attribute__((noinline)) int has_traceparent(struct sk_msg_md *msg, __u32 from)
{
	if (!msg || from < 16 || from >= SCAN_MAX)
		return 0;
	__u8 *p = msg->data;
	/* every header line starts after a LF, the request line's included */
	for (__u32 j = 0; j < SCAN_MAX; j++) {
		__u64 at = (__u64)from - 1 + j;
		/* a bound the verifier sees (at < 2 * SCAN_MAX already) */
		asm volatile("%0 &= 2047" : "+r"(at));
		__u8 *q = p + at;
		if ((void *)(q + 13) > msg->data_end)
			return 0;
		if (q[0] != '\n')
			continue;
		if (q[1] == '\r')
			return 0; /* the empty line: the head ends */
		if (is_tp_name(q + 1))
			return 1;
	}
	return 0;
}

/* Messages up to this size are sent as one linear buffer after injection. */
#define LINEAR_MAX 4096

static __always_inline __u8 hex_digit(__u8 v)
{
	v &= 0xf;
	return v < 10 ? '0' + v : 'a' + v - 10;
}

/* go_server_ctx: the server span that the Go goroutine writing now works
 * for (feature go_context, gocontext.c), read the way capture.h go_link
 * reads it, without taking anything: R14 at the system call is the
 * goroutine; a net/http client connection's writer goroutine works for the
 * request its caller handed over (go_pc), a connection's goroutine for its
 * own connection (go_srv), a goroutine one started for what it inherited
 * (go_ctxs, unless it linked a request already). The connection's current
 * server span is sock_ctx's. NULL when any link is missing: the request
 * then starts a trace of its own, never one guessed. */
static __always_inline struct tp_ctx *go_server_ctx(__u32 tgid)
{
	__u64 *off = bpf_map_lookup_elem(&regs_off, (const void *)&zero_key);
	if (!off || !*off)
		return NULL;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 stack = (__u64)BPF_CORE_READ(task, stack);
	__u64 g = 0;
	if (!stack ||
	    bpf_probe_read_kernel(&g, sizeof(g), (void *)(stack + *off + __builtin_offsetof(struct user_regs, r14))) != 0 ||
	    !g)
		return NULL;
	struct go_route_key k = {.tgid = tgid, .g = g};
	__u64 sk = 0;
	__u64 *pc = bpf_map_lookup_elem(&go_wl, &k);
	if (pc) {
		struct go_route_key pk = {.tgid = tgid, .g = *pc};
		struct go_ctx *c = bpf_map_lookup_elem(&go_pc, &pk);
		if (c)
			sk = c->sk;
	} else {
		__u64 *s = bpf_map_lookup_elem(&go_srv, &k);
		if (s) {
			sk = *s;
		} else {
			struct go_ctx *c = bpf_map_lookup_elem(&go_ctxs, &k);
			if (c && !c->used)
				sk = c->sk;
		}
	}
	if (!sk)
		return NULL;
	return bpf_map_lookup_elem(&sock_ctx, &sk);
}

SEC("sk_msg")
int ebpfred_sk_msg(struct sk_msg_md *msg)
{
	__u64 id = current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return SK_PASS;
	__u32 size = msg->size;
	if (size < 16)
		return SK_PASS;
	/* the scans read msg->data: make the start linear (free when the
	 * first scatterlist entry already holds it, as it usually does) */
	__u32 want = size < SCAN_MAX ? size : SCAN_MAX;
	if (bpf_msg_pull_data(msg, 0, want, 0) != 0)
		return SK_PASS;
	__u32 at = request_line_end(msg);
	if (at < 16 || at >= SCAN_MAX || has_traceparent(msg, at))
		return SK_PASS;

	struct tp_ctx c = {};
	struct tp_ctx *srv = NULL;
	if (!bpf_map_lookup_elem(&prop_nolink, &tgid))
		srv = bpf_map_lookup_elem(&thread_ctx, &id);
	else if (go_context)
		srv = go_server_ctx(tgid);
	if (srv) {
		/* a child of the server span this thread is answering */
		__builtin_memcpy(c.trace_id, srv->trace_id, 16);
		__builtin_memcpy(c.parent_id, srv->span_id, 8);
		c.flags = srv->flags;
	} else {
		new_trace_id(c.trace_id);
		c.flags = 1;
	}
	new_span_id(c.span_id);
	c.sport = msg->local_port;
	/* remote_port is the network-order port, in the upper half of the
	 * field on kernels that shift it there (as sock_ops does) */
	__u32 rp = msg->remote_port;
	c.dport = bpf_ntohs(rp > 0xffff ? rp >> 16 : rp);

	if (bpf_msg_push_data(msg, at, TP_LINE_LEN, 0) != 0)
		return SK_PASS;
	/* The message is now three scatterlist entries (before, the new
	 * bytes, after), and TCP sends each entry on its own: measured, two
	 * to three segments per request instead of one. A message that fits
	 * a page is made one linear entry again (one copy of a request head),
	 * a larger one keeps its entries and only the new bytes are mapped. */
	__u32 total = size + TP_LINE_LEN;
	__u32 from = at;
	if (total <= LINEAR_MAX)
		from = 0;
	if (bpf_msg_pull_data(msg, from, from ? at + TP_LINE_LEN : total, 0) != 0) {
		bpf_msg_pop_data(msg, at, TP_LINE_LEN, 0);
		return SK_PASS;
	}
	__u64 off = at - from;
	asm volatile("%0 &= 2047" : "+r"(off)); /* at < SCAN_MAX */
	__u8 *d = (__u8 *)msg->data + off;
	if ((void *)(d + TP_LINE_LEN) > msg->data_end) {
		bpf_msg_pop_data(msg, at, TP_LINE_LEN, 0);
		return SK_PASS;
	}
	__builtin_memcpy(d, "traceparent: 00-", 16);
	d += 16;
#pragma unroll
	for (int i = 0; i < 16; i++) {
		d[2 * i] = hex_digit(c.trace_id[i] >> 4);
		d[2 * i + 1] = hex_digit(c.trace_id[i]);
	}
	d[32] = '-';
	d += 33;
#pragma unroll
	for (int i = 0; i < 8; i++) {
		d[2 * i] = hex_digit(c.span_id[i] >> 4);
		d[2 * i + 1] = hex_digit(c.span_id[i]);
	}
	d[16] = '-';
	d[17] = hex_digit(c.flags >> 4);
	d[18] = hex_digit(c.flags);
	d[19] = '\r';
	d[20] = '\n';
	bpf_map_update_elem(&injected, &id, &c, BPF_ANY);
	return SK_PASS;
}
