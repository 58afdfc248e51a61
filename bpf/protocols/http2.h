/* HTTP/2, the kernel half (Go side: internal/http2).
 *
 * Copy rule: a connection whose client preface goes by (in a transfer of any
 * size), or whose server's first SETTINGS frame does, is HTTP/2 from then on
 * (conn_info.h2), and every transfer of it is walked frame by frame
 * (h2_report, below) instead of being copied by the generic rule. Included
 * by capture.h after the shared helpers it uses (copy_chunk, iov_at,
 * submit, prop_data). */
#ifndef EBPFRED_PROTOCOLS_HTTP2_H
#define EBPFRED_PROTOCOLS_HTTP2_H

/* is_preface: the HTTP/2 client connection preface, "PRI * HTTP/2.0". */
static __always_inline int is_preface(const __u8 *p)
{
	return p[0] == 'P' && p[1] == 'R' && p[2] == 'I' && p[3] == ' ' && p[4] == '*' && p[5] == ' ' &&
	       p[6] == 'H' && p[7] == 'T' && p[8] == 'T' && p[9] == 'P' && p[10] == '/' && p[11] == '2';
}

/* is_server_preface: a transfer of at least n bytes copied to p starts with
 * a SETTINGS frame that is not an ACK and holds at most 16 settings, as
 * every HTTP/2 server's first frame does (RFC 9113 §3.4). */
static __always_inline int is_server_preface(const __u8 *p, __u32 n)
{
	__u32 len = (__u32)p[0] << 16 | (__u32)p[1] << 8 | p[2];
	return n >= 9 && p[3] == 4 && p[4] == 0 && !(p[5] | p[6] | p[7] | p[8]) && len % 6 == 0 && len <= 96;
}

/* http2_may_start: the preface starts here (HTTP/1's rule lets it through
 * too; it is here so that turning HTTP/1 off would not lose it). */
static __always_inline int http2_may_start(const __u8 *p) { return is_preface(p); }

/* HTTP/2. Frames of any streams share a transfer, a frame can span
 * transfers, and a transfer can be far longer than MAX_PAYLOAD (a Go gRPC
 * server writes up to 32 KiB of small DATA frames at once; its reads are as
 * long). What user space needs of it are the frame headers and the payloads
 * of every frame but DATA (header blocks, RST_STREAM, GOAWAY, SETTINGS):
 * with a frame header missed it loses the frame boundaries, and with them
 * the END_STREAM of every stream in flight and the HPACK table.
 *
 * So the kernel follows the frames itself, per direction (struct h2_dir,
 * which carries a frame, or a frame header, from one transfer into the
 * next), and reports a transfer as one event or several consecutive ones,
 * each covering a stretch of the transfer and copying its first bytes (a
 * window of at most MAX_PAYLOAD): an event ends where its window ends, or
 * after the DATA payload that runs past its window, which is not copied;
 * the next event starts at the next frame header. Every frame header and
 * every other payload byte is thus copied, DATA payloads past a window are
 * skipped, and to user space the events are just shorter transfers, each
 * starting where the last one ended. A transfer that needs more than
 * H2_MAX_EVENTS events has the rest reported length-only (user space then
 * loses the boundaries and counts that). h2_report is the entry.
 *
 * Boundaries are known from the preface on (the client's side), or from a
 * transfer whose first bytes are a well-formed frame header (the server's
 * side, or a connection seen mid-way); a frame header that breaks the rules
 * of RFC 9113 §6 loses them until such a transfer comes.
 *
 * Cost: a transfer that fits one window costs what it did (one copy) plus a
 * call per frame header; each further window one more copy and ring record.
 * Dense small frames (a stream of small messages) are copied whole, up to
 * H2_MAX_EVENTS windows; large DATA frames cost one window each, trimmed
 * to the bytes before their payload. */
#define H2_MAX_EVENTS 64  /* events per transfer: 256 KiB of dense frames */
#define H2_FRAMES 256     /* frame headers per event: a window of 16-byte frames */
#define H2_HDR 9
#define H2_PREFACE_LEN 24

/* h2_work is get_work for the HTTP/2 functions: its key is read-only data
 * (zero_key, a map value to the verifier), not a stack slot, so that these
 * small functions need no stack of their own (every program's frames
 * together stay within its stack budget). */
static __always_inline struct work *h2_work(void)
{
	return bpf_map_lookup_elem(&percpu_work, (const void *)&zero_key);
}

/* h2_submit is submit for the HTTP/2 functions: their events are all data
 * events, and a drop goes straight to count_drop (no stack), counted for
 * the process like every lost data event. */
