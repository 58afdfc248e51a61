// Command goroutes is a Go net/http ServeMux server with Go 1.22 patterns,
// for the test of routes taken from inside the process. It listens on
// 127.0.0.1 (port 0 by default) and prints "LISTENING <port>" once it
// accepts connections.
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
	log.Fatal(srv.Serve(ln))
}
