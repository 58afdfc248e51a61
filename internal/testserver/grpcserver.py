"""A gRPC test server in Python (Debian's python3-grpcio), with no generated
code: the same ebpfred.test.Echo service as cmd/grpcserver, on raw bytes.

Unary(req): req is "code=N;delay_ms=M": waits M ms, answers status N.
ServerStream(req): req is "n=K": sends K messages.
Prints "LISTENING <port>" once it listens on 127.0.0.1.
"""
import sys
import time
from concurrent import futures

import grpc


def params(req):
    out = {}
    for kv in req.decode().split(";"):
        k, _, v = kv.partition("=")
        if v.isdigit():
            out[k] = int(v)
    return out


def unary(req, ctx):
    p = params(req)
    if p.get("delay_ms"):
        time.sleep(p["delay_ms"] / 1000.0)
    code = p.get("code", 0)
    if code:
        ctx.abort(grpc.StatusCode(next(c for c in grpc.StatusCode if c.value[0] == code).value), "as requested")
    return req


def server_stream(req, ctx):
    for i in range(params(req).get("n", 0)):
        yield ("message %d" % i).encode()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    handler = grpc.method_handlers_generic_handler("ebpfred.test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
    })
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("LISTENING %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
