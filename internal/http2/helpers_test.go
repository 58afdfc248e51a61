package http2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/httpfield"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/stream"
)

const (
	in  = stream.Ingress
	out = stream.Egress
	// copyLimit is how many leading bytes the kernel copies on an HTTP/2
	// connection.
	copyLimit = 4096
)

var testMeta = stream.Meta{
	PID:    42,
	Local:  netip.MustParseAddrPort("10.0.0.1:8080"),
	Peer:   netip.MustParseAddrPort("10.0.0.2:50000"),
	Scheme: "http",
}

// peer writes the frames of one endpoint, its header blocks with x/net's
// HPACK encoder, so that its dynamic table evolves as a real one does.
type peer struct {
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

func newPeer() *peer {
	p := &peer{}
	p.enc = hpack.NewEncoder(&p.hbuf)
	return p
}

// frame encodes one frame (RFC 9113 §4.1).
func frame(typ, flags uint8, id uint32, payload ...[]byte) []byte {
	pl := cat(payload...)
	b := []byte{byte(len(pl) >> 16), byte(len(pl) >> 8), byte(len(pl)), typ, flags}
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, pl...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func flagIf(ok bool, f uint8) uint8 {
	if ok {
		return f
	}
	return 0
}

// HTTP/2 error codes (RFC 9113 §7).
const (
	errCodeNo            = 0x0
	errCodeInternal      = 0x2
	errCodeRefusedStream = 0x7
	errCodeCancel        = 0x8
)

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// block HPACK-encodes name/value pairs.
func (p *peer) block(kv ...string) []byte {
	p.hbuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		must(p.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}))
	}
	return bytes.Clone(p.hbuf.Bytes())
}

// headers is a HEADERS frame (with END_HEADERS) carrying kv.
func (p *peer) headers(id uint32, end bool, kv ...string) []byte {
	return frame(frameHeaders, flagEndHeaders|flagIf(end, flagEndStream), id, p.block(kv...))
}

// headersSplit is a HEADERS frame followed by CONTINUATION frames, each
// carrying at most frag bytes of the block.
func (p *peer) headersSplit(id uint32, end bool, frag int, kv ...string) []byte {
	blk := p.block(kv...)
	first := blk[:min(frag, len(blk))]
	blk = blk[len(first):]
	b := frame(frameHeaders, flagIf(len(blk) == 0, flagEndHeaders)|flagIf(end, flagEndStream), id, first)
	for len(blk) > 0 {
		k := min(frag, len(blk))
		b = append(b, frame(frameContinuation, flagIf(k == len(blk), flagEndHeaders), id, blk[:k])...)
		blk = blk[k:]
	}
	return b
}

// headersPadded is a HEADERS frame with padding and a priority.
func (p *peer) headersPadded(id uint32, end bool, pad int, kv ...string) []byte {
	return frame(frameHeaders, flagEndHeaders|flagPadded|flagPriority|flagIf(end, flagEndStream), id,
		[]byte{byte(pad)}, u32(0), []byte{200}, p.block(kv...), make([]byte, pad))
}

func (p *peer) data(id uint32, end bool, n int) []byte {
	return frame(frameData, flagIf(end, flagEndStream), id, bytes.Repeat([]byte{'d'}, n))
}

func (p *peer) dataPadded(id uint32, end bool, n, pad int) []byte {
	return frame(frameData, flagPadded|flagIf(end, flagEndStream), id, []byte{byte(pad)}, make([]byte, n+pad))
}

func (p *peer) pushPromise(id, promised uint32, kv ...string) []byte {
	return frame(framePushPromise, flagEndHeaders, id, u32(promised), p.block(kv...))
}

func (p *peer) rst(id uint32, code uint32) []byte { return frame(frameRSTStream, 0, id, u32(code)) }

// settings encodes id, value pairs.
func (p *peer) settings(kv ...uint32) []byte {
	var pl []byte
	for i := 0; i+1 < len(kv); i += 2 {
		pl = append(binary.BigEndian.AppendUint16(pl, uint16(kv[i])), u32(kv[i+1])...)
	}
	return frame(frameSettings, 0, 0, pl)
}

func (p *peer) settingsAck() []byte { return frame(frameSettings, flagAck, 0) }

func (p *peer) goAway(last, code uint32) []byte {
	return frame(frameGoAway, 0, 0, u32(last), u32(code))
}

func (p *peer) windowUpdate(id, n uint32) []byte { return frame(frameWindowUpdate, 0, id, u32(n)) }

func (p *peer) ping() []byte { return frame(framePing, 0, 0, []byte{1, 2, 3, 4, 5, 6, 7, 8}) }

// Common header lists.
func grpcReq(method string, extra ...string) []string {
	return append([]string{":method", "POST", ":scheme", "http", ":path", method, ":authority", "greeter.svc:50051",
		"content-type", "application/grpc", "te", "trailers", "user-agent", "grpc-go/1.83.0"}, extra...)
}

var (
	grpcResp   = []string{":status", "200", "content-type", "application/grpc"}
	grpcOK     = []string{"grpc-status", "0", "grpc-message", ""}
	prefaceB   = []byte(preface)
	traceparnt = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
)

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// op is one step of a scenario: a transfer, a Close or a Flush.
type op struct {
	ev    *stream.Event
	close bool
	flush bool
	t     uint64
	idle  time.Duration
}

