package resource

import (
	"net/netip"
	"reflect"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
)

func TestFill(t *testing.T) {
	tests := []struct {
		name string
		info process.Info
		host string
		want map[string]any
	}{
		{
			name: "everything set; Extra sorted in, cannot override identity",
			info: process.Info{
				PID: 42, ServiceName: "checkout", ServiceNamespace: "shop", InstanceID: "i-1",
				ExecutableName: "checkout", ExecutablePath: "/bin/checkout", Command: "checkout",
				Extra: map[string]string{"k8s.pod.uid": "u", "container.id": "c", "process.pid": "bogus"},
			},
			host: "node-1",
			want: map[string]any{
				"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "i-1",
				"process.pid": int64(42), "process.executable.name": "checkout",
				"process.executable.path": "/bin/checkout", "process.command": "checkout",
				"host.name": "node-1", "k8s.pod.uid": "u", "container.id": "c",
			},
		},
		{
			name: "no service name: unknown_service with the executable",
			info: process.Info{PID: 7, ExecutableName: "java"},
			want: map[string]any{"service.name": "unknown_service:java", "process.pid": int64(7), "process.executable.name": "java"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pcommon.NewResource()
			Fill(r, &tt.info, tt.host)
			if got := r.Attributes().AsRaw(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got  %v\n want %v", got, tt.want)
			}
		})
	}
	// Reproducible order: Extra keys sorted after the identity attributes.
	r := pcommon.NewResource()
	Fill(r, &tests[0].info, "node-1")
	var keys []string
	for k := range r.Attributes().All() {
		keys = append(keys, k)
	}
	if n := len(keys); keys[n-2] != "container.id" || keys[n-1] != "k8s.pod.uid" {
		t.Errorf("key order %v: want Extra last, sorted", keys)
	}
}

func TestErrorType(t *testing.T) {
	tests := []struct {
		kind     record.Kind
		proto    record.Protocol
		status   int
		grpcCode int
		recErr   string
		want     string
	}{
		{record.KindServer, record.ProtocolHTTP, 200, 0, "", ""},
		{record.KindServer, record.ProtocolHTTP, 499, 0, "", ""},
		{record.KindServer, record.ProtocolHTTP, 500, 0, "", "500"},
		{record.KindServer, record.ProtocolHTTP, 599, 0, "x", "599"},
		{record.KindServer, record.ProtocolHTTP, 1234, 0, "", "1234"},
		{record.KindClient, record.ProtocolHTTP, 399, 0, "", ""},
		{record.KindClient, record.ProtocolHTTP, 400, 0, "", "400"},
		{record.KindClient, record.ProtocolHTTP, 200, 0, "connection_closed", "connection_closed"},
		{record.KindServer, record.ProtocolHTTP, 0, 0, "timeout", "timeout"},
		{record.KindServer, record.ProtocolGRPC, 500, 0, "", ""}, // gRPC ignores the HTTP status
		{record.KindServer, record.ProtocolGRPC, 200, 3, "", ""},
		{record.KindServer, record.ProtocolGRPC, 200, 14, "", "UNAVAILABLE"},
		{record.KindClient, record.ProtocolGRPC, 200, 3, "", "INVALID_ARGUMENT"},
		{record.KindClient, record.ProtocolGRPC, 200, 99, "", "99"},
		{record.KindClient, record.ProtocolGRPC, 200, -1, "reset", "reset"},
	}
	for _, tt := range tests {
		r := &record.Record{Kind: tt.kind, Protocol: tt.proto, StatusCode: tt.status, RPCStatusCode: tt.grpcCode, ErrorType: tt.recErr}
		if got := ErrorType(r); got != tt.want {
			t.Errorf("%v %v status %d grpc %d err %q: got %q, want %q", tt.kind, tt.proto, tt.status, tt.grpcCode, tt.recErr, got, tt.want)
		}
	}
	r := &record.Record{Kind: record.KindClient, Protocol: record.ProtocolHTTP, StatusCode: 503}
	if n := testing.AllocsPerRun(100, func() { _ = ErrorType(r) }); n != 0 {
		t.Errorf("ErrorType allocates %v times", n)
	}
}

func TestServerAddress(t *testing.T) {
	peer := netip.MustParseAddrPort("[::ffff:192.0.2.1]:8443")
	tests := []struct {
		name     string
		r        record.Record
		wantHost string
		wantIP   string
		wantPort int
	}{
		{"host and port", record.Record{Host: "api", HostPort: 8080, Peer: peer}, "api", "invalid IP", 8080},
		{"https default", record.Record{Host: "api", Scheme: "https", Peer: peer}, "api", "invalid IP", 443},
		{"http default", record.Record{Host: "api", Scheme: "http", Peer: peer}, "api", "invalid IP", 80},
		{"unknown scheme: peer port", record.Record{Host: "api", Peer: peer}, "api", "invalid IP", 8443},
		{"no host: peer, unmapped", record.Record{Peer: peer}, "", "192.0.2.1", 8443},
		{"nothing known", record.Record{}, "", "invalid IP", 0},
	}
	for _, tt := range tests {
		host, ip, port := ServerAddress(&tt.r)
		if host != tt.wantHost || ip.String() != tt.wantIP || port != tt.wantPort {
			t.Errorf("%s: got %q %s %d, want %q %s %d", tt.name, host, ip, port, tt.wantHost, tt.wantIP, tt.wantPort)
		}
	}
}