static __always_inline void h2_submit(struct work *w, __u32 size)
{
	if (size > sizeof(w->e))
		return;
	if (bpf_ringbuf_output(&events, &w->e, size, wakeup_flag()) != 0)
		count_drop(w->e.tgid);
}

/* h2_header_ok: the frame header in work.h2_hdr breaks none of the rules
 * of RFC 9113 §6 a peer's frame keeps (reserved bit clear, defined flags,
 * the stream-0 rules, fixed lengths). Extension types pass only when the
 * boundaries are already known (work.h2.synced). A global function of its
 * own: inlined in h2_step, its registers made h2_step spill to the stack. */
__attribute__((noinline)) int h2_header_ok(void)
{
	struct work *w = h2_work();
	if (!w)
		return 0;
	const __u8 *h = w->h2_hdr;
	__u8 synced = w->h2.synced;
	__u32 len = (__u32)h[0] << 16 | (__u32)h[1] << 8 | h[2];
	__u8 flags = h[4];
	if (h[5] & 0x80)
		return 0;
	int s0 = !(h[5] | h[6] | h[7] | h[8]);
	switch (h[3]) {
	case 0: /* DATA: END_STREAM, PADDED */
		return !s0 && !(flags & ~0x09);
	case 1: /* HEADERS: END_STREAM, END_HEADERS, PADDED, PRIORITY */
		return !s0 && !(flags & ~0x2d);
	case 2: /* PRIORITY */
		return !s0 && !flags && len == 5;
	case 3: /* RST_STREAM */
		return !s0 && !flags && len == 4;
	case 4: /* SETTINGS: ACK */
		return s0 && !(flags & ~0x01) && len % 6 == 0 && (!flags || !len);
	case 5: /* PUSH_PROMISE: END_HEADERS, PADDED */
		return !s0 && !(flags & ~0x0c) && len >= 4;
	case 6: /* PING: ACK */
		return s0 && !(flags & ~0x01) && len == 8;
	case 7: /* GOAWAY */
		return s0 && !flags && len >= 8;
	case 8: /* WINDOW_UPDATE */
		return !flags && len == 4;
	case 9: /* CONTINUATION: END_HEADERS */
		return !s0 && !(flags & ~0x04);
	}
	return synced;
}

/* The functions below are global: each is verified once, and a loop whose
 * body is one call costs the verifier a few instructions per iteration.
 * They keep their state in the CPU's work area (work.h2*), not on the
 * stack. */

/* h2_lost: not a frame header where one should be. The event takes the
 * rest of the transfer with its window, and the boundaries are lost until
 * a transfer starts with a frame header. */
static __always_inline int h2_lost(struct work *w)
{
	__builtin_memset(&w->h2, 0, sizeof(w->h2));
	w->h2_keep = w->h2_end - w->h2_a;
	w->h2_ret = w->h2_n;
	return 1;
}

/* h2_step walks one frame of the window: the rest of the payload in
 * progress, then the next frame header (whose first hdr_n bytes may have
 * ended the last transfer). It returns 1 when the event ends (at
 * work.h2_ret), 0 to go on. */
