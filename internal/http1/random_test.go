package http1

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// TestRandomExchanges builds well-formed keep-alive traffic, cuts each
// message into transfers at random points outside its head (the kernel only
// copies a transfer that starts a message), and checks that the records are
// exactly the ground truth whatever the cuts.
func TestRandomExchanges(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		client := seed%2 == 1
		reqDir, respDir := in, out
		kind := record.KindServer
		if client {
			reqDir, respDir, kind = out, in, record.KindClient
		}
		var ops []op
		var want []record.Record
		ts := uint64(1000)
		for i := 0; i < 1+rng.IntN(6); i++ {
			method := []string{"GET", "POST", "PUT", "HEAD", "DELETE"}[rng.IntN(5)]
			path := fmt.Sprintf("/r/%d", rng.IntN(3))
			reqHead := fmt.Sprintf("%s %s?q=%d HTTP/1.1\r\nHost: example.com\r\n", method, path, i)
			var reqBody string
			reqSize := int64(0)
			if method == "POST" || method == "PUT" {
				reqBody, reqSize, reqHead = body(rng, reqHead)
			}
			expect := reqSize > 0 && rng.IntN(3) == 0
			if expect {
				reqHead += "Expect: 100-continue\r\n"
			}
			first := len(ops)
			if expect {
				ops = append(ops, split(rng, reqDir, &ts, reqHead+"\r\n", "")...)
				ops = append(ops, xfer(respDir, next(&ts), "HTTP/1.1 100 Continue\r\n\r\n"))
				ops = append(ops, split(rng, reqDir, &ts, "", reqBody)...)
			} else {
				ops = append(ops, split(rng, reqDir, &ts, reqHead+"\r\n", reqBody)...)
			}
			status := []int{200, 201, 204, 304, 404, 500}[rng.IntN(6)]
			respHead := fmt.Sprintf("HTTP/1.1 %d Whatever\r\n", status)
			var respBody string
			respSize := int64(0)
			if method != "HEAD" && status != 204 && status != 304 {
				respBody, respSize, respHead = body(rng, respHead)
			} else if rng.IntN(2) == 0 {
				respHead += "Content-Length: 1234\r\n" // to be ignored
			}
			ops = append(ops, split(rng, respDir, &ts, respHead+"\r\n", respBody)...)
			want = append(want, rec(kind, ops[first].ev.UnixNano, ts, method, path, status, reqSize, respSize, host("example.com", 0)))
		}
		got, stats, _ := run(t, append(ops, closeAt(next(&ts))))
		if d := diffRecords(got, want); d != "" || stats.Skipped+stats.ParseErrors+stats.Incomplete != 0 {
			t.Fatalf("seed %d: stats %+v\n%s", seed, stats, d)
		}
	}
}

func next(ts *uint64) uint64 {
	*ts += 1 + uint64(*ts%7)
	return *ts
}

// body returns a random body (Content-Length or chunked), its size as a
// record reports it, and the head with its framing field added.
func body(rng *rand.Rand, head string) (string, int64, string) {
	letters := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		if n >= 4 && rng.IntN(4) == 0 {
			copy(b, "GET ") // body bytes that look like a request start
		}
		return string(b)
	}
	if rng.IntN(2) == 0 {
		n := rng.IntN(5000)
		if n == 0 {
			n = 1
		}
		return letters(n), int64(n), head + fmt.Sprintf("Content-Length: %d\r\n", n)
	}
	var b strings.Builder
	for range rng.IntN(5) {
		n := 1 + rng.IntN(3000)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, letters(n))
	}
	b.WriteString("0\r\n\r\n")
	return b.String(), int64(b.Len()), head + "Transfer-Encoding: chunked\r\n"
}

// split cuts head+body into transfers: the head whole in the first one,
// then random cuts.
func split(rng *rand.Rand, dir stream.Direction, ts *uint64, head, body string) []op {
	var ops []op
	rest := body
	first := head
	if head != "" {
		k := rng.IntN(len(rest) + 1)
		if rng.IntN(2) == 0 {
			k = 0
		}
		first, rest = head+rest[:k], rest[k:]
		ops = append(ops, xfer(dir, next(ts), first))
	}
	for len(rest) > 0 {
		k := 1 + rng.IntN(min(len(rest), []int{3, 9, 100, 5000}[rng.IntN(4)]))
		ops = append(ops, xfer(dir, next(ts), rest[:k]))
		rest = rest[k:]
	}
	return ops
}
