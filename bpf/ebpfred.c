// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ebpfred kernel side.
 *
 * Our kernels have neither kprobes nor fentry, so socket I/O is captured from
 * the syscall *exit* only: one raw tracepoint on sys_exit sees the return
 * value, and the syscall's arguments are still in the saved user registers.
 * One hit per syscall instead of an enter+exit pair halves the cost that every
 * selected process pays per read/write (see shared/KERNEL.md and BENCHMARKS.md).
 *
 * The order of checks is the order of cost: pid map → syscall number →
 * per-(tgid,fd) connection cache (the fd's socket is resolved through the
 * task's fd table once, which also covers connections opened before we were
 * loaded) → an 8-byte peek to decide whether an HTTP message may start here →
 * bounded payload copy. One ring-buffer record per socket call at most.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "kernel_types.h"
#include "ebpfred.h"
#include "pidns.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load. */
volatile const __u32 self_tgid = 0; /* in the collector's PID namespace */
/* When set, every newly exec'd process is tracked provisionally
 * (TRACK_PENDING) until user space has matched its executable. */
volatile const __u8 track_execs = 0;
/* Wake the reader only when this many bytes are waiting; it polls otherwise. */
volatile const __u64 wakeup_bytes = 256 * 1024;

/* A tracked process. gen is new for every process that gets a tgid: cached
 * connections carry the gen they were resolved under, so a process's
 * entries never outlive it in effect (another process with the same tgid
 * re-resolves its fds) and nobody has to walk the cache when it exits. */
struct track {
	__u32 flags; /* TRACK_* */
	__u32 gen;   /* never 0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, struct track);
} tracked_pids SEC(".maps");

struct conn_key {
	__u32 tgid;
	__u32 fd;
};

struct conn_info {
	__u64 sk;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 is_tcp;
	/* bit 0 for reads, bit 1 for writes: copy the next transfer in that
	 * direction whatever its first bytes. Set after a transfer shorter than
	 * the peek (Go's net/http reads a request's first byte alone, so the
	 * rest of the request line comes next) and after a message start (its
	 * header block may continue in the next transfer). */
	__u8 copy_next;
	__u8 tuple_sent; /* its conn_event reached the ring */
	/* HTTP/2: set when the connection preface goes by (prior knowledge or
	 * after an h2c upgrade), or by user space when it recognises frames on
	 * a connection that was open before we started. */
	__u8 h2;
	__u8 sniffed; /* its first transfer was looked at for a TLS record */
	/* TLS: the socket carries TLS records (its first transfer began with a
	 * record header, or a TLS probe produced plaintext for it). Its socket
	 * bytes are ciphertext and never sent; the plaintext comes from the
	 * uprobes on SSL_read/SSL_write or Go's crypto/tls. */
	__u8 tls;
	__u32 gen; /* the tracked process's gen when this was resolved */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_info);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* overridden by the loader */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

/* Stands in for the cache entry of a TLS connection closed between the
 * socket I/O of a TLS call and its return (see data()). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct conn_info);
} orphan SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* TLS: one entry per TLS read/write call in flight, keyed by the thread
 * (OpenSSL: kind TLS_KEY_THREAD, id = thread id) or by the goroutine (Go:
 * kind TLS_KEY_GOROUTINE, id = the g pointer in R14, since a goroutine can
 * move between threads inside a call). tls_fds remembers which socket an
 * SSL object or Go *tls.Conn (kind TLS_KEY_HANDLE) was last seen using, for
 * reads served from the library's buffer without a syscall. */
enum tls_key_kind {
	TLS_KEY_HANDLE = 0,
	TLS_KEY_THREAD = 1,
	TLS_KEY_GOROUTINE = 2,
	/* the TLS socket a thread last read ciphertext from outside any TLS
	 * call: libraries fed through a memory BIO (Node.js) read the socket
	 * first, then call SSL_read on the same thread without a syscall. */
	TLS_KEY_LAST_READ = 3,
};

struct tls_key {
	__u32 tgid;
	__u32 kind;
	__u64 id;
};

struct tls_call {
	__u64 handle; /* SSL *, or Go *tls.Conn */
	__u64 buf;    /* the caller's plaintext buffer */
	__u64 lenp;   /* SSL_*_ex: size_t *readbytes / *written */
	__u64 sk;     /* the struct sock behind fd, when fd is set */
	__u32 fd;     /* fd + 1 of the socket the call used, 0 if none yet */
	__u8 type;    /* EVENT_DATA_IN or EVENT_DATA_OUT; 0: a handshake, whose
		       * socket I/O only tells which socket the handle uses */
	__u8 ex;
	__u8 sent; /* Go Write: its plaintext went out early (see flush_write) */
	__u8 pad;
	__u64 len; /* Go Write: the length asked for (Write writes it all or fails) */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tls_key);
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

/* Go: the Write in flight on a *tls.Conn (key kind TLS_KEY_HANDLE) that has
 * already done its socket I/O, by its tls_calls key. The reader and the
 * writer of a Go connection are different goroutines, and a writer can be
 * descheduled between its write(2) and its RET: the peer answers, the
 * reader's Read returns the answer, and its plaintext would reach us before
 * the request that caused it (a client stream answered before it was
 * asked). A Read on the handle sends that Write's plaintext first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tls_key);
	__type(value, struct tls_key);
} tls_wpending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_key);
	__type(value, __u32); /* fd */
} tls_fds SEC(".maps");

/* Go net/http: the pattern (*ServeMux).findHandler returned, per goroutine,
 * until the goroutine's next response write (struct route_event). */
