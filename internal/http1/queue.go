package http1

import "github.com/ebpfred/ebpfred/internal/record"

// maxPending bounds the requests waiting for a response on one connection
// (pipelining depth). Real clients pipeline a handful at most.
const maxPending = 64

// pending is the FIFO of requests waiting for their response, oldest first.
// A nil entry stands for a request whose bytes we could not see: it keeps
// later responses matched to the right requests.
type pending struct {
	buf  []*record.Record // ring; grows by doubling up to maxPending
	head int
	n    int
}

func (q *pending) len() int { return q.n }

// push appends r; the caller makes room first when len() == maxPending.
func (q *pending) push(r *record.Record) {
	if q.n == len(q.buf) {
		size := 2 * len(q.buf)
		if size == 0 {
			size = 2
		}
		size = min(size, maxPending)
		buf := make([]*record.Record, size)
		for i := 0; i < q.n; i++ {
			buf[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = r
	q.n++
}

// peek returns the oldest request without removing it (nil if none).
func (q *pending) peek() *record.Record {
	if q.n == 0 {
		return nil
	}
	return q.buf[q.head]
}

// pop removes the oldest request; ok is false when the queue is empty.
func (q *pending) pop() (r *record.Record, ok bool) {
	if q.n == 0 {
		return nil, false
	}
	r = q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return r, true
}
