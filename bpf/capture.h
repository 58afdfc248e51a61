/* The data path: from "this thread moved n bytes on fd" to at most one ring
 * record. Shared by the syscall capture (core.c) and the TLS plaintext
 * probes (tls.c), which fill the per-CPU work.x and call report_xfer().
 *
 * The order of checks is the order of cost: the per-(tgid, fd) connection
 * cache (the fd's socket is resolved through the task's fd table once, which
 * also covers connections opened before we were loaded) → an 8-byte peek to
 * decide whether an HTTP message may start here → bounded payload copy. */
#ifndef EBPFRED_CAPTURE_H
#define EBPFRED_CAPTURE_H

#include "maps.h"

#define MSG_PEEK 2
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define MAX_IOV 64 /* iovecs walked per call (gRPC C core: a dozen or more) */

#define PEEK 16
/* transfers up to this size are copied whole */
#define SMALL 256

/* sock_info fills ci (zeroed by the caller) with what the socket sk is:
 * 0 when it is not a TCP socket of an inet family (a Unix or UDP socket
 * goes through the same send/receive paths). */
static __always_inline int sock_info(struct sock *sk, struct conn_info *ci)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP || BPF_CORE_READ(sk, sk_type) != SOCK_STREAM)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		__be32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(ci->saddr, &s, 4);
		__builtin_memcpy(ci->daddr, &d, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&ci->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&ci->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		return 0;
	}
	ci->family = family;
	ci->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ci->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	ci->sk = (__u64)sk;
	return 1;
}

/* fd_sock returns the socket behind the current task's fd, read through
 * its fd table (so it works for sockets opened before the probes were
 * loaded), or 0 when the fd is not a socket. */
static __always_inline __u64 fd_sock(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return 0;
	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return 0;
	unsigned short mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *so = BPF_CORE_READ(f, private_data);
	if (!so)
		return 0;
	return (__u64)BPF_CORE_READ(so, sk);
}

/* lookup_conn returns the connection of socket sk, set up on first sight
 * (often mid-connection: opened before we started); NULL when sk is not a
 * TCP socket. */
static __always_inline struct conn_info *lookup_conn(struct work *w, __u64 sk, __u32 tgid, __u32 fd)
{
	struct conn_info *ci = bpf_map_lookup_elem(&conns, &sk);
	if (ci)
		return ci;
	struct conn_info *fresh = &w->conn;
	__builtin_memset(fresh, 0, sizeof(*fresh));
	if (!sock_info((struct sock *)sk, fresh))
		return NULL;
	/* copy the first transfer each way so user space can tell the protocol */
	fresh->copy_next = 3;
	fresh->tgid = tgid;
	fresh->fd = fd;
	bpf_map_update_elem(&conns, &sk, fresh, BPF_NOEXIST);
	count(COUNTER_CONNS_RESOLVED);
	return bpf_map_lookup_elem(&conns, &sk);
}

/* is_tls_record: a TLS record header, handshake (0x16) or application
 * data (0x17), version 0x03 0x00-0x04. */
static __always_inline int is_tls_record(const __u8 *p)
{
	return (p[0] == 0x16 || p[0] == 0x17) && p[1] == 0x03 && p[2] <= 0x04;
}

/* send_tuple writes the connection's endpoints to the ring once, before
 * its first data event; a drop is retried with the next event. */
static __always_inline void send_tuple(__u32 tgid, __u32 fd, struct conn_info *ci)
{
	if (ci->tuple_sent)
		return;
	struct conn_event *c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);
	if (!c) {
		count(COUNTER_DROPPED);
		return;
	}
	__builtin_memset(c, 0, sizeof(*c));
	c->ts = bpf_ktime_get_ns();
	c->sk = ci->sk;
	c->tgid = tgid;
	c->fd = fd;
	c->type = EVENT_CONN;
	c->family = ci->family;
	c->sport = ci->sport;
	c->dport = ci->dport;
	__builtin_memcpy(c->saddr, ci->saddr, 16);
	__builtin_memcpy(c->daddr, ci->daddr, 16);
	bpf_ringbuf_submit(c, wakeup_flag());
	ci->tuple_sent = 1;
}

