package http1

import (
	"fmt"
	"testing"

	"github.com/ebpfred/ebpfred/internal/record"
)

const (
	benchReq = "GET /api/users/42?verbose=1 HTTP/1.1\r\nHost: api.example.com:8080\r\nUser-Agent: bench/1.0\r\n" +
		"Accept: application/json\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n"
	benchResp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"id\":42,\"ok\":1}\n"
)

// BenchmarkServerKeepAlive feeds one request and one response per iteration
// on a keep-alive server connection.
func BenchmarkServerKeepAlive(b *testing.B) {
	req, resp := xfer(in, 0, benchReq).ev, xfer(out, 0, benchResp).ev
	var stats Stats
	c := NewConn(testMeta, &stats)
	emit := func(*record.Record) {}
	b.ReportAllocs()
	var ts uint64
	for b.Loop() {
		ts += 2
		req.UnixNano, resp.UnixNano = ts, ts+1
		c.Feed(req, emit)
		c.Feed(resp, emit)
	}
	if stats.Records == 0 || stats.Skipped+stats.ParseErrors+stats.Incomplete != 0 {
		b.Fatalf("stats %+v", stats)
	}
}

// BenchmarkServerKeepAliveDistinctPaths is the same with a different path on
// every request, so the path string is allocated each time.
func BenchmarkServerKeepAliveDistinctPaths(b *testing.B) {
	var reqs [64][]byte
	for i := range reqs {
		reqs[i] = []byte(fmt.Sprintf("GET /api/users/%d HTTP/1.1\r\nHost: api.example.com:8080\r\nAccept: */*\r\n\r\n", 1000+i))
	}
	req, resp := xfer(in, 0, string(reqs[0])).ev, xfer(out, 0, benchResp).ev
	var stats Stats
	c := NewConn(testMeta, &stats)
	emit := func(*record.Record) {}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req.Payload = reqs[i%len(reqs)]
		req.Len = len(req.Payload)
		i++
		c.Feed(req, emit)
		c.Feed(resp, emit)
	}
	if stats.Records == 0 || stats.Skipped+stats.ParseErrors+stats.Incomplete != 0 {
		b.Fatalf("stats %+v", stats)
	}
}
