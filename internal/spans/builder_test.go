package spans

import (
	"net/netip"
	"reflect"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/http2"
	"github.com/ebpfred/ebpfred/internal/httpconv"
	"github.com/ebpfred/ebpfred/internal/metadata"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
)

const t0 = uint64(1_700_000_000_000_000_000)

var app = &process.Info{
	PID: 42, ServiceName: "checkout", InstanceID: "inst-42", ExecutableName: "checkout",
	Extra: map[string]string{"k8s.pod.uid": "uid-1", "service.name": "ignored: cannot override"},
}

var (
	incomingTrace  = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	incomingParent = [8]byte{0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 1, 2}
)

func httpRecord(kind record.Kind, mod ...func(*record.Record)) *record.Record {
	r := &record.Record{
		Kind: kind, Conv: httpconv.Conventions, PID: 42,
		StartUnixNano: t0, EndUnixNano: t0 + 1_500_000,
		Method: "GET", Path: "/users/7", Route: "/users/{id}", Scheme: "http", ProtoVersion: "1.1",
		Host: "shop.example", HostPort: 8080, StatusCode: 200,
		RequestBodySize: 10, ResponseBodySize: 20,
		Local: netip.MustParseAddrPort("10.0.0.1:8080"),
		Peer:  netip.MustParseAddrPort("[::ffff:10.0.0.2]:51000"),
	}
	for _, m := range mod {
		m(r)
	}
	return r
}

func grpcRecord(kind record.Kind, code int, mod ...func(*record.Record)) *record.Record {
	r := &record.Record{
		Kind: kind, Conv: http2.GRPC, PID: 42,
		StartUnixNano: t0, EndUnixNano: t0 + 2_000_000,
		Method: "POST", Path: "/shop.Cart/Add", Scheme: "http", ProtoVersion: "2",
		Host: "cart", HostPort: 9000, StatusCode: 200,
		RequestBodySize: -1, ResponseBodySize: -1,
		Peer:      netip.MustParseAddrPort("10.0.0.3:9000"),
		RPCMethod: "shop.Cart/Add", RPCStatusCode: code,
	}
	for _, m := range mod {
		m(r)
	}
	return r
}

func withTraceParent(r *record.Record) {
	r.HasTraceParent, r.TraceID, r.ParentSpanID, r.TraceFlags = true, incomingTrace, incomingParent, 1
}

func status(code int) func(*record.Record) { return func(r *record.Record) { r.StatusCode = code } }

var (
	serverAttrs = map[string]any{
		"http.request.method": "GET", "http.response.status_code": int64(200),
		"url.scheme": "http", "url.path": "/users/7", "http.route": "/users/{id}",
		"network.protocol.version": "1.1",
		"server.address":           "shop.example", "server.port": int64(8080),
		"client.address":       "10.0.0.2",
		"network.peer.address": "10.0.0.2", "network.peer.port": int64(51000),
	}
	clientAttrs = map[string]any{
		"http.request.method": "GET", "http.response.status_code": int64(200),
		"url.scheme": "http", "http.route": "/users/{id}",
		"network.protocol.version": "1.1",
		"server.address":           "shop.example", "server.port": int64(8080),
		"network.peer.address": "10.0.0.2", "network.peer.port": int64(51000),
	}
)