/* send_route: the first response write of a goroutine whose router matched
 * a route (goroutes.c) carries that route, in an EVENT_ROUTE just before it. */
static __always_inline void send_route(__u32 tgid, __u32 fd, __u64 sk, __u64 g)
{
	struct go_route_key k = {.tgid = tgid, .g = g};
	struct go_route *r = bpf_map_lookup_elem(&go_routes, &k);
	if (!r)
		return;
	__u32 n = r->len;
	if (n > ROUTE_MAX)
		n = ROUTE_MAX;
	struct route_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_DROPPED);
		bpf_map_delete_elem(&go_routes, &k);
		return;
	}
	e->ts = bpf_ktime_get_ns();
	e->sk = sk;
	e->tgid = tgid;
	e->fd = fd;
	e->len = n;
	e->payload_len = n;
	e->type = EVENT_ROUTE;
	e->tail_len = 0;
	__builtin_memset(e->tail, 0, 8);
	__builtin_memcpy(e->route, r->buf, ROUTE_MAX);
	bpf_map_delete_elem(&go_routes, &k);
	bpf_ringbuf_submit(e, wakeup_flag());
}

static __always_inline void read_tail(struct event *e, __u64 buf, __u64 n)
{
	/* the last min(n, 8) bytes of buf[0:n] */
	__u64 off = n > 8 ? n - 8 : 0;
	__u32 tl = n - off;
	if (tl > 8)
		tl = 8;
	if (tl && bpf_probe_read_user(e->tail, tl, (const void *)(buf + off)) == 0)
		e->tail_len = tl;
}

static __always_inline int iov_at(const struct xfer *x, __u32 i, struct ebpfred_iovec *v)
{
	if (!x->vectored) {
		v->iov_base = (void *)x->ptr;
		v->iov_len = x->n;
		return i == 0 && x->ptr ? 0 : -1;
	}
	if (i >= x->iovcnt)
		return -1;
	return bpf_probe_read_user(v, sizeof(*v), (const struct ebpfred_iovec *)x->ptr + i);
}

/* copy_chunk copies len bytes of user memory at src to the CPU's event
 * payload at off, within limit, and returns how many it copied (-1 on a
 * fault). A global function: the verifier checks it once, on its own, and
 * its result is an imprecise scalar to its callers, so their loop states
 * converge. */
__attribute__((noinline)) int copy_chunk(__u32 off, __u64 src, __u64 len, __u32 limit)
{
	struct work *w = get_work();
	if (!w || limit > MAX_PAYLOAD || off >= limit)
		return 0;
	__u32 c = len > limit - off ? limit - off : len;
	__u32 o = off;
	/* keep the masks: the compiler would drop them, but the verifier
	 * cannot prove the bounds without them */
	asm volatile("" : "+r"(o));
	o &= MAX_PAYLOAD - 1;
	asm volatile("" : "+r"(c));
	if (c > MAX_PAYLOAD)
		c = MAX_PAYLOAD;
	if (bpf_probe_read_user(w->e.payload + o, c, (const void *)src) != 0)
		return -1;
	return c;
}

/* walk_iov accounts for iovec i (v) of the transfer, copying what the
 * limit allows; 1 ends the walk. */
static __always_inline int walk_iov(struct work *w, const struct ebpfred_iovec *v)
{
	struct walk *wk = &w->w;
	__u64 n = w->x.n;
	__u64 seen = wk->seen;
	if (seen >= n)
		return 1;
	__u64 here = v->iov_len;
	if (here > n - seen)
		here = n - seen;
	wk->seen = seen + here;
	wk->last = (__u64)v->iov_base;
	wk->last_len = here;
	__u32 off = wk->off;
	if (!wk->copy || off >= wk->limit || here == 0)
		return 0;
	int c = copy_chunk(off, (__u64)v->iov_base, here, wk->limit);
	if (c < 0)
		return 1;
	wk->off = off + c;
	return 0;
}

/* tls_syscall: a socket transfer on a TLS connection. When the thread (or
 * goroutine) is inside a probed TLS call, remember which socket the call
 * uses. The ciphertext itself is never sent. */
