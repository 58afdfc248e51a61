package pipeline

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// Go in process (probes.EventGoLink): a Go program's client request was
// made for the server request in flight on another of its connections.
// The client request's record gets that server request as its parent: the
// server record, still in its parser (it ends after the handler's calls),
// gets its span id (and trace id, when no traceparent gave one) now, and
// the request that starts in the transfer the link names carries them as
// its traceparent, the way kernel-chosen ids do (stream.Event.IDs).
//
// The link names one transfer of the client connection (its time and
// length): HTTP/2's frame walk in the kernel reports a transfer as one
// event or several, and the request may start in any of them (after the
// preface, SETTINGS or WINDOW_UPDATE frames of the same write). Every event
// of that transfer carries the ids, and no other event does: a transfer
// that starts no request (a connection's preface, written by the goroutine
// that dialled it) leaves them unused, never to a later request that was
// made for someone else. When the parser cannot tell which one request of
// the transfer they were for, the client span stays a root, counted in
// Stats.ClientUnlinked.
//
// Only a certain parent is given: the server request must have started by
// the time the kernel says it was surely in flight (Since) and still be in
// flight now, and its protocol must be able to say which one that is
// (protocol.InFlighter). Otherwise the client span stays a root, counted
// in Stats.ClientUnlinked.

// goLink handles an EventGoLink.
func (p *Pipeline) goLink(e *probes.Event) {
	c := p.conn(e, stream.Meta{PID: e.TGID, Scheme: "http"})
	var srv *record.Record
	s := p.conns[connKey{e.TGID, e.ParentSock}]
	if s != nil && s.parser != nil {
		if f, ok := s.parser.(protocol.InFlighter); ok {
			srv = f.InFlight(e.Since + p.offset)
		}
	}
	if srv == nil {
		p.stats.ClientUnlinked.Add(1)
		return
	}
	if srv.SpanID == ([8]byte{}) {
		srv.SpanID = p.spanID()
		if !srv.HasTraceParent {
			if cli := p.upstream(e.TGID, s, srv); cli != nil {
				srv.HasTraceParent = true
				srv.TraceID, srv.ParentSpanID, srv.TraceFlags = cli.TraceID, cli.SpanID, cli.TraceFlags
			} else {
				// a root: its trace id is ours to choose, now
				srv.TraceID = p.traceID()
				srv.TraceFlags = 1 // sampled
			}
		}
	}
	c.link = stream.SpanIDs{TraceID: srv.TraceID, ParentID: srv.SpanID, Flags: srv.TraceFlags}
	c.linkMono, c.linkLeft = e.Mono, int(e.Len)
	// counted linked when a client record carrying it is emitted (an
	// HTTP/2 connection's set-up writes take ids no request uses)
	if len(c.goParents) == maxGoParents {
		copy(c.goParents, c.goParents[1:])
		c.goParents = c.goParents[:maxGoParents-1]
	}
	c.goParents = append(c.goParents, srv.SpanID)
}

// linkData gives ev, an egress event of c at mono, the ids of c's link
// when it is an event of the transfer the link names.
func (p *Pipeline) linkData(c *conn, mono uint64, ev *stream.Event) {
	if mono != c.linkMono || ev.IDs != nil {
		// Another transfer: the rest of the named one was lost (a full
		// ring) and the ids go with it. Or propagation's ids, which went
		// on the wire, are the request's.
		c.linkLeft = 0
		return
	}
	c.linkLeft -= ev.Len
	ev.IDs = &c.link
	ev.IDsMore = c.linkLeft > 0
	c.linkLeft = max(c.linkLeft, 0)
}

// linkRefused: the parser could not tell which request of the transfer
// c's link was for; the client span stays a root.
func (p *Pipeline) linkRefused(c *conn) {
	p.stats.ClientUnlinked.Add(1)
	for i, id := range c.goParents {
		if id == c.link.ParentID {
			c.goParents = append(c.goParents[:i], c.goParents[i+1:]...)
			return
		}
	}
}

// maxGoParents bounds the parents given on one connection whose client
// record has not been emitted yet (HTTP/2: concurrent streams).
const maxGoParents = 16

// countLinked counts a client record of c that got its parent from goLink.
func (p *Pipeline) countLinked(c *conn, r *record.Record) {
	for i, id := range c.goParents {
		if id == r.ParentSpanID {
			c.goParents = append(c.goParents[:i], c.goParents[i+1:]...)
			p.stats.ClientLinked.Add(1)
			return
		}
	}
}

// upstreamSlack: on loopback the server can read a request before the
// client's write returns, so the client's start may follow the server's
// by the length of that call.
const upstreamSlack = uint64(2 * time.Millisecond)

// upstream: when the server request srv of process pid on connection s,
// whose ids are being chosen early, was sent by another process of this
// node (the other end of s is followed too), the client request that sent
// it, with ids of its own chosen now, so that srv can be its child from the
// start. Same-node linking (spans) pairs the two later and finds them
// already linked: a span whose id a child already carries never has to
// change its trace. nil when the client end is not followed or its request
// is not certain (protocol.InFlighter).
func (p *Pipeline) upstream(pid uint32, s *conn, srv *record.Record) *record.Record {
	if !s.hasTuple {
		return nil
	}
	up := p.tuples[tupleKey{local: s.tuple.peer, peer: s.tuple.local, netNS: s.tuple.netNS}]
	if up == nil || up.key.tgid == pid || up.parser == nil {
		return nil
	}
	f, ok := up.parser.(protocol.InFlighter)
	if !ok {
		return nil
	}
	cli := f.InFlight(srv.StartUnixNano + upstreamSlack)
	if cli == nil || cli.Kind != record.KindClient {
		return nil
	}
	if cli.SpanID == ([8]byte{}) {
		cli.SpanID = p.spanID()
		if !cli.HasTraceParent {
			cli.TraceID = p.traceID()
			cli.TraceFlags = 1
		}
	}
	return cli
}

func (p *Pipeline) idRng() *rand.ChaCha8 {
	if p.rng == nil {
		var seed [32]byte
		_, _ = crand.Read(seed[:])
		p.rng = rand.NewChaCha8(seed)
	}
	return p.rng
}

func (p *Pipeline) spanID() [8]byte {
	var id [8]byte
	for id == ([8]byte{}) {
		binary.LittleEndian.PutUint64(id[:], p.idRng().Uint64())
	}
	return id
}

func (p *Pipeline) traceID() [16]byte {
	var id [16]byte
	for id == ([16]byte{}) {
		binary.LittleEndian.PutUint64(id[:8], p.idRng().Uint64())
		binary.LittleEndian.PutUint64(id[8:], p.idRng().Uint64())
	}
	return id
}
