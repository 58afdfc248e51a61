package http2

import (
	"testing"

	"github.com/ebpfred/ebpfred/internal/record"
)

func TestGRPCErrorType(t *testing.T) {
	tests := []struct {
		kind     record.Kind
		status   int
		grpcCode int
		recErr   string
		want     string
	}{
		{record.KindServer, 500, 0, "", ""}, // gRPC ignores the HTTP status
		{record.KindServer, 200, 3, "", ""},
		{record.KindServer, 200, 14, "", "UNAVAILABLE"},
		{record.KindClient, 200, 3, "", "INVALID_ARGUMENT"},
		{record.KindClient, 200, 99, "", "99"},
		{record.KindClient, 200, -1, "reset", "reset"},
	}
	for _, tt := range tests {
		r := &record.Record{Kind: tt.kind, Conv: GRPC, StatusCode: tt.status, RPCStatusCode: tt.grpcCode, ErrorType: tt.recErr}
		if got := GRPC.ErrorType(r); got != tt.want {
			t.Errorf("%v status %d grpc %d err %q: got %q, want %q", tt.kind, tt.status, tt.grpcCode, tt.recErr, got, tt.want)
		}
	}
	r := &record.Record{Kind: record.KindClient, Conv: GRPC, RPCStatusCode: 14}
	if n := testing.AllocsPerRun(100, func() { _ = GRPC.ErrorType(r) }); n != 0 {
		t.Errorf("ErrorType allocates %v times", n)
	}
}
