// Node.js http test server of internal/testserver.
//
// Listens on 127.0.0.1 (port from argv[2], 0 = any free port), prints
// "LISTENING <port>" once it accepts connections, and serves the endpoints
// documented in package testserver over HTTP/1.1 keep-alive.
'use strict';

const http = require('http');

// Body filler shared by every test server.
const PATTERN = 'abcdefghijklmnopqrstuvwxyz012345';
const MAX_BYTES = 1 << 30;

function filler(n) {
  return Buffer.from(PATTERN.repeat(Math.floor(n / PATTERN.length) + 1).slice(0, n));
}

// A quarter of the body, at most 16 KiB, at least 1 byte: the same rule as
// the other servers.
function chunkSize(n) {
  return Math.max(Math.min(Math.floor((n + 3) / 4), 16 << 10), 1);
}

function plain(res, code, text) {
  if (code === 204 || code === 304) {
    res.writeHead(code);
    res.end();
    return;
  }
  const body = Buffer.from(text);
  res.writeHead(code, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body); // node drops the body of a HEAD response itself
}

function serve(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  let m = /^\/status\/(\d+)$/.exec(url.pathname);
  if (m) {
    const code = Number(m[1]);
    if (code < 200 || code > 599) return plain(res, 400, 'status code must be 200..599\n');
    const delay = url.searchParams.get('delay_ms') || '0';
    if (!/^\d+$/.test(delay)) return plain(res, 400, 'delay_ms must be a non-negative integer\n');
    const reply = () => plain(res, code, `status ${code}\n`);
    // setTimeout counts from libuv's cached loop time, which can be older
    // than this request: it may fire early by real time. Tests assert
    // duration >= delay, so wait until the delay really passed.
    const until = process.hrtime.bigint() + BigInt(delay) * 1000000n;
    const wait = () => {
      const left = until - process.hrtime.bigint();
      if (left <= 0n) return reply();
      setTimeout(wait, Math.max(1, Math.ceil(Number(left) / 1e6)));
    };
    wait();
    return;
  }
  const bytes = /^\/bytes\/(\d+)$/.exec(url.pathname);
  const chunked = /^\/chunked\/(\d+)$/.exec(url.pathname);
  m = bytes || chunked;
  if (m) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed\n');
    const n = Number(m[1]);
    if (n > MAX_BYTES) return plain(res, 400, `size must be 0..${MAX_BYTES}\n`);
    if (bytes) {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
      res.end(filler(n));
      return;
    }
    // No Content-Length: node frames every write as one chunk.
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' });
    const body = filler(n);
    const step = chunkSize(n);
    for (let i = 0; i < n; i += step) res.write(body.subarray(i, i + step));
    res.end();
    return;
  }
  plain(res, 404, 'not found\n');
}

// HTTPS when argv[3] (certificate) and argv[4] (key) are given.
const tlsOpts = process.argv[4]
  ? { cert: require('fs').readFileSync(process.argv[3]), key: require('fs').readFileSync(process.argv[4]) }
  : null;
const handler = (req, res) => {
  // Read the whole request body before answering; the bytes are discarded.
  req.on('data', () => {});
  req.on('end', () => serve(req, res));
};
const server = tlsOpts ? require('https').createServer(tlsOpts, handler) : http.createServer(handler);
// Tests may pause between requests on one connection: keep it open.
server.keepAliveTimeout = 120 * 1000;
server.headersTimeout = 130 * 1000;
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
