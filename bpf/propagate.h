/* Trace-context propagation (context_propagation: headers).
 *
 * Shared by the capture object (ebpfred.c: its sys_exit data path reports
 * the ids it finds here) and the injection object (propagate.c: cgroup
 * sock_ops + sk_msg). Both declare the maps below; the loader creates them
 * once, with the capture object, and hands them to the injection object, so
 * the two see the same entries. With propagation off the injection object is
 * never loaded and these maps stay empty. */
#ifndef EBPFRED_PROPAGATE_H
#define EBPFRED_PROPAGATE_H

/* The header line sk_msg inserts after a request line:
 * "traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>\r\n" */
#define TP_NAME_LEN 13 /* "traceparent: " */
#define TP_VALUE_LEN 55
#define TP_LINE_LEN (TP_NAME_LEN + TP_VALUE_LEN + 2)

/* A span context: for thread_ctx, the SERVER span a thread is answering; for
 * injected, the CLIENT span whose traceparent sk_msg just wrote. */
struct tp_ctx {
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 parent_id[8]; /* zero: no parent */
	__u8 flags;        /* W3C trace flags */
	__u8 pad;
	/* injected: the connection's ports (host order), to check that the
	 * syscall that reports it is the one sk_msg ran in */
	__u16 sport;
	__u16 dport;
	__u16 pad2;
};

/* pid_tgid → the server span whose request this thread read last, until the
 * thread writes a response. An outgoing request the thread writes meanwhile
 * is a child of that span (thread-per-request servers). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tp_ctx);
} thread_ctx SEC(".maps");

/* pid_tgid → what sk_msg injected during this thread's send syscall in
 * flight; sys_exit of that syscall reports it and deletes it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tp_ctx);
} injected SEC(".maps");

/* tgid → 1: a process whose outgoing requests must not be linked to the
 * server request its thread read last. Go: goroutines hop threads, and
 * net/http's client writes from its own goroutine, so a thread says nothing
 * about which request a write belongs to. Filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} prop_nolink SEC(".maps");

/* server socket → the server span whose request was read on it last, until
 * a response is written there. A Go handler's outgoing request is a child of
 * the span of the connection its goroutine works for (go_context): the
 * goroutine names the socket, not the thread. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tp_ctx);
} sock_ctx SEC(".maps");

/* [0]: where a task's saved user registers are, as an offset from its
 * kernel stack (task_pt_regs), learned by the go_context uprobes, whose
 * context is those registers. sk_msg programs are given no registers, and
 * need a Go writer's goroutine (R14 at the system call). 0 until learned.
 * [1]: the learning's scratch. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} regs_off SEC(".maps");

/* The event that carries kernel-chosen ids to user space, sent just before
 * the data event of the same syscall (its header is struct event's). */
enum tp_role {
	TP_ROLE_SERVER = 1, /* the ids of the server request this read starts */
	TP_ROLE_CLIENT = 2, /* the ids injected into the request this write starts */
};

struct trace_event {
	EVENT_HEADER; /* type EVENT_TRACE */
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 parent_id[8];
	__u8 flags;
	__u8 role; /* enum tp_role */
	__u8 pad[6];
};

#define TRACE_EVENT_SIZE 80
_Static_assert(sizeof(struct trace_event) == TRACE_EVENT_SIZE, "TRACE_EVENT_SIZE");
_Static_assert(__builtin_offsetof(struct trace_event, trace_id) == EVENT_HDR_SIZE, "trace_event header");

#endif
