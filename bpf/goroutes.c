// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ebpfred Go routes (feature go_routes): the route a Go program's own router
 * matched (net/http ServeMux, gin, gorilla/mux), read by uprobes at the
 * returns of the router's lookup, kept per goroutine in go_routes (maps.h),
 * and sent by the data path (capture.h send_route) just before the
 * goroutine's next response write. HTTP/2 handlers run on goroutines of
 * their own: their route goes out at once, naming the stream. Loaded after
 * the core object, with its maps. bpf_get_attach_cookie needs Linux 5.15:
 * on older kernels this feature is refused and the rest runs. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
	e->fd = h->stream; /* the stream id */
	e->len = n;
	e->payload_len = n;
	e->type = EVENT_ROUTE_STREAM;
	e->tail_len = a; /* the address's length */
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

/* net/http.(*conn).serve, at entry: a goroutine that serves an HTTP/1
 * connection (and runs its router) starts. Whatever an earlier goroutine on
 * the same g left is not its own: an HTTP/2 handler's stream (its route
 * would go to a stream that does not exist), or a route never written. One
 * hit per connection, not per request. */
SEC("uprobe")
int ebpfred_go_conn_serve(struct user_regs *r)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	struct go_route_key k = {.tgid = tgid, .g = r->r14};
	bpf_map_delete_elem(&go_h2, &k);
	bpf_map_delete_elem(&go_routes, &k);
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
	 * same g replaces it, an HTTP/1 connection's goroutine starts on the
	 * same g (ebpfred_go_conn_serve: a g is reused once its goroutine has
	 * exited), or it is too old. */
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
