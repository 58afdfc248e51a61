package spans

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
)

// Same-node linking. When both ends of a connection are instrumented
// processes of this node, the collector sees the CLIENT record of one and
// the SERVER record of the other, and makes the SERVER span the child of
// the CLIENT span without anything sent on the wire.
//
// The two records come from one reader, in kernel order, but not in a fixed
// order: the server's record usually ends first (it wrote the response the
// client still has to read), yet its write can return after the client's
// read. So whichever arrives first waits, a copy in the Builder (only
// records whose peer is an instrumented local process, record.PeerPID, ever
// wait), until its counterpart arrives or linkWait passes; then both go on
// to the batch. Nothing waits for traffic with anyone else.
//
// A link is made only when it is certain: the same connection (the
// client's endpoints reversed, each naming the other's process), the same
// HTTP/2 stream, the same method, path and status, and the server's span
// inside the client's (within linkSlack), with exactly one candidate.
// Otherwise both spans stay as they were. A link never rewrites an id that
// something else already depends on (see pairIDs).

// linkWait bounds how long a record waits for its counterpart. Both records
// of an exchange are usually emitted within a millisecond of each other; a
// response whose end is only seen at an idle flush can take longer, and is
// then left unlinked.
const linkWait = 2 * time.Second

// maxWaiting bounds the records waiting for a counterpart; past it, records
// go on unlinked.
const maxWaiting = 1 << 14

// linkSlack is how far a server span may reach outside its client span and
// still be matched: each end's time is taken when its system call returns,
// and on loopback the kernel hands the bytes to the other end inside the
// call (the server can read a request before the client's write returns).
const linkSlack = 2 * time.Millisecond

// linkKey names a connection by its client and server endpoints, the same
// from both ends.
type linkKey struct {
	client, server netip.AddrPort
}

type waiting struct {
	e     entry
	since time.Time
}

// LinkStats count what same-node linking did.
type LinkStats struct {
	// Linked: SERVER spans made children of a CLIENT span of this node.
	Linked uint64
	// Unmatched: records that waited for a counterpart in vain.
	Unmatched uint64
	// Ambiguous: records with more than one possible counterpart, and
	// pairs whose ids could not be reconciled: left unlinked.
	Ambiguous uint64
}

// WithSameNodeLinks turns same-node linking on.
func WithSameNodeLinks(on bool) Option {
	return func(b *Builder) { b.link = on }
}

// linkable: a request whose two ends the collector can both see as
// records: HTTP and gRPC (a database's server side is not captured).
func linkable(r *record.Record) bool {
	return r.PeerPID != 0 && r.Method != "" && r.Local.IsValid() && r.Peer.IsValid()
}

func keyOf(r *record.Record) linkKey {
	if r.Kind == record.KindClient {
		return linkKey{client: r.Local, server: r.Peer}
	}
	return linkKey{client: r.Peer, server: r.Local}
}

// stitch pairs r with the record waiting for it, or makes r wait. It
// returns false when r should go on alone now. Called with b.mu held.
func (b *Builder) stitch(r *record.Record, p *process.Info) bool {
	k := keyOf(r)
	list := b.waiting[k]
	at, n := -1, 0
	for i := range list {
		o := &list[i].e.rec
		if o.Kind == r.Kind {
			continue
		}
		c, s := r, o
		if r.Kind == record.KindServer {
			c, s = o, r
		}
		if matches(c, s) {
			at, n = i, n+1
		}
	}
	switch {
	case n == 1:
		other := list[at].e
		list = append(list[:at], list[at+1:]...)
		if len(list) == 0 {
			b.dropList(k, list)
		} else {
			b.waiting[k] = list
		}
		b.nWaiting--
		mine := entry{rec: *r, info: p}
		if r.Kind == record.KindClient {
			b.pair(&mine, &other)
		} else {
			b.pair(&other, &mine)
		}
		return true
	case n > 1:
		b.links.Ambiguous++
		return false
	case b.nWaiting >= maxWaiting:
		return false
	}
	if b.waiting == nil {
		b.waiting = make(map[linkKey][]waiting)
	}
	if list == nil && len(b.spareLists) > 0 {
		list, b.spareLists = b.spareLists[len(b.spareLists)-1], b.spareLists[:len(b.spareLists)-1]
	}
	b.waiting[k] = append(list, waiting{e: entry{rec: *r, info: p}, since: b.lastTake})
	b.nWaiting++
	return true
}

// dropList forgets the empty list of k, keeping its memory for the next
// connection: one waiting record per request would otherwise be an
// allocation per request.
func (b *Builder) dropList(k linkKey, list []waiting) {
	delete(b.waiting, k)
	if len(b.spareLists) < 64 {
		clear(list[:cap(list)])
		b.spareLists = append(b.spareLists, list[:0])
	}
}