struct go_route_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct go_route {
	__u32 len;
	__u8 buf[ROUTE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_route_key);
	__type(value, struct go_route);
} go_routes SEC(".maps");

/* x86_64 syscall numbers. */
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_readv 19
#define NR_writev 20
#define NR_dup2 33
#define NR_sendfile 40
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_dup3 292

#define MSG_PEEK 2
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define MAX_IOV 64 /* iovecs walked per call (gRPC C core: a dozen or more) */

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									  : BPF_RB_NO_WAKEUP;
}

static __always_inline void submit(struct event *e, __u32 size)
{
	if (size > sizeof(*e))
		return;
	if (bpf_ringbuf_output(&events, e, size, wakeup_flag()) != 0)
		count(COUNTER_DROPPED);
}

/* resolve reads the fd's socket through the current task's fd table. It
 * works for sockets opened before the probes were loaded. */
static __always_inline void resolve(__u32 fd, struct conn_info *ci)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return;
	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return;
	unsigned short mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return;
	struct socket *so = BPF_CORE_READ(f, private_data);
	if (!so)
		return;
	struct sock *sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP || BPF_CORE_READ(sk, sk_type) != SOCK_STREAM)
		return;
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
		return;
	}
	ci->family = family;
	ci->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ci->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	ci->sk = (__u64)sk;
	ci->is_tcp = 1;
}

/* lookup_conn returns the cached connection for (tgid, fd), resolving and
 * caching it (negatively too, for files and pipes) on first sight. */
static __always_inline struct conn_info *lookup_conn(struct conn_key *k, __u32 gen)
{
	struct conn_info *ci = bpf_map_lookup_elem(&conns, k);
	if (ci && ci->gen == gen)
		return ci->is_tcp ? ci : NULL;
	/* First sight (often mid-connection: opened before we started), or an
	 * entry left by an earlier process with this tgid. Copy the first
	 * transfer each way so user space can tell the protocol. */
	struct conn_info fresh = {.copy_next = 3, .gen = gen};
	resolve(k->fd, &fresh);
	bpf_map_update_elem(&conns, k, &fresh, BPF_ANY);
	if (!fresh.is_tcp)
		return NULL;
	count(COUNTER_CONNS_RESOLVED);
	return bpf_map_lookup_elem(&conns, k);
}

#define PEEK 16
/* transfers up to this size are copied whole */
#define SMALL 256

/* may_start says whether these leading bytes can begin an HTTP/1 request
 * line (an upper-case token of 3-15 letters and a space: any method,
 * PROPFIND and MKCALENDAR included, and the HTTP/2 preface "PRI "), or a
 * status line ("HTTP/"). */
static __always_inline int may_start(const __u8 *p)
{
	if (p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && p[4] == '/')
		return 1;
	for (int i = 0; i < PEEK; i++) {
		if (p[i] == ' ')
			return i >= 3;
		if (p[i] < 'A' || p[i] > 'Z')
			return 0;
	}
	return 0;
}

/* is_preface: the HTTP/2 client connection preface, "PRI * HTTP/2.0". */
static __always_inline int is_preface(const __u8 *p)
{
	return p[0] == 'P' && p[1] == 'R' && p[2] == 'I' && p[3] == ' ' && p[4] == '*' && p[5] == ' ' &&
	       p[6] == 'H' && p[7] == 'T' && p[8] == 'T' && p[9] == 'P' && p[10] == '/' && p[11] == '2';
}

static __always_inline struct event *new_event(__u8 type, __u32 tgid, __u32 fd)
{
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return NULL;
	e->ts = bpf_ktime_get_ns();
	e->type = type;
	e->tgid = tgid;
	e->fd = fd;
	e->len = 0;
	e->payload_len = 0;
	e->tail_len = 0;
	return e;
}

/* send_tuple writes the connection's endpoints to the ring once, before
 * its first data event; a drop is retried with the next event. */
static __always_inline void send_tuple(__u32 tgid, __u32 fd, struct conn_info *ci)
{
	if (ci->tuple_sent)
		return;
	struct conn_event c = {
		.ts = bpf_ktime_get_ns(),
		.sk = ci->sk,
		.tgid = tgid,
		.fd = fd,
		.type = EVENT_CONN,
		.family = ci->family,
		.sport = ci->sport,
		.dport = ci->dport,
	};
	__builtin_memcpy(c.saddr, ci->saddr, 16);
	__builtin_memcpy(c.daddr, ci->daddr, 16);
	if (bpf_ringbuf_output(&events, &c, sizeof(c), wakeup_flag()) == 0)
		ci->tuple_sent = 1;
	else
		count(COUNTER_DROPPED);
}

/* send_route: the first response write of a goroutine that matched a
 * ServeMux pattern carries that pattern, in an EVENT_ROUTE just before it. */
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

static __always_inline void read_tail(struct event *e, const __u8 *buf, __u64 n)
{
	/* the last min(n, 8) bytes of buf[0:n] */
	__u64 off = n > 8 ? n - 8 : 0;
	__u32 tl = n - off;
	if (tl > 8)
		tl = 8;
	if (tl && bpf_probe_read_user(e->tail, tl, buf + off) == 0)
		e->tail_len = tl;
}

/* One socket transfer of n bytes: either a plain buffer (read, write,
 * recvfrom, sendto) or an iovec array (readv, writev, recvmsg, sendmsg) that
 * the n bytes fill in order. Both go through one code path: the verifier
 * then checks it once instead of once per syscall. */
