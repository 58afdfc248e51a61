// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ebpfred Go in process (feature go_context): a client request that a Go
 * net/http handler makes, in its own goroutine or in any goroutine it
 * started, directly or not, becomes the child of the handler's server
 * request. Goroutines move between threads, so the thread says nothing
 * here; the goroutine (its g, R14 in Go's register ABI) does.
 *
 * No offset into any Go struct is read: registers at function entries and
 * returns only, so stripped binaries and every Go version since the
 * register ABI (1.17) work alike. Returns are uprobes on the RET
 * instructions (internal/golang), never uretprobes: goroutine stacks move.
 *
 *   net/http.(*conn).serve, entry: the goroutine serves a connection
 *       (go_srv); its first read names the socket (capture.h go_link).
 *   runtime.newproc1, RETs (and entry, where the creator cannot be read
 *       at the RETs): a goroutine starts; it inherits the context of its
 *       creator (go_ctxs): the creator's connection if the creator serves
 *       one, else the creator's own inherited context.
 *   net/http.(*persistConn).writeLoop, entry: the writer goroutine of a
 *       client connection (go_wl).
 *   net/http.(*persistConn).roundTrip, entry: the caller hands a request to
 *       that connection; its context waits for the writer's write (go_pc).
 *
 * The data path (capture.h go_link) then names, before a client request's
 * first data event, the server socket its context points to. Loaded after
 * the core object, with its maps. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* runtime.newproc1(fn, callergp, callerpc, ...) runs on the system stack
 * (newproc calls it through systemstack), so R14 there is the thread's g0,
 * not the creator: the creator is the callergp argument (RBX at entry),
 * kept per thread until the RETs, which the same thread reaches (g0 never
 * moves between threads). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* pid_tgid: the thread */
	__type(value, __u64);
} go_newproc SEC(".maps");

SEC("uprobe")
int ebpfred_go_newproc(struct user_regs *r)
{
	__u64 id = current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	__u64 caller = r->bx;
	bpf_map_update_elem(&go_newproc, &id, &caller, BPF_ANY);
	return 0;
}

/* inherit: the goroutine newg, just started by caller, works for what
 * caller works for: caller's connection if caller serves one, else what
 * caller inherited. */
static __always_inline void inherit(__u32 tgid, __u64 caller, __u64 newg)
{
	struct go_route_key k = {.tgid = tgid, .g = caller};
	struct go_route_key nk = {.tgid = tgid, .g = newg};
	struct go_ctx c = {};
	__u64 *s = bpf_map_lookup_elem(&go_srv, &k);
	if (s) {
		c.sk = *s;
		c.since = bpf_ktime_get_ns();
	} else {
		struct go_ctx *pc = bpf_map_lookup_elem(&go_ctxs, &k);
		if (pc)
			c = *pc;
	}
	c.used = 0;
	/* A g is reused once its goroutine has exited: what the last one
	 * left is not the new one's. */
	bpf_map_delete_elem(&go_srv, &nk);
	bpf_map_delete_elem(&go_wl, &nk);
	if (c.sk)
		bpf_map_update_elem(&go_ctxs, &nk, &c, BPF_ANY);
	else
		bpf_map_delete_elem(&go_ctxs, &nk);
}

/* At every RET of newproc1: RAX is the new g. */
SEC("uprobe")
int ebpfred_go_newproc_ret(struct user_regs *r)
{
	__u64 id = current_pid_tgid();
	__u64 *caller = bpf_map_lookup_elem(&go_newproc, &id);
	if (!caller)
		return 0;
	inherit(id >> 32, *caller, r->ax);
	return 0;
}

/* The same with one hit instead of two, where newproc1's prologue stores
 * callergp in its spill slot (the register ABI's home for the argument, in
 * the caller's frame, 16 bytes above the stack pointer at entry and so at
 * every RET): user space checks that in the code before it attaches this
 * instead of the entry probe (internal/golang ArgSpill). */
struct user_regs_sp {
	struct user_regs head; /* up to orig_ax */
	unsigned long ip, cs, flags, sp, ss;
};

SEC("uprobe")
int ebpfred_go_newproc_ret_spilled(struct user_regs_sp *r)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	__u64 caller = 0;
	if (bpf_probe_read_user(&caller, sizeof(caller), (const void *)(r->sp + 16)) != 0 || !caller)
		return 0;
	inherit(tgid, caller, r->head.ax);
	return 0;
}

/* learn_regs_off (context propagation): r, this uprobe's context, is the
 * task's saved user registers, at the top of its kernel stack; sk_msg,
 * which is given no registers, finds a Go writer's goroutine there
 * (propagate.c go_server_ctx). Stored and read back through the map, the
 * pointer becomes a number the verifier lets us subtract. */
static __always_inline void learn_regs_off(struct user_regs *r)
{
	if (!propagation)
		return;
	__u32 k0 = 0, k1 = 1;
	__u64 *off = bpf_map_lookup_elem(&regs_off, &k0);
	if (!off || *off)
		return;
	__u64 *tmp = bpf_map_lookup_elem(&regs_off, &k1);
	if (!tmp)
		return;
	*tmp = (__u64)r;
	__u64 regs = *(volatile __u64 *)tmp;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 stack = (__u64)BPF_CORE_READ(task, stack);
	if (stack && regs > stack && regs - stack < (1 << 16))
		*off = regs - stack;
}

/* net/http.(*conn).serve, entry: one hit per connection. */
SEC("uprobe")
int ebpfred_go_serve(struct user_regs *r)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	struct go_route_key k = {.tgid = tgid, .g = r->r14};
	__u64 none = 0;
	bpf_map_update_elem(&go_srv, &k, &none, BPF_ANY);
	learn_regs_off(r);
	return 0;
}

/* net/http.(*persistConn).writeLoop, entry (RAX = the *persistConn): one
 * hit per client connection. */
SEC("uprobe")
int ebpfred_go_write_loop(struct user_regs *r)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	struct go_route_key k = {.tgid = tgid, .g = r->r14};
	__u64 pc = r->ax;
	bpf_map_update_elem(&go_wl, &k, &pc, BPF_ANY);
	learn_regs_off(r);
	return 0;
}

/* net/http.(*persistConn).roundTrip, entry (RAX = the *persistConn), in the
 * caller's goroutine: one hit per HTTP/1 client request. A caller without
 * a context clears what an earlier request left on the connection (one
 * whose write never came), which must not reach this one. */
SEC("uprobe")
int ebpfred_go_round_trip(struct user_regs *r)
{
	__u32 tgid = current_tgid();
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	struct go_route_key k = {.tgid = tgid, .g = r->r14};
	struct go_route_key pk = {.tgid = tgid, .g = r->ax};
	struct go_ctx c = {};
	__u64 *s = bpf_map_lookup_elem(&go_srv, &k);
	if (s) {
		c.sk = *s;
		c.since = bpf_ktime_get_ns();
	} else {
		struct go_ctx *pc = bpf_map_lookup_elem(&go_ctxs, &k);
		if (pc)
			c = *pc;
	}
	if (c.sk)
		bpf_map_update_elem(&go_pc, &pk, &c, BPF_ANY);
	else
		bpf_map_delete_elem(&go_pc, &pk);
	return 0;
}
