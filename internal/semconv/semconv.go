// Package semconv holds what every protocol's conventions share: the
// OpenTelemetry semantic-convention attribute keys ebpfred emits, and the
// values several protocols derive alike (server.address and server.port,
// the peer's address, status codes as text). A protocol's own conventions
// live in its package (internal/httpconv, internal/http2's gRPC, ...).
package semconv

import (
	"net/netip"
	"strconv"

	"github.com/ebpfred/ebpfred/internal/record"
)

// Attribute keys (semantic conventions: HTTP stable, RPC v1.44, database
// stable, messaging).
const (
	AttrHTTPRequestMethod         = "http.request.method"
	AttrHTTPRequestMethodOriginal = "http.request.method_original"
	AttrHTTPResponseStatusCode    = "http.response.status_code"
	AttrHTTPRoute                 = "http.route"
	AttrURLScheme                 = "url.scheme"
	AttrURLPath                   = "url.path"
	AttrNetworkProtocolName       = "network.protocol.name"
	AttrNetworkProtocolVersion    = "network.protocol.version"
	AttrNetworkPeerAddress        = "network.peer.address"
	AttrNetworkPeerPort           = "network.peer.port"
	AttrServerAddress             = "server.address"
	AttrServerPort                = "server.port"
	AttrClientAddress             = "client.address"
	AttrErrorType                 = "error.type"
	AttrRPCSystemName             = "rpc.system.name"
	AttrRPCMethod                 = "rpc.method"
	AttrRPCResponseStatusCode     = "rpc.response.status_code"
	AttrDBSystemName              = "db.system.name"
	AttrDBOperationName           = "db.operation.name"
	AttrDBCollectionName          = "db.collection.name"
	AttrDBNamespace               = "db.namespace"
	AttrDBQuerySummary            = "db.query.summary"
	AttrDBQueryText               = "db.query.text"
	AttrDBResponseStatusCode      = "db.response.status_code"
	AttrMessagingSystem           = "messaging.system"
	AttrMessagingOperationName    = "messaging.operation.name"
	AttrMessagingDestinationName  = "messaging.destination.name"
	AttrMessagingOperationType    = "messaging.operation.type"
)

// ServerAddress returns server.address and server.port as a client saw
// them: the host the application asked for (Host, :authority) when there is
// one, else the connection's peer. At most one of host and ip is set; port
// is 0 when unknown. Peer IPv4-mapped IPv6 addresses are unmapped.
func ServerAddress(r *record.Record) (host string, ip netip.Addr, port int) {
	if r.Host != "" {
		port = AuthorityPort(r)
		if port == 0 {
			port = int(r.Peer.Port())
		}
		return r.Host, netip.Addr{}, port
	}
	if a := r.Peer.Addr(); a.IsValid() {
		return "", a.Unmap(), int(r.Peer.Port())
	}
	return "", netip.Addr{}, 0
}

// AuthorityPort is the port of the request's Host/:authority: the explicit
// one, else the scheme's default, else 0.
func AuthorityPort(r *record.Record) int {
	if r.HostPort > 0 {
		return r.HostPort
	}
	switch r.Scheme {
	case "http":
		return 80
	case "https":
		return 443
	}
	return 0
}

// PeerIP returns the peer's IP address, IPv4-mapped IPv6 unmapped; the zero
// Addr when unknown.
func PeerIP(r *record.Record) netip.Addr {
	return r.Peer.Addr().Unmap()
}

// AddServer adds server.address and server.port as a client saw them.
func AddServer(r *record.Record, a *record.Attrs) {
	host, ip, port := ServerAddress(r)
	switch {
	case host != "":
		a.Str(AttrServerAddress, host)
	case ip.IsValid():
		a.Addr(AttrServerAddress, ip)
	default:
		return
	}
	if port > 0 {
		a.Int(AttrServerPort, int64(port))
	}
}

// AddServerSide adds what a server's metric point may carry about its own
// end and its client, when the user asked: server.port (the local port: a
// process serving plain and TLS ports then gets a series for each) and
// client.address.
func AddServerSide(r *record.Record, opt record.MetricOptions, a *record.Attrs) {
	if opt.ReportServerPort {
		if port := r.Local.Port(); port != 0 {
			a.Int(AttrServerPort, int64(port))
		}
	}
	if opt.ReportPeer {
		a.Addr(AttrClientAddress, PeerIP(r))
	}
}

// AddPeer adds network.peer.address and network.peer.port.
func AddPeer(r *record.Record, a *record.Attrs) {
	if ip := PeerIP(r); ip.IsValid() {
		a.Addr(AttrNetworkPeerAddress, ip)
		if port := r.Peer.Port(); port != 0 {
			a.Int(AttrNetworkPeerPort, int64(port))
		}
	}
}

// statusTexts holds "100".."999" so that deriving error.type from a status
// code never allocates on the per-request path.
var statusTexts = func() (t [1000]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// StatusText is code in decimal, without allocating for 100-999.
func StatusText(code int) string {
	if code >= 100 && code < len(statusTexts) {
		return statusTexts[code]
	}
	return strconv.Itoa(code)
}
