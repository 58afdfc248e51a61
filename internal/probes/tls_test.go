//go:build linux && amd64

package probes

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// InstrumentTLS attaches to a Go TLS server's crypto/tls once: a second
// call for the same file does nothing.
func TestInstrumentTLSGoIdempotent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	srv := testserver.StartGoTLS(t)
	p, err := Load(Options{RingBufferSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var logged []string
	p.SetTLSLog(func(pid uint32, path, kind string, err error) {
		logged = append(logged, kind)
		if err != nil {
			t.Errorf("%s (%s): %v", path, kind, err)
		}
	})
	if err := p.InstrumentTLS(uint32(srv.PID)); err != nil {
		t.Fatal(err)
	}
	if err := p.InstrumentTLS(uint32(srv.PID)); err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 || logged[0] != "go" || p.TLSStats().FilesInstrumented.Load() != 1 {
		t.Errorf("logged %v, %d files", logged, p.TLSStats().FilesInstrumented.Load())
	}
}

// The kernel emits the Go server's plaintext request and response as TLS
// data events, and no ciphertext.
func TestGoTLSPlaintextEvents(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	eachCapture(t, testGoTLSPlaintext)
}

func testGoTLSPlaintext(t *testing.T, hooks string) {
	srv := testserver.StartGoTLS(t)
	p, err := Load(Options{RingBufferSize: 1 << 20, WakeupBytes: 1, CaptureHooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetTracked(uint32(srv.PID), FlagConfirmed); err != nil {
		t.Fatal(err)
	}
	if err := p.InstrumentTLS(uint32(srv.PID)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, err := exec.Command("curl", "-k", "-s", "-o", "/dev/null", "--http1.1", srv.URL("/status/200")).CombinedOutput()
		if err != nil {
			t.Errorf("curl: %v %s", err, out)
		}
		time.Sleep(300 * time.Millisecond)
		p.reader.Close()
	}()
	var in, out, plain int
	_ = p.Read(50*time.Millisecond, func(e *Event) {
		if e.TGID != uint32(srv.PID) || (e.Type != EventDataIn && e.Type != EventDataOut) {
			return
		}
		t.Logf("type %d tls %v len %d payload %q", e.Type, e.TLS, e.Len, e.Payload[:min(len(e.Payload), 40)])
		if !e.TLS {
			plain++
		} else if e.Type == EventDataIn {
			in++
		} else {
			out++
		}
	}, func() {})
	<-done
	if in == 0 || out == 0 || plain != 0 {
		t.Errorf("TLS in %d, TLS out %d, non-TLS %d: want plaintext both ways and no ciphertext", in, out, plain)
	}
}
