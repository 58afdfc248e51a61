// Command grpcserver is a gRPC test server for ebpfred's tests, with no
// generated code: messages are raw bytes (a pass-through codec).
//
// Service ebpfred.test.Echo (parameters "key=N;..." in the first message;
// a missing one is 0):
//
//	Unary(req)        req is "code=N;delay_ms=M": waits M ms, then answers
//	                  status N (0 = OK, with the request echoed back).
//	ServerStream(req) req is "n=K;code=C;size=S": sends K messages of S
//	                  bytes (at least the few of "message i"), then status C.
//	ClientStream      reads every message; the first is "code=C": answers
//	                  one message, "got K", then status C.
//	BidiStream        the first message is "code=C;size=S": echoes each
//	                  message (padded to S bytes) as it arrives, then status
//	                  C once the client has half-closed.
//
// It prints "LISTENING <port>" once it listens on 127.0.0.1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
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

// pad returns msg grown to size bytes with the filler "abc…".
func pad(msg []byte, size int) []byte {
	for i := len(msg); i < size; i++ {
		msg = append(msg, byte('a'+i%26))
	}
	return msg
}

// end is the status a stream handler returns after its messages.
func end(code int) error {
	if c := codes.Code(code); c != codes.OK {
		return status.Error(c, "as requested")
	}
	return nil
}

func serverStream(_ any, stream grpc.ServerStream) error {
	var req []byte
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	p := params(req)
	for i := 0; i < p["n"]; i++ {
		msg := pad([]byte(fmt.Sprintf("message %d", i)), p["size"])
		if err := stream.SendMsg(&msg); err != nil {
			return err
		}
	}
	return end(p["code"])
}

func clientStream(_ any, stream grpc.ServerStream) error {
	var p map[string]int
	n := 0
	for {
		var req []byte
		err := stream.RecvMsg(&req)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if n == 0 {
			p = params(req)
		}
		n++
	}
	msg := []byte(fmt.Sprintf("got %d", n))
	if err := stream.SendMsg(&msg); err != nil {
		return err
	}
	return end(p["code"])
}

func bidiStream(_ any, stream grpc.ServerStream) error {
	var p map[string]int
	for n := 0; ; n++ {
		var req []byte
		err := stream.RecvMsg(&req)
		if err == io.EOF {
			return end(p["code"])
		}
		if err != nil {
			return err
		}
		if n == 0 {
			p = params(req)
		}
		msg := pad(req, p["size"])
		if err := stream.SendMsg(&msg); err != nil {
			return err
		}
	}
}

var desc = grpc.ServiceDesc{
	ServiceName: "ebpfred.test.Echo",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: unary}},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", Handler: serverStream, ServerStreams: true},
		{StreamName: "ClientStream", Handler: clientStream, ClientStreams: true},
		{StreamName: "BidiStream", Handler: bidiStream, ServerStreams: true, ClientStreams: true},
	},
}

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1 (0: any free port)")
	tlsCert := flag.String("tls-cert", "", "serve over TLS with this certificate")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert")
	alsoTLS := flag.Bool("also-tls", false, "serve cleartext on -port and, with -tls-cert, TLS on another port (printed first: LISTENING_TLS <port>)")
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
	if *alsoTLS {
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ts := grpc.NewServer(opts...)
		ts.RegisterService(&desc, struct{}{})
		go func() {
			if err := ts.Serve(tln); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}()
		fmt.Printf("LISTENING_TLS %d\n", tln.Addr().(*net.TCPAddr).Port)
		opts = nil // -port serves cleartext
	}
	s := grpc.NewServer(opts...)
	s.RegisterService(&desc, struct{}{})
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	if err := s.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
