// Command goroutes is a Go net/http ServeMux server with Go 1.22 patterns,
// for the test of routes taken from inside the process. It listens on
// 127.0.0.1 (port 0 by default) and prints "LISTENING <port>" once it
// accepts connections. -h2c adds HTTP/2 with prior knowledge;
// -tls-cert/-tls-key serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN).
//
//	GET /items/{id}  → "item <id>"
//	/static/         → "static <path>"
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	h2c := flag.Bool("h2c", false, "also serve HTTP/2 with prior knowledge over cleartext")
	tlsCert := flag.String("tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert")
	flag.Parse()
	log.SetPrefix("goroutes: ")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "item "+r.PathValue("id")+"\n")
	})
	mux.HandleFunc("/static/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "static "+r.URL.Path+"\n")
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	if *h2c {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	if *tlsCert != "" {
		log.Fatal(srv.ServeTLS(ln, *tlsCert, *tlsKey))
	}
	log.Fatal(srv.Serve(ln))
}
