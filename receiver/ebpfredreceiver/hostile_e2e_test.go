package ebpfredreceiver

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// hostilePeakRSSBound: the collector's peak RSS (this test process: the
// receiver, the test framework and the hostile clients, whose 10,000
// sockets and buffers are counted too) while the selected servers take
// garbage, a 1 GB request head, slowloris connections and 10,000 idle
// connections. Measured on the CI machine kind (2 cores, Linux 6.18):
// peak 107 MiB (92 MiB before the hostile clients). A collector that buffered the 1 GB head would be far above.
const hostilePeakRSSBound = 200 << 20

// Hostile input: clients send selected servers garbage, a 1 GB request
// head (streamed in 64 KiB writes to a server that reads it all), header
// lines one byte at a time (slowloris) and 10,000 connections that say
// nothing. The collector neither crashes nor grows without bound, counts
// what it skipped, and afterwards still counts ordinary requests exactly.
func TestHostileInput(t *testing.T) {
	requireRoot(t)
	goSrv := testserver.StartGo(t)
	sink := testserver.StartSink(t)
	h := startReceiver(t, func(c *Config) {
		c.OpenPort = fmt.Sprintf("%d,%d", goSrv.Port, sink.Port)
		c.Traces.Sampler.Name = "always_off" // spans are not what this is about
	})
	waitTracked(t, h, goSrv.PID, sink.PID)
	r := h.receiver()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS: %v", err)
	}
	start := rssKiB(t, "VmRSS")

	// Garbage: 200 connections of random bytes, some ending like a head.
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		junk := make([]byte, 1+rnd.IntN(8192))
		for j := range junk {
			junk[j] = byte(rnd.Uint32())
		}
		if i%2 == 0 {
			junk = append(junk, "\r\n\r\n"...)
		}
		exchange(t, goSrv.Addr, junk)
	}

	// Slowloris: 20 connections sending a head a byte at a time, in
	// parallel with the rest, 3 s in all; each ends its head at last.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", goSrv.Addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			// Connection: close, so that the server ends the connection
			// after its answer and the read below returns.
			head := "GET /status/200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + strings.Repeat("X-Slow: 1\r\n", 10) + "\r\n"
			for j := 0; j < len(head); j++ {
				if _, err := c.Write([]byte{head[j]}); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(3 * time.Second / time.Duration(len(head)))
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.ReadAll(io.LimitReader(c, 4096))
		}()
	}

	// 10,000 idle connections, held while a 1 GB head streams through the
	// sink server.
	idle := make([]net.Conn, 0, 10000)
	for len(idle) < cap(idle) {
		c, err := net.Dial("tcp", goSrv.Addr)
		if err != nil {
			t.Fatalf("idle connection %d: %v", len(idle), err)
		}
		idle = append(idle, c)
	}
	sent, status := bigHead(t, sink.Addr, 1<<30)
	wg.Wait()
	mid := rssKiB(t, "VmRSS")
	for _, c := range idle {
		c.Close()
	}

	// Ordinary requests still count exactly.
	const normal = 100
	for i := 0; i < normal; i++ {
		testserver.Do(t, goSrv.Base(), testserver.Request{Path: "/status/200"})
	}
	time.Sleep(time.Second)
	end := rssKiB(t, "VmRSS")
	peak := rssKiB(t, "VmHWM")
	stats := fmt.Sprintf("parse errors %d, unrecognised %d, incomplete %d, connections followed %d",
		r.stats.ParseErrors(), r.stats.Unrecognised.Load(), r.stats.Incomplete(), r.stats.OpenConns.Load())
	h.stop()
	t.Logf("1 GB head: %d bytes sent, answered %q; RSS %d MiB at start, %d with 10,000 idle connections, %d at the end, peak %d MiB (bound %d MiB); %s",
		sent, status, start>>10, mid>>10, end>>10, peak>>10, hostilePeakRSSBound>>20, stats)

	if sent != 1<<30 || !strings.HasPrefix(status, "HTTP/1.1 431") {
		t.Errorf("the 1 GB head did not go through: %d bytes, answer %q", sent, status)
	}
	if peak<<10 > hostilePeakRSSBound {
		t.Errorf("peak RSS %d MiB, over the bound of %d MiB", peak>>10, hostilePeakRSSBound>>20)
	}
	if r.stats.ParseErrors()+r.stats.Unrecognised.Load() == 0 {
		t.Errorf("nothing counted as malformed or unrecognised after 200 connections of garbage (%s)", stats)
	}
	got := countBy(h.histograms("http.server.request.duration"), "http.request.method", "http.response.status_code")
	// The slowloris heads are ordinary requests too, once complete.
	if got["GET 200"] != normal+20 {
		t.Errorf("GET 200 counted %d times, want %d (100 ordinary and 20 slowloris requests); all counts: %s",
			got["GET 200"], normal+20, fmtCounts(got))
	}
}

// exchange sends b on a new connection, half-closes it and reads what
// comes back (a 400, or nothing).
func exchange(t *testing.T, addr string, b []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write(b)
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, c)
}

// bigHead streams a request line and header lines adding up to n bytes,
// then the head's end, and returns the bytes sent and the status line of
// the answer.
func bigHead(t *testing.T, addr string, n int) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line := []byte("GET /big HTTP/1.1\r\n")
	chunk := bytes.Repeat([]byte("X-Filler: "+strings.Repeat("a", 52)+"\r\n"), (64<<10)/64) // 64 KiB of header lines
	sent := 0
	w := func(b []byte) {
		m, err := c.Write(b)
		sent += m
		if err != nil {
			t.Fatalf("after %d bytes: %v", sent, err)
		}
	}
	w(line)
	for sent+len(chunk)+2 <= n {
		w(chunk)
	}
	if rest := n - sent - 4; rest > 0 {
		w(bytes.Repeat([]byte("a"), rest))
	}
	w([]byte("\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, _ := io.ReadAll(io.LimitReader(c, 4096))
	status, _, _ := strings.Cut(string(resp), "\r\n")
	return sent, status
}
