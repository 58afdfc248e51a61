package ebpfredreceiver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/discovery"
	"github.com/ebpfred/ebpfred/internal/probes"
)

// The kernel smoke: what scripts/test-kernels.sh runs inside every kernel
// of the matrix (QEMU, a busybox initramfs, nothing but this test binary),
// and what `make test` runs on the host. Its server is this same binary,
// re-executed (smokeChildEnv), so it needs no toolchain, interpreter or
// package at run time.

const smokeChildEnv = "EBPFRED_SMOKE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(smokeChildEnv) != "" {
		runSmokeChild()
		return
	}
	os.Exit(m.Run())
}

// runSmokeChild serves HTTP/1.1, h2c and HTTPS (HTTP/1.1 and HTTP/2 over
// Go's crypto/tls) on the ports its environment names, until killed.
// GET /call?to=URL makes one plaintext HTTP/1 request to URL on a new
// connection (the one context propagation injects a traceparent into).
func runSmokeChild() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.Error(w, "no such item", http.StatusNotFound)
			return
		}
		io.WriteString(w, "item "+r.PathValue("id"))
	})
	mux.HandleFunc("GET /call", func(w http.ResponseWriter, r *http.Request) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
		resp, err := c.Get(r.URL.Query().Get("to"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	})
	serve := func(addr string, s *http.Server, tlsCfg *tls.Config) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "smoke child:", err)
			os.Exit(2)
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		go s.Serve(ln)
	}
	h1 := &http.Server{Handler: mux}
	h1.SetKeepAlivesEnabled(true)
	h1.Protocols = new(http.Protocols)
	h1.Protocols.SetHTTP1(true)
	serve(os.Getenv("SMOKE_HTTP1"), h1, nil)
	h2c := &http.Server{Handler: mux, Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	serve(os.Getenv("SMOKE_H2C"), h2c, nil)
	cert, err := selfSigned()
	if err != nil {
		fmt.Fprintln(os.Stderr, "smoke child:", err)
		os.Exit(2)
	}
	serve(os.Getenv("SMOKE_TLS"), &http.Server{Handler: mux},
		&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	select {}
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestKernelSmoke: on this kernel, the receiver starts with every feature
// requested (propagation included), says which it had to leave off, and
// counts HTTP/1.1, h2c and Go HTTPS (HTTP/1.1 and HTTP/2) requests
// exactly; with propagation running, the traceparent it injects arrives at
// the downstream server and names the CLIENT span.
func TestKernelSmoke(t *testing.T) {
	requireRoot(t)
	const n = 6 // requests per kind: 5 found, 1 missing
	ports := map[string]int{"SMOKE_HTTP1": freePort(t), "SMOKE_H2C": freePort(t), "SMOKE_TLS": freePort(t)}

	// the downstream server (in this process, which is never instrumented)
	var mu sync.Mutex
	var got []string
	down := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("traceparent"))
		mu.Unlock()
		io.WriteString(w, "down")
	})}
	dln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go down.Serve(dln)
	t.Cleanup(func() { down.Close() })

	h := startReceiver(t, func(c *Config) {
		c.OpenPort = fmt.Sprintf("%d,%d,%d", ports["SMOKE_HTTP1"], ports["SMOKE_H2C"], ports["SMOKE_TLS"])
		c.ContextPropagation = PropagationHeaders
		// the child is this test binary, ebpfredreceiver.test, which the
		// default exclusion takes for the collector
		c.Discovery.DefaultExcludeServices = []discovery.SelectorConfig{}
	})
	r := h.receiver()
	t.Logf("capture hooks: %s", r.probes.CaptureHooks())
	active := map[probes.Feature]bool{}
	for _, st := range r.probes.Features() {
		active[st.Feature] = st.Active
		if st.Active {
			t.Logf("feature %s: active", st.Feature)
		} else {
			t.Logf("feature %s: OFF: %v", st.Feature, st.Err)
		}
	}
	for _, f := range []probes.Feature{probes.FeatureCapture, probes.FeatureTLSGo} {
		if !active[f] {
			t.Errorf("feature %s is off on this kernel", f)
		}
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(self, "-test.run=^$")
	child.Env = append(os.Environ(), smokeChildEnv+"=1")
	for k, p := range ports {
		child.Env = append(child.Env, fmt.Sprintf("%s=127.0.0.1:%d", k, p))
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	for _, p := range ports {
		waitListening(t, p)
	}
	waitTracked(t, h, child.Process.Pid)
	// the TLS probes go on right after discovery selects the child
	for deadline := time.Now().Add(60 * time.Second); active[probes.FeatureTLSGo] &&
		r.probes.TLSStats().FilesInstrumented.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the child's Go TLS was not instrumented")
		}
	}

	tlsCfg := &tls.Config{InsecureSkipVerify: true}
	clients := []struct {
		name, scheme, version string
		port                  int
		c                     *http.Client
	}{
		{"http1", "http", "1.1", ports["SMOKE_HTTP1"], &http.Client{}},
		{"h2c", "http", "2", ports["SMOKE_H2C"], &http.Client{Transport: h2cTransport()}},
		{"https1", "https", "1.1", ports["SMOKE_TLS"], &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}},
		{"https2", "https", "2", ports["SMOKE_TLS"], &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}}},
	}
	for _, c := range clients {
		for i := 0; i < n; i++ {
			id := fmt.Sprint(i)
			if i == n-1 {
				id = "missing"
			}
			url := fmt.Sprintf("%s://127.0.0.1:%d/items/%s", c.scheme, c.port, id)
			resp, err := c.c.Get(url)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if (resp.ProtoMajor == 2) != (c.version == "2") {
				t.Fatalf("%s: answered over %s", c.name, resp.Proto)
			}
		}
		c.c.CloseIdleConnections()
	}
	// propagation: the child calls the downstream server
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/call?to=http://%s/down", ports["SMOKE_HTTP1"], dln.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	isServer := func(s ptrace.Span) bool { return s.Kind() == ptrace.SpanKindServer }
	spans := h.waitSpans(4*n+1, isServer)
	route := ""
	if active[probes.FeatureGoRoutes] {
		route = "/items/{id}"
	}
	// One subtest per kind of request (the kernel matrix prints each as a
	// column): spans by status and route, of that scheme and version.
	byKind := func(scheme, version string) map[string]int {
		counts := map[string]int{}
		for _, s := range spans {
			if s.attr("url.scheme") == scheme && s.attr("network.protocol.version") == version &&
				strings.HasPrefix(s.attr("url.path"), "/items/") {
				counts[s.attr("http.response.status_code")+" "+s.attr("http.route")]++
			}
		}
		return counts
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			want := map[string]int{"200 " + route: n - 1, "404 " + route: 1}
			if got := byKind(c.scheme, c.version); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s://, HTTP/%s server spans by status and route: got %v, want %v", c.scheme, c.version, got, want)
			}
		})
	}
	if total := len(spans); total != 4*n+1 {
		t.Errorf("%d server spans in all, want %d (%d per kind and /call)", total, 4*n+1, n)
	}

	t.Run("propagation", func(t *testing.T) {
		if !active[probes.FeaturePropagation] {
			t.Skip("context propagation is off on this kernel")
		}
		t.Logf("propagation recognises connections through %s", r.probes.PropagationVariant())
		mu.Lock()
		tps := append([]string(nil), got...)
		mu.Unlock()
		if len(tps) != 1 || tps[0] == "" {
			t.Fatalf("the downstream server got traceparents %q, want one", tps)
		}
		isClient := func(s ptrace.Span) bool { return s.Kind() == ptrace.SpanKindClient }
		cs := h.waitSpans(1, isClient)
		if len(cs) != 1 {
			t.Fatalf("%d CLIENT spans, want 1", len(cs))
		}
		if want := fmt.Sprintf("00-%s-%s-01", cs[0].span.TraceID(), cs[0].span.SpanID()); tps[0] != want {
			t.Errorf("the downstream server got traceparent %q; the CLIENT span is %q", tps[0], want)
		}
	})
}

func h2cTransport() *http.Transport {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return tr
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d: nothing listens: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
