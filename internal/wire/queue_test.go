package wire

import "testing"

func TestQueueOrderAndBarriers(t *testing.T) {
	var incomplete uint64
	q := NewQueue[string](8, &incomplete)
	if _, ok := q.Pop(); ok || q.Ready() || q.AtBarrier() || q.Front() != nil {
		t.Fatal("an empty queue gives nothing")
	}
	q.Push("GET")
	q.PushBarrier()
	q.Push("SET")
	if !q.Ready() || q.Len() != 3 {
		t.Fatalf("Ready %v Len %d, want true 3", q.Ready(), q.Len())
	}
	if cmd, ok := q.Pop(); !ok || cmd != "GET" {
		t.Fatalf("Pop = %q %v, want GET true", cmd, ok)
	}
	if !q.AtBarrier() || q.Ready() {
		t.Fatal("the barrier is next, and pairs with nothing")
	}
	if _, ok := q.Pop(); ok {
		t.Fatal("a barrier pops as no command")
	}
	if cmd, ok := q.Pop(); !ok || cmd != "SET" {
		t.Fatalf("Pop = %q %v, want SET true", cmd, ok)
	}
	if incomplete != 0 {
		t.Fatalf("incomplete %d, want 0", incomplete)
	}
}

// At the limit, every command waiting and the one pushed are counted
// incomplete, and a barrier stands for them: nothing is lost silently.
func TestQueueLimit(t *testing.T) {
	var incomplete uint64
	q := NewQueue[int](4, &incomplete)
	q.PushBarrier()
	for i := range 4 {
		q.Push(i)
	}
	if incomplete != 4 || q.Len() != 1 || !q.AtBarrier() {
		t.Fatalf("incomplete %d, len %d, barrier %v; want 4, 1, true", incomplete, q.Len(), q.AtBarrier())
	}
	q.Push(9)
	if _, ok := q.Pop(); ok {
		t.Fatal("the barrier stands first")
	}
	if cmd, ok := q.Pop(); !ok || cmd != 9 {
		t.Fatalf("Pop = %d %v, want 9 true", cmd, ok)
	}
}

func TestQueueSettle(t *testing.T) {
	var incomplete uint64
	q := NewQueue[string](8, &incomplete)
	q.Push("GET")
	q.LoseFront()
	if q.Ready() || !q.Front().Lost {
		t.Fatal("a lost command is not ready")
	}
	if !q.SettleOne() || incomplete != 0 {
		t.Fatalf("one lost command alone settles (incomplete %d)", incomplete)
	}
	if cmd, ok := q.Pop(); !ok || cmd != "GET" {
		t.Fatalf("the settled command is answered by the caller: Pop = %q %v", cmd, ok)
	}
	q.Push("A")
	q.LoseFront()
	q.Push("B")
	q.PushBarrier()
	if q.SettleOne() || q.Len() != 0 || incomplete != 2 {
		t.Fatalf("more than one waiting: all dropped, incomplete %d len %d; want 2 0", incomplete, q.Len())
	}
	q.PushBarrier()
	q.LoseFront()
	if q.Front().Lost {
		t.Fatal("a barrier is never marked lost")
	}
}
