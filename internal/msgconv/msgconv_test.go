package msgconv

import (
	"net/netip"
	"testing"

	"github.com/ebpfred/ebpfred/internal/record"
)

func opType(op string) string {
	if op == "send" {
		return TypeSend
	}
	return TypeReceive
}

func TestSpanNameAndAttributes(t *testing.T) {
	c := New("kafka", opType)
	r := &record.Record{Kind: record.KindClient, Conv: c, Operation: "send", Target: "orders",
		Status: "NOT_LEADER_OR_FOLLOWER", Peer: netip.MustParseAddrPort("10.0.0.5:9092")}
	if got := c.SpanName(r); got != "send orders" {
		t.Errorf("span name %q", got)
	}
	if got := c.SpanName(&record.Record{Operation: "poll"}); got != "poll" {
		t.Errorf("span name without a destination %q", got)
	}
	var a record.Attrs
	c.MetricAttributes(r, record.MetricOptions{}, &a)
	want := map[string]string{"messaging.system": "kafka", "messaging.operation.name": "send",
		"messaging.operation.type": "send", "messaging.destination.name": "orders", "error.type": "NOT_LEADER_OR_FOLLOWER"}
	for k, v := range want {
		if got := a.Get(k); got == nil || got.Str != v {
			t.Errorf("%s = %+v, want %q", k, got, v)
		}
	}
	if got := a.Get("server.address"); got == nil || got.Addr.String() != "10.0.0.5" {
		t.Errorf("server.address %+v", got)
	}
	if got := a.Get("server.port"); got == nil || got.Int != 9092 {
		t.Errorf("server.port %+v", got)
	}
	if a.Get("network.peer.address") != nil {
		t.Error("a metric point has network.peer.address")
	}
	var s record.Attrs
	c.SpanAttributes(r, &s)
	if s.Get("network.peer.address") == nil {
		t.Error("a span has no network.peer.address")
	}
	if c.ErrorType(&record.Record{ErrorType: "connection_closed"}) != "connection_closed" {
		t.Error("a transport error is not the error.type")
	}
	if c.Family(&record.Record{Kind: record.KindServer}) != nil {
		t.Error("a server-side record has a metric family")
	}
}