struct xfer {
	__u32 fd;
	__u32 tid;  /* syscalls: the thread, in the collector's PID namespace */
	__u8 type;
	__u8 vectored;
	__u8 tls;   /* the bytes are TLS plaintext from a uprobe */
	__u64 g;    /* syscalls: R14 (a Go program's current goroutine) */
	__u64 sk;   /* TLS: the socket the call's syscalls used, 0 if unknown */
	__u32 gen;  /* the process's struct track gen */
	const void *ptr; /* the buffer, or the iovec array */
	__u64 iovcnt;
	__u64 n;
};

static __always_inline int iov_at(const struct xfer *x, int i, struct ebpfred_iovec *v)
{
	if (!x->vectored) {
		v->iov_base = (void *)x->ptr;
		v->iov_len = x->n;
		return i == 0 ? 0 : -1;
	}
	if (i >= x->iovcnt)
		return -1;
	return bpf_probe_read_user(v, sizeof(*v), (const struct ebpfred_iovec *)x->ptr + i);
}

/* walk is the state of the iovec walk in data(). */
struct walk {
	struct event *e;
	const struct xfer *x;
	__u64 n;    /* bytes the call transferred */
	__u64 seen; /* bytes of n accounted for by the iovecs walked so far */
	__u32 off;  /* payload bytes copied */
	__u32 limit;
	int copy;
	struct ebpfred_iovec first; /* iovec 0, already read */
	const void *last;           /* the iovec holding the transfer's end */
	__u64 last_len;
};

/* copy_chunk copies len bytes of user memory to e's payload at off, within
 * limit, and returns how many it copied (-1 on a fault). A global function:
 * the verifier checks it once, on its own, and its result is an imprecise
 * scalar to its callers, so their loop states converge. */
__attribute__((noinline)) int copy_chunk(struct event *e, __u32 off, __u64 src, __u64 len, __u32 limit)
{
	if (!e || limit > MAX_PAYLOAD || off >= limit)
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
	/* src is a user address, passed as a number: a global function's
	 * pointer arguments must point to sized kernel-side types. */
	if (bpf_probe_read_user(e->payload + o, c, (const void *)src) != 0)
		return -1;
	return c;
}

static __always_inline long walk_iov(__u64 i, void *ctx)
{
	struct walk *w = ctx;
	struct ebpfred_iovec v;
	if (w->seen >= w->n)
		return 1;
	if (i == 0)
		v = w->first;
	else if (iov_at(w->x, i, &v) != 0)
		return 1;
	__u64 here = v.iov_len;
	if (here > w->n - w->seen)
		here = w->n - w->seen;
	w->seen += here;
	w->last = v.iov_base;
	w->last_len = here;
	if (!w->copy || w->off >= w->limit || here == 0)
		return 0;
	int c = copy_chunk(w->e, w->off, (__u64)v.iov_base, here, w->limit);
	if (c < 0)
		return 1;
	w->off += c;
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
	if (!c) {
		if (type == EVENT_DATA_IN) {
			k.kind = TLS_KEY_LAST_READ;
			k.id = tid;
			bpf_map_update_elem(&tls_fds, &k, &fd, BPF_ANY);
		}
		return;
	}
	c->fd = fd + 1;
	c->sk = sk;
	struct tls_key h = {.tgid = tgid, .kind = TLS_KEY_HANDLE, .id = c->handle};
	bpf_map_update_elem(&tls_fds, &h, &fd, BPF_ANY);
	if (k.kind == TLS_KEY_GOROUTINE && c->type == EVENT_DATA_OUT && type == EVENT_DATA_OUT)
		bpf_map_update_elem(&tls_wpending, &h, &k, BPF_ANY);
}

/* is_tls_record: a TLS record header, handshake (0x16) or application
 * data (0x17), version 0x03 0x00-0x04. */
static __always_inline int is_tls_record(const __u8 *p)
{
	return (p[0] == 0x16 || p[0] == 0x17) && p[1] == 0x03 && p[2] <= 0x04;
}

/* propagation: trace ids for context_propagation: headers */
#include "propagate_data.h"

