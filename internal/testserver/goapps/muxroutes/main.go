// Command muxroutes is a gorilla/mux server for the test of routes taken
// from inside the process. It listens on 127.0.0.1 (port 0 by default) and
// prints "LISTENING <port>" once it accepts connections.
// -h2c adds HTTP/2 with prior knowledge; -tls-cert/-tls-key serve HTTPS
// (HTTP/1.1 and HTTP/2 by ALPN).
//
//	GET /products/{id:[0-9]+}         → "product <id>"
//	GET /products/{id}/reviews/{rid}  → "review <id> <rid>"
//	/api/ prefix subrouter: GET /api/v1/things/{name} → "thing <name>"
//	anything else                     → 404 (no route)
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

	"github.com/gorilla/mux"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	h2c := flag.Bool("h2c", false, "also serve HTTP/2 with prior knowledge over cleartext")
	tlsCert := flag.String("tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert")
	flag.Parse()
	log.SetPrefix("muxroutes: ")
	r := mux.NewRouter()
	r.HandleFunc("/products/{id:[0-9]+}", func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.WriteString(w, "product "+mux.Vars(req)["id"]+"\n")
	}).Methods(http.MethodGet)
	r.HandleFunc("/products/{id}/reviews/{rid}", func(w http.ResponseWriter, req *http.Request) {
		v := mux.Vars(req)
		_, _ = io.WriteString(w, "review "+v["id"]+" "+v["rid"]+"\n")
	}).Methods(http.MethodGet)
	api := r.PathPrefix("/api").Subrouter()
	api.HandleFunc("/v1/things/{name}", func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.WriteString(w, "thing "+mux.Vars(req)["name"]+"\n")
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 30 * time.Second}
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
