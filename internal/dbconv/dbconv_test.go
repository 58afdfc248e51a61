package dbconv

import (
	"net/netip"
	"testing"

	"github.com/ebpfred/ebpfred/internal/record"
)

func TestSpanNameAndAttributes(t *testing.T) {
	c := New("postgresql")
	r := &record.Record{Kind: record.KindClient, Conv: c, Operation: "SELECT", Target: "users", Namespace: "shop",
		Status: "42P01", Peer: netip.MustParseAddrPort("10.0.0.5:5432")}
	if got := c.SpanName(r); got != "SELECT users" {
		t.Errorf("span name %q", got)
	}
	r.Summary = "SELECT users orders"
	if got := c.SpanName(r); got != "SELECT users orders" {
		t.Errorf("span name with a summary %q", got)
	}
	var a record.Attrs
	c.MetricAttributes(r, record.MetricOptions{}, &a)
	want := map[string]string{"db.system.name": "postgresql", "db.operation.name": "SELECT", "db.collection.name": "users",
		"db.namespace": "shop", "db.response.status_code": "42P01", "error.type": "42P01"}
	for k, v := range want {
		if got := a.Get(k); got == nil || got.Str != v {
			t.Errorf("%s = %+v, want %q", k, got, v)
		}
	}
	if got := a.Get("server.address"); got == nil || got.Addr.String() != "10.0.0.5" {
		t.Errorf("server.address %+v", got)
	}
	if c.Family(&record.Record{Kind: record.KindServer}) != nil {
		t.Error("a server-side record has a metric family")
	}
}