// attrs copies base and applies key/value pairs; a nil value deletes.
func attrs(base map[string]any, kv ...any) map[string]any {
	m := make(map[string]any, len(base))
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name       string
		record     *record.Record
		wantName   string
		wantKind   ptrace.SpanKind
		wantStatus ptrace.StatusCode
		wantAttrs  map[string]any
	}{
		{
			name:     "server with route",
			record:   httpRecord(record.KindServer),
			wantName: "GET /users/{id}", wantKind: ptrace.SpanKindServer,
			wantAttrs: serverAttrs,
		},
		{
			name:     "server without route: method only, no query anywhere",
			record:   httpRecord(record.KindServer, func(r *record.Record) { r.Route = "" }),
			wantName: "GET", wantKind: ptrace.SpanKindServer,
			wantAttrs: attrs(serverAttrs, "http.route", nil),
		},
		{
			name: "unknown method is named HTTP, original kept",
			record: httpRecord(record.KindServer, func(r *record.Record) {
				r.Method, r.MethodOriginal = "_OTHER", "PURGE"
			}),
			wantName: "HTTP /users/{id}", wantKind: ptrace.SpanKindServer,
			wantAttrs: attrs(serverAttrs, "http.request.method", "_OTHER", "http.request.method_original", "PURGE"),
		},
		{
			name:     "server 404 is not an error",
			record:   httpRecord(record.KindServer, status(404)),
			wantName: "GET /users/{id}", wantKind: ptrace.SpanKindServer,
			wantAttrs: attrs(serverAttrs, "http.response.status_code", int64(404)),
		},
		{
			name:     "server 500 is an error",
			record:   httpRecord(record.KindServer, status(500)),
			wantName: "GET /users/{id}", wantKind: ptrace.SpanKindServer, wantStatus: ptrace.StatusCodeError,
			wantAttrs: attrs(serverAttrs, "http.response.status_code", int64(500), "error.type", "500"),
		},
		{
			name:     "client 404 is an error",
			record:   httpRecord(record.KindClient, status(404)),
			wantName: "GET /users/{id}", wantKind: ptrace.SpanKindClient, wantStatus: ptrace.StatusCodeError,
			wantAttrs: attrs(clientAttrs, "http.response.status_code", int64(404), "error.type", "404"),
		},
		{
			name:     "client 200",
			record:   httpRecord(record.KindClient),
			wantName: "GET /users/{id}", wantKind: ptrace.SpanKindClient,
			wantAttrs: clientAttrs,
		},
		{
			name: "client without Host: server is the peer",
			record: httpRecord(record.KindClient, func(r *record.Record) {
				r.Host, r.HostPort, r.Route = "", 0, ""
			}),
			wantName: "GET", wantKind: ptrace.SpanKindClient,
			wantAttrs: attrs(clientAttrs, "http.route", nil, "server.address", "10.0.0.2", "server.port", int64(51000)),
		},
		{
			name: "no response: error from record, no status code",
			record: httpRecord(record.KindServer, func(r *record.Record) {
				r.StatusCode, r.ErrorType = 0, "connection_closed"
			}),
			wantName: "GET /users/{id}", wantKind: ptrace.SpanKindServer, wantStatus: ptrace.StatusCodeError,
			wantAttrs: attrs(serverAttrs, "http.response.status_code", nil, "error.type", "connection_closed"),
		},
		{
			name: "unknown endpoints and versions are left out",
			record: httpRecord(record.KindServer, func(r *record.Record) {
				r.Host, r.HostPort, r.Scheme, r.ProtoVersion = "", 0, "", ""
				r.Peer = netip.AddrPort{}
			}),
			wantName: "GET /users/{id}", wantKind: ptrace.SpanKindServer,
			wantAttrs: map[string]any{
				"http.request.method": "GET", "http.response.status_code": int64(200),
				"url.path": "/users/7", "http.route": "/users/{id}",
			},
		},
		{
			name:     "grpc server NOT_FOUND: not an error",
			record:   grpcRecord(record.KindServer, 5),
			wantName: "shop.Cart/Add", wantKind: ptrace.SpanKindServer,
			wantAttrs: map[string]any{
				"rpc.system.name": "grpc", "rpc.method": "shop.Cart/Add", "rpc.response.status_code": "NOT_FOUND",
				"server.address": "cart", "server.port": int64(9000),
				"network.peer.address": "10.0.0.3", "network.peer.port": int64(9000),
			},
		},
	}
	// The gRPC status table: which codes are errors on which side.
	for code, name := range []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"} {
		serverError := map[int]bool{2: true, 4: true, 12: true, 13: true, 14: true, 15: true}[code]
		for _, kind := range []record.Kind{record.KindServer, record.KindClient} {
			isErr := code != 0 && (kind == record.KindClient || serverError)
			want := map[string]any{
				"rpc.system.name": "grpc", "rpc.method": "shop.Cart/Add", "rpc.response.status_code": name,
				"server.address": "cart", "server.port": int64(9000),
				"network.peer.address": "10.0.0.3", "network.peer.port": int64(9000),
			}
			st := ptrace.StatusCodeUnset
			if isErr {
				want["error.type"] = name
				st = ptrace.StatusCodeError
			}
			spanKind := ptrace.SpanKindServer
			if kind == record.KindClient {
				spanKind = ptrace.SpanKindClient
			}
			tests = append(tests, struct {
				name       string
				record     *record.Record
				wantName   string
				wantKind   ptrace.SpanKind
				wantStatus ptrace.StatusCode
				wantAttrs  map[string]any
			}{"grpc " + kind.String() + " " + name, grpcRecord(kind, code), "shop.Cart/Add", spanKind, st, want})
		}
	}
	tests = append(tests, []struct {
		name       string
		record     *record.Record
		wantName   string
		wantKind   ptrace.SpanKind
		wantStatus ptrace.StatusCode
		wantAttrs  map[string]any
	}{
		{
			name: "grpc without method or status",
			record: grpcRecord(record.KindClient, -1, func(r *record.Record) {
				r.RPCMethod, r.ErrorType = "", "connection_reset"
			}),
			wantName: "grpc", wantKind: ptrace.SpanKindClient, wantStatus: ptrace.StatusCodeError,
			wantAttrs: map[string]any{
				"rpc.system.name": "grpc", "error.type": "connection_reset",
				"server.address": "cart", "server.port": int64(9000),
				"network.peer.address": "10.0.0.3", "network.peer.port": int64(9000),
			},
		},
	}...)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder(WithHostName("node-1"))
			b.Append(tt.record, app)
			td, n := b.Take()
			if n != 1 || td.SpanCount() != 1 {
				t.Fatalf("Take: %d spans reported, %d in traces; want 1", n, td.SpanCount())
			}
			s := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			if s.Name() != tt.wantName {
				t.Errorf("name = %q, want %q", s.Name(), tt.wantName)
			}
			if s.Kind() != tt.wantKind {
				t.Errorf("kind = %v, want %v", s.Kind(), tt.wantKind)
			}
			if s.Status().Code() != tt.wantStatus {
				t.Errorf("status = %v, want %v", s.Status().Code(), tt.wantStatus)
			}
			if s.Status().Message() != "" {
				t.Errorf("status message = %q, want none", s.Status().Message())
			}
			if got := s.Attributes().AsRaw(); !reflect.DeepEqual(got, tt.wantAttrs) {
				t.Errorf("attributes\n got  %v\n want %v", got, tt.wantAttrs)
			}
			if uint64(s.StartTimestamp()) != tt.record.StartUnixNano || uint64(s.EndTimestamp()) != tt.record.EndUnixNano {
				t.Errorf("times = %d..%d, want %d..%d", s.StartTimestamp(), s.EndTimestamp(), tt.record.StartUnixNano, tt.record.EndUnixNano)
			}
		})
	}
}

