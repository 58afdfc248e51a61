/* The state every ebpfred object shares: the tracked processes, the
 * connection cache, the event ring, the per-CPU working memory, the
 * counters, and the TLS and Go route tables the data path consults.
 *
 * Each object (core.c, tls.c, goroutes.c, propagate.c) declares these maps
 * with the same definitions; the loader (internal/probes) creates them once,
 * with the core object, and hands them to every other object, so all of
 * them see the same entries. A feature whose object the kernel refuses then
 * costs only that feature.
 *
 * Kernel budget (see internal/probes/verifier_test.go): every program's
 * stack, all its subprograms together, stays well under the verifier's 512
 * bytes, because kernels differ in how they add it up; large things live in
 * the per-CPU `work` value instead. Global (noinline) functions take scalar
 * arguments only: Linux before 5.12 accepts nothing else there. */
#ifndef EBPFRED_MAPS_H
#define EBPFRED_MAPS_H

#include "ebpfred.h"
#include "kernel_types.h"
#include "pidns.h"
#include "propagate.h"

/* Set by the loader before load. */
volatile const __u32 self_tgid = 0; /* in the collector's PID namespace */
/* When set, every newly exec'd process is tracked provisionally
 * (TRACK_PENDING) until user space has matched its executable. */
volatile const __u8 track_execs = 0;
/* Wake the reader only when this many bytes are waiting; it polls otherwise. */
volatile const __u64 wakeup_bytes = 256 * 1024;
/* Set when context_propagation is "headers" (see propagate_data.h). */
volatile const __u8 propagation = 0;
/* Set when Go in-process linking (feature go_context, gocontext.c) is
 * requested: the data path then looks up the writing goroutine's context. */
volatile const __u8 go_context = 0;

/* A tracked process. gen is new for every process that gets a tgid: cached
 * fds (fd_socks) carry the gen they were resolved under, so a process's
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

/* HTTP/2: where the frames of one direction of a connection stand between
 * two transfers, so that each transfer's frame headers can be found without
 * seeing the bytes before it (protocols/http2.h, h2_report). */
struct h2_dir {
	__u32 rem;   /* payload bytes of the frame in progress still to come */
	__u8 synced; /* frame boundaries are known */
	__u8 skip;   /* the frame in progress is DATA: its payload is not copied */
	__u8 hdr_n;  /* bytes of the next frame header that ended the last transfer */
	__u8 pad;
	__u8 hdr[8]; /* those bytes */
};

/* A connection is its socket (struct sock *), never its fd: fd numbers are
 * reused the moment they are closed, often by another thread of the same
 * process (haproxy), and a connection keyed by (tgid, fd) could then be
 * ended, or continued, by the wrong socket. The entry is removed when the
 * socket's memory starts another connection (inet_sock_set_state, core.c). */
struct conn_info {
	__u64 sk;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u16 family;
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
	__u8 closed; /* its EVENT_CLOSE went out */
	__u8 pad;
	__u32 tgid; /* the tracked process that used it first */
	__u32 fd;   /* its fd in that process, when known (for the events) */
	/* HTTP/2 frame boundaries: [0] what the process reads, [1] what it
	 * writes. Only the kernel writes them (user space's CopyAll leaves a
	 * connection the kernel already knows as HTTP/2 alone). */
	struct h2_dir h2d[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, struct conn_info);
} conns SEC(".maps");

/* Syscall capture only (kernels without the socket tracepoints, core.c):
 * which socket an fd of a tracked process names, resolved once through the
 * task's fd table (which also covers connections opened before we were
 * loaded); sk 0 caches "not a TCP socket". gen is the process's: another
 * process with the same tgid re-resolves its fds. Every syscall that can
 * hand out an fd number again forgets the entry for it. */
struct fd_key {
	__u32 tgid;
	__u32 fd;
};

struct fd_sock {
	__u64 sk;
	__u32 gen;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fd_key);
	__type(value, struct fd_sock);
} fd_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* overridden by the loader */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* One socket transfer of n bytes: either a plain buffer (read, write,
 * recvfrom, sendto) or an iovec array (readv, writev, recvmsg, sendmsg) that
 * the n bytes fill in order, or TLS plaintext from a uprobe. */
