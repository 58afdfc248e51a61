// Package httpconv holds the OpenTelemetry semantic conventions of HTTP
// (stable): how an HTTP/1.x or HTTP/2 request record becomes a SERVER or
// CLIENT span and a point of http.server.request.duration /
// http.client.request.duration and the body-size histograms. The HTTP/1
// and HTTP/2 parsers both emit records with Conventions.
package httpconv

import (
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/semconv"
)

// Conventions are HTTP's; set them as Record.Conv.
var Conventions record.Conventions = conventions{}

type conventions struct{}

var (
	// ServerFamily: the metrics of HTTP requests a process served.
	ServerFamily = &record.Family{Name: "http.server", Metrics: []record.Metric{
		{Name: "http.server.request.duration", Unit: "s", Description: "Duration of HTTP server requests."},
		{Name: "http.server.request.body.size", Unit: "By", Description: "Size of HTTP server request bodies.", Size: true, Value: requestSize},
		{Name: "http.server.response.body.size", Unit: "By", Description: "Size of HTTP server response bodies.", Size: true, Value: responseSize},
	}}
	// ClientFamily: the metrics of HTTP requests a process made.
	ClientFamily = &record.Family{Name: "http.client", Metrics: []record.Metric{
		{Name: "http.client.request.duration", Unit: "s", Description: "Duration of HTTP client requests."},
		{Name: "http.client.request.body.size", Unit: "By", Description: "Size of HTTP client request bodies.", Size: true, Value: requestSize},
		{Name: "http.client.response.body.size", Unit: "By", Description: "Size of HTTP client response bodies.", Size: true, Value: responseSize},
	}}
)

func requestSize(r *record.Record) (float64, bool) {
	return float64(r.RequestBodySize), r.RequestBodySize >= 0
}

func responseSize(r *record.Record) (float64, bool) {
	return float64(r.ResponseBodySize), r.ResponseBodySize >= 0
}

// SpanName is "{method} {route}", or "{method}" without a route; an
// unrecognised method is named "HTTP" (never the raw method, whose
// cardinality the client controls).
func (conventions) SpanName(r *record.Record) string {
	method := r.Method
	if method == "" || method == "_OTHER" {
		method = "HTTP"
	}
	if r.Route == "" {
		return method
	}
	return method + " " + r.Route
}

// SpanAttributes: the request, the response, and where it went. url.path
// is required on server spans; the query string is never exported.
func (c conventions) SpanAttributes(r *record.Record, a *record.Attrs) {
	a.Str(semconv.AttrHTTPRequestMethod, r.Method)
	if r.Method == "_OTHER" {
		a.Str(semconv.AttrHTTPRequestMethodOriginal, r.MethodOriginal)
	}
	if r.StatusCode != 0 {
		a.Int(semconv.AttrHTTPResponseStatusCode, int64(r.StatusCode))
	}
	a.Str(semconv.AttrURLScheme, r.Scheme)
	if r.Kind == record.KindServer {
		a.Str(semconv.AttrURLPath, r.Path)
	}
	a.Str(semconv.AttrHTTPRoute, r.Route)
	a.Str(semconv.AttrNetworkProtocolVersion, r.ProtoVersion)
	if r.Kind == record.KindClient {
		semconv.AddServer(r, a)
	} else if r.Host != "" {
		// the server's name as the client asked for it, never the socket
		a.Str(semconv.AttrServerAddress, r.Host)
		if port := semconv.AuthorityPort(r); port > 0 {
			a.Int(semconv.AttrServerPort, int64(port))
		}
	}
	if ip := semconv.PeerIP(r); ip.IsValid() {
		if r.Kind == record.KindServer {
			a.Addr(semconv.AttrClientAddress, ip)
		}
		semconv.AddPeer(r, a)
	}
	a.Str(semconv.AttrErrorType, c.ErrorType(r))
}

// ErrorType: server 5xx, client 4xx and 5xx, else what failed without a
// status ("connection_closed").
func (conventions) ErrorType(r *record.Record) string {
	if (r.Kind == record.KindServer && r.StatusCode >= 500) ||
		(r.Kind == record.KindClient && r.StatusCode >= 400) {
		return semconv.StatusText(r.StatusCode)
	}
	return r.ErrorType
}

func (conventions) Family(r *record.Record) *record.Family {
	switch r.Kind {
	case record.KindServer:
		return ServerFamily
	case record.KindClient:
		return ClientFamily
	}
	return nil
}

// MetricAttributes: low-cardinality attributes only; url.path and
// client.address only when the user asked for them.
func (c conventions) MetricAttributes(r *record.Record, opt record.MetricOptions, a *record.Attrs) {
	a.Str(semconv.AttrHTTPRequestMethod, r.Method)
	if r.StatusCode != 0 {
		a.Int(semconv.AttrHTTPResponseStatusCode, int64(r.StatusCode))
	}
	a.Str(semconv.AttrURLScheme, r.Scheme)
	a.Str(semconv.AttrNetworkProtocolName, "http")
	a.Str(semconv.AttrNetworkProtocolVersion, r.ProtoVersion)
	a.Str(semconv.AttrHTTPRoute, r.Route)
	if opt.ReportTarget {
		a.Str(semconv.AttrURLPath, r.Path)
	}
	a.Str(semconv.AttrErrorType, c.ErrorType(r))
	if r.Kind == record.KindClient {
		semconv.AddServer(r, a)
		return
	}
	semconv.AddServerSide(r, opt, a)
}

func (conventions) Routed(r *record.Record) bool { return r.Kind == record.KindServer }
