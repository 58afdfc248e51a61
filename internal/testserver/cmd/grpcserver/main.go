// Command grpcserver is a gRPC test server for ebpfred's tests, with no
// generated code: messages are raw bytes (a pass-through codec).
//
// Service ebpfred.test.Echo:
//
//	Unary(req)        req is "code=N;delay_ms=M": waits M ms, then answers
//	                  status N (0 = OK, with the request echoed back).
//	ServerStream(req) req is "n=K": sends K messages, then OK.
//
// It prints "LISTENING <port>" once it listens on 127.0.0.1.
package main

import (
	"context"
	"flag"
	"fmt"
	"google.golang.org/grpc/credentials"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// rawCodec passes []byte messages through unchanged.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" } // what clients ask for by default

func params(req []byte) map[string]int {
	out := map[string]int{}
	for _, kv := range strings.Split(string(req), ";") {
		k, v, ok := strings.Cut(kv, "=")
		if n, err := strconv.Atoi(v); ok && err == nil {
			out[k] = n
		}
	}
	return out
}

func unary(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var req []byte
	if err := dec(&req); err != nil {
		return nil, err
	}
	p := params(req)
	if d := p["delay_ms"]; d > 0 {
		select {
		case <-time.After(time.Duration(d) * time.Millisecond):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if c := codes.Code(p["code"]); c != codes.OK {
		return nil, status.Error(c, "as requested")
	}
	return &req, nil
}

func serverStream(_ any, stream grpc.ServerStream) error {
	var req []byte
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	for i := 0; i < params(req)["n"]; i++ {
		msg := []byte(fmt.Sprintf("message %d", i))
		if err := stream.SendMsg(&msg); err != nil {
			return err
		}
	}
	return nil
}

var desc = grpc.ServiceDesc{
	ServiceName: "ebpfred.test.Echo",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: unary}},
	Streams:     []grpc.StreamDesc{{StreamName: "ServerStream", Handler: serverStream, ServerStreams: true}},
}

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1 (0: any free port)")
	tlsCert := flag.String("tls-cert", "", "serve over TLS with this certificate")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert")
	flag.Parse()
	encoding.RegisterCodec(rawCodec{})
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var opts []grpc.ServerOption
	if *tlsCert != "" {
		creds, err := credentials.NewServerTLSFromFile(*tlsCert, *tlsKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	s := grpc.NewServer(opts...)
	s.RegisterService(&desc, struct{}{})
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	if err := s.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
