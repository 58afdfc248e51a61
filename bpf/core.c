// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ebpfred core: socket I/O capture and process life. Required: without
 * these programs the receiver does not start. The features (tls.c,
 * goroutes.c, propagate.c) load after it, each on its own.
 *
 * Our kernels have neither kprobes nor fentry. Two ways to see socket I/O,
 * the loader picks the first the kernel has (internal/probes):
 *
 * - socket tracepoints (Linux 6.3+): sock_send_length and sock_recv_length
 *   fire inside every socket send and receive, in the calling thread, with
 *   the socket and the byte count; the syscall's arguments (the buffer) are
 *   in the thread's saved registers. Nothing else is hooked, so the system
 *   calls of every other process, and every non-socket call of ours, run
 *   as if we were not there.
 * - the syscall exit (older kernels): one raw tracepoint on sys_exit sees
 *   every system call of every process, returns at once for untracked ones,
 *   and finds the socket behind the fd through the task's fd table (cached).
 *
 * Either way the socket (struct sock *) is the connection's identity, and
 * its end is the TCP state change to closing (inet_sock_set_state): never
 * an fd number, which another thread may get back the moment it is closed.
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
#define NR_open 2
#define NR_close 3
#define NR_readv 19
#define NR_writev 20
#define NR_pipe 22
#define NR_dup 32
#define NR_dup2 33
#define NR_sendfile 40
#define NR_socket 41
#define NR_accept 43
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_socketpair 53
#define NR_fcntl 72
#define NR_creat 85
#define NR_openat 257
#define NR_accept4 288
#define NR_eventfd2 290
#define NR_epoll_create1 291
#define NR_dup3 292
#define NR_pipe2 293
#define NR_openat2 437

/* TCP states (include/net/tcp_states.h) */
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9
#define RCV_SHUTDOWN 1

/* fill_xfer sets w->x for a transfer of n bytes made by the syscall whose
 * saved registers are w->regs; the buffer comes from the syscall's
 * arguments. Other paths into a socket (sendfile, splice, io_uring,
 * sendmmsg) give a length-only event. 0: nothing to report. */
static __always_inline int fill_xfer(struct work *w, __u32 tgid, __u32 tid, __u8 type, __u64 n)
{
	struct user_regs *regs = &w->regs;
	struct xfer *x = &w->x;
	long nr = regs->orig_ax;
	__u64 ptr = 0, iovcnt = 0;
	__u8 vectored = 0;
	switch (nr) {
	case NR_read:
	case NR_write:
	case NR_recvfrom:
	case NR_sendto:
		ptr = regs->si;
		break;
	case NR_readv:
	case NR_writev:
		vectored = 1;
		ptr = regs->si;
		iovcnt = regs->dx;
		break;
	case NR_recvmsg:
	case NR_sendmsg: {
		struct ebpfred_user_msghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (void *)regs->si) != 0)
			return 0;
		vectored = 1;
		ptr = (__u64)m.msg_iov;
		iovcnt = m.msg_iovlen;
		break;
	}
	}
	x->ptr = ptr;
	x->iovcnt = iovcnt;
	x->n = n;
	/* a Go program's goroutine; no buffer: no response head to route */
	x->g = ptr ? regs->r14 : 0;
	x->tgid = tgid;
	x->fd = regs->di;
	x->tid = tid;
	x->type = type;
	x->vectored = vectored;
	x->tls = 0;
	x->ts = 0;
	return 1;
}

/* ---- socket tracepoints (Linux 6.3+) ---- */

/* sock_send_length / sock_recv_length(struct sock *sk, int ret, int flags) */
static __always_inline int sock_io(struct bpf_raw_tracepoint_args *ctx, __u8 type)
{
	int ret = (int)ctx->args[1];
	if (ret <= 0)
		return 0;
	__u64 id = current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!tgid || !bpf_map_lookup_elem(&tracked_pids, &tgid))
		return 0;
	if (type == EVENT_DATA_IN && ((int)ctx->args[2] & MSG_PEEK))
		return 0;
	struct work *w = get_work();
	if (!w)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (bpf_probe_read_kernel(&w->regs, sizeof(w->regs), (void *)bpf_task_pt_regs(task)) != 0)
		return 0;
	if (!fill_xfer(w, tgid, (__u32)id, type, ret))
		return 0;
	w->x.sk = ctx->args[0];
	report_xfer();
	return 0;
}

SEC("raw_tracepoint/sock_send_length")
int ebpfred_sock_send(struct bpf_raw_tracepoint_args *ctx) { return sock_io(ctx, EVENT_DATA_OUT); }

SEC("raw_tracepoint/sock_recv_length")
int ebpfred_sock_recv(struct bpf_raw_tracepoint_args *ctx) { return sock_io(ctx, EVENT_DATA_IN); }

/* ---- the syscall exit (older kernels) ---- */

/* forget_fd: fd now names another file (or none): its cached socket is
 * stale. Every call that hands out an fd number does this for it, so a
 * number another thread closed a moment ago is never taken for the socket
 * it used to name. */
static __always_inline void forget_fd(__u32 tgid, __u32 fd)
{
	struct fd_key k = {.tgid = tgid, .fd = fd};
	bpf_map_delete_elem(&fd_socks, &k);
}

