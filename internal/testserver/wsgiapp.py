# A WSGI application for ebpfred's real-world tests (internal/testserver
# StartGunicorn): /status/{code} answers that status with "status {code}\n"
# for any method (request bodies are read and discarded), anything else 404
# "not found\n".
def application(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    if n:
        environ["wsgi.input"].read(n)
    path = environ.get("PATH_INFO", "")
    code, body = 404, b"not found\n"
    if path.startswith("/status/") and path[8:].isdigit():
        code = int(path[8:])
        body = b"" if code in (204, 304) else ("status %d\n" % code).encode()
    reasons = {200: "OK", 201: "Created", 204: "No Content", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}
    start_response("%d %s" % (code, reasons.get(code, "Status")), [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
