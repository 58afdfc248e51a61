// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ebpfred core: socket I/O capture and process life. Required: without
 * these programs the receiver does not start. The features (tls.c,
 * goroutes.c, propagate.c) load after it, each on its own.
 *
 * Our kernels have neither kprobes nor fentry, so socket I/O is captured from
 * the syscall *exit* only: one raw tracepoint on sys_exit sees the return
 * value, and the syscall's arguments are still in the saved user registers.
 * One hit per syscall instead of an enter+exit pair halves the cost that every
 * selected process pays per read/write (see shared/KERNEL.md and BENCHMARKS.md).
 *
 * The order of checks is the order of cost: pid map → syscall number → the
 * data path (capture.h). One ring-buffer record per socket call at most.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "capture.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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

static __always_inline void conn_closed(struct work *w, __u32 tgid, __u32 fd)
{
	struct conn_key k = {.tgid = tgid, .fd = fd};
	struct conn_info *ci = bpf_map_lookup_elem(&conns, &k);
	if (!ci)
		return;
	if (ci->is_tcp) {
		struct event *e = new_event(w, EVENT_CLOSE, tgid, fd);
		e->sk = ci->sk;
		submit(w, EVENT_HDR_SIZE);
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
	struct work *w = get_work();
	if (!w)
		return 0;

	/* One read of the saved user registers (x86-64 struct pt_regs, a stable
	 * ABI) instead of a helper call per field. */
	struct user_regs *regs = &w->regs;
	if (bpf_probe_read_kernel(regs, sizeof(*regs), (void *)ctx->args[0]) != 0)
		return 0;
	long ret = (long)ctx->args[1];
	long nr = regs->orig_ax;

	struct xfer *x = &w->x;
	__u8 type;
	__u64 ptr, iovcnt = 0;
	__u8 vectored = 0;
	switch (nr) {
	case NR_read:
	case NR_write:
	case NR_recvfrom:
	case NR_sendto:
		if (nr == NR_recvfrom && (regs->r10 & MSG_PEEK))
			return 0;
		type = (nr == NR_read || nr == NR_recvfrom) ? EVENT_DATA_IN : EVENT_DATA_OUT;
		ptr = regs->si;
		break;
	case NR_readv:
	case NR_writev:
		type = nr == NR_readv ? EVENT_DATA_IN : EVENT_DATA_OUT;
		vectored = 1;
		ptr = regs->si;
		iovcnt = regs->dx;
		break;
	case NR_recvmsg:
	case NR_sendmsg: {
		if (nr == NR_recvmsg && (regs->dx & MSG_PEEK))
			return 0;
		struct ebpfred_user_msghdr m = {};
		if (ret <= 0 || bpf_probe_read_user(&m, sizeof(m), (void *)regs->si) != 0)
			return 0;
		type = nr == NR_recvmsg ? EVENT_DATA_IN : EVENT_DATA_OUT;
		vectored = 1;
		ptr = (__u64)m.msg_iov;
		iovcnt = m.msg_iovlen;
		break;
	}
	case NR_sendfile:
		/* no user buffer to look at: a length-only event (ptr 0) */
		type = EVENT_DATA_OUT;
		ptr = 0;
		break;
	case NR_close:
		conn_closed(w, tgid, regs->di);
		return 0;
	case NR_dup2:
	case NR_dup3:
		/* the target fd now names another file: forget what it was */
		if (ret >= 0)
			conn_closed(w, tgid, ret);
		return 0;
	default:
		return 0;
	}
	if (ret <= 0)
		return 0;
	x->ptr = ptr;
	x->iovcnt = iovcnt;
	x->n = ret;
	/* a Go program's goroutine; sendfile has no response head to route */
	x->g = ptr ? regs->r14 : 0;
	x->sk = 0;
	x->tgid = tgid;
	x->fd = regs->di;
	x->tid = (__u32)id;
	x->gen = gen;
	x->type = type;
	x->vectored = vectored;
	x->tls = 0;
	report_xfer();
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
	struct work *w = get_work();
	if (!w)
		return 0;
	new_event(w, EVENT_FORK, ctgid, ptgid);
	submit(w, EVENT_HDR_SIZE);
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
	struct work *w = get_work();
	if (!w)
		return 0;
	struct event *e = new_event(w, EVENT_EXEC, tgid, 0);
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	const char *filename = BPF_CORE_READ(bprm, filename);
	long n = bpf_probe_read_kernel_str(e->payload, MAX_PAYLOAD, filename);
	if (n > 0) {
		e->payload_len = n > MAX_PAYLOAD ? MAX_PAYLOAD : n;
		e->len = e->payload_len;
	}
	submit(w, EVENT_HDR_SIZE + e->payload_len);
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
	struct work *w = get_work();
	if (!w)
		return 0;
	new_event(w, EVENT_EXIT, tgid, 0);
	submit(w, EVENT_HDR_SIZE);
	return 0;
}
