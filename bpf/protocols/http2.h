/* HTTP/2, the kernel half (Go side: internal/http2). A connection whose
 * preface goes by is copied whole from then on (conn_info.h2): frame
 * headers can be anywhere in a transfer. */
#ifndef EBPFRED_PROTOCOLS_HTTP2_H
#define EBPFRED_PROTOCOLS_HTTP2_H

/* is_preface: the HTTP/2 client connection preface, "PRI * HTTP/2.0". */
static __always_inline int is_preface(const __u8 *p)
{
	return p[0] == 'P' && p[1] == 'R' && p[2] == 'I' && p[3] == ' ' && p[4] == '*' && p[5] == ' ' &&
	       p[6] == 'H' && p[7] == 'T' && p[8] == 'T' && p[9] == 'P' && p[10] == '/' && p[11] == '2';
}

/* http2_may_start: the preface starts here (HTTP/1's rule lets it through
 * too; it is here so that turning HTTP/1 off would not lose it). */
static __always_inline int http2_may_start(const __u8 *p) { return is_preface(p); }

#endif
