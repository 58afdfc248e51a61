// Command grpcclient calls ebpfred.test.Echo (see cmd/grpcserver) over one
// connection and prints one JSON line per call with its outcome and the
// client-observed latency. It waits for a line on stdin before calling when
// -wait-stdin is set, so that a test can start instrumenting it first.
//
// Calls are "Unary:CODE:DELAY_MS[:TIMEOUT_MS]", "ServerStream:N[:CODE[:SIZE]]"
// (N messages of SIZE bytes from the server, then status CODE),
// "ClientStream:N[:CODE[:SIZE]]" (N messages of SIZE bytes to the server,
// one back) or "BidiStream:N[:CODE[:SIZE]]" (N messages each way, sent
// while the answers come back), and -c runs the list that many times
// concurrently (multiplexed on the one HTTP/2 connection); with -shared the
// -c workers share the list instead, each call made once by whichever
// worker is free (a thread pool working through a queue of calls).
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

type result struct {
	Method    string `json:"method"`
	Code      string `json:"code"`
	LatencyNs int64  `json:"latency_ns"`
	Messages  int    `json:"messages"`
}

func main() {
	addr := flag.String("addr", "", "server host:port")
	conc := flag.Int("c", 1, "run the call list this many times concurrently")
	wait := flag.Bool("wait-stdin", false, "wait for a line on stdin before calling")
	useTLS := flag.Bool("tls", false, "TLS, accepting any server certificate (self-signed test servers)")
	lazy := flag.Bool("lazy", false, "connect at the first call, not before -wait-stdin's line")
	shared := flag.Bool("shared", false, "the -c workers share one run of the call list")
	flag.Parse()
	encoding.RegisterCodec(rawCodec{})
	creds := insecure.NewCredentials()
	if *useTLS {
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	if !*lazy {
		conn.Connect()
	}
	if *wait {
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	var mu sync.Mutex
	out := json.NewEncoder(os.Stdout)
	var queue chan string
	if *shared {
		queue = make(chan string, len(flag.Args()))
		for _, call := range flag.Args() {
			queue <- call
		}
		close(queue)
	}
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			calls := queue
			if calls == nil {
				own := make(chan string, len(flag.Args()))
				for _, call := range flag.Args() {
					own <- call
				}
				close(own)
				calls = own
			}
			for call := range calls {
				r := do(conn, call)
				mu.Lock()
				out.Encode(r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func do(conn *grpc.ClientConn, call string) result {
	f := strings.Split(call, ":")
	num := func(i int) int {
		if i < len(f) {
			n, _ := strconv.Atoi(f[i])
			return n
		}
		return 0
	}
	ctx := context.Background()
	start := time.Now()
	switch f[0] {
	case "Unary":
		if t := num(3); t > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Millisecond)
			defer cancel()
		}
		req := []byte(fmt.Sprintf("code=%d;delay_ms=%d", num(1), num(2)))
		var resp []byte
		err := conn.Invoke(ctx, "/ebpfred.test.Echo/Unary", &req, &resp)
		return result{Method: "ebpfred.test.Echo/Unary", Code: status.Code(err).String(), LatencyNs: time.Since(start).Nanoseconds()}
	case "ServerStream", "ClientStream", "BidiStream":
		return doStream(conn, f[0], num(1), num(2), num(3), start)
	}
	fmt.Fprintln(os.Stderr, "unknown call", call)
	os.Exit(2)
	return result{}
}

// pad returns msg grown to size bytes with the filler "abc…".
func pad(msg []byte, size int) []byte {
	for i := len(msg); i < size; i++ {
		msg = append(msg, byte('a'+i%26))
	}
	return msg
}

// doStream makes one streaming call: n messages one way (ServerStream,
// ClientStream) or each way (BidiStream), then status code from the server.
func doStream(conn *grpc.ClientConn, kind string, n, code, size int, start time.Time) result {
	method := "ebpfred.test.Echo/" + kind
	desc := &grpc.StreamDesc{ServerStreams: kind != "ClientStream", ClientStreams: kind != "ServerStream"}
	r := result{Method: method}
	st, err := conn.NewStream(context.Background(), desc, "/"+method)
	if err == nil {
		sent := make(chan error, 1)
		go func() {
			var err error
			msgs := 1
			if kind != "ServerStream" {
				msgs = n
			}
			for i := 0; i < msgs && err == nil; i++ {
				req := pad([]byte(fmt.Sprintf("n=%d;code=%d;size=%d;i=%d", n, code, size, i)), size)
				err = st.SendMsg(&req)
			}
			if err == nil {
				err = st.CloseSend()
			}
			sent <- err
		}()
		for err == nil {
			var m []byte
			if err = st.RecvMsg(&m); err == nil {
				r.Messages++
			}
		}
		if err == io.EOF {
			err = nil
		}
		if serr := <-sent; err == nil && serr != nil && serr != io.EOF {
			err = serr
		}
	}
	r.Code = status.Code(err).String()
	r.LatencyNs = time.Since(start).Nanoseconds()
	return r
}
