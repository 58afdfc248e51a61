package resource

import (
	"net/netip"
	"strconv"

	"github.com/ebpfred/ebpfred/internal/record"
)

// Request attribute keys (semantic conventions: HTTP stable, RPC v1.44).
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
)

// RPCSystemGRPC is the rpc.system.name of gRPC records.
const RPCSystemGRPC = "grpc"

// ErrorType returns the semconv error.type of r, "" when the request did not
// fail. A status that means failure speaks first (HTTP server: 5xx, HTTP
// client: 4xx and 5xx, gRPC: see GRPCIsError), then r.ErrorType. It does not
// allocate for HTTP status codes below 1000 or gRPC codes 0-16, so it is safe
// on the per-request path.
func ErrorType(r *record.Record) string {
	if r.Protocol == record.ProtocolGRPC {
		if r.RPCStatusCode >= 0 && GRPCIsError(r.Kind, r.RPCStatusCode) {
			return GRPCCodeName(r.RPCStatusCode)
		}
		return r.ErrorType
	}
	if (r.Kind == record.KindServer && r.StatusCode >= 500) ||
		(r.Kind == record.KindClient && r.StatusCode >= 400) {
		return statusCodeText(r.StatusCode)
	}
	return r.ErrorType
}

// GRPCIsError says whether a gRPC status code is a failure from the given
// side. A client treats every code but OK as an error; a server only those
// that point at the server itself, not at the caller's request.
func GRPCIsError(kind record.Kind, code int) bool {
	if kind == record.KindClient {
		return code != 0
	}
	switch code {
	case 2, 4, 12, 13, 14, 15: // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS
		return true
	}
	return false
}

var grpcCodeNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// GRPCCodeName returns the canonical name of a gRPC status code ("OK",
// "NOT_FOUND"), or its decimal form for codes gRPC does not define.
func GRPCCodeName(code int) string {
	if code >= 0 && code < len(grpcCodeNames) {
		return grpcCodeNames[code]
	}
	return strconv.Itoa(code)
}

// statusCodeTexts holds "100".."999" so that deriving error.type from an
// HTTP status never allocates on the per-request path.
var statusCodeTexts = func() (t [1000]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusCodeText(code int) string {
	if code >= 100 && code < len(statusCodeTexts) {
		return statusCodeTexts[code]
	}
	return strconv.Itoa(code)
}

// ServerAddress returns server.address and server.port as the client saw
// them: the Host header (or :authority) the application asked for when there
// is one, else the connection's peer. At most one of host and ip is set;
// port is 0 when unknown. Peer IPv4-mapped IPv6 addresses are unmapped.
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
