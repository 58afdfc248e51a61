"""A gRPC test client in Python (Debian's python3-grpcio), the counterpart of
cmd/grpcclient with the same arguments and output, on raw bytes (no
generated code):

  grpcclient.py [-tls CA_FILE] [-wait-stdin] [-shared] -c CONCURRENCY -addr HOST:PORT -- CALL...

CALL is "Unary:CODE:DELAY_MS[:TIMEOUT_MS]", "ServerStream:N[:CODE[:SIZE]]",
"ClientStream:N[:CODE[:SIZE]]" or "BidiStream:N[:CODE[:SIZE]]". The list of
calls runs CONCURRENCY times at once, from as many threads, over one channel
(one HTTP/2 connection); with -shared the threads share one run of the list,
each call made once by whichever thread is free (a pool working through a
queue of calls). One JSON line per call: method, code (grpc-go's
name of the status: "OK", "NotFound", …), latency_ns, messages received.
"""
import json
import sys
import threading
import time

import grpc

SERVICE = "ebpfred.test.Echo"


def go_name(code):
    if code == grpc.StatusCode.OK:
        return "OK"
    return "".join(w.capitalize() for w in code.name.split("_"))


def pad(msg, size):
    return msg + bytes(ord("a") + i % 26 for i in range(len(msg), size))


def num(f, i):
    return int(f[i]) if i < len(f) and f[i] else 0


def call(channel, spec):
    f = spec.split(":")
    kind = f[0]
    method = "%s/%s" % (SERVICE, kind)
    start = time.monotonic_ns()
    messages = 0
    code = grpc.StatusCode.OK
    try:
        if kind == "Unary":
            timeout = num(f, 3) / 1000.0 if num(f, 3) else None
            req = ("code=%d;delay_ms=%d" % (num(f, 1), num(f, 2))).encode()
            channel.unary_unary("/" + method)(req, timeout=timeout)
        else:
            n, c, size = num(f, 1), num(f, 2), num(f, 3)

            def reqs(count):
                for i in range(count):
                    yield pad(("n=%d;code=%d;size=%d;i=%d" % (n, c, size, i)).encode(), size)

            if kind == "ServerStream":
                for _ in channel.unary_stream("/" + method)(next(reqs(1))):
                    messages += 1
            elif kind == "ClientStream":
                channel.stream_unary("/" + method)(reqs(n))
                messages = 1
            elif kind == "BidiStream":
                for _ in channel.stream_stream("/" + method)(reqs(n)):
                    messages += 1
            else:
                sys.exit("unknown call " + spec)
    except grpc.RpcError as e:
        code = e.code()
        if kind == "ClientStream" and code != grpc.StatusCode.OK:
            messages = 0
    return {"method": method, "code": go_name(code),
            "latency_ns": time.monotonic_ns() - start, "messages": messages}


def main():
    args = sys.argv[1:]
    addr, conc, ca, wait, shared = None, 1, None, False, False
    while args and args[0] != "--":
        a = args.pop(0)
        if a == "-addr":
            addr = args.pop(0)
        elif a == "-c":
            conc = int(args.pop(0))
        elif a == "-tls":
            ca = args.pop(0)
        elif a == "-wait-stdin":
            wait = True
        elif a == "-shared":
            shared = True
        elif a == "-lazy":
            pass  # grpcio connects at the first call anyway
        else:
            sys.exit("unknown flag " + a)
    calls = args[1:]
    if ca:
        # the test server's self-signed certificate, which names localhost
        with open(ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        channel = grpc.secure_channel(addr, creds, options=(("grpc.ssl_target_name_override", "localhost"),))
    else:
        channel = grpc.insecure_channel(addr)
    if wait:
        sys.stdin.readline()
    lock = threading.Lock()
    queue = list(calls)

    def next_call():
        with lock:
            return queue.pop(0) if queue else None

    def worker():
        if shared:
            while True:
                spec = next_call()
                if spec is None:
                    return
                r = call(channel, spec)
                with lock:
                    print(json.dumps(r), flush=True)
        for spec in calls:
            r = call(channel, spec)
            with lock:
                print(json.dumps(r), flush=True)

    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    channel.close()


if __name__ == "__main__":
    main()