static __always_inline void data(__u32 tgid, const struct xfer *x)
{
	struct conn_key k = {.tgid = tgid, .fd = x->fd};
	struct conn_info *ci;
	if (x->tls) {
		/* TLS plaintext names the fd a syscall of the call (or an
		 * earlier one on the handle) used, so the fd was cached then.
		 * No entry now means it was closed meanwhile, and the fd number
		 * may already be free or name the next connection: never
		 * resolve it here. (Go: when another goroutine closes a
		 * *tls.Conn during a Write, the runtime issues the close(2)
		 * from the writer, between its last write(2) and its RET. A
		 * resolve there cached the free fd as "not a socket", and the
		 * next connection accepted on that fd number was lost whole.)
		 * A sk that differs means the fd number was reused.
		 *
		 * When a syscall inside this very call named the socket (x->sk),
		 * the plaintext still belongs to it: the peer may have read the
		 * response, hung up, and another goroutine closed the connection
		 * before this Write got back to its RET (h2load, Go HTTP/2 over
		 * TLS: 1 to 17 responses lost per ten connections). Send it
		 * under that socket, without touching the cache; user space
		 * keeps a closed connection a moment for such late events. */
		ci = bpf_map_lookup_elem(&conns, &k);
		if (!ci || !ci->is_tcp || ci->gen != x->gen || (x->sk && x->sk != ci->sk)) {
			__u32 zero = 0;
			ci = x->sk ? bpf_map_lookup_elem(&orphan, &zero) : NULL;
			if (!ci) {
				count(COUNTER_TLS_NO_FD);
				return;
			}
			__builtin_memset(ci, 0, sizeof(*ci));
			ci->sk = x->sk;
			ci->is_tcp = 1;
			ci->tuple_sent = 1; /* no endpoints to send: not in the cache */
			ci->h2 = 1;         /* copy up to MAX_PAYLOAD: it may be */
			ci->gen = x->gen;
		}
	} else {
		ci = lookup_conn(&k, x->gen);
		if (!ci)
			return;
	}
	struct ebpfred_iovec v = {};
	int have_v = iov_at(x, 0, &v) == 0;
	if (x->tls) {
		ci->tls = 1;
		ci->sniffed = 1;
	} else {
		if (!ci->sniffed) {
			__u8 hd[3] = {};
			ci->sniffed = 1;
			if (have_v && v.iov_len >= 3 && x->n >= 3 && bpf_probe_read_user(hd, 3, v.iov_base) == 0 &&
			    is_tls_record(hd))
				ci->tls = 1;
		}
		if (ci->tls) {
			tls_syscall(tgid, x->tid, x->fd, ci->sk, x->g, x->type);
			return;
		}
	}
	send_tuple(tgid, x->fd, ci);
	if (x->type == EVENT_DATA_OUT && x->g)
		send_route(tgid, x->fd, ci->sk, x->g);
	struct event *e = new_event(x->type, tgid, x->fd);
	if (!e)
		return;
	if (x->tls)
		e->type |= EVENT_FLAG_TLS;
	e->sk = ci->sk;
	__u64 n = x->n;
	e->len = n;

	if (!have_v) {
		submit(e, EVENT_HDR_SIZE);
		return;
	}
	/* Small transfers (a typical request or response head) are copied
	 * whole: one read of user memory instead of a peek, a copy and a tail
	 * read. Larger ones are copied only where a message may start. */
	__u8 bit = x->type == EVENT_DATA_OUT ? 2 : 1;
	int copy, start = 0;
	if (n <= SMALL || ci->h2 || (ci->copy_next & bit)) {
		copy = 1;
	} else {
		__u8 peek[PEEK] = {};
		start = v.iov_len >= PEEK && bpf_probe_read_user(peek, PEEK, v.iov_base) == 0 && may_start(peek);
		copy = start;
		if (start && is_preface(peek))
			ci->h2 = 1;
	}
	/* After the peek: the transfer that starts with the preface usually
	 * carries the client's first HEADERS frames too (a Go h2c client sends
	 * them in one write), and needs the HTTP/2 limit. */
	__u32 limit = ci->h2 ? MAX_PAYLOAD : H1_COPY;

	struct walk w = {
		.e = e,
		.x = x,
		.n = n,
		.limit = limit,
		.copy = copy,
		.first = v,
	};
	/* A plain bounded loop: the copy itself is a global function, so the
	 * offsets stay imprecise and the verifier's loop states converge.
	 * (bpf_loop with the same body trips a verifier bug on 6.18.) */
	for (int i = 0; i < MAX_IOV; i++)
		if (walk_iov(i, &w))
			break;
	__u32 off = w.off;
	if (off < n && w.seen >= n && w.last)
		read_tail(e, w.last, w.last_len);
	if (n <= SMALL && !start && off >= PEEK)
		start = may_start(e->payload);
	/* Go's h2c server reads the preface's first line alone (14 bytes). */
	if (n <= SMALL && off >= 12 && is_preface(e->payload)) {
		start = 1;
		ci->h2 = 1;
	}
	if (n < PEEK || start)
		ci->copy_next |= bit;
	else
		ci->copy_next &= ~bit;
	e->payload_len = off > MAX_PAYLOAD ? MAX_PAYLOAD : off;
	if (propagation) /* propagation: see propagate_data.h */
		prop_data(e, ci, tgid, x->fd, x->type);
	submit(e, EVENT_HDR_SIZE + e->payload_len);
}

static __always_inline void conn_closed(__u32 tgid, __u32 fd)
{
	struct conn_key k = {.tgid = tgid, .fd = fd};
	struct conn_info *ci = bpf_map_lookup_elem(&conns, &k);
	if (!ci)
		return;
	if (ci->is_tcp) {
		struct event *e = new_event(EVENT_CLOSE, tgid, fd);
		if (e) {
			e->sk = ci->sk;
			submit(e, EVENT_HDR_SIZE);
		}
	}
	bpf_map_delete_elem(&conns, &k);
}

