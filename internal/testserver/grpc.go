package testserver

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
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
// python3 that may come first in PATH), with 16 worker threads.
func StartGRPCPython(t testing.TB) *Server {
	t.Helper()
	return startGRPCPython(t, false)
}

// StartGRPCPythonTLS is StartGRPCPython over TLS with SelfSignedCert
// (grpcio's TLS is Debian's libssl.so.3).
func StartGRPCPythonTLS(t testing.TB) *Server {
	t.Helper()
	return startGRPCPython(t, true)
}

// pythonGRPC is the interpreter that has Debian's python3-grpcio.
const pythonGRPC = "/usr/bin/python3"

func requireGRPCPython(t testing.TB) {
	t.Helper()
	if err := exec.Command(pythonGRPC, "-c", "import grpc").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import grpc (%v): install python3-grpcio", pythonGRPC, err)
		}
		t.Skipf("%s cannot import grpc (%v): apt-get install python3-grpcio", pythonGRPC, err)
	}
}

// StartGRPCPythonWorkers is StartGRPCPython with a thread pool of workers
// (ThreadPoolExecutor(max_workers=workers); 16 otherwise).
func StartGRPCPythonWorkers(t testing.TB, workers int) *Server {
	t.Helper()
	return startGRPCPythonWorkers(t, false, workers)
}

func startGRPCPython(t testing.TB, useTLS bool) *Server {
	t.Helper()
	return startGRPCPythonWorkers(t, useTLS, 16)
}

func startGRPCPythonWorkers(t testing.TB, useTLS bool, workers int) *Server {
	t.Helper()
	requireGRPCPython(t)
	script := writeScript(t, "grpcserver.py", grpcserverSource)
	args := []string{"-u", script, "0", strconv.Itoa(workers)}
	if useTLS {
		cert, key := SelfSignedCert(t)
		args = append(args, cert, key)
	}
	s, err := startProcess(t, "grpc-python", exec.Command(pythonGRPC, args...), 0)
	if err != nil {
		t.Fatal(err)
	}
	if useTLS {
		s.Scheme = "https"
	}
	return s
}

//go:embed grpcserver.py
var grpcserverSource []byte

//go:embed grpcclient.py
var grpcclientSource []byte

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
// "Unary:CODE:DELAY_MS[:TIMEOUT_MS]", "ServerStream:N[:CODE[:SIZE]]",
// "ClientStream:N[:CODE[:SIZE]]" or "BidiStream:N[:CODE[:SIZE]]" (see
// cmd/grpcclient); the list runs concurrency times at once over one
// connection.
func StartGRPCClient(t testing.TB, addr string, concurrency int, calls ...string) *GRPCClient {
	t.Helper()
	return StartGRPCClientWith(t, GRPCClientOptions{Addr: addr, Concurrency: concurrency}, calls...)
}

// StartGRPCClientTLS is StartGRPCClient over TLS (any server certificate
// accepted).
func StartGRPCClientTLS(t testing.TB, addr string, concurrency int, calls ...string) *GRPCClient {
	t.Helper()
	return StartGRPCClientWith(t, GRPCClientOptions{Addr: addr, Concurrency: concurrency, TLS: true}, calls...)
}

// StartGRPCGoPlainAndTLS starts one cmd/grpcserver process serving
// cleartext gRPC on s.Port and gRPC over TLS (SelfSignedCert) on tlsPort.
func StartGRPCGoPlainAndTLS(t testing.TB) (s *Server, tlsPort int) {
	t.Helper()
	cert, key := SelfSignedCert(t)
	s, err := startProcess(t, "grpc-go", exec.Command(GoBinary(t, "grpcserver"), "-also-tls", "-tls-cert", cert, "-tls-key", key), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, s.tlsPort(t)
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

// GRPCClientOptions say which client to start and how.
type GRPCClientOptions struct {
	Addr        string
	Concurrency int  // the call list runs this many times at once (at least 1)
	TLS         bool // the server's certificate is SelfSignedCert
	// Python: grpcclient.py with Debian's python3-grpcio (C core), one
	// thread per concurrent list, instead of cmd/grpcclient (grpc-go). The
	// interpreter is a copy of /usr/bin/python3 named PythonClientExe, so
	// that a receiver can select the client by executable name without
	// every other python3 on the host.
	Python bool
	// Shared: the Concurrency workers share one run of the call list,
	// each call made once by whichever worker is free (a thread pool
	// working through a queue), rather than each running the whole list.
	Shared bool
}

// PythonClientExe is the name of the interpreter the Python gRPC client
// runs as (a copy of Debian's python3).
const PythonClientExe = "grpcclient-python"

// GRPCClientExe is the path of the executable StartGRPCClientWith runs for
// a client (python: the Python one), private to this test binary: a
// receiver that selects it by path selects no other test's clients (Go
// programs are built into a directory every test binary shares).
func GRPCClientExe(t testing.TB, python bool) string {
	t.Helper()
	if python {
		requireGRPCPython(t)
		return pythonClientBinary(t)
	}
	return privateCopy(t, GoBinary(t, "grpcclient"))
}

var privateCopies struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

// privateCopy returns a copy of the executable bin in a directory of this
// test binary's own, made once.
func privateCopy(t testing.TB, bin string) string {
	t.Helper()
	c := &privateCopies
	c.Lock()
	defer c.Unlock()
	if p, ok := c.paths[bin]; ok {
		return p
	}
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "ebpfred-bin-") // shared by the tests of this binary
		if err != nil {
			t.Fatal(err)
		}
		c.dir, c.paths = dir, map[string]string{}
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(c.dir, filepath.Base(bin))
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	c.paths[bin] = p
	return p
}

var pyClient struct {
	sync.Mutex
	path string
}

func pythonClientBinary(t testing.TB) string {
	t.Helper()
	pyClient.Lock()
	defer pyClient.Unlock()
	if pyClient.path != "" {
		return pyClient.path
	}
	src, err := filepath.EvalSymlinks(pythonGRPC)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ebpfred-grpcpy-") // shared by the tests of this binary
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, PythonClientExe)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	pyClient.path = p
	return p
}

// StartGRPCClientWith starts a gRPC client, paused until Run: its process
// exists (so it can be instrumented by pid), and it connects at its first
// call over TLS (a TLS read already in flight when the probes attach is not
// seen: its entry probe never fired) or at once otherwise (grpc-go; grpcio
// always connects at the first call).
func StartGRPCClientWith(t testing.TB, o GRPCClientOptions, calls ...string) *GRPCClient {
	t.Helper()
	args := []string{"-addr", o.Addr, "-c", strconv.Itoa(max(o.Concurrency, 1)), "-wait-stdin"}
	if o.Shared {
		args = append(args, "-shared")
	}
	var cmd *exec.Cmd
	if o.Python {
		requireGRPCPython(t)
		if o.TLS {
			cert, _ := SelfSignedCert(t)
			args = append(args, "-tls", cert)
		}
		args = append(append(args, "--"), calls...)
		script := writeScript(t, "grpcclient.py", grpcclientSource)
		cmd = exec.Command(pythonClientBinary(t), append([]string{"-u", script}, args...)...)
	} else {
		if o.TLS {
			args = append(args, "-tls", "-lazy")
		}
		args = append(append(args, "--"), calls...)
		cmd = exec.Command(GRPCClientExe(t, false), args...)
	}
	c := &GRPCClient{t: t, cmd: cmd}
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
