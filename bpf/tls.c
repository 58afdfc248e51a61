// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ebpfred TLS plaintext: OpenSSL (shared or static; feature tls_openssl)
 * and Go crypto/tls (feature tls_go). Loaded after the core object, with
 * its maps.
 *
 * Entry uprobes remember the call's buffer per thread (OpenSSL) or per
 * goroutine (Go); the socket transfers the call makes are seen by the core's
 * sys_exit, which records the fd and suppresses the ciphertext (capture.h
 * tls_syscall); the return probe emits the plaintext through report_xfer(),
 * with the same copy rules as socket bytes. The programs fire for every
 * process that maps the library, so each one checks tracked_pids first. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "capture.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int tls_enter(__u32 kind, __u64 id, __u64 handle, __u64 buf, __u64 lenp, __u8 type,
				     __u8 ex, __u64 len)
{
	__u32 tgid = tracked_tgid();
	if (!tgid)
		return 0;
	struct tls_key k = {.tgid = tgid, .kind = kind, .id = id};
	struct tls_call c = {.handle = handle, .buf = buf, .lenp = lenp, .type = type, .ex = ex, .len = len};
	/* a handshake nested in a read or write must not replace it */
	bpf_map_update_elem(&tls_calls, &k, &c, type ? BPF_ANY : BPF_NOEXIST);
	return 0;
}

/* plaintext reports n bytes of TLS plaintext at buf through the data path,
 * dated ts (a write whose socket I/O was seen: when it returned) or now. */
static __always_inline void plaintext(struct work *w, __u32 tgid, __u32 fd, __u64 sk, __u8 type, __u64 buf,
				      __u64 n, __u64 g, __u64 ts)
{
	struct xfer *x = &w->x;
	x->ptr = buf;
	x->iovcnt = 0;
	x->n = n;
	x->g = g;
	x->sk = sk;
	x->tgid = tgid;
	x->fd = fd;
	x->tid = 0;
	x->type = type;
	x->vectored = 0;
	x->tls = 1;
	x->ts = ts;
	report_xfer();
}

/* flush_write sends, before a Read's plaintext, that of a Write on the same
 * *tls.Conn that did its socket I/O but has not returned (tls_wpending). */
static __always_inline void flush_write(struct work *w, __u32 tgid, __u64 handle)
{
	struct tls_key h = {.tgid = tgid, .kind = TLS_KEY_HANDLE, .id = handle};
	struct tls_key *wk = bpf_map_lookup_elem(&tls_wpending, &h);
	if (!wk)
		return;
	struct tls_key wkey = *wk;
	bpf_map_delete_elem(&tls_wpending, &h);
	struct tls_call *wc = bpf_map_lookup_elem(&tls_calls, &wkey);
	if (!wc || wc->type != EVENT_DATA_OUT || !wc->sk || wc->sent || !wc->len || wc->handle != handle)
		return;
	wc->sent = 1;
	plaintext(w, tgid, wc->fd, wc->sk, EVENT_DATA_OUT, wc->buf, wc->len, wkey.id, wc->ts);
}

/* tls_exit emits n plaintext bytes of the call c that was in flight under k. */
static __always_inline void tls_exit(struct tls_key *k, struct tls_call *c, __s64 n)
{
	if (!bpf_map_lookup_elem(&tracked_pids, &k->tgid))
		return;
	struct work *w = get_work();
	if (!w)
		return;
	if (k->kind == TLS_KEY_GOROUTINE && c->type == EVENT_DATA_IN)
		flush_write(w, k->tgid, c->handle);
	struct tls_sock ts = {.sk = c->sk, .fd = c->fd};
	if (!ts.sk) {
		/* served from the library's buffer: the socket the handle used */
		struct tls_key h = {.tgid = k->tgid, .kind = TLS_KEY_HANDLE, .id = c->handle};
		struct tls_sock *f = bpf_map_lookup_elem(&tls_socks, &h);
		if (!f && c->type == EVENT_DATA_IN && k->kind == TLS_KEY_THREAD) {
			/* memory BIO: the socket this thread just read */
			struct tls_key l = {.tgid = k->tgid, .kind = TLS_KEY_LAST_READ, .id = k->id};
			f = bpf_map_lookup_elem(&tls_socks, &l);
			if (f) {
				ts = *f;
				bpf_map_update_elem(&tls_socks, &h, &ts, BPF_ANY);
			}
		}
		if (!f) {
			count(COUNTER_TLS_NO_FD);
			return;
		}
		ts = *f;
	}
	plaintext(w, k->tgid, ts.fd, ts.sk, c->type, c->buf, n, k->kind == TLS_KEY_GOROUTINE ? k->id : 0,
		  c->type == EVENT_DATA_OUT ? c->ts : 0);
}

