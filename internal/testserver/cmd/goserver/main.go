// Command goserver is the Go net/http test server of internal/testserver. It
// listens on 127.0.0.1 (port 0 by default), prints "LISTENING <port>" on
// stdout once it accepts connections, and serves the endpoints documented in
// package testserver.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

// pattern is the body filler shared by every test server, so a body can be
// checked byte for byte whatever served it.
const pattern = "abcdefghijklmnopqrstuvwxyz012345"

// maxBytes bounds /bytes and /chunked so a typo cannot exhaust memory.
const maxBytes = 1 << 30

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	tlsCert := flag.String("tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert")
	ca := flag.String("ca", "", "/proxy: trust this certificate for HTTPS (HTTP/2 by ALPN unless -client-http1)")
	clientHTTP1 := flag.Bool("client-http1", false, "/proxy: HTTPS over HTTP/1.1 only")
	h2c := flag.Bool("h2c", false, "also serve cleartext HTTP/2 with prior knowledge")
	alsoTLS := flag.Bool("also-tls", false, "serve HTTP on -addr and, with -tls-cert, HTTPS on another port (printed first: LISTENING_TLS <port>)")
	flag.Parse()
	log.SetPrefix("goserver: ")

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: newMux(proxyTransport(*ca, *clientHTTP1)), ReadHeaderTimeout: 30 * time.Second}
	if *h2c {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	if *alsoTLS {
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		tsrv := &http.Server{Handler: srv.Handler, ReadHeaderTimeout: srv.ReadHeaderTimeout}
		cert, key := *tlsCert, *tlsKey
		go func() { log.Fatal(tsrv.ServeTLS(tln, cert, key)) }()
		fmt.Printf("LISTENING_TLS %d\n", tln.Addr().(*net.TCPAddr).Port)
		*tlsCert = "" // -addr serves cleartext
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	if *tlsCert != "" {
		log.Fatal(srv.ServeTLS(ln, *tlsCert, *tlsKey))
	}
	log.Fatal(srv.Serve(ln))
}

// proxyTransport is the transport of /proxy's outgoing requests:
// keep-alive, no environment proxy, no transparent gzip, so the wire
// traffic is exactly what the test asked. HTTPS: trusting ca when set
// (HTTP/2 by ALPN unless http1), else any certificate (the test servers'
// are self-signed) over HTTP/1.1 (a TLS config of its own turns Go's
// automatic HTTP/2 off).
func proxyTransport(ca string, http1 bool) *http.Transport {
	t := &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 16}
	if ca == "" {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // test servers only
		return t
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		log.Fatalf("%s: no certificate", ca)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool}
	if http1 {
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	} else {
		t.ForceAttemptHTTP2 = true
	}
	return t
}

func newMux(tr *http.Transport) *http.ServeMux {
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", handleStatus)
	mux.HandleFunc("/bytes/{n}", handleBytes)
	mux.HandleFunc("/chunked/{n}", handleChunked)
	mux.HandleFunc("/proxy", func(w http.ResponseWriter, r *http.Request) { handleProxy(w, r, client) })
	// the same, under a path of the test's choosing (a request's own name)
	mux.HandleFunc("/proxy/{id}", func(w http.ResponseWriter, r *http.Request) { handleProxy(w, r, client) })
	// The same 404 and 405 bodies as the other servers.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { plain(w, http.StatusNotFound, "not found\n") })
	return mux
}

func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func handleStatus(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 200 || code > 599 {
		plain(w, http.StatusBadRequest, "status code must be 200..599\n")
		return
	}
	// Read the whole request body before answering, as a real handler
	// would; the bytes are discarded.
	_, _ = io.Copy(io.Discard, r.Body)
	if d := r.URL.Query().Get("delay_ms"); d != "" {
		ms, err := strconv.Atoi(d)
		if err != nil || ms < 0 {
			plain(w, http.StatusBadRequest, "delay_ms must be a non-negative integer\n")
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	if code == http.StatusNoContent || code == http.StatusNotModified {
		w.WriteHeader(code)
		return
	}
	plain(w, code, fmt.Sprintf("status %d\n", code))
}

func parseSize(w http.ResponseWriter, r *http.Request) (int, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		plain(w, http.StatusMethodNotAllowed, "method not allowed\n")
		return 0, false
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n > maxBytes {
		plain(w, http.StatusBadRequest, fmt.Sprintf("size must be 0..%d\n", maxBytes))
		return 0, false
	}
	return n, true
}

func filler(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = pattern[i%len(pattern)]
	}
	return b
}

func handleBytes(w http.ResponseWriter, r *http.Request) {
	n, ok := parseSize(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(filler(n))
}

// chunkSize is the size of each chunk of /chunked/{n}: a quarter of the body,
// at most 16 KiB, at least 1 byte (the same rule in every server).
func chunkSize(n int) int {
	c := (n + 3) / 4
	c = min(c, 16<<10)
	return max(c, 1)
}

func handleChunked(w http.ResponseWriter, r *http.Request) {
	n, ok := parseSize(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if r.Method == http.MethodHead {
		return
	}
	// No Content-Length and a flush after each write: net/http sends
	// every write as its own chunk.
	body := filler(n)
	fl, _ := w.(http.Flusher)
	w.WriteHeader(http.StatusOK)
	for len(body) > 0 {
		c := min(chunkSize(n), len(body))
		_, _ = w.Write(body[:c])
		body = body[c:]
		if fl != nil {
			fl.Flush()
		}
	}
}

// doFrom does req from a goroutine depth starts below the caller's.
func doFrom(depth int, client *http.Client, req *http.Request) (*http.Response, error) {
	if depth <= 0 {
		return client.Do(req)
	}
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := doFrom(depth-1, client, req)
		done <- result{resp, err}
	}()
	r := <-done
	return r.resp, r.err
}

// handleProxy makes one outgoing request (to=URL, method=GET by default) and
// answers with the upstream status, so tests get a client span inside a
// server span.
func handleProxy(w http.ResponseWriter, r *http.Request, client *http.Client) {
	_, _ = io.Copy(io.Discard, r.Body)
	q := r.URL.Query()
	to := q.Get("to")
	u, err := url.Parse(to)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		http.Error(w, fmt.Sprintf("to=%q: want an absolute http URL", to), http.StatusBadRequest)
		return
	}
	method := q.Get("method")
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(r.Context(), method, to, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// detach_ms=D: a goroutine makes the request D ms after the handler
	// answered (a call that outlives its request).
	if d, err := strconv.Atoi(q.Get("detach_ms")); err == nil {
		late, err := http.NewRequest(method, to, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		go func() {
			time.Sleep(time.Duration(d) * time.Millisecond)
			if resp, err := client.Do(late); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		plain(w, http.StatusOK, "detached\n")
		return
	}
	// go=N: the request is made by a goroutine N starts deep (the handler
	// starts one, which starts the next, ...); the handler waits for it.
	depth, _ := strconv.Atoi(q.Get("go"))
	resp, err := doFrom(depth, client, req)
	if err != nil {
		http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		w.WriteHeader(resp.StatusCode)
		return
	}
	plain(w, resp.StatusCode, fmt.Sprintf("proxied %d\n", resp.StatusCode))
}