// matches says whether server record s answered client record c (same
// connection assumed).
func matches(c, s *record.Record) bool {
	if c.PeerPID != s.PID || s.PeerPID != c.PID {
		return false // each must name the other's process
	}
	if c.StreamID != s.StreamID || c.Method != s.Method || c.Path != s.Path ||
		c.StatusCode == 0 || c.StatusCode != s.StatusCode {
		return false
	}
	slack := uint64(linkSlack)
	return s.StartUnixNano+slack >= c.StartUnixNano && s.EndUnixNano <= c.EndUnixNano+slack &&
		s.StartUnixNano <= c.EndUnixNano && s.EndUnixNano >= c.StartUnixNano
}

// pair links server s under client c when their ids allow it, and adds
// both to the batch with one sampling decision. Called with b.mu held.
func (b *Builder) pair(c, s *entry) {
	if !b.pairIDs(&c.rec, &s.rec) {
		b.links.Ambiguous++
		b.add(&c.rec, c.info, decideBySampler)
		b.add(&s.rec, s.info, decideBySampler)
		return
	}
	b.links.Linked++
	// One kernel clock, but each end's time is taken when its system call
	// returns: the client's write can return after the server read the
	// request, and the server's write after the client read the response.
	// Either late reading is the one corrected, so the child stays inside
	// its parent.
	cr, sr := &c.rec, &s.rec
	cr.StartUnixNano = min(cr.StartUnixNano, sr.StartUnixNano)
	sr.EndUnixNano = max(min(sr.EndUnixNano, cr.EndUnixNano), sr.StartUnixNano)
	keep := b.add(cr, c.info, decideBySampler)
	decision := dropIt
	if keep {
		decision = keepIt
	}
	b.add(sr, s.info, decision)
}

// pairIDs gives s the trace of c and c's span as its parent, or says it
// cannot without contradicting ids already in use:
//
//   - s continued a traceparent from the wire: fine when that is c's
//     span (propagation already linked them), else left alone;
//   - s's ids were chosen by the kernel (propagation: its own outgoing
//     requests already carry its trace id): c adopts s's trace, when c
//     is a root whose ids are ours to choose;
//   - otherwise s joins c's trace; c gets its span id now if it had
//     none.
func (b *Builder) pairIDs(c, s *record.Record) bool {
	switch {
	case s.HasTraceParent:
		return kernelIDs(c) && s.TraceID == c.TraceID && s.ParentSpanID == c.SpanID
	case kernelIDs(s):
		if kernelIDs(c) || c.HasTraceParent {
			return false
		}
		c.TraceID, c.SpanID, c.TraceFlags = s.TraceID, b.newSpanIDLocked(), s.TraceFlags|flagSampled
	case !kernelIDs(c):
		if !c.HasTraceParent {
			c.TraceID, c.TraceFlags = randomTraceID(b.rootRng), flagSampled
		}
		c.SpanID = b.newSpanIDLocked()
	}
	s.HasTraceParent, s.TraceID, s.ParentSpanID = true, c.TraceID, c.SpanID
	s.TraceFlags = c.TraceFlags | flagSampled
	return true
}

// newSpanIDLocked: a span id chosen at Append (b.mu held), for a client
// span whose id its server child needs before either is built.
func (b *Builder) newSpanIDLocked() [8]byte {
	var id [8]byte
	for id == ([8]byte{}) {
		binary.LittleEndian.PutUint64(id[:], b.rootRng.Uint64())
	}
	return id
}

// expire sends on the records that waited linkWait (all of them when all
// is set). Called with b.mu held.
func (b *Builder) expire(all bool) {
	now := b.now()
	// A record's wait is counted from the Take before it came (a clock
	// reading per Take, not per request): it waits linkWait at least, and
	// at most one Take interval more.
	b.lastTake = now
	if b.nWaiting == 0 {
		return
	}
	for k, list := range b.waiting {
		kept := list[:0]
		for i := range list {
			w := &list[i]
			if all || now.Sub(w.since) >= linkWait {
				b.links.Unmatched++
				b.nWaiting--
				b.add(&w.e.rec, w.e.info, decideBySampler)
				continue
			}
			kept = append(kept, *w)
		}
		if len(kept) == 0 {
			b.dropList(k, list)
		} else {
			clear(list[len(kept):])
			b.waiting[k] = kept
		}
	}
}

// Links returns what same-node linking did so far.
func (b *Builder) Links() LinkStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.links
}

// Waiting returns how many records wait for their counterpart.
func (b *Builder) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nWaiting
}