func TestTraceContext(t *testing.T) {
	tests := []struct {
		name       string
		record     *record.Record
		wantParent bool
		wantFlags  uint32
	}{
		{"server with traceparent: remote parent", httpRecord(record.KindServer, withTraceParent), true, 0x301},
		{"client with traceparent", httpRecord(record.KindClient, withTraceParent), true, 0x1},
		{"traceparent not sampled keeps its flags", httpRecord(record.KindServer, withTraceParent,
			func(r *record.Record) { r.TraceFlags = 0 }), true, 0x300},
		{"no traceparent: new root", httpRecord(record.KindServer), false, 0x1},
		{"invalid all-zero traceparent: new root", httpRecord(record.KindServer, withTraceParent,
			func(r *record.Record) { r.TraceID = [16]byte{} }), false, 0x1},
		{"grpc with traceparent", grpcRecord(record.KindServer, 0, withTraceParent), true, 0x301},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder()
			b.Append(tt.record, app)
			b.Append(tt.record, app)
			td, _ := b.Take()
			spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			s0, s1 := spans.At(0), spans.At(1)
			for _, s := range []ptrace.Span{s0, s1} {
				if s.SpanID().IsEmpty() || s.TraceID().IsEmpty() {
					t.Fatalf("empty id: trace %v span %v", s.TraceID(), s.SpanID())
				}
				if s.Flags() != tt.wantFlags {
					t.Errorf("flags = %#x, want %#x", s.Flags(), tt.wantFlags)
				}
				if tt.wantParent {
					if s.TraceID() != pcommon.TraceID(incomingTrace) || s.ParentSpanID() != pcommon.SpanID(incomingParent) {
						t.Errorf("trace %v parent %v, want %v %v", s.TraceID(), s.ParentSpanID(),
							pcommon.TraceID(incomingTrace), pcommon.SpanID(incomingParent))
					}
				} else if !s.ParentSpanID().IsEmpty() {
					t.Errorf("parent = %v, want none", s.ParentSpanID())
				}
			}
			if s0.SpanID() == s1.SpanID() {
				t.Errorf("two spans share span id %v", s0.SpanID())
			}
			if !tt.wantParent && s0.TraceID() == s1.TraceID() {
				t.Errorf("two root spans share trace id %v", s0.TraceID())
			}
		})
	}
}

