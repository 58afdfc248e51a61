package http2

import (
	"strconv"

	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/semconv"
)

// GRPC are the semantic conventions of gRPC calls (RPC, v1.44): the
// records this parser emits for requests with a content-type of
// application/grpc*. Plain HTTP/2 requests follow internal/httpconv.
var GRPC record.Conventions = grpcConventions{}

type grpcConventions struct{}

// RPCSystemGRPC is the rpc.system.name of gRPC records.
const RPCSystemGRPC = "grpc"

var (
	// GRPCServerFamily: the calls a process served.
	GRPCServerFamily = &record.Family{Name: "rpc.server", Metrics: []record.Metric{
		{Name: "rpc.server.call.duration", Unit: "s", Description: "Measures the duration of an incoming Remote Procedure Call (RPC)."},
	}}
	// GRPCClientFamily: the calls a process made.
	GRPCClientFamily = &record.Family{Name: "rpc.client", Metrics: []record.Metric{
		{Name: "rpc.client.call.duration", Unit: "s", Description: "Measures the duration of an outgoing Remote Procedure Call (RPC)."},
	}}
)

// SpanName is the RPC method, or the RPC system when the method is unknown.
func (grpcConventions) SpanName(r *record.Record) string {
	if r.RPCMethod == "" || r.RPCMethod == "_OTHER" {
		return RPCSystemGRPC
	}
	return r.RPCMethod
}

func (c grpcConventions) SpanAttributes(r *record.Record, a *record.Attrs) {
	a.Str(semconv.AttrRPCSystemName, RPCSystemGRPC)
	a.Str(semconv.AttrRPCMethod, r.RPCMethod)
	if r.RPCStatusCode >= 0 {
		a.Str(semconv.AttrRPCResponseStatusCode, GRPCCodeName(r.RPCStatusCode))
	}
	if r.Kind == record.KindClient {
		semconv.AddServer(r, a)
	} else if r.Host != "" {
		a.Str(semconv.AttrServerAddress, r.Host)
		if port := semconv.AuthorityPort(r); port > 0 {
			a.Int(semconv.AttrServerPort, int64(port))
		}
	}
	semconv.AddPeer(r, a)
	a.Str(semconv.AttrErrorType, c.ErrorType(r))
}

// ErrorType: the status codes that are failures from the record's side
// (GRPCIsError), else what failed without a status.
func (grpcConventions) ErrorType(r *record.Record) string {
	if r.RPCStatusCode >= 0 && GRPCIsError(r.Kind, r.RPCStatusCode) {
		return GRPCCodeName(r.RPCStatusCode)
	}
	return r.ErrorType
}

func (grpcConventions) Family(r *record.Record) *record.Family {
	switch r.Kind {
	case record.KindServer:
		return GRPCServerFamily
	case record.KindClient:
		return GRPCClientFamily
	}
	return nil
}

func (c grpcConventions) MetricAttributes(r *record.Record, opt record.MetricOptions, a *record.Attrs) {
	a.Str(semconv.AttrRPCSystemName, RPCSystemGRPC)
	a.Str(semconv.AttrRPCMethod, r.RPCMethod)
	if r.RPCStatusCode >= 0 {
		a.Str(semconv.AttrRPCResponseStatusCode, GRPCCodeName(r.RPCStatusCode))
	}
	a.Str(semconv.AttrErrorType, c.ErrorType(r))
	if r.Kind == record.KindClient {
		semconv.AddServer(r, a)
		return
	}
	semconv.AddServerSide(r, opt, a)
}

// Routed: RPC methods are their own low-cardinality names.
func (grpcConventions) Routed(*record.Record) bool { return false }

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
