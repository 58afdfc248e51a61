/* Kernel types ebpfred reads, declared with preserve_access_index so that
 * CO-RE relocates every field access against the running kernel's BTF.
 * Only the fields we read are listed; their order and offsets do not matter. */
#ifndef EBPFRED_KERNEL_TYPES_H
#define EBPFRED_KERNEL_TYPES_H

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct pt_regs {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long r10;
	unsigned long r8;
	unsigned long orig_ax;
};

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

struct task_struct {
	int pid;
	int tgid;
	struct files_struct *files;
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