static __always_inline void tls_syscall(__u32 tgid, __u32 tid, __u32 fd, __u64 sk, __u64 g, __u8 type)
{
	struct tls_key k = {.tgid = tgid, .kind = TLS_KEY_THREAD, .id = tid};
	struct tls_call *c = bpf_map_lookup_elem(&tls_calls, &k);
	if (!c && g) {
		k.kind = TLS_KEY_GOROUTINE;
		k.id = g;
		c = bpf_map_lookup_elem(&tls_calls, &k);
	}
	struct tls_sock ts = {.sk = sk, .fd = fd};
	if (!c) {
		if (type == EVENT_DATA_IN) {
			k.kind = TLS_KEY_LAST_READ;
			k.id = tid;
			bpf_map_update_elem(&tls_socks, &k, &ts, BPF_ANY);
		}
		return;
	}
	c->fd = fd;
	c->sk = sk;
	/* A write's plaintext is reported when the call returns (or when a
	 * Read on its connection flushes it, tls_wpending); the thread or
	 * goroutine can be descheduled before that while the peer answers.
	 * It is dated like a socket write: when its bytes went out. */
	if (c->type == EVENT_DATA_OUT && type == EVENT_DATA_OUT)
		c->ts = bpf_ktime_get_ns();
	struct tls_key h = {.tgid = tgid, .kind = TLS_KEY_HANDLE, .id = c->handle};
	bpf_map_update_elem(&tls_socks, &h, &ts, BPF_ANY);
	if (k.kind == TLS_KEY_GOROUTINE && c->type == EVENT_DATA_OUT && type == EVENT_DATA_OUT)
		bpf_map_update_elem(&tls_wpending, &h, &k, BPF_ANY);
}

/* go_link (feature go_context, gocontext.c): a Go program's transfer in
 * this CPU's work.x. A read by a connection's goroutine notes the socket it
 * serves. Before a write that may start a client request, when the writing
 * goroutine works for a server request of the same process, it sends which
 * server socket that is (struct go_link_event), so that user space makes
 * the client span that request's child. net/http's HTTP/1 client writes
 * from the connection's writeLoop goroutine: the context is the one its
 * caller handed over in roundTrip (go_pc), taken by the first write.
 * Otherwise it is the writer's own: a connection's goroutine itself (an
 * HTTP/1 handler), or one it started (go_ctxs: for its first request only,
 * see struct go_ctx). The event names the transfer by its data event's time
 * and its length: HTTP/2's frame walk may report one transfer as several
 * events, and the ids are for the request that starts anywhere in it. A
 * global function: the capture programs are verified without it; its keys
 * live in the per-CPU work area. */
__attribute__((noinline)) int go_link(__u32 start)
{
	/* no stack at all: the capture programs have none to spare */
	struct work *w = bpf_map_lookup_elem(&percpu_work, (const void *)&zero_key);
	if (!w)
		return 0;
	struct xfer *x = &w->x;
	struct go_ctx *to = &w->gctx;
	w->gk.tgid = x->tgid;
	w->gk.pad = 0;
	w->gk.g = x->g;
	if (x->type == EVENT_DATA_IN) {
		__u64 *s = bpf_map_lookup_elem(&go_srv, &w->gk);
		if (s && *s != x->sk)
			*s = x->sk;
		return 0;
	}
	__u64 *pc = bpf_map_lookup_elem(&go_wl, &w->gk);
	if (pc) {
		w->pk.tgid = x->tgid;
		w->pk.pad = 0;
		w->pk.g = *pc;
		struct go_ctx *c = bpf_map_lookup_elem(&go_pc, &w->pk);
		if (!c)
			return 0;
		*to = *c;
		bpf_map_delete_elem(&go_pc, &w->pk);
	} else {
		if (!start)
			return 0;
		__u64 *s = bpf_map_lookup_elem(&go_srv, &w->gk);
		if (s) {
			to->sk = *s; /* its own response when it is x->sk */
			to->since = bpf_ktime_get_ns();
		} else {
			struct go_ctx *c = bpf_map_lookup_elem(&go_ctxs, &w->gk);
			if (!c || c->used)
				return 0;
			c->used = 1;
			*to = *c;
		}
	}
	if (!to->sk || to->sk == x->sk)
		return 0;
	struct go_link_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		/* COUNTER_DROPPED, with no key on the stack */
		__u64 *v = bpf_map_lookup_elem(&counters, (const void *)&zero_key);
		if (v)
			*v += 1;
		return 0;
	}
	/* the transfer it is about: its data event's time, and its length
	 * (an HTTP/2 transfer can reach user space as several events) */
	e->ts = w->e.ts;
	e->sk = x->sk;
	e->tgid = x->tgid;
	e->fd = x->fd;
	e->len = x->n;
	e->payload_len = 0;
	e->type = EVENT_GO_LINK;
	e->tail_len = 0;
	__builtin_memset(e->tail, 0, 8);
	e->parent_sk = to->sk;
	e->since = to->since;
	bpf_ringbuf_submit(e, wakeup_flag());
	return 0;
}