/* tls_handshake_done ends a handshake entry, and only that: a handshake
 * nested in a read or write (Go's Read and Write call Handshake first, every
 * time) must leave the outer call's entry alone. */
static __always_inline int tls_handshake_done(__u32 kind, __u64 id)
{
	struct tls_key k = {.tgid = current_tgid(), .kind = kind, .id = id};
	struct tls_call *p = bpf_map_lookup_elem(&tls_calls, &k);
	if (p && p->type == 0)
		bpf_map_delete_elem(&tls_calls, &k);
	return 0;
}

/* ---- OpenSSL ---- */

static __always_inline int ssl_enter(struct user_regs *r, __u8 type, __u8 ex)
{
	/* SSL_read(ssl, buf, num) / SSL_read_ex(ssl, buf, num, &readbytes) */
	return tls_enter(TLS_KEY_THREAD, (__u32)current_pid_tgid(), r->di, r->si, ex ? r->cx : 0, type,
			 ex, 0);
}

SEC("uprobe")
int ebpfred_ssl_read(struct user_regs *r) { return ssl_enter(r, EVENT_DATA_IN, 0); }

SEC("uprobe")
int ebpfred_ssl_read_ex(struct user_regs *r) { return ssl_enter(r, EVENT_DATA_IN, 1); }

SEC("uprobe")
int ebpfred_ssl_write(struct user_regs *r) { return ssl_enter(r, EVENT_DATA_OUT, 0); }

SEC("uprobe")
int ebpfred_ssl_write_ex(struct user_regs *r) { return ssl_enter(r, EVENT_DATA_OUT, 1); }

/* SSL_do_handshake (SSL_accept and SSL_connect call it): its socket I/O ties
 * the SSL object to its fd before the first SSL_read, which may be served
 * from bytes the handshake already read. A handshake also starts a new
 * session on the object: a socket it was tied to before is an earlier
 * connection's, whose SSL object had the same address (freed, allocated
 * again). Kept, it took the new connection's plaintext when the object is
 * fed through a memory BIO (grpcio's C core), which ties an object to its
 * socket only at the first SSL_read with no tie yet (TLS_KEY_LAST_READ):
 * every call of such a connection was lost (issue 18's load test, grpcio
 * server over TLS, 1 round in 3). */
SEC("uprobe")
int ebpfred_ssl_handshake(struct user_regs *r)
{
	__u32 tgid = tracked_tgid();
	if (tgid) {
		struct tls_key h = {.tgid = tgid, .kind = TLS_KEY_HANDLE, .id = r->di};
		bpf_map_delete_elem(&tls_socks, &h);
	}
	return ssl_enter(r, 0, 0);
}

/* SSL_free: the object's tie to its socket ends with it. An object fed
 * through a memory BIO whose owner never calls SSL_do_handshake (Node.js:
 * SSL_set_accept_state, then SSL_read drives the handshake) would otherwise
 * keep the tie of the connection that last had its address, and the next
 * connection's plaintext would be reported on that earlier, closed socket
 * (TestTLSNode lost a request in about one run in four). */
