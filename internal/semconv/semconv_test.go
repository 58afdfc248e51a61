package semconv

import (
	"net/netip"
	"testing"

	"github.com/ebpfred/ebpfred/internal/record"
)

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

func TestStatusText(t *testing.T) {
	for code, want := range map[int]string{200: "200", 599: "599", 1234: "1234", 7: "7"} {
		if got := StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q", code, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = StatusText(503) }); n != 0 {
		t.Errorf("StatusText allocates %v times", n)
	}
}