/* propagation: trace ids for context_propagation: headers */
#include "propagate_data.h"

/* conn_for_tls: the connection TLS plaintext is reported under: the socket
 * a syscall inside the call (or an earlier one on the handle) used. Its
 * entry is gone when the socket has closed meanwhile (TCP_CLOSE); the
 * plaintext still belongs to it: the peer may have read the response, hung
 * up, and another goroutine closed the connection before this Write got
 * back to its RET (h2load, Go HTTP/2 over TLS: 1 to 17 responses lost per
 * ten connections). It goes out under that socket, without an entry; user
 * space keeps a closed connection a moment for such late events. */
static __always_inline struct conn_info *conn_for_tls(struct work *w, __u64 sk)
{
	struct conn_info *ci = bpf_map_lookup_elem(&conns, &sk);
	if (ci)
		return ci;
	ci = &w->conn;
	__builtin_memset(ci, 0, sizeof(*ci));
	ci->sk = sk;
	ci->tuple_sent = 1; /* no endpoints to send: not in the cache */
	ci->h2 = 1;         /* copy up to MAX_PAYLOAD: it may be */
	return ci;
}

/* the protocols' copy rules: may_start(), is_preface(), and HTTP/2's
 * frame walk (h2_report); after the helpers above, which they use */
#include "protocols/all.h"

/* report_xfer reports the transfer in this CPU's work.x: one data event
 * (after the connection's endpoints and a Go route, when due), or, on a
 * TLS socket, only the note of which socket a TLS call uses. A global
 * function: verified once per program, whatever calls it. */