SEC("raw_tracepoint/sys_exit")
int ebpfred_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!tgid)
		return 0; /* outside the collector's PID namespace */
	struct track *t = bpf_map_lookup_elem(&tracked_pids, &tgid);
	if (!t)
		return 0;
	__u32 gen = t->gen;

	/* One read of the saved user registers (x86-64 struct pt_regs, a stable
	 * ABI) instead of a helper call per field. */
	struct user_regs regs_v;
	if (bpf_probe_read_kernel(&regs_v, sizeof(regs_v), (void *)ctx->args[0]) != 0)
		return 0;
	struct user_regs *regs = &regs_v;
	long ret = (long)ctx->args[1];
	long nr = regs->orig_ax;

	struct xfer x = {};
	switch (nr) {
	case NR_read:
	case NR_write:
	case NR_recvfrom:
	case NR_sendto:
		if (nr == NR_recvfrom && (regs->r10 & MSG_PEEK))
			return 0;
		x.type = (nr == NR_read || nr == NR_recvfrom) ? EVENT_DATA_IN : EVENT_DATA_OUT;
		x.ptr = (const void *)regs->si;
		break;
	case NR_readv:
	case NR_writev:
		x.type = nr == NR_readv ? EVENT_DATA_IN : EVENT_DATA_OUT;
		x.vectored = 1;
		x.ptr = (const void *)regs->si;
		x.iovcnt = regs->dx;
		break;
	case NR_recvmsg:
	case NR_sendmsg: {
		if (nr == NR_recvmsg && (regs->dx & MSG_PEEK))
			return 0;
		struct ebpfred_user_msghdr m = {};
		if (ret <= 0 || bpf_probe_read_user(&m, sizeof(m), (void *)regs->si) != 0)
			return 0;
		x.type = nr == NR_recvmsg ? EVENT_DATA_IN : EVENT_DATA_OUT;
		x.vectored = 1;
		x.ptr = m.msg_iov;
		x.iovcnt = m.msg_iovlen;
		break;
	}
	case NR_sendfile: {
		/* no user buffer to look at: a length-only event */
		if (ret <= 0)
			return 0;
		struct conn_key k = {.tgid = tgid, .fd = regs->di};
		struct conn_info *ci = lookup_conn(&k, gen);
		if (!ci || ci->tls)
			return 0;
		send_tuple(tgid, k.fd, ci);
		struct event *e = new_event(EVENT_DATA_OUT, tgid, k.fd);
		if (!e)
			return 0;
		e->sk = ci->sk;
		e->len = ret;
		submit(e, EVENT_HDR_SIZE);
		return 0;
	}
	case NR_close:
		conn_closed(tgid, regs->di);
		return 0;
	case NR_dup2:
	case NR_dup3:
		/* the target fd now names another file: forget what it was */
		if (ret >= 0)
			conn_closed(tgid, ret);
		return 0;
	default:
		return 0;
	}
	if (ret <= 0)
		return 0;
	x.fd = regs->di;
	x.tid = (__u32)id;
	x.gen = gen;
	x.n = ret;
	x.g = regs->r14;
	data(tgid, &x);
	return 0;
}

/* ---- TLS plaintext: OpenSSL (shared or static) and Go crypto/tls ----
 *
 * Entry uprobes remember the call's buffer per thread (OpenSSL) or per
 * goroutine (Go); the socket transfers the call makes are seen by sys_exit
 * above, which records the fd and suppresses the ciphertext; the return
 * probe emits the plaintext through data(), with the same copy rules as
 * socket bytes. The programs fire for every process that maps the library,
 * so each one checks tracked_pids first. */

static __always_inline int tls_enter(__u32 kind, __u64 id, __u64 handle, __u64 buf, __u64 lenp, __u8 type,
				     __u8 ex, __u64 len)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	struct tls_key k = {.tgid = tgid, .kind = kind, .id = id};
	struct tls_call c = {.handle = handle, .buf = buf, .lenp = lenp, .type = type, .ex = ex, .len = len};
	/* a handshake nested in a read or write must not replace it */
	bpf_map_update_elem(&tls_calls, &k, &c, type ? BPF_ANY : BPF_NOEXIST);
	return 0;
}

/* flush_write sends, before a Read's plaintext, that of a Write on the same
 * *tls.Conn that did its socket I/O but has not returned (tls_wpending). */
static __always_inline void flush_write(__u32 tgid, __u64 handle, __u32 gen)
{
	struct tls_key h = {.tgid = tgid, .kind = TLS_KEY_HANDLE, .id = handle};
	struct tls_key *wk = bpf_map_lookup_elem(&tls_wpending, &h);
	if (!wk)
		return;
	struct tls_key w = *wk;
	bpf_map_delete_elem(&tls_wpending, &h);
	struct tls_call *wc = bpf_map_lookup_elem(&tls_calls, &w);
	if (!wc || wc->type != EVENT_DATA_OUT || !wc->fd || wc->sent || !wc->len || wc->handle != handle)
		return;
	wc->sent = 1;
	struct xfer x = {.fd = wc->fd - 1, .type = EVENT_DATA_OUT, .tls = 1, .sk = wc->sk, .gen = gen,
			 .ptr = (const void *)wc->buf, .n = wc->len, .g = w.id};
	data(tgid, &x);
}

/* tls_exit emits n plaintext bytes of the call in flight under k. */
static __always_inline void tls_exit(struct tls_key *k, struct tls_call *c, __s64 n)
{
	struct track *t = bpf_map_lookup_elem(&tracked_pids, &k->tgid);
	if (!t)
		return;
	__u32 gen = t->gen;
	if (k->kind == TLS_KEY_GOROUTINE && c->type == EVENT_DATA_IN)
		flush_write(k->tgid, c->handle, gen);
	__u32 fd;
	__u64 sk = 0;
	if (c->fd) {
		fd = c->fd - 1;
		sk = c->sk;
	} else {
		struct tls_key h = {.tgid = k->tgid, .kind = TLS_KEY_HANDLE, .id = c->handle};
		__u32 *f = bpf_map_lookup_elem(&tls_fds, &h);
		if (!f && c->type == EVENT_DATA_IN && k->kind == TLS_KEY_THREAD) {
			/* memory BIO: the socket this thread just read */
			struct tls_key l = {.tgid = k->tgid, .kind = TLS_KEY_LAST_READ, .id = k->id};
			f = bpf_map_lookup_elem(&tls_fds, &l);
			if (f) {
				fd = *f;
				bpf_map_update_elem(&tls_fds, &h, &fd, BPF_ANY);
			}
		}
		if (!f) {
			count(COUNTER_TLS_NO_FD);
			return;
		}
		fd = *f;
	}
	struct xfer x = {.fd = fd, .type = c->type, .tls = 1, .sk = sk, .gen = gen, .ptr = (const void *)c->buf, .n = n,
			 .g = k->kind == TLS_KEY_GOROUTINE ? k->id : 0};
	data(k->tgid, &x);
}