struct xfer {
	__u64 ptr;    /* the buffer, or the iovec array (a user address); 0: none */
	__u64 iovcnt; /* vectored: entries in the iovec array */
	__u64 n;      /* bytes transferred */
	__u64 g;      /* R14: a Go program's current goroutine (0: none) */
	__u64 sk;     /* the socket (struct sock *); TLS: 0 if unknown */
	__u32 tgid;
	__u32 fd;     /* the fd the process used, for the events (0: unknown) */
	__u32 tid;    /* socket I/O: the thread, in the collector's PID namespace */
	__u32 pad2;
	__u8 type;    /* EVENT_DATA_IN or EVENT_DATA_OUT */
	__u8 vectored;
	__u8 tls;     /* the bytes are TLS plaintext from a uprobe */
	__u8 pad[5];
	__u64 ts;     /* TLS write: when its socket write returned; 0: now */
};

/* The state of the iovec walk that copies a transfer's first bytes. */
struct walk {
	__u64 seen;     /* bytes of n accounted for by the iovecs walked so far */
	__u64 last;     /* the iovec holding the transfer's end (user address) */
	__u64 last_len;
	__u32 off;      /* payload bytes copied */
	__u32 limit;    /* copy at most this much */
	__u32 copy;     /* copy at all (else only walk to find the tail) */
	__u32 pad;
};

/* A server context: the server socket, and a time at which the request
 * the goroutine works for was surely in flight there (when the chain of
 * goroutine starts left the connection's goroutine). User space links only
 * to a request that had started by then and is still in flight. */
struct go_ctx {
	__u64 sk;
	__u64 since;
	/* go_ctxs: the goroutine's own writes linked a request already. A
	 * goroutine that writes requests itself (net/http's HTTP/2 client
	 * starts one per request) links its first only: one started in a
	 * handler that then writes for everyone (a connection's writer
	 * goroutine, created lazily by the first request) must not give that
	 * request's parent to others' requests. Its children start unused. */
	__u64 used;
};

/* A Go goroutine (g, the pointer in R14) or Go object of one process. */
struct go_route_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

/* Per-CPU working memory of one program run: what does not fit the 512-byte
 * stack, or would push a program's stack near it on some verifier. A
 * program never runs twice at once on one CPU (tracing programs are not
 * re-entered), so each run owns it from start to end. */
struct work {
	struct event e;        /* the data event being built */
	struct xfer x;         /* the transfer data() is asked to report */
	struct walk w;
	struct user_regs regs; /* sys_exit: the saved user registers */
	struct conn_info conn; /* a connection being resolved, or an orphan */
	/* HTTP/2 (protocols/http2.h): the direction being walked, and the
	 * walk of one transfer of h2_n bytes: its bytes [h2_a, h2_end) are
	 * copied at the start of the event payload, the walk stands at h2_p,
	 * the event needs h2_keep payload bytes and ends at h2_ret, and the
	 * next window is [h2_next, h2_next + h2_nextc); h2_copy's progress;
	 * the frame header being looked at; an iovec being read. Kept here
	 * rather than in registers so that the functions need no stack. */
	struct h2_dir h2;
	__u32 h2_n, h2_a, h2_end, h2_p, h2_keep, h2_ret, h2_next, h2_nextc;
	__u32 h2_at, h2_got, h2_from, h2_want, h2_iovi, h2_iovat;
	__u32 h2_last; /* h2_event: the last event the transfer may have */
	__u8 h2_hdr[16];
	__u64 h2_iov[2]; /* a struct ebpfred_iovec (bpf2go has no pointers) */
	struct tp_ctx tp;      /* propagation: the span context being built */
	struct {
		__u32 tgid;
		__u32 pad;
		__u64 one;
	} drop; /* count_drop's key and value */
	struct go_route_key gk; /* go_link's keys and context */
	struct go_route_key pk;
	struct go_ctx gctx;
	__u64 sk_key; /* prop_data: sock_ctx's key */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct work);
} percpu_work SEC(".maps");

/* TLS: one entry per TLS read/write call in flight, keyed by the thread
 * (OpenSSL: kind TLS_KEY_THREAD, id = thread id) or by the goroutine (Go:
 * kind TLS_KEY_GOROUTINE, id = the g pointer in R14, since a goroutine can
 * move between threads inside a call). tls_socks remembers which socket an
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
	__u64 sk;     /* the socket the call's I/O used, 0 if none yet */
	__u32 fd;     /* its fd */
	__u8 type;    /* EVENT_DATA_IN or EVENT_DATA_OUT; 0: a handshake, whose
		       * socket I/O only tells which socket the handle uses */
	__u8 ex;
	__u8 sent; /* Go Write: its plaintext went out early (see flush_write) */
	__u8 pad;
	__u64 len; /* Go Write: the length asked for (Write writes it all or fails) */
	__u64 ts;  /* a write: when its last socket write returned (0: none yet) */
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

