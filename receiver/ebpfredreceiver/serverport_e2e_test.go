package ebpfredreceiver

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// metrics.report_server_port: a process serving a cleartext and a TLS port
// gets one series per port, HTTP and gRPC alike, and none without the
// option.
func TestServerPortSeries(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "curl")
	for _, opt := range []bool{true, false} {
		t.Run(fmt.Sprintf("report_server_port=%v", opt), func(t *testing.T) {
			web, webTLS := testserver.StartGoPlainAndTLS(t)
			rpc, rpcTLS := testserver.StartGRPCGoPlainAndTLS(t)
			h := startReceiver(t, func(c *Config) {
				c.OpenPort = fmt.Sprintf("%d,%d", web.Port, rpc.Port)
				c.Metrics.ReportServerPort = opt
			})
			reqs := make([]testserver.Request, 15)
			for i := range reqs {
				reqs[i] = testserver.Request{Path: "/status/200"}
			}
			testserver.Drive(t, web.Base(), reqs, true)
			for i := 0; i < 10; i++ {
				if code := curlTLS(t, "https://"+ipPort(webTLS), tlsReq{method: "GET", path: "/status/200"}); code != 200 {
					t.Fatalf("curl: status %d", code)
				}
			}
			plain := testserver.StartGRPCClient(t, rpc.Addr, 4, "Unary:0:0", "Unary:0:0").Run()
			overTLS := testserver.StartGRPCClientTLS(t, ipPort(rpcTLS), 3, "Unary:0:0").Run()
			if len(plain) != 8 || len(overTLS) != 3 {
				t.Fatalf("the clients made %d and %d calls", len(plain), len(overTLS))
			}
			h.waitSpans(15+10+8+3, isServer)
			h.stop()

			httpWant := fmtCounts(map[string]uint64{fmt.Sprintf("%d http", web.Port): 15, fmt.Sprintf("%d https", webTLS): 10})
			rpcWant := fmtCounts(map[string]uint64{strconv.Itoa(rpc.Port): 8, strconv.Itoa(rpcTLS): 3})
			if !opt {
				httpWant, rpcWant = " http=15  https=10 ", "=11 "
			}
			if got := countBy(h.histograms("http.server.request.duration"), "server.port", "url.scheme"); fmtCounts(got) != httpWant {
				t.Errorf("http.server.request.duration by server.port, url.scheme:\n got  %s\n want %s", fmtCounts(got), httpWant)
			}
			if got := countBy(h.histograms("rpc.server.call.duration"), "server.port"); fmtCounts(got) != rpcWant {
				t.Errorf("rpc.server.call.duration by server.port:\n got  %s\n want %s", fmtCounts(got), rpcWant)
			}
		})
	}
}

func ipPort(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