static __always_inline int ssl_enter(struct user_regs *r, __u8 type, __u8 ex)
{
	/* SSL_read(ssl, buf, num) / SSL_read_ex(ssl, buf, num, &readbytes) */
	return tls_enter(TLS_KEY_THREAD, (__u32)current_pid_tgid(), r->di, r->si, ex ? r->cx : 0, type,
			 ex, 0);
}

SEC("uprobe")
int ebpfred_ssl_read(struct user_regs *r) { return ssl_enter(r, EVENT_DATA_IN, 0); }

SEC("uprobe")
int ebpfred_ssl_read_ex(struct user_regs *r) { return ssl_enter(r, EVENT_DATA_IN, 1); }

SEC("uprobe")
int ebpfred_ssl_write(struct user_regs *r) { return ssl_enter(r, EVENT_DATA_OUT, 0); }

SEC("uprobe")
int ebpfred_ssl_write_ex(struct user_regs *r) { return ssl_enter(r, EVENT_DATA_OUT, 1); }

/* SSL_do_handshake (SSL_accept and SSL_connect call it): its socket I/O ties
 * the SSL object to its fd before the first SSL_read, which may be served
 * from bytes the handshake already read. */
SEC("uprobe")
int ebpfred_ssl_handshake(struct user_regs *r) { return ssl_enter(r, 0, 0); }

/* tls_handshake_done ends a handshake entry, and only that: a handshake
 * nested in a read or write (Go's Read and Write call Handshake first, every
 * time) must leave the outer call's entry alone. */
static __always_inline int tls_handshake_done(__u32 kind, __u64 id)
{
	struct tls_key k = {.tgid = current_tgid(), .kind = kind, .id = id};
	struct tls_call *p = bpf_map_lookup_elem(&tls_calls, &k);
	if (p && p->type == 0)
		bpf_map_delete_elem(&tls_calls, &k);
	return 0;
}

SEC("uretprobe")
int ebpfred_ssl_handshake_ret(struct user_regs *r)
{
	return tls_handshake_done(TLS_KEY_THREAD, (__u32)current_pid_tgid());
}

/* One return probe for the four functions: what the call was is in its
 * tls_calls entry. */
SEC("uretprobe")
int ebpfred_ssl_ret(struct user_regs *r)
{
	__u64 id = current_pid_tgid();
	struct tls_key k = {.tgid = id >> 32, .kind = TLS_KEY_THREAD, .id = (__u32)id};
	struct tls_call *p = bpf_map_lookup_elem(&tls_calls, &k);
	if (!p)
		return 0;
	struct tls_call c = *p;
	bpf_map_delete_elem(&tls_calls, &k);
	int rc = (int)r->ax;
	__s64 n = rc;
	if (c.ex) {
		__u64 got = 0;
		if (rc != 1 || bpf_probe_read_user(&got, sizeof(got), (void *)c.lenp) != 0)
			return 0;
		n = got;
	}
	if (n > 0 && c.type)
		tls_exit(&k, &c, n);
	return 0;
}

/* Go crypto/tls.(*Conn).Read / Write, register ABI (Go >= 1.17): at entry
 * RAX = *Conn, RBX = buffer, RCX = length; R14 = the current g. */
static __always_inline int go_enter(struct user_regs *r, __u8 type)
{
	return tls_enter(TLS_KEY_GOROUTINE, r->r14, r->ax, r->bx, 0, type, 0, r->cx);
}

SEC("uprobe")
int ebpfred_go_tls_read(struct user_regs *r) { return go_enter(r, EVENT_DATA_IN); }

SEC("uprobe")
int ebpfred_go_tls_write(struct user_regs *r) { return go_enter(r, EVENT_DATA_OUT); }

/* crypto/tls.(*Conn).handshakeContext: net/http's server completes the
 * handshake before its first Read, and the read that ends the handshake
 * often brings the first request too, which Read then serves without a
 * syscall. The handshake's socket I/O ties the *Conn to its fd. */
SEC("uprobe")
int ebpfred_go_tls_handshake(struct user_regs *r) { return go_enter(r, 0); }

SEC("uprobe")
int ebpfred_go_tls_handshake_ret(struct user_regs *r) { return tls_handshake_done(TLS_KEY_GOROUTINE, r->r14); }

/* Attached at every RET instruction of both functions (never a uretprobe
 * on Go code: it breaks stack growth and traceback). RAX = n. */
SEC("uprobe")
int ebpfred_go_tls_ret(struct user_regs *r)
{
	__u32 tgid = current_tgid();
	struct tls_key k = {.tgid = tgid, .kind = TLS_KEY_GOROUTINE, .id = r->r14};
	struct tls_call *p = bpf_map_lookup_elem(&tls_calls, &k);
	if (!p)
		return 0;
	struct tls_call c = *p;
	bpf_map_delete_elem(&tls_calls, &k);
	if (c.type == EVENT_DATA_OUT) {
		struct tls_key h = {.tgid = tgid, .kind = TLS_KEY_HANDLE, .id = c.handle};
		struct tls_key *wk = bpf_map_lookup_elem(&tls_wpending, &h);
		if (wk && wk->id == k.id)
			bpf_map_delete_elem(&tls_wpending, &h);
		if (c.sent)
			return 0; /* flush_write sent it */
	}
	__s64 n = (__s64)r->ax;
	if (n > 0 && c.type)
		tls_exit(&k, &c, n);
	return 0;
}

