"""A gRPC test server in Python (Debian's python3-grpcio), with no generated
code: the same ebpfred.test.Echo service as cmd/grpcserver, on raw bytes.
Parameters are "key=N;..." in the first message; a missing one is 0.

Unary(req): req is "code=N;delay_ms=M": waits M ms, answers status N.
ServerStream(req): req is "n=K;code=C;size=S": sends K messages of S bytes
  (at least "message i"), then status C.
ClientStream: reads every message (the first says "code=C"), answers
  "got K", then status C.
BidiStream: the first message says "code=C;size=S": echoes each message
  (padded to S bytes) as it arrives, then status C.
Arguments: PORT [WORKERS [CERT KEY]] (0: any free port; 16 worker threads;
TLS with that certificate). Prints "LISTENING <port>" once it listens on
127.0.0.1.
"""
import sys
import time
from concurrent import futures

import grpc


def params(req):
    out = {}
    for kv in req.decode(errors="replace").split(";"):
        k, _, v = kv.partition("=")
        if v.isdigit():
            out[k] = int(v)
    return out


def pad(msg, size):
    return msg + bytes(ord("a") + i % 26 for i in range(len(msg), size))


def status_code(code):
    return next(c for c in grpc.StatusCode if c.value[0] == code)


def finish(ctx, code):
    if code:
        ctx.abort(status_code(code), "as requested")


def unary(req, ctx):
    p = params(req)
    if p.get("delay_ms"):
        time.sleep(p["delay_ms"] / 1000.0)
    finish(ctx, p.get("code", 0))
    return req


def server_stream(req, ctx):
    p = params(req)
    for i in range(p.get("n", 0)):
        yield pad(("message %d" % i).encode(), p.get("size", 0))
    finish(ctx, p.get("code", 0))


def client_stream(reqs, ctx):
    n, p = 0, {}
    for req in reqs:
        if n == 0:
            p = params(req)
        n += 1
    code = p.get("code", 0)
    if code:
        # a message, then a non-OK status: trailers after a response
        ctx.set_code(status_code(code))
        ctx.set_details("as requested")
    return ("got %d" % n).encode()


def bidi_stream(reqs, ctx):
    p = None
    for req in reqs:
        if p is None:
            p = params(req)
        yield pad(req, p.get("size", 0))
    finish(ctx, (p or {}).get("code", 0))


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=int(sys.argv[2]) if len(sys.argv) > 2 else 16))
    handler = grpc.method_handlers_generic_handler("ebpfred.test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "BidiStream": grpc.stream_stream_rpc_method_handler(bidi_stream),
    })
    server.add_generic_rpc_handlers((handler,))
    if len(sys.argv) > 4:
        with open(sys.argv[3], "rb") as c, open(sys.argv[4], "rb") as k:
            creds = grpc.ssl_server_credentials(((k.read(), c.read()),))
        port = server.add_secure_port("127.0.0.1:%d" % port, creds)
    else:
        port = server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("LISTENING %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
