package ebpfredreceiver

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// Issue 18's reproductions, each with exact counts. The load tests
// (grpc_load_e2e_test.go, h2load_e2e_test.go) go further: every kind of
// call, both sides, h2c and TLS.

// loadRounds is how many rounds in a row each repeated scenario runs
// (EBPFRED_ROUNDS; 2 by default, to keep CI within its time; the issue
// asks for 20 in a row, run with EBPFRED_ROUNDS=20).
var loadRounds = envRounds()

func envRounds() int {
	if n, err := strconv.Atoi(os.Getenv("EBPFRED_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 2
}

// http2Stats are the HTTP/2 protocol's desync and incomplete counts (as of
// the pipeline's last Tick).
func http2Stats(h *harness) (desync, incomplete uint64) {
	for i := range h.receiver().stats.PerProtocol {
		s := &h.receiver().stats.PerProtocol[i]
		if s.Name == "http2" {
			return s.Desync.Load(), s.Incomplete.Load()
		}
	}
	return 0, 0
}

// waitHTTP2Settled waits until the pipeline has ticked after the last
// spans (its stats are synced at Tick).
func waitHTTP2Settled() { time.Sleep(300 * time.Millisecond) }

// Issue 18, item 1, exactly as seen: a grpcio server (a generic handler,
// ThreadPoolExecutor(max_workers=8)) and a grpcio client making 29 unary
// calls from 8 threads on one channel (20 OK, 5 NOT_FOUND, 4 INTERNAL after
// 10 ms), 3 times against one receiver selecting the server by open_port:
// 87 of 87 calls, each with its rpc.method and status, no desync, nothing
// incomplete. (Was: 51 of 87, 36 incomplete, 6 desyncs: the preface came in
// a transfer of 418 bytes, which the kernel did not recognise, and the
// requests after it went length-only.) Each capture hook.
func TestGRPCPythonConcurrentUnary(t *testing.T) {
	requireRoot(t)
	eachCapture(t, func(t *testing.T, hooks string) {
		srv := testserver.StartGRPCPythonWorkers(t, 8)
		h := startReceiver(t, func(c *Config) {
			c.OpenPort = strconv.Itoa(srv.Port)
			c.CaptureHooks = hooks
		})
		var calls []string
		for i := 0; i < 20; i++ {
			calls = append(calls, "Unary:0:0")
		}
		for i := 0; i < 5; i++ {
			calls = append(calls, "Unary:5:0")
		}
		for i := 0; i < 4; i++ {
			calls = append(calls, "Unary:13:10")
		}
		const rounds = 3
		for round := 1; round <= rounds; round++ {
			res := testserver.StartGRPCClientWith(t, testserver.GRPCClientOptions{
				Addr: srv.Addr, Concurrency: 8, Python: true, Shared: true,
			}, calls...).Run()
			got := map[string]uint64{}
			for _, r := range res {
				got[r.Method+" "+r.Code]++
			}
			if want := "ebpfred.test.Echo/Unary Internal=4 ebpfred.test.Echo/Unary NotFound=5 ebpfred.test.Echo/Unary OK=20 "; fmtCounts(got) != want {
				t.Fatalf("round %d: the client saw %s, want %s", round, fmtCounts(got), want)
			}
		}
		h.waitSpans(rounds*len(calls), isServer)
		waitHTTP2Settled()
		desync, incomplete := http2Stats(h)
		h.stop()
		spans := map[string]uint64{}
		for _, s := range h.spans(isServer) {
			spans[s.span.Name()+" "+s.attr("rpc.method")+" "+s.attr("rpc.response.status_code")]++
		}
		if want := fmt.Sprintf("%[1]s %[1]s INTERNAL=12 %[1]s %[1]s NOT_FOUND=15 %[1]s %[1]s OK=60 ", unaryMethod); fmtCounts(spans) != want {
			t.Errorf("server spans (name, rpc.method, status):\n got  %s\n want %s", fmtCounts(spans), want)
		}
		got := countBy(h.histograms("rpc.server.call.duration"), "rpc.method", "rpc.response.status_code")
		if want := fmt.Sprintf("%[1]s INTERNAL=12 %[1]s NOT_FOUND=15 %[1]s OK=60 ", unaryMethod); fmtCounts(got) != want {
			t.Errorf("rpc.server.call.duration counts:\n got  %s\n want %s", fmtCounts(got), want)
		}
		if desync != 0 || incomplete != 0 {
			t.Errorf("http2 desync %d, incomplete %d: want 0", desync, incomplete)
		}
	})
}

// Issue 18, item 2, with our grpc-go server: OBI's route guide
// ListFeatures (server streaming) was lost because a grpc-go server
// writes a stream of small messages 6-32 KiB at a time, its trailers past
// the first 4 KiB the kernel copied. Here: streams of 100 messages of 60
// bytes (about what ListFeatures sends), 3 clients one after the other, 3
// streams and a unary call each: every call counted, with its status, no
// desync. Each capture hook.
func TestGRPCServerStreamLongWrites(t *testing.T) {
	requireRoot(t)
	eachCapture(t, func(t *testing.T, hooks string) {
		srv := testserver.StartGRPCGo(t)
		h := startReceiver(t, func(c *Config) {
			c.OpenPort = strconv.Itoa(srv.Port)
			c.CaptureHooks = hooks
		})
		for i := 0; i < 3; i++ {
			res := testserver.StartGRPCClient(t, srv.Addr, 1,
				"ServerStream:100:0:60", "ServerStream:100:0:60", "ServerStream:100:0:60", "Unary:0:0").Run()
			for _, r := range res {
				if r.Code != "OK" || r.Method == "ebpfred.test.Echo/ServerStream" && r.Messages != 100 {
					t.Fatalf("client saw %+v", r)
				}
			}
		}
		h.waitSpans(12, isServer)
		waitHTTP2Settled()
		desync, incomplete := http2Stats(h)
		h.stop()
		got := countBy(h.histograms("rpc.server.call.duration"), "rpc.method", "rpc.response.status_code")
		if want := "ebpfred.test.Echo/ServerStream OK=9 ebpfred.test.Echo/Unary OK=3 "; fmtCounts(got) != want {
			t.Errorf("rpc.server.call.duration counts:\n got  %s\n want %s", fmtCounts(got), want)
		}
		if desync != 0 || incomplete != 0 {
			t.Errorf("http2 desync %d, incomplete %d: want 0", desync, incomplete)
		}
	})
}