__attribute__((noinline)) int h2_step(void)
{
	struct work *w = h2_work();
	if (!w)
		return 1;
	struct h2_dir *s = &w->h2;
	__u32 p = w->h2_p, a = w->h2_a, end = w->h2_end, n = w->h2_n;
	if (a > p || p > end || end > n)
		return h2_lost(w); /* cannot happen */
	__u32 rem = s->rem;
	if (rem && rem <= end - p) {
		p += rem;
		rem = 0;
		s->rem = 0;
	}
	if (rem) {
		if (!s->skip) {
			/* it goes on past the window: the next one continues */
			s->rem = rem - (end - p);
			w->h2_ret = end;
			return 1;
		}
		/* a DATA payload past the window: the event covers it
		 * without copying it */
		if (p - a < w->h2_keep)
			w->h2_keep = p - a;
		if (rem >= n - p) {
			s->rem = rem - (n - p);
			w->h2_ret = n;
		} else {
			s->rem = 0;
			w->h2_ret = p + rem;
		}
		return 1;
	}
	if (p >= n) {
		w->h2_ret = n;
		return 1;
	}
	/* a frame header at p */
	__u32 o = p - a, have = s->hdr_n;
	if (have && (p != 0 || have >= H2_HDR))
		return h2_lost(w); /* cannot happen */
	if (end - p < H2_HDR - have) {
		w->h2_ret = p; /* the next window starts with it */
		if (end < n)
			return 1;
		if (have)
			return h2_lost(w); /* a header over three transfers */
		/* the transfer ends inside it: carry its bytes (those past the
		 * end are junk, and hdr_n says so) */
		const __u8 *src = w->e.payload + (o & (MAX_PAYLOAD - 1));
		for (int j = 0; j < H2_HDR - 1; j++)
			s->hdr[j] = src[j];
		s->hdr_n = end - p;
		w->h2_ret = end;
		return 1;
	}
	__u8 *hb = w->h2_hdr;
	if (have) {
		/* p is 0: the rest of the header starts the transfer */
		__builtin_memcpy(hb, s->hdr, 8);
		for (__u32 k = 0; k < H2_HDR; k++) {
			if (k + have < H2_HDR)
				hb[(have + k) & 15] = w->e.payload[k];
		}
	} else {
		const __u8 *src = w->e.payload + (o & (MAX_PAYLOAD - 1));
		for (int j = 0; j < H2_HDR; j++)
			hb[j] = src[j];
	}
	/* read the header back from memory: kept in registers, its bytes
	 * would be spilled to the stack */
	asm volatile("" ::: "memory");
	s->hdr_n = 0;
	w->h2_p = p + H2_HDR - have; /* (unused when the header is refused) */
	int ok = h2_header_ok();
	/* w again rather than kept across the call: a register short, it
	 * would be spilled to the stack */
	w = h2_work();
	if (!w)
		return 1;
	if (!ok)
		return h2_lost(w);
	s = &w->h2;
	hb = w->h2_hdr;
	s->synced = 1;
	s->rem = (__u32)hb[0] << 16 | (__u32)hb[1] << 8 | hb[2];
	/* a padded DATA frame's first byte is its pad length: copied */
	s->skip = hb[3] == 0 && !(hb[4] & 0x08);
	return 0;
}

/* h2_copy_iov copies what iovec i holds of the bytes h2_copy asks for; 1
 * ends the walk over the iovecs. An iovec that ends before the window
 * starts moves the transfer's iovec cursor (work.h2_iovi, h2_iovat) past
 * it: windows only move forward, so each iovec is read at most twice. */
__attribute__((noinline)) int h2_copy_iov(__u32 i)
{
	struct work *w = h2_work();
	if (!w || w->h2_got >= w->h2_want)
		return 1;
	struct ebpfred_iovec *v = (struct ebpfred_iovec *)w->h2_iov;
	if (iov_at(&w->x, i, v) != 0)
		return 1;
	__u64 at = w->h2_at, here = v->iov_len;
	__u64 next = (__u64)w->h2_from + w->h2_got; /* the next byte to copy */
	w->h2_at = at + here;
	if (at + here <= w->h2_from) {
		w->h2_iovi = i + 1;
		w->h2_iovat = at + here;
		return 0;
	}
	if (at + here <= next)
		return 0;
	__u64 skip = next - at;
	int k = copy_chunk(w->h2_got, (__u64)v->iov_base + skip, here - skip, w->h2_want);
	if (k <= 0)
		return 1;
	w->h2_got += k;
	return 0;
}

/* h2_copy copies the transfer bytes [a, a + len) to the start of the CPU's
 * event payload and returns how many it copied. Vectored transfers are
 * read from the iovec cursor on, 2 * MAX_IOV iovecs per call at most: those
 * of the last window (skipped) and those of this one (grpcio writes a frame
 * header and its payload as iovecs of their own, hundreds in one sendmsg);
 * a window that needs more is cut short, and the next one goes on. */
__attribute__((noinline)) int h2_copy(__u32 a, __u32 len)
{
	struct work *w = h2_work();
	if (!w || len > MAX_PAYLOAD)
		return 0;
	if (!w->x.vectored)
		return copy_chunk(0, w->x.ptr + a, len, MAX_PAYLOAD);
	if (w->h2_iovat > a) { /* cannot happen: windows move forward */
		w->h2_iovi = 0;
		w->h2_iovat = 0;
	}
	w->h2_at = w->h2_iovat;
	w->h2_got = 0;
	w->h2_from = a;
	w->h2_want = len;
	__u32 first = w->h2_iovi; /* (h2_copy_iov moves the cursor) */
	for (__u32 i = 0; i < 2 * MAX_IOV; i++) {
		if (h2_copy_iov(first + i))
			break;
	}
	return w->h2_got;
}

