package testserver

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// StartGRPCGo starts the grpc-go test server (cmd/grpcserver): service
// ebpfred.test.Echo with Unary and ServerStream.
func StartGRPCGo(t testing.TB) *Server {
	t.Helper()
	s, err := startProcess(t, "grpc-go", exec.Command(GoBinary(t, "grpcserver")), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// StartGRPCPython starts the Python gRPC server (grpcserver.py) with
// Debian's python3-grpcio, which serves /usr/bin/python3 (not another
// python3 that may come first in PATH).
func StartGRPCPython(t testing.TB) *Server {
	t.Helper()
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import grpc").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import grpc (%v): install python3-grpcio", python, err)
		}
		t.Skipf("%s cannot import grpc (%v): apt-get install python3-grpcio", python, err)
	}
	script := writeScript(t, "grpcserver.py", grpcserverSource)
	s, err := startProcess(t, "grpc-python", exec.Command(python, "-u", script, "0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

//go:embed grpcserver.py
var grpcserverSource []byte

// GRPCResult is one call made by cmd/grpcclient.
type GRPCResult struct {
	Method   string        // "ebpfred.test.Echo/Unary"
	Code     string        // gRPC code name as grpc-go prints it ("OK", "NotFound", …)
	Latency  time.Duration // client-observed
	Messages int           // messages received (ServerStream)
}

// GRPCClient is a started, paused cmd/grpcclient: its connection is open
// (so it can be instrumented by pid) but it has not called yet.
type GRPCClient struct {
	PID   int
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
	errb  tailBuffer
}

// StartGRPCClient starts cmd/grpcclient against addr, paused. Calls are
// "Unary:CODE:DELAY_MS[:TIMEOUT_MS]" or "ServerStream:N"; the list runs
// concurrency times at once over one connection.
func StartGRPCClient(t testing.TB, addr string, concurrency int, calls ...string) *GRPCClient {
	t.Helper()
	return startGRPCClient(t, addr, concurrency, false, calls...)
}

// StartGRPCClientTLS is StartGRPCClient over TLS (any server certificate
// accepted).
func StartGRPCClientTLS(t testing.TB, addr string, concurrency int, calls ...string) *GRPCClient {
	t.Helper()
	return startGRPCClient(t, addr, concurrency, true, calls...)
}

// StartGRPCGoTLS is StartGRPCGo over TLS with SelfSignedCert.
func StartGRPCGoTLS(t testing.TB) *Server {
	t.Helper()
	cert, key := SelfSignedCert(t)
	s, err := startProcess(t, "grpc-go", exec.Command(GoBinary(t, "grpcserver"), "-tls-cert", cert, "-tls-key", key), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Scheme = "https"
	return s
}

func startGRPCClient(t testing.TB, addr string, concurrency int, useTLS bool, calls ...string) *GRPCClient {
	t.Helper()
	args := []string{"-addr", addr, "-c", strconv.Itoa(max(concurrency, 1)), "-wait-stdin"}
	if useTLS {
		// connect at the first call: a TLS read already in flight when the
		// probes attach is not seen (its entry probe never fired)
		args = append(args, "-tls", "-lazy")
	}
	args = append(append(args, "--"), calls...)
	c := &GRPCClient{t: t, cmd: exec.Command(GoBinary(t, "grpcclient"), args...)}
	c.errb.max = 16 << 10
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.errb
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.PID = c.cmd.Process.Pid
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	return c
}

// Run releases the client and returns its results in completion order.
func (c *GRPCClient) Run() []GRPCResult {
	c.t.Helper()
	_, _ = io.WriteString(c.stdin, "go\n")
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		c.t.Fatalf("grpcclient: %v\n%s", err, c.errb.String())
	}
	var out []GRPCResult
	sc := bufio.NewScanner(&c.out)
	for sc.Scan() {
		var l struct {
			Method    string `json:"method"`
			Code      string `json:"code"`
			LatencyNs int64  `json:"latency_ns"`
			Messages  int    `json:"messages"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			c.t.Fatalf("grpcclient output %q: %v", sc.Text(), err)
		}
		out = append(out, GRPCResult{l.Method, l.Code, time.Duration(l.LatencyNs), l.Messages})
	}
	return out
}
