/* Shared between the kernel program and its Go reader (internal/probes). */
#ifndef EBPFRED_H
#define EBPFRED_H

/* Copy limits. HTTP/1 heads fit in H1_COPY; on an HTTP/2 connection a
 * transfer is reported as events of at most MAX_PAYLOAD copied bytes each
 * (protocols/http2.h), so that every frame header is copied. */
#define MAX_PAYLOAD 4096 /* must be a power of two */
#define H1_COPY 1024

enum event_type {
	EVENT_DATA_IN = 1,  /* the process read from a TCP socket */
	EVENT_DATA_OUT = 2, /* the process wrote to a TCP socket */
	EVENT_CLOSE = 3,    /* the process closed a TCP socket fd */
	EVENT_EXEC = 4,     /* exec; payload = filename */
	EVENT_FORK = 5,     /* a tracked process forked; tgid = child, fd = parent */
	EVENT_EXIT = 6,     /* a tracked process exited */
	EVENT_CONN = 7,     /* a connection's endpoints (struct conn_event), sent
			     * once before its first data event */
	EVENT_ROUTE = 8,    /* Go net/http: the ServeMux pattern the goroutine
			     * matched (struct route_event), sent just before
			     * the first response write on that goroutine */
	EVENT_ROUTE_STREAM = 9, /* Go net/http HTTP/2: the route an HTTP/2
				 * handler's router matched, naming the stream
				 * and the peer (struct route_stream_event) */
	EVENT_GO_LINK = 10, /* Go in process: the client request that the
			     * transfer of sk it names starts was made for the
			     * server request in flight on another socket
			     * (struct go_link_event) */
	/* propagation: kernel-chosen span ids (struct trace_event in
	 * propagate.h), sent just before the data event of the same syscall.
	 * Numbered apart from the others so that types added meanwhile do not
	 * collide with it. */
	EVENT_TRACE = 16,
};

/* Or'ed into a data event's type: the payload is TLS plaintext captured by
 * a uprobe (OpenSSL SSL_read/SSL_write, Go crypto/tls), not socket bytes.
 * User space then reports the connection with url.scheme "https". */
#define EVENT_FLAG_TLS 0x80

enum track_flags {
	TRACK_CONFIRMED = 1,
	TRACK_PENDING = 2, /* exec'd, not yet matched by user space */
};

enum counter {
	COUNTER_DROPPED = 0,        /* records lost: ring full (per process: pid_drops) */
	COUNTER_CONNS_RESOLVED = 1, /* TCP sockets first seen (their endpoints read) */
	COUNTER_TLS_NO_FD = 2,      /* TLS plaintext with no known socket: dropped */
	COUNTER_FDS_RESOLVED = 3,   /* syscall capture: fds looked up in the fd table */
	COUNTER_MAX = 4,
};

/* EVENT_HEADER is the first EVENT_HDR_SIZE bytes of every record in the
 * ring, whatever its type: user space reads the type at the same offset in
 * all (internal/probes decode). It is written once, here; each record adds
 * its own fields after it. */
#define EVENT_HEADER                                                              \
	__u64 ts;          /* bpf_ktime_get_ns() when it happened */             \
	__u64 sk;          /* struct sock address: connection identity; 0: none */ \
	__u32 tgid;                                                               \
	__u32 fd;          /* the socket's fd (EVENT_ROUTE_STREAM: the stream id) */ \
	__u32 len;         /* bytes transferred */                                \
	__u16 payload_len; /* bytes of them copied after the header */            \
	__u8 type;         /* enum event_type, | EVENT_FLAG_TLS for plaintext */  \
	__u8 tail_len;     /* 0 when the payload holds the whole transfer         \
			    * (EVENT_ROUTE_STREAM: the address's length) */           \
	__u8 tail[8]

#define EVENT_HDR_SIZE 40

/* A data, close, exec, fork or exit event. The connection's endpoints are
 * not repeated here: they come once per connection in a conn_event, which
 * keeps the common record (and the copy into the ring) small. */
struct event {
	EVENT_HEADER;
	/* twice MAX_PAYLOAD so the verifier can bound masked offsets */
	__u8 payload[MAX_PAYLOAD * 2];
};

_Static_assert(__builtin_offsetof(struct event, payload) == EVENT_HDR_SIZE, "EVENT_HDR_SIZE");

/* EVENT_CONN: a connection's endpoints, before its first data event. */
struct conn_event {
	EVENT_HEADER;
	__u16 family;
	__u16 sport; /* local port, host order */
	__u16 dport; /* remote port, host order */
	__u16 pad;
	__u8 saddr[16];
	__u8 daddr[16];
};

#define CONN_EVENT_SIZE 80
_Static_assert(sizeof(struct conn_event) == CONN_EVENT_SIZE, "CONN_EVENT_SIZE");

/* Go ServeMux patterns longer than this are cut. */
#define ROUTE_MAX 128

/* EVENT_ROUTE: route = the pattern as registered, e.g.
 * "GET example.com/items/{id}" (user space strips method and host). */
struct route_event {
	EVENT_HEADER;
	__u8 route[ROUTE_MAX];
};

_Static_assert(__builtin_offsetof(struct route_event, route) == EVENT_HDR_SIZE, "route_event header");

/* Request.RemoteAddr ("ip:port", "[ip6]:port") longer than this is cut. */
#define ADDR_MAX 64

/* EVENT_ROUTE_STREAM: fd = the HTTP/2 stream id, len = payload_len = the
 * route's length, tail_len = the length of the peer address (the handler's
 * Request.RemoteAddr) after the route: that names the connection, since the
 * handler goroutine never touches the socket. */
struct route_stream_event {
	EVENT_HEADER;
	__u8 route[ROUTE_MAX];
	__u8 addr[ADDR_MAX];
};

_Static_assert(__builtin_offsetof(struct route_stream_event, route) == EVENT_HDR_SIZE, "route_stream_event header");

/* EVENT_GO_LINK: sk and fd name the client connection; ts and len the
 * transfer it is about (the time of its data event or events, its length);
 * parent_sk the server connection of the same process whose request the
 * writing goroutine works for; since (bpf_ktime_get_ns) a time at which that
 * request was surely in flight: it had started by then (see gocontext.c). */
struct go_link_event {
	EVENT_HEADER;
	__u64 parent_sk;
	__u64 since;
};

#define GO_LINK_EVENT_SIZE 56
_Static_assert(sizeof(struct go_link_event) == GO_LINK_EVENT_SIZE, "GO_LINK_EVENT_SIZE");

#endif