// xfer is a transfer as the kernel reports it: the first copyLimit bytes.
func xfer(dir stream.Direction, t uint64, data ...[]byte) op {
	b := cat(data...)
	ev := &stream.Event{Dir: dir, UnixNano: t, Len: len(b), Payload: b[:min(len(b), copyLimit)]}
	ev.Tail = b[max(0, len(b)-8):]
	return op{ev: ev}
}

// reads splits b into transfers of the given sizes (the last takes the
// rest), all at time t.
func reads(dir stream.Direction, t uint64, b []byte, sizes ...int) []op {
	var ops []op
	for _, n := range sizes {
		n = min(n, len(b))
		ops = append(ops, xfer(dir, t, b[:n]))
		b = b[n:]
	}
	if len(b) > 0 {
		ops = append(ops, xfer(dir, t, b))
	}
	return ops
}

func closeAt(t uint64) op                     { return op{close: true, t: t} }
func flushAt(t uint64, idle time.Duration) op { return op{flush: true, t: t, idle: idle} }

// run feeds ops to a new Conn and returns the records and stats.
func run(t testing.TB, ops []op) ([]record.Record, Stats, *Conn) {
	t.Helper()
	var stats Stats
	c := NewConn(testMeta, &stats)
	var got []record.Record
	emit := func(r *record.Record) { got = append(got, *r) }
	for _, o := range ops {
		switch {
		case o.ev != nil:
			c.Feed(o.ev, emit)
		case o.close:
			c.Close(o.t, emit)
		case o.flush:
			c.Flush(o.t, o.idle, emit)
		}
	}
	return got, stats, c
}

// rec builds an expected record with the defaults of testMeta.
func rec(kind record.Kind, start, end uint64, method, path string, status int, reqBody, respBody int64, opts ...func(*record.Record)) record.Record {
	r := record.Record{
		Kind:             kind,
		Conv:             httpconv.Conventions,
		PID:              42,
		StartUnixNano:    start,
		EndUnixNano:      end,
		Method:           method,
		Path:             path,
		Scheme:           "http",
		ProtoVersion:     "2",
		StatusCode:       status,
		RequestBodySize:  reqBody,
		ResponseBodySize: respBody,
		Local:            testMeta.Local,
		Peer:             testMeta.Peer,
		RPCStatusCode:    -1,
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func srv(start, end uint64, method, path string, status int, reqBody, respBody int64, opts ...func(*record.Record)) record.Record {
	return rec(record.KindServer, start, end, method, path, status, reqBody, respBody, opts...)
}

func cli(start, end uint64, method, path string, status int, reqBody, respBody int64, opts ...func(*record.Record)) record.Record {
	return rec(record.KindClient, start, end, method, path, status, reqBody, respBody, opts...)
}

func host(h string, port int) func(*record.Record) {
	return func(r *record.Record) { r.Host, r.HostPort = h, port }
}

// grpc marks a gRPC record with its status (-1 unknown).
func grpc(code int) func(*record.Record) {
	return func(r *record.Record) {
		r.Conv, r.RPCStatusCode = GRPC, code
		r.RPCMethod = strings.TrimPrefix(r.Path, "/")
	}
}

func errType(e string) func(*record.Record) {
	return func(r *record.Record) { r.ErrorType = e }
}

func other(m string) func(*record.Record) {
	return func(r *record.Record) { r.Method, r.MethodOriginal = httpfield.MethodOther, m }
}

func withTrace() func(*record.Record) {
	return func(r *record.Record) {
		r.HasTraceParent = true
		r.TraceID = [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
		r.ParentSpanID = [8]byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
		r.TraceFlags = 1
	}
}

var greeterHost = host("greeter.svc", 50051)

// diffRecords compares records but their StreamID (TestRecordStreamIDs
// checks that).
func diffRecords(got, want []record.Record) string {
	var b strings.Builder
	for i := 0; i < max(len(got), len(want)); i++ {
		if i < len(got) && i < len(want) {
			g := got[i]
			g.StreamID = want[i].StreamID
			got = append(got[:i:i], append([]record.Record{g}, got[i+1:]...)...)
		}
		switch {
		case i >= len(got):
			fmt.Fprintf(&b, "record %d missing:\n  want %+v\n", i, want[i])
		case i >= len(want):
			fmt.Fprintf(&b, "record %d unexpected:\n  got  %+v\n", i, got[i])
		case !reflect.DeepEqual(got[i], want[i]):
			fmt.Fprintf(&b, "record %d:\n  got  %+v\n  want %+v\n", i, got[i], want[i])
		}
	}
	return b.String()
}

type scenario struct {
	name  string
	ops   []op
	want  []record.Record
	stats Stats // Records is filled from len(want)
}

func runScenarios(t *testing.T, scs []scenario) {
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			got, stats, _ := run(t, sc.ops)
			if d := diffRecords(got, sc.want); d != "" {
				t.Errorf("records:\n%s", d)
			}
			want := sc.stats
			want.Records = uint64(len(sc.want))
			if stats != want {
				t.Errorf("stats = %+v, want %+v", stats, want)
			}
			checkConn(t, sc.ops)
		})
	}
}