/* forget_fd_pair: the two fds a pipe or socketpair wrote to user memory. */
static __always_inline void forget_fd_pair(__u32 tgid, __u64 uaddr)
{
	int fds[2] = {};
	if (bpf_probe_read_user(fds, sizeof(fds), (void *)uaddr) != 0)
		return;
	forget_fd(tgid, fds[0]);
	forget_fd(tgid, fds[1]);
}

/* sock_of_fd: the TCP socket behind fd, cached per (tgid, fd); 0 if none. */
static __always_inline __u64 sock_of_fd(struct work *w, __u32 tgid, __u32 fd, __u32 gen)
{
	struct fd_key k = {.tgid = tgid, .fd = fd};
	struct fd_sock *c = bpf_map_lookup_elem(&fd_socks, &k);
	if (c && c->gen == gen)
		return c->sk;
	struct fd_sock v = {.gen = gen};
	count(COUNTER_FDS_RESOLVED);
	__u64 sk = fd_sock(fd);
	if (sk) {
		struct conn_info *ci = lookup_conn(w, sk, tgid, fd);
		if (ci)
			v.sk = sk;
	}
	bpf_map_update_elem(&fd_socks, &k, &v, BPF_ANY);
	return v.sk;
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

	__u8 type;
	switch (nr) {
	case NR_read:
	case NR_readv:
	case NR_recvfrom:
	case NR_recvmsg:
		if ((nr == NR_recvfrom && (regs->r10 & MSG_PEEK)) || (nr == NR_recvmsg && (regs->dx & MSG_PEEK)))
			return 0;
		type = EVENT_DATA_IN;
		break;
	case NR_write:
	case NR_writev:
	case NR_sendto:
	case NR_sendmsg:
	case NR_sendfile:
		type = EVENT_DATA_OUT;
		break;
	case NR_close:
		forget_fd(tgid, regs->di);
		return 0;
	case NR_open:
	case NR_creat:
	case NR_openat:
	case NR_openat2:
	case NR_socket:
	case NR_accept:
	case NR_accept4:
	case NR_dup:
	case NR_dup2:
	case NR_dup3:
	case NR_fcntl: /* F_DUPFD; other commands' results just cost a re-resolve */
	case NR_eventfd2:
	case NR_epoll_create1:
		if (ret >= 0)
			forget_fd(tgid, ret);
		return 0;
	case NR_pipe:
	case NR_pipe2:
		if (ret == 0)
			forget_fd_pair(tgid, regs->di);
		return 0;
	case NR_socketpair:
		if (ret == 0)
			forget_fd_pair(tgid, regs->r10);
		return 0;
	default:
		return 0;
	}
	if (ret <= 0)
		return 0;
	__u64 sk = sock_of_fd(w, tgid, regs->di, gen);
	if (!sk)
		return 0;
	if (!fill_xfer(w, tgid, (__u32)id, type, ret))
		return 0;
	w->x.sk = sk;
	report_xfer();
	return 0;
}

/* ---- the end of a connection (both ways) ----
 *
 * inet_sock_set_state(const struct sock *sk, int oldstate, int newstate)
 * fires for every TCP state change on the host: a hash lookup for the few
 * changes of each connection. The process closing its socket (close(),
 * exit, or shutdown() of both directions) moves it to FIN_WAIT1, or to
 * LAST_ACK when the peer closed first; that is the end user space needs.
 * A shutdown(SHUT_WR) alone leaves the socket readable (a client may half
 * close and read the answer): its end is TCP_CLOSE.
 *
 * The entry stays after the end: a send or receive can still report bytes
 * after the state changed under it (a reset processed inside the call), and
 * must find the connection, not set up a new one from a socket whose port
 * is already released. It goes when the socket's memory starts another
 * connection: every TCP socket that can carry data passes SYN_SENT (connect)
 * or SYN_RECV (accept) first. */
SEC("raw_tracepoint/inet_sock_set_state")
int ebpfred_sock_state(struct bpf_raw_tracepoint_args *ctx)
{
	int newstate = (int)ctx->args[2];
	__u64 sk = ctx->args[0];
	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV) {
		bpf_map_delete_elem(&conns, &sk);
		return 0;
	}
	if (newstate != TCP_FIN_WAIT1 && newstate != TCP_LAST_ACK && newstate != TCP_CLOSE)
		return 0;
	struct conn_info *ci = bpf_map_lookup_elem(&conns, &sk);
	if (!ci)
		return 0;
	if (!ci->closed &&
	    (newstate == TCP_CLOSE || (BPF_CORE_READ((struct sock *)sk, sk_shutdown) & RCV_SHUTDOWN))) {
		ci->closed = 1;
		/* Straight into the ring, not through the per-CPU work area: this
		 * runs in softirq too, which may interrupt a program using it. */
		struct event *e = bpf_ringbuf_reserve(&events, EVENT_HDR_SIZE, 0);
		if (!e) {
			count(COUNTER_DROPPED);
		} else {
			__builtin_memset(e, 0, EVENT_HDR_SIZE);
			e->ts = bpf_ktime_get_ns();
			e->sk = sk;
			e->tgid = ci->tgid;
			e->fd = ci->fd;
			e->type = EVENT_CLOSE;
			bpf_ringbuf_submit(e, wakeup_flag());
		}
	}
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