__attribute__((noinline)) int report_xfer(void)
{
	struct work *w = get_work();
	if (!w)
		return 0;
	struct xfer *x = &w->x;
	__u32 tgid = x->tgid, fd = x->fd;
	__u8 type = x->type, tls = x->tls;
	__u64 sk = x->sk;
	if (!sk) {
		if (tls)
			count(COUNTER_TLS_NO_FD);
		return 0;
	}
	struct conn_info *ci = tls ? conn_for_tls(w, sk) : lookup_conn(w, sk, tgid, fd);
	if (!ci)
		return 0;
	struct ebpfred_iovec v = {};
	int have_v = iov_at(x, 0, &v) == 0;
	if (tls) {
		ci->tls = 1;
		ci->sniffed = 1;
	} else {
		if (!ci->sniffed && have_v) {
			__u8 hd[8] = {};
			__u64 n = x->n;
			int got = n >= 8 ? v.iov_len >= 8 && bpf_probe_read_user(hd, 8, v.iov_base) == 0
					 : n >= 1 && v.iov_len >= n && bpf_probe_read_user(hd, n & 7, v.iov_base) == 0;
			if (got) {
				if (n >= 3 && is_tls_record(hd))
					ci->tls = 1;
				/* A protocol that asks for TLS in the clear (PostgreSQL's
				 * SSLRequest and its one-byte answer): the TLS records come
				 * after, so the next transfer is looked at too. */
				ci->sniffed = !tls_may_follow(hd, x->n);
			} else {
				ci->sniffed = 1;
			}
		}
		if (ci->tls) {
			if (have_v) /* not sendfile */
				tls_syscall(tgid, x->tid, fd, sk, x->g, type);
			/* The endpoints go out with the first transfer (the
			 * handshake), not the first plaintext: a Write's plaintext
			 * is reported when it returns, which can be after the
			 * peer, on this node, answered it; the peer's record must
			 * know by then which process holds this end. */
			send_tuple(tgid, fd, ci);
			/* Go: a connection's goroutine reading ciphertext (the
			 * handshake) names its socket: an HTTP/2 server's
			 * goroutine reads nothing else itself. */
			if (go_context && x->g && type == EVENT_DATA_IN)
				go_link(0);
			return 0;
		}
	}
	send_tuple(tgid, fd, ci);
	if (type == EVENT_DATA_OUT && x->g)
		send_route(tgid, fd, sk, x->g);
	struct event *e = new_event(w, tls ? type | EVENT_FLAG_TLS : type, tgid, fd);
	if (x->ts) /* a TLS write: when its socket write returned */
		e->ts = x->ts;
	e->sk = sk;
	__u64 n = x->n;
	e->len = n;
	if (!have_v) {
		submit(w, EVENT_HDR_SIZE);
		return 0;
	}
	if (ci->h2) {
		/* HTTP/2: every transfer is walked for its frames; any write
		 * may start a request */
		if (go_context && x->g)
			go_link(1);
		h2_report(n, ci == &w->conn);
		return 0;
	}
	/* Small transfers (a typical request or response head) are copied
	 * whole: one read of user memory instead of a peek, a copy and a tail
	 * read. Larger ones are copied only where a message may start. */
	__u8 bit = type == EVENT_DATA_OUT ? 2 : 1;
	int copy, start = 0;
	if (n <= SMALL || (ci->copy_next & bit)) {
		copy = 1;
	} else {
		__u8 peek[PEEK] = {};
		start = v.iov_len >= PEEK && bpf_probe_read_user(peek, PEEK, v.iov_base) == 0 && may_start(peek);
		copy = start;
		if (start && is_preface(peek))
			ci->h2 = 1;
	}
	struct walk *wk = &w->w;
	wk->seen = 0;
	wk->last = 0;
	wk->last_len = 0;
	wk->off = 0;
	wk->limit = ci->h2 ? MAX_PAYLOAD : H1_COPY;
	wk->copy = copy;
	/* A plain bounded loop: the copy itself is a global function, so the
	 * offsets stay imprecise and the verifier's loop states converge.
	 * (bpf_loop with the same body trips a verifier bug on 6.18, and does
	 * not exist before 5.17.) */
	if (!walk_iov(w, &v)) {
		for (__u32 i = 1; i < MAX_IOV; i++) {
			if (iov_at(x, i, &v) != 0 || walk_iov(w, &v))
				break;
		}
	}
	__u32 off = wk->off;
	/* HTTP/2's client preface, which frames follow, in a copied transfer
	 * of any size (Go's h2c server reads its first line alone, 14 bytes;
	 * a grpcio client writes it with its SETTINGS and the first requests
	 * of every waiting call, hundreds of bytes, in one transfer), or the
	 * server's first SETTINGS frame: the client's preface may have gone by
	 * unseen (a TLS client that wrote it before the kernel knew its
	 * socket), and then this is the first sign. The transfer is walked for
	 * its frames like every later one. */
	if (off >= 12 && (is_preface(e->payload) || is_server_preface(e->payload, off))) {
		ci->h2 = 1;
		if (go_context && x->g)
			go_link(1);
		h2_report(n, ci == &w->conn);
		return 0;
	}
	if (off < n && wk->seen >= n && wk->last)
		read_tail(e, wk->last, wk->last_len);
	if (n <= SMALL && !start && off >= PEEK)
		start = may_start(e->payload);
	if (n < PEEK || start)
		ci->copy_next |= bit;
	else
		ci->copy_next &= ~bit;
	e->payload_len = off > MAX_PAYLOAD ? MAX_PAYLOAD : off;
	if (go_context && x->g) /* before the data event it is about */
		go_link(start | ci->h2);
	if (propagation) /* see propagate_data.h */
		prop_data((__u64)tgid << 32 | fd, type | (__u32)ci->h2 << 8, sk,
			  (__u32)ci->sport | (__u32)ci->dport << 16);
	submit(w, EVENT_HDR_SIZE + e->payload_len);
	return 0;
}

#endif
