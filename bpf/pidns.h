/* Pids as the collector's PID namespace numbers them: shared by every
 * object whose programs look pids up or report them. Include it after
 * kernel_types.h where leader_tgid is needed. The loader sets pidns_dev and pidns_ino
 * (internal/probes, from internal/pidns). */
#ifndef EBPFRED_PIDNS_H
#define EBPFRED_PIDNS_H

#define MAX_PID_NS_LEVEL 32

/* The collector's PID namespace (device and inode of /proc/self/ns/pid),
 * set only when it is not the initial one (a sidecar in a pod that shares
 * its process namespace). Discovery reads /proc, which names processes by
 * their pids in that namespace, so the programs must too; pidns_ino == 0
 * keeps the host's pids, and the verifier drops the other branch: the
 * hostPID DaemonSet pays nothing for this. */
volatile const __u64 pidns_dev = 0;
volatile const __u64 pidns_ino = 0;

/* current_pid_tgid is bpf_get_current_pid_tgid() in the collector's PID
 * namespace: tgid << 32 | pid as the collector's /proc names them. It is 0
 * for a task whose active namespace is another one (the host's, another
 * pod's, or one nested below ours): not ours, and never tracked. Every
 * program takes the current task's ids from here and nowhere else. */
static __always_inline __u64 current_pid_tgid(void)
{
	if (!pidns_ino)
		return bpf_get_current_pid_tgid();
	struct bpf_pidns_info ns;
	if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)) != 0)
		return 0;
	return (__u64)ns.tgid << 32 | ns.pid;
}

static __always_inline __u32 current_tgid(void) { return current_pid_tgid() >> 32; }

#ifdef EBPFRED_KERNEL_TYPES_H
/* leader_tgid is the tgid of task, a thread-group leader that is not the
 * current task, in the collector's PID namespace; current must be in that
 * namespace (it gives the namespace's level). 0 if task has no pid there. */
static __always_inline __u32 leader_tgid(struct task_struct *task)
{
	if (!pidns_ino)
		return BPF_CORE_READ(task, tgid);
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	unsigned int level = BPF_CORE_READ(cur, thread_pid, level);
	struct pid *p = BPF_CORE_READ(task, thread_pid);
	if (!p || BPF_CORE_READ(p, level) < level || level > MAX_PID_NS_LEVEL)
		return 0;
	/* &p->numbers[level], relocated: the array's offset and the size of
	 * struct upid come from the running kernel's BTF */
	__u64 at = (__u64)p + bpf_core_field_offset(struct pid, numbers) + level * bpf_core_type_size(struct upid);
	struct upid u = {};
	if (bpf_probe_read_kernel(&u, sizeof(u), (void *)at) != 0)
		return 0;
	return u.nr;
}
#endif

#endif