struct tls_sock {
	__u64 sk;
	__u32 fd;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_key);
	__type(value, struct tls_sock);
} tls_socks SEC(".maps");

/* Go net/http: the pattern the goroutine's router matched (goroutes.c),
 * until the goroutine's next response write (struct route_event). */

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

/* Go in process (feature go_context, gocontext.c): which server request a
 * goroutine works for, without any offset into Go's structs. Keys are
 * (tgid, pointer) as in go_route_key: a g, or a *persistConn.
 *
 * go_srv: goroutines that serve a connection (net/http.(*conn).serve), and
 * the socket they read their requests from (0 until their first read). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_route_key);
	__type(value, __u64);
} go_srv SEC(".maps");

/* go_ctxs: goroutines started, directly or transitively, by a connection's
 * goroutine, with the context they inherited at their start
 * (runtime.newproc1). A goroutine started by one without a context has no
 * entry (its g's old entry is removed: g structs are reused). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct go_route_key);
	__type(value, struct go_ctx);
} go_ctxs SEC(".maps");

/* go_wl: net/http client connections' writer goroutines
 * ((*persistConn).writeLoop), by g → their *persistConn. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_route_key);
	__type(value, __u64);
} go_wl SEC(".maps");

/* go_pc: the context of the request a caller handed to a *persistConn
 * ((*persistConn).roundTrip), for the writer goroutine's next write; taken
 * by that write. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_route_key);
	__type(value, struct go_ctx);
} go_pc SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

/* Data events (socket transfers, TLS plaintext) the ring had no room for,
 * per process (tgid → count): user space turns them into "requests
 * possibly lost" of the process's service. Other events (endpoints, closes,
 * routes, process life) carry no request and are only in the total. LRU:
 * the entries of exited processes go when room is needed; user space reads
 * a process's count before it forgets the process. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tgid */
	__type(value, __u64);
} pid_drops SEC(".maps");

/* A key in .rodata: a look-up with it costs no stack. */
static volatile const __u32 zero_key = 0;
_Static_assert(COUNTER_DROPPED == 0, "count_drop uses zero_key for COUNTER_DROPPED");

/* count_drop counts one data event of process tgid that the ring had no
 * room for: in the per-CPU total and in the process's own count. A global
 * function with no stack of its own: the capture programs' stack and
 * instruction budgets have no room for it inline. It keeps its key and
 * value in the per-CPU work area (struct work's drop): process context
 * only. */
__attribute__((noinline)) int count_drop(__u32 tgid)
{
	__u64 *c = bpf_map_lookup_elem(&counters, (const void *)&zero_key);
	if (c)
		*c += 1;
	struct work *w = bpf_map_lookup_elem(&percpu_work, (const void *)&zero_key);
	if (!w)
		return 0;
	w->drop.tgid = tgid;
	w->drop.one = 1;
	__u64 *v = bpf_map_lookup_elem(&pid_drops, &w->drop.tgid);
	if (!v) {
		if (bpf_map_update_elem(&pid_drops, &w->drop.tgid, &w->drop.one, BPF_NOEXIST) == 0)
			return 0;
		v = bpf_map_lookup_elem(&pid_drops, &w->drop.tgid); /* another CPU made it */
		if (!v)
			return 0;
	}
	__sync_fetch_and_add(v, 1);
	return 0;
}

static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									  : BPF_RB_NO_WAKEUP;
}

static __always_inline struct work *get_work(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&percpu_work, &zero);
}

/* submit sends the first size bytes of w's event. */
static __always_inline void submit(struct work *w, __u32 size)
{
	if (size > sizeof(w->e))
		return;
	if (bpf_ringbuf_output(&events, &w->e, size, wakeup_flag()) == 0)
		return;
	__u8 type = w->e.type & ~EVENT_FLAG_TLS;
	if (type == EVENT_DATA_IN || type == EVENT_DATA_OUT)
		count_drop(w->e.tgid);
	else
		count(COUNTER_DROPPED);
}

/* new_event starts w's event: header fields set, nothing copied yet. */
static __always_inline struct event *new_event(struct work *w, __u8 type, __u32 tgid, __u32 fd)
{
	struct event *e = &w->e;
	e->ts = bpf_ktime_get_ns();
	e->sk = 0;
	e->type = type;
	e->tgid = tgid;
	e->fd = fd;
	e->len = 0;
	e->payload_len = 0;
	e->tail_len = 0;
	return e;
}

/* is_tracked: the current process is tracked; 0 also outside the
 * collector's PID namespace. */
static __always_inline __u32 tracked_tgid(void)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	return tgid;
}

#endif