/* Go net/http HTTP/2: (*http2serverConn).runHandler(rw, req, handler) starts
 * every handler goroutine. Its stream id and peer are kept per goroutine so
 * that the route the handler's router matches goes out at once, naming the
 * stream (the response is written by the connection's goroutine, so the
 * HTTP/1 way, by the next write of the same goroutine, cannot work). */
struct go_h2_req {
	__u64 ts; /* runHandler's start */
	__u32 stream;
	__u32 addr_len;
	__u8 addr[ADDR_MAX];
};

/* A router runs at the start of its handler (behind middleware at most): a
 * go_h2 entry older than this belongs to a goroutine that has exited and
 * whose g a later goroutine reuses. */
#define H2_HANDLER_WINDOW_NS (10ULL * 1000 * 1000 * 1000)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_route_key);
	__type(value, struct go_h2_req);
} go_h2 SEC(".maps");

/* send_route_stream sends route (n bytes) for the HTTP/2 stream of h. */
static __always_inline void send_route_stream(__u32 tgid, struct go_h2_req *h, const __u8 *route, __u32 n)
{
	struct route_stream_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_DROPPED);
		return;
	}
	if (n > ROUTE_MAX)
		n = ROUTE_MAX;
	__u32 a = h->addr_len;
	if (a > ADDR_MAX)
		a = ADDR_MAX;
	e->ts = bpf_ktime_get_ns();
	e->sk = 0;
	e->tgid = tgid;
	e->stream = h->stream;
	e->len = n;
	e->payload_len = n;
	e->type = EVENT_ROUTE_STREAM;
	e->addr_len = a;
	__builtin_memset(e->tail, 0, 8);
	__builtin_memcpy(e->route, route, ROUTE_MAX);
	__builtin_memcpy(e->addr, h->addr, ADDR_MAX);
	bpf_ringbuf_submit(e, wakeup_flag());
}

/* The uprobe cookie: bits 0-15 = offset of RemoteAddr in net/http.Request,
 * bits 16-31 = offset of id in http2stream; rw.rws and rws.stream are first
 * fields (checked from DWARF by user space when it can). */
SEC("uprobe")
int ebpfred_go_h2_handler(struct user_regs *r)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	__u64 cookie = bpf_get_attach_cookie(r);
	__u64 rws = 0, st = 0;
	struct {
		__u64 ptr, len;
	} addr = {};
	struct go_h2_req v = {};
	if (bpf_probe_read_user(&rws, sizeof(rws), (const void *)r->bx) != 0 || !rws ||
	    bpf_probe_read_user(&st, sizeof(st), (const void *)rws) != 0 || !st ||
	    bpf_probe_read_user(&v.stream, sizeof(v.stream), (const void *)(st + ((cookie >> 16) & 0xffff))) != 0 ||
	    bpf_probe_read_user(&addr, sizeof(addr), (const void *)(r->cx + (cookie & 0xffff))) != 0)
		return 0;
	__u64 n = addr.len;
	if (n > ADDR_MAX)
		n = ADDR_MAX;
	if (n && bpf_probe_read_user(v.addr, n, (const void *)addr.ptr) != 0)
		return 0;
	v.addr_len = n;
	v.ts = bpf_ktime_get_ns();
	struct go_route_key k = {.tgid = tgid, .g = r->r14};
	bpf_map_update_elem(&go_h2, &k, &v, BPF_ANY);
	return 0;
}

/* save_route remembers, for the calling goroutine (R14), the route pattern
 * at user address ptr (len bytes) until its next response write; ptr == 0
 * forgets a pattern remembered earlier (no route for this request). */
static __always_inline void save_route(struct user_regs *r, __u64 ptr, __u64 len)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return;
	struct go_route_key k = {.tgid = tgid, .g = r->r14};
	/* An HTTP/2 handler goroutine: the route goes out now, for its stream,
	 * at every lookup (gorilla subrouters look up again; the last, the
	 * outermost, is final). The entry stays until a later runHandler on the
	 * same g replaces it or it is too old: a g is reused after its
	 * goroutine exits, and an HTTP/1 goroutine on a reused g within the
	 * window would lose its route to a stream that does not exist. */
	struct go_h2_req *h2 = bpf_map_lookup_elem(&go_h2, &k);
	if (h2 && bpf_ktime_get_ns() - h2->ts > H2_HANDLER_WINDOW_NS) {
		bpf_map_delete_elem(&go_h2, &k);
		h2 = NULL;
	}
	if (!ptr || !len) {
		bpf_map_delete_elem(&go_routes, &k);
		return;
	}
	struct go_route v = {};
	if (len > ROUTE_MAX)
		len = ROUTE_MAX;
	if (bpf_probe_read_user(v.buf, len, (const void *)ptr) != 0)
		return;
	v.len = len;
	if (h2) {
		send_route_stream(tgid, h2, v.buf, len);
		return;
	}
	bpf_map_update_elem(&go_routes, &k, &v, BPF_ANY);
}