func TestBatching(t *testing.T) {
	other := &process.Info{PID: 7, ServiceName: "cart", ServiceNamespace: "shop", InstanceID: "inst-7"}
	b := NewBuilder(WithHostName("node-1"))
	b.Append(httpRecord(record.KindServer), app)
	b.Append(httpRecord(record.KindClient), other)
	b.Append(httpRecord(record.KindClient), app)
	b.Append(httpRecord(0), app) // unknown kind: ignored
	b.Append(httpRecord(record.KindServer, func(r *record.Record) { r.PID = 9 }), nil)

	td, n := b.Take()
	if n != 4 || td.SpanCount() != 4 {
		t.Fatalf("Take: %d reported, %d in traces; want 4", n, td.SpanCount())
	}
	want := []struct {
		attrs map[string]any
		kinds []ptrace.SpanKind
	}{
		{map[string]any{"service.name": "checkout", "service.instance.id": "inst-42", "process.pid": int64(42),
			"process.executable.name": "checkout", "host.name": "node-1", "k8s.pod.uid": "uid-1"},
			[]ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindClient}},
		{map[string]any{"service.name": "cart", "service.namespace": "shop", "service.instance.id": "inst-7",
			"process.pid": int64(7), "host.name": "node-1"},
			[]ptrace.SpanKind{ptrace.SpanKindClient}},
		{map[string]any{"service.name": "unknown_service", "process.pid": int64(9), "host.name": "node-1"},
			[]ptrace.SpanKind{ptrace.SpanKindServer}},
	}
	rss := td.ResourceSpans()
	if rss.Len() != len(want) {
		t.Fatalf("%d resources, want %d", rss.Len(), len(want))
	}
	for i, w := range want {
		rs := rss.At(i)
		if got := rs.Resource().Attributes().AsRaw(); !reflect.DeepEqual(got, w.attrs) {
			t.Errorf("resource %d\n got  %v\n want %v", i, got, w.attrs)
		}
		if rs.ScopeSpans().Len() != 1 || rs.ScopeSpans().At(0).Scope().Name() != metadata.ScopeName {
			t.Fatalf("resource %d: want one scope named %s", i, metadata.ScopeName)
		}
		var kinds []ptrace.SpanKind
		for _, s := range rs.ScopeSpans().At(0).Spans().All() {
			kinds = append(kinds, s.Kind())
		}
		if !reflect.DeepEqual(kinds, w.kinds) {
			t.Errorf("resource %d kinds = %v, want %v", i, kinds, w.kinds)
		}
	}

	// Take starts a new batch.
	if td, n := b.Take(); n != 0 || td.SpanCount() != 0 || td.ResourceSpans().Len() != 0 {
		t.Errorf("second Take: %d spans, %d resources; want empty", n, td.ResourceSpans().Len())
	}
	b.Append(httpRecord(record.KindServer), app)
	if td, n := b.Take(); n != 1 || td.ResourceSpans().Len() != 1 {
		t.Errorf("third Take: %d spans, %d resources; want 1, 1", n, td.ResourceSpans().Len())
	}
}

func TestConcurrentAppendTake(t *testing.T) {
	b := NewBuilder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			b.Append(httpRecord(record.KindServer), app)
		}
	}()
	total := 0
	for range 50 {
		_, n := b.Take()
		total += n
	}
	<-done
	_, n := b.Take()
	if total+n != 1000 {
		t.Errorf("took %d spans, want 1000", total+n)
	}
}

func BenchmarkAppend(b *testing.B) {
	bl := NewBuilder(WithHostName("node-1"))
	rs := []*record.Record{
		httpRecord(record.KindServer, withTraceParent),
		httpRecord(record.KindServer, status(503)),
		httpRecord(record.KindClient, func(r *record.Record) { r.Host = "" }),
		grpcRecord(record.KindServer, 0),
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bl.Append(rs[i&3], app)
		i++
		if i%1024 == 0 { // a realistic batch size; Take cost is included
			bl.Take()
		}
	}
}

// Context propagation: a record with kernel-chosen ids gets exactly those
// (they went downstream in a traceparent), root or not.
func TestKernelIDs(t *testing.T) {
	span := [8]byte{9, 9, 9, 9, 9, 9, 9, 1}
	withKernel := func(parent bool) func(*record.Record) {
		return func(r *record.Record) {
			r.SpanID, r.TraceID, r.TraceFlags = span, incomingTrace, 1
			r.HasTraceParent = parent
			if parent {
				r.ParentSpanID = incomingParent
			}
		}
	}
	tests := []struct {
		name       string
		record     *record.Record
		wantParent bool
		wantFlags  uint32
	}{
		{"server continuing a traceparent", httpRecord(record.KindServer, withKernel(true)), true, 0x301},
		{"client child of its server span", httpRecord(record.KindClient, withKernel(true)), true, 0x101},
		{"client root", httpRecord(record.KindClient, withKernel(false)), false, 0x1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder()
			b.Append(tt.record, app)
			td, _ := b.Take()
			s := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			if s.SpanID() != pcommon.SpanID(span) || s.TraceID() != pcommon.TraceID(incomingTrace) {
				t.Errorf("ids trace %v span %v, want the kernel's %x %x", s.TraceID(), s.SpanID(), incomingTrace, span)
			}
			if got := !s.ParentSpanID().IsEmpty(); got != tt.wantParent {
				t.Errorf("parent %v, want parent: %v", s.ParentSpanID(), tt.wantParent)
			} else if got && s.ParentSpanID() != pcommon.SpanID(incomingParent) {
				t.Errorf("parent %v, want %x", s.ParentSpanID(), incomingParent)
			}
			if s.Flags() != tt.wantFlags {
				t.Errorf("flags %#x, want %#x", s.Flags(), tt.wantFlags)
			}
		})
	}
}
