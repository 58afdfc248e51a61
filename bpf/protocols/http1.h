/* HTTP/1.x, the kernel half (Go side: internal/http1). */
#ifndef EBPFRED_PROTOCOLS_HTTP1_H
#define EBPFRED_PROTOCOLS_HTTP1_H

/* http1_may_start: these leading bytes (PEEK of them) can begin an HTTP/1
 * request line (an upper-case token of 3-15 letters and a space: any
 * method, PROPFIND and MKCALENDAR included, and the HTTP/2 preface "PRI ")
 * or a status line ("HTTP/"). */
static __always_inline int http1_may_start(const __u8 *p)
{
	if (p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && p[4] == '/')
		return 1;
	for (int i = 0; i < PEEK; i++) {
		if (p[i] == ' ')
			return i >= 3;
		if (p[i] < 'A' || p[i] > 'Z')
			return 0;
	}
	return 0;
}

#endif
