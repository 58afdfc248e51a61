/* Kernel types ebpfred reads, declared with preserve_access_index so that
 * CO-RE relocates every field access against the running kernel's BTF.
 * Only the fields we read are listed; their order and offsets do not matter. */
#ifndef EBPFRED_KERNEL_TYPES_H
#define EBPFRED_KERNEL_TYPES_H

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct inode {
	unsigned short i_mode;
};

struct file {
	struct inode *f_inode;
	void *private_data;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct pid_namespace;

struct upid {
	int nr;
	struct pid_namespace *ns;
};

/* A pid's number in its own namespace and each ancestor: numbers[i] is
 * the number in the namespace at level i (0: the host's). */
struct pid {
	unsigned int level;
	struct upid numbers[1];
};

struct task_struct {
	int pid;
	int tgid;
	struct pid *thread_pid;
	struct files_struct *files;
	void *stack; /* the kernel stack; the saved user registers are at its top */
};

struct in6_addr {
	union {
		__u8 u6_addr8[16];
	} in6_u;
};

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	__u16 sk_type;
	__u16 sk_protocol;
	__u8 sk_shutdown; /* RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2 */
};

struct linux_binprm {
	const char *filename;
};

struct socket {
	short type;
	struct sock *sk;
};

#pragma clang attribute pop

/* User-space ABI structs (stable; no relocation needed). */

/* The head of x86-64's struct pt_regs, up to orig_ax: the layout the
 * syscall entry code saves and user space sees through ptrace. */
struct user_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax;
};
struct ebpfred_iovec {
	void *iov_base;
	__u64 iov_len;
};

struct ebpfred_user_msghdr {
	void *msg_name;
	int msg_namelen;
	struct ebpfred_iovec *msg_iov;
	__u64 msg_iovlen;
	void *msg_control;
	__u64 msg_controllen;
	unsigned int msg_flags;
};

#endif
