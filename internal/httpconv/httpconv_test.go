package httpconv

import (
	"net/netip"
	"testing"

	"github.com/ebpfred/ebpfred/internal/record"
)

func TestErrorType(t *testing.T) {
	tests := []struct {
		kind   record.Kind
		status int
		recErr string
		want   string
	}{
		{record.KindServer, 200, "", ""},
		{record.KindServer, 499, "", ""},
		{record.KindServer, 500, "", "500"},
		{record.KindServer, 599, "x", "599"},
		{record.KindServer, 1234, "", "1234"},
		{record.KindClient, 399, "", ""},
		{record.KindClient, 400, "", "400"},
		{record.KindClient, 200, "connection_closed", "connection_closed"},
		{record.KindServer, 0, "timeout", "timeout"},
	}
	for _, tt := range tests {
		r := &record.Record{Kind: tt.kind, Conv: Conventions, StatusCode: tt.status, ErrorType: tt.recErr}
		if got := Conventions.ErrorType(r); got != tt.want {
			t.Errorf("%v status %d err %q: got %q, want %q", tt.kind, tt.status, tt.recErr, got, tt.want)
		}
	}
}

// The metrics path runs for every request: no allocation.
func TestMetricAttributesDoNotAllocate(t *testing.T) {
	r := &record.Record{Kind: record.KindClient, Conv: Conventions, StatusCode: 503, Method: "GET", Scheme: "http",
		ProtoVersion: "1.1", Peer: netip.MustParseAddrPort("10.0.0.1:80")}
	var a record.Attrs
	if n := testing.AllocsPerRun(100, func() {
		a = record.Attrs{}
		Conventions.MetricAttributes(r, record.MetricOptions{ReportPeer: true}, &a)
	}); n != 0 {
		t.Errorf("MetricAttributes allocates %v times", n)
	}
	if got := a.Get("error.type"); got == nil || got.Str != "503" {
		t.Errorf("error.type %+v", got)
	}
	if got := a.Get("server.address"); got == nil || got.Kind != record.AttrAddr || got.Addr.String() != "10.0.0.1" {
		t.Errorf("server.address %+v", got)
	}
}

func TestSpanName(t *testing.T) {
	for _, tt := range []struct {
		method, route, want string
	}{
		{"GET", "/users/{id}", "GET /users/{id}"},
		{"GET", "", "GET"},
		{"_OTHER", "/x", "HTTP /x"},
		{"", "", "HTTP"},
	} {
		if got := Conventions.SpanName(&record.Record{Method: tt.method, Route: tt.route}); got != tt.want {
			t.Errorf("%q %q: %q, want %q", tt.method, tt.route, got, tt.want)
		}
	}
}
