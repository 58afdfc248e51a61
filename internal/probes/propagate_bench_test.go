//go:build linux && amd64

package probes

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// What propagation costs. Run as root:
//
//	go test -run '^$' -bench Propagation -benchtime 2s ./internal/probes/
//
// "unrelated": the benchmark process is not tracked, so its connections
// never enter the sockhash; only sock_ops runs at connection setup.
// "tracked": the benchmark process is tracked and writes an HTTP/1 request
// per iteration; with propagation each write also goes through sk_msg
// (a traceparent is inserted) and reports a trace event.

func discardServer(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func loadForBench(b *testing.B, mode string) *Probes {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("loading eBPF programs needs root")
	}
	if mode == "none" {
		return nil
	}
	p, err := Load(Options{RingBufferSize: 16 << 20, ContextPropagation: mode == "propagation"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	done := make(chan struct{})
	go func() { // drain the ring like the receiver does
		p.Read(50*time.Millisecond, func(*Event) {}, func() {})
		close(done)
	}()
	b.Cleanup(func() { p.reader.Close(); <-done })
	return p
}

func BenchmarkPropagationUnrelatedConnect(b *testing.B) {
	for _, mode := range []string{"none", "probes", "propagation"} {
		b.Run(mode, func(b *testing.B) {
			addr := discardServer(b)
			loadForBench(b, mode)
			b.ResetTimer()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

func BenchmarkPropagationUnrelatedWrite(b *testing.B) {
	for _, mode := range []string{"none", "propagation"} {
		b.Run(mode, func(b *testing.B) {
			addr := discardServer(b)
			loadForBench(b, mode)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /items/42 HTTP/1.1\r\nHost: example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestHelperResponder is not a test: BenchmarkPropagationTrackedRoundTrip
// runs the test binary again with EBPFRED_RESPONDER set, and this answers
// every request-sized read with a small response, as an untracked server
// in another process.
func TestHelperResponder(t *testing.T) {
	if os.Getenv("EBPFRED_RESPONDER") == "" {
		t.Skip("a helper process, not a test")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}()
	}
}

func responder(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperResponder$")
	cmd.Env = append(os.Environ(), "EBPFRED_RESPONDER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(addr)
}

// A tracked client's request/response round trip over a keep-alive
// connection to a server in another process: what a request costs its
// sender with the capture probes alone, and with propagation on top.
func BenchmarkPropagationTrackedRoundTrip(b *testing.B) {
	for _, mode := range []string{"none", "probes", "propagation"} {
		b.Run(mode, func(b *testing.B) {
			addr := responder(b)
			p := loadForBench(b, mode)
			if p != nil {
				if err := p.SetTracked(uint32(os.Getpid()), FlagConfirmed); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = p.Untrack(uint32(os.Getpid())) })
			}
			c, err := net.Dial("tcp", addr) // after tracking: sock_ops adds it
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /items/42 HTTP/1.1\r\nHost: example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			buf := make([]byte, 4096)
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