/* Go net/http.(*ServeMux).findHandler (Go >= 1.22), at every RET. Results,
 * register ABI: RAX,RBX = Handler, RCX,RDI = patStr, RSI = *pattern, R8-R10 =
 * matches. A nil *pattern means a redirect (patStr is then a concrete
 * path), a 404 or a 405: nothing to remember. */
SEC("uprobe")
int ebpfred_go_mux_ret(struct user_regs *r)
{
	save_route(r, r->si ? r->cx : 0, r->di);
	return 0;
}

/* gin (>= 1.7): (*node).getValue at every RET. It returns nodeValue{handlers
 * HandlersChain; params *Params; tsr bool; fullPath string} in registers:
 * RAX,RBX,RCX = handlers, RDI = params, RSI = tsr, R8,R9 = fullPath. No
 * handlers: a 404 or a trailing-slash redirect, no route. */
SEC("uprobe")
int ebpfred_gin_ret(struct user_regs *r)
{
	save_route(r, r->ax ? r->r8 : 0, r->r9);
	return 0;
}

/* gorilla/mux: (*Router).Match(req, match *RouteMatch) bool. The entry keeps
 * match (RCX) per goroutine; every RET reads match.Route (offset 0) and, when
 * Match returned true, the route's path template: *(route + cookie) is its
 * *routeRegexp for the path, whose first field is the template string. The
 * cookie (the offset of regexp.path in mux.Route) comes from the binary's
 * DWARF or its mux version. Subrouters call Match again with the same
 * match: the outermost RET, last, has the final route. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_route_key);
	__type(value, __u64);
} gorilla_match SEC(".maps");

SEC("uprobe")
int ebpfred_gorilla_match(struct user_regs *r)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	struct go_route_key k = {.tgid = tgid, .g = r->r14};
	__u64 m = r->cx;
	bpf_map_update_elem(&gorilla_match, &k, &m, BPF_ANY);
	return 0;
}

SEC("uprobe")
int ebpfred_gorilla_match_ret(struct user_regs *r)
{
	struct go_route_key k = {.tgid = current_tgid(), .g = r->r14};
	__u64 *m = bpf_map_lookup_elem(&gorilla_match, &k);
	if (!m)
		return 0;
	__u64 route = 0, path = 0;
	struct {
		__u64 ptr, len;
	} tpl = {};
	if ((r->ax & 0xff) && bpf_probe_read_user(&route, sizeof(route), (const void *)*m) == 0 && route &&
	    bpf_probe_read_user(&path, sizeof(path), (const void *)(route + bpf_get_attach_cookie(r))) == 0 && path)
		bpf_probe_read_user(&tpl, sizeof(tpl), (const void *)path);
	save_route(r, tpl.ptr, tpl.len);
	return 0;
}

/* A tracked process's children are tracked too (nginx workers, forking
 * servers); user space confirms or drops them. */
SEC("raw_tracepoint/sched_process_fork")
int ebpfred_fork(struct bpf_raw_tracepoint_args *ctx)
{
	/* args[0], the parent, is the current task */
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0; /* a thread */
	__u32 ptgid = current_tgid();
	if (!ptgid)
		return 0; /* outside the collector's PID namespace */
	__u32 ctgid = leader_tgid(child);
	if (!ctgid || ctgid == self_tgid)
		return 0;
	struct track *pt = bpf_map_lookup_elem(&tracked_pids, &ptgid);
	if (!pt)
		return 0;
	/* a new process: its own gen, though it inherited the parent's fds */
	struct track ct = {.flags = pt->flags, .gen = bpf_get_prandom_u32() | 1};
	bpf_map_update_elem(&tracked_pids, &ctgid, &ct, BPF_NOEXIST);
	struct event *e = new_event(EVENT_FORK, ctgid, ptgid);
	if (e)
		submit(e, EVENT_HDR_SIZE);
	return 0;
}

/* Raw tracepoints only (no tracefs needed). sched_process_exec's arguments:
 * (struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm). */
SEC("raw_tracepoint/sched_process_exec")
int ebpfred_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = current_tgid();
	if (!tgid || tgid == self_tgid)
		return 0;
	int tracked = bpf_map_lookup_elem(&tracked_pids, &tgid) != NULL;
	if (!tracked && !track_execs)
		return 0;
	if (!tracked) {
		/* (A tracked process that execs keeps its gen: its fds survive.) */
		struct track t = {.flags = TRACK_PENDING, .gen = bpf_get_prandom_u32() | 1};
		bpf_map_update_elem(&tracked_pids, &tgid, &t, BPF_NOEXIST);
	}
	struct event *e = new_event(EVENT_EXEC, tgid, 0);
	if (!e)
		return 0;
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	const char *filename = BPF_CORE_READ(bprm, filename);
	long n = bpf_probe_read_kernel_str(e->payload, MAX_PAYLOAD, filename);
	if (n > 0) {
		e->payload_len = n > MAX_PAYLOAD ? MAX_PAYLOAD : n;
		e->len = e->payload_len;
	}
	submit(e, EVENT_HDR_SIZE + e->payload_len);
	return 0;
}

SEC("raw_tracepoint/sched_process_exit")
int ebpfred_exit(void *ctx)
{
	__u64 id = current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!tgid || (__u32)id != tgid)
		return 0; /* a thread, or outside the collector's PID namespace */
	if (!bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	bpf_map_delete_elem(&tracked_pids, &tgid);
	struct event *e = new_event(EVENT_EXIT, tgid, 0);
	if (e)
		submit(e, EVENT_HDR_SIZE);
	return 0;
}