SEC("uprobe")
int ebpfred_ssl_free(struct user_regs *r)
{
	__u32 tgid = tracked_tgid();
	if (tgid) {
		struct tls_key h = {.tgid = tgid, .kind = TLS_KEY_HANDLE, .id = r->di};
		bpf_map_delete_elem(&tls_socks, &h);
	}
	return 0;
}

SEC("uretprobe")
int ebpfred_ssl_handshake_ret(struct user_regs *r)
{
	return tls_handshake_done(TLS_KEY_THREAD, (__u32)current_pid_tgid());
}

/* One return probe for the four functions: what the call was is in its
 * tls_calls entry. */
SEC("uretprobe")
int ebpfred_ssl_ret(struct user_regs *r)
{
	__u64 id = current_pid_tgid();
	struct tls_key k = {.tgid = id >> 32, .kind = TLS_KEY_THREAD, .id = (__u32)id};
	struct tls_call *p = bpf_map_lookup_elem(&tls_calls, &k);
	if (!p)
		return 0;
	struct tls_call c = *p;
	bpf_map_delete_elem(&tls_calls, &k);
	int rc = (int)r->ax;
	__s64 n = rc;
	if (c.ex) {
		__u64 got = 0;
		if (rc != 1 || bpf_probe_read_user(&got, sizeof(got), (void *)c.lenp) != 0)
			return 0;
		n = got;
	}
	if (n > 0 && c.type)
		tls_exit(&k, &c, n);
	return 0;
}

/* ---- Go crypto/tls ----
 *
 * (*Conn).Read / Write, register ABI (Go >= 1.17): at entry RAX = *Conn,
 * RBX = buffer, RCX = length; R14 = the current g. */
static __always_inline int go_enter(struct user_regs *r, __u8 type)
{
	return tls_enter(TLS_KEY_GOROUTINE, r->r14, r->ax, r->bx, 0, type, 0, r->cx);
}

SEC("uprobe")
int ebpfred_go_tls_read(struct user_regs *r) { return go_enter(r, EVENT_DATA_IN); }

SEC("uprobe")
int ebpfred_go_tls_write(struct user_regs *r) { return go_enter(r, EVENT_DATA_OUT); }

/* crypto/tls.(*Conn).handshakeContext: net/http's server completes the
 * handshake before its first Read, and the read that ends the handshake
 * often brings the first request too, which Read then serves without a
 * syscall. The handshake's socket I/O ties the *Conn to its fd. */
SEC("uprobe")
int ebpfred_go_tls_handshake(struct user_regs *r) { return go_enter(r, 0); }

SEC("uprobe")
int ebpfred_go_tls_handshake_ret(struct user_regs *r) { return tls_handshake_done(TLS_KEY_GOROUTINE, r->r14); }

/* Attached at every RET instruction of Read and Write (never a uretprobe on
 * Go code: it breaks stack growth and traceback). RAX = n. */
SEC("uprobe")
int ebpfred_go_tls_ret(struct user_regs *r)
{
	__u32 tgid = current_tgid();
	struct tls_key k = {.tgid = tgid, .kind = TLS_KEY_GOROUTINE, .id = r->r14};
	struct tls_call *p = bpf_map_lookup_elem(&tls_calls, &k);
	if (!p)
		return 0;
	struct tls_call c = *p;
	bpf_map_delete_elem(&tls_calls, &k);
	if (c.type == EVENT_DATA_OUT) {
		struct tls_key h = {.tgid = tgid, .kind = TLS_KEY_HANDLE, .id = c.handle};
		struct tls_key *wk = bpf_map_lookup_elem(&tls_wpending, &h);
		if (wk && wk->id == k.id)
			bpf_map_delete_elem(&tls_wpending, &h);
		if (c.sent)
			return 0; /* flush_write sent it */
	}
	__s64 n = (__s64)r->ax;
	if (n > 0 && c.type)
		tls_exit(&k, &c, n);
	return 0;
}
