package wire

// Queue holds the commands a client wrote and whose replies it awaits,
// oldest first, for protocols that answer in order (RESP, memcached's text
// protocol): a reply belongs to the oldest command waiting.
//
// When the commands' framing is lost, an unknown number of commands were
// written: a barrier stands for them, and the replies that meet it cannot
// be paired. When the replies' framing is lost, the command whose reply
// was in progress is marked lost: its end is the last read, if nothing else
// waits behind it (Settle).
//
// Every command that leaves the queue other than by Pop (dropped, given up
// on, past the limit) is counted in *incomplete, so that emitted records
// plus incomplete ones add up to the commands seen.
type Queue[T any] struct {
	items      []Waiting[T]
	max        int
	incomplete *uint64
}

// Waiting is one entry of a Queue.
type Waiting[T any] struct {
	Cmd T
	// Barrier: not a command but a stretch of commands whose framing was
	// lost, an unknown number.
	Barrier bool
	// Lost: its reply began, and its end was not seen.
	Lost bool
}

// NewQueue returns a queue of at most max entries that counts the commands
// it gives up on in *incomplete.
func NewQueue[T any](max int, incomplete *uint64) Queue[T] {
	return Queue[T]{max: max, incomplete: incomplete}
}

// Len is the number of entries, barriers included.
func (q *Queue[T]) Len() int { return len(q.items) }

// Push appends a command. A client that never reads would grow the queue
// without end: at the limit, what waits is dropped and a barrier stands
// for it and for this command, so that pairing stops until the client
// writes in sync again.
func (q *Queue[T]) Push(cmd T) {
	if len(q.items) >= q.max {
		q.Drop()
		q.items = append(q.items, Waiting[T]{Barrier: true})
		*q.incomplete++ // this command too
		return
	}
	q.items = append(q.items, Waiting[T]{Cmd: cmd})
}

// PushBarrier appends a barrier: commands were written whose framing is
// lost.
func (q *Queue[T]) PushBarrier() {
	if len(q.items) >= q.max {
		q.Drop()
	}
	q.items = append(q.items, Waiting[T]{Barrier: true})
}

// Front is the oldest entry, nil if none.
func (q *Queue[T]) Front() *Waiting[T] {
	if len(q.items) == 0 {
		return nil
	}
	return &q.items[0]
}

// AtBarrier: the oldest entry is a barrier.
func (q *Queue[T]) AtBarrier() bool { return len(q.items) > 0 && q.items[0].Barrier }

// Ready: the oldest entry is a command whose reply can still be paired
// (not a barrier, not lost).
func (q *Queue[T]) Ready() bool {
	return len(q.items) > 0 && !q.items[0].Barrier && !q.items[0].Lost
}

// Pop removes the oldest entry. ok is false when there was none or it was
// a barrier (a reply that pairs with nothing known).
func (q *Queue[T]) Pop() (cmd T, ok bool) {
	if len(q.items) == 0 {
		return cmd, false
	}
	w := q.items[0]
	q.items = q.items[:copy(q.items, q.items[1:])]
	return w.Cmd, !w.Barrier
}

// LoseFront marks the oldest command lost: its reply began and the
// replies' framing was lost inside it.
func (q *Queue[T]) LoseFront() {
	if len(q.items) > 0 && !q.items[0].Barrier {
		q.items[0].Lost = true
	}
}

// SettleOne reports whether what waited while the replies' framing was
// lost is a single command whose reply began: the caller ends it at the
// last read. Otherwise everything waiting is dropped (incomplete) and it
// returns false.
func (q *Queue[T]) SettleOne() bool {
	if len(q.items) == 1 && q.items[0].Lost {
		return true
	}
	q.Drop()
	return false
}

// Drop counts every waiting command incomplete and empties the queue.
func (q *Queue[T]) Drop() {
	for _, w := range q.items {
		if !w.Barrier {
			*q.incomplete++
		}
	}
	q.items = q.items[:0]
}
