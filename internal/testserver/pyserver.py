#!/usr/bin/env python3
"""Python http.server test server of internal/testserver.

Listens on 127.0.0.1 (port from argv[1], 0 = any free port; or
"address:port"), prints
"LISTENING <port>" once it accepts connections, and serves the endpoints
documented in package testserver over HTTP/1.1 keep-alive
(ThreadingHTTPServer, protocol_version "HTTP/1.1", Content-Length or
chunked framing on every response).
"""

import re
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# Body filler shared by every test server.
PATTERN = b"abcdefghijklmnopqrstuvwxyz012345"
MAX_BYTES = 1 << 30

STATUS = re.compile(r"^/status/(\d+)$")
BYTES = re.compile(r"^/bytes/(\d+)$")
CHUNKED = re.compile(r"^/chunked/(\d+)$")


def filler(n):
    reps = n // len(PATTERN) + 1
    return (PATTERN * reps)[:n]


def chunk_size(n):
    # A quarter of the body, at most 16 KiB, at least 1 byte: the same rule
    # as the other servers.
    return max(min((n + 3) // 4, 16 << 10), 1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pyserver"
    # Headers and body are two writes: without TCP_NODELAY the body waits
    # for the client's delayed ACK (~40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True

    def do_GET(self):
        self.serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def discard_body(self):
        """Read the request body (Content-Length or chunked) so the
        connection can carry the next request."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers end with an empty line.
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                self.rfile.read(size + 2)
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            got = self.rfile.read(min(n, 1 << 16))
            if not got:
                return
            n -= len(got)

    def plain(self, code, text):
        body = text.encode()
        self.send_response(code)
        if code in (204, 304):
            self.end_headers()
            return
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def serve(self):
        self.discard_body()
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        m = STATUS.match(url.path)
        if m:
            code = int(m.group(1))
            if not 200 <= code <= 599:
                return self.plain(400, "status code must be 200..599\n")
            delay = query.get("delay_ms", ["0"])[0]
            if not delay.isdigit():
                return self.plain(400, "delay_ms must be a non-negative integer\n")
            time.sleep(int(delay) / 1000.0)
            return self.plain(code, "status %d\n" % code)
        m = BYTES.match(url.path) or CHUNKED.match(url.path)
        if m:
            if self.command not in ("GET", "HEAD"):
                return self.plain(405, "method not allowed\n")
            n = int(m.group(1))
            if n > MAX_BYTES:
                return self.plain(400, "size must be 0..%d\n" % MAX_BYTES)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if m.re is BYTES:
                self.send_header("Content-Length", str(n))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(filler(n))
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD":
                return
            body, step = filler(n), chunk_size(n)
            for i in range(0, n, step):
                part = body[i:i + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if url.path == "/proxy":
            return self.proxy(query)
        if url.path == "/traceparent":
            return self.plain(200, "%s\n" % self.headers.get("traceparent", "none"))
        return self.plain(404, "not found\n")

    def proxy(self, query):
        """One outgoing request to ?to=URL, made on this handler thread
        (a thread-per-request server calling downstream); answers
        "proxied {code}\n" and the upstream body."""
        to = query.get("to", [""])[0]
        if not to.startswith("http://"):
            return self.plain(400, "to must be an http:// URL\n")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(to, timeout=10) as resp:
                code, body = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            code, body = e.code, e.read()
        except OSError as e:
            return self.plain(502, "proxy: %s\n" % e)
        return self.plain(code, "proxied %d\n%s" % (code, body.decode(errors="replace")))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    host, port = "127.0.0.1", sys.argv[1] if len(sys.argv) > 1 else "0"
    if ":" in port:
        host, port = port.rsplit(":", 1)
    srv = Server((host, int(port)), Handler)
    if len(sys.argv) > 3:
        # HTTPS: argv[2] = certificate, argv[3] = key (ssl module, libssl)
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("LISTENING %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
