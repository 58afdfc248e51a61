// Command distroserver is the Go HTTPS test server that tests build the ways
// distributions build Go programs (stripped, linked by the system linker
// with cgo, position-independent) and with older Go toolchains: it uses
// only the standard library of Go 1.21, so GOTOOLCHAIN=go1.21.0 builds it.
// It listens on 127.0.0.1 (port 0 by default), prints "LISTENING <port>" on
// stdout once it accepts connections, and serves over HTTPS (HTTP/1.1, or
// HTTP/2 by ALPN) the /status/{code}?delay_ms=N endpoint of package
// testserver, and 404 "not found\n" for anything else.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	cert := flag.String("tls-cert", "", "certificate (PEM)")
	key := flag.String("tls-key", "", "its key (PEM)")
	flag.Parse()
	log.SetPrefix("distroserver: ")
	if *cert == "" || *key == "" {
		log.Fatal("-tls-cert and -tls-key are required")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(serve), ReadHeaderTimeout: 30 * time.Second}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	log.Fatal(srv.ServeTLS(ln, *cert, *key))
}

func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// serve routes by hand: Go 1.21's ServeMux has no path parameters.
func serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/status/")
	if !ok {
		plain(w, http.StatusNotFound, "not found\n")
		return
	}
	code, err := strconv.Atoi(rest)
	if err != nil || code < 200 || code > 599 {
		plain(w, http.StatusBadRequest, "status code must be 200..599\n")
		return
	}
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