/* h2_event follows the frames of the transfer bytes [a, a + c) of
 * work.h2_n (a and c are work.h2_next and h2_nextc), copied at the start of
 * the CPU's event payload, from the direction's state in work.h2, and sends
 * the event for them: it ends after at most H2_FRAMES frames, at the end of
 * the window, or after the DATA payload that runs past the window. It
 * returns 0 when the next window (work.h2_next, h2_nextc) is copied, 1 when
 * the transfer is all reported: when this was its last event, when the next
 * window could not be read, or, as the last event allowed (work.h2_last), with the
 * rest of the transfer reported length-only, which loses the boundaries. */
__attribute__((noinline)) int h2_event(void)
{
	struct work *w = h2_work();
	if (!w)
		return 1;
	__u32 a = w->h2_next, c = w->h2_nextc;
	w->h2_a = a;
	w->h2_end = a + c;
	w->h2_p = a;
	w->h2_keep = c;
	w->h2_ret = 0;
	if (c > MAX_PAYLOAD || a >= w->h2_n || c > w->h2_n - a) {
		h2_lost(w); /* cannot happen */
	} else {
		int i;
		for (i = 0; i < H2_FRAMES; i++) {
			if (h2_step())
				break;
		}
		if (i >= H2_FRAMES)
			w->h2_ret = w->h2_p; /* enough frames: the next event starts here */
	}
	a = w->h2_a;
	__u32 n = w->h2_n, end = w->h2_ret, keep = w->h2_keep;
	if (end <= a || end > n) { /* cannot happen */
		end = n;
		keep = 0;
		w->h2.synced = 0;
	}
	if (keep > end - a)
		keep = end - a;
	if (keep > MAX_PAYLOAD)
		keep = MAX_PAYLOAD;
	w->e.len = end - a;
	w->e.payload_len = keep;
	h2_submit(w, EVENT_HDR_SIZE + keep);
	if (end >= n)
		return 1;
	c = n - end > MAX_PAYLOAD ? MAX_PAYLOAD : n - end;
	int got = w->h2_last ? 0 : h2_copy(end, c);
	if (got > 0 && got <= c) {
		/* a short copy (iovecs past what one call reads) makes a
		 * shorter window */
		w->h2_next = end;
		w->h2_nextc = got;
		return 0;
	}
	/* the rest without its frames */
	w->e.len = n - end;
	w->e.payload_len = 0;
	h2_submit(w, EVENT_HDR_SIZE);
	__builtin_memset(&w->h2, 0, sizeof(w->h2));
	return 1;
}

/* h2_report reports the transfer in this CPU's work, n bytes on a
 * connection known to carry HTTP/2, as one event or more (h2_event),
 * from the frame state in its conns entry (or, for an orphan (conn_for_tls),
 * which is taken to be HTTP/2 but may be HTTP/1, in work.conn). */
__attribute__((noinline)) int h2_report(__u32 n, __u32 orphan)
{
	struct work *w = h2_work();
	if (!w)
		return 0;
	struct conn_info *ci = &w->conn;
	if (!orphan) {
		/* the key is read from the work area: no stack */
		ci = bpf_map_lookup_elem(&conns, &w->x.sk);
		if (!ci)
			return 0;
	}
	w->h2_n = n;
	w->h2_next = 0;
	w->h2_iovi = 0;
	w->h2_iovat = 0;
	w->e.tail_len = 0;
	if (orphan && !w->x.vectored && n > MAX_PAYLOAD &&
	    bpf_probe_read_user(w->e.tail, 8, (const void *)(w->x.ptr + n - 8)) == 0)
		w->e.tail_len = 8; /* a TLS orphan may be HTTP/1: its tail, as before */
	w->e.payload_len = 0; /* not copied yet: prop_data has nothing to look at */
	if (propagation) /* see propagate_data.h */
		prop_data((__u64)w->x.tgid << 32 | w->x.fd, w->x.type | 1 << 8, ci->sk,
			  (__u32)ci->sport | (__u32)ci->dport << 16);
	struct h2_dir *dir = &ci->h2d[w->x.type == EVENT_DATA_OUT];
	w->h2 = *dir;
	w->h2_nextc = h2_copy(0, n > MAX_PAYLOAD ? MAX_PAYLOAD : n);
	if (!w->h2.synced && w->h2_nextc >= 12 && is_preface(w->e.payload)) {
		/* the client preface: the frames follow it, and it is walked
		 * as a frame payload */
		__builtin_memset(&w->h2, 0, sizeof(w->h2));
		w->h2.synced = 1;
		w->h2.rem = H2_PREFACE_LEN;
	}
	for (int i = 0; i < H2_MAX_EVENTS; i++) {
		w->h2_last = i == H2_MAX_EVENTS - 1;
		if (h2_event())
			break;
	}
	*dir = w->h2;
	return 0;
}

#endif
