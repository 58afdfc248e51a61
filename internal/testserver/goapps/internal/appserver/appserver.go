// Package appserver is what the route test programs share: their flags,
// the "LISTENING <port>" line the tests wait for, and serving HTTP/1.1,
// h2c or HTTPS.
package appserver

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

// Run parses the flags, listens and serves h until the process is killed:
//
//	-addr       listen address (127.0.0.1:0: any free port)
//	-h2c        also serve HTTP/2 with prior knowledge over cleartext
//	-tls-cert   serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate
//	-tls-key    the key of -tls-cert
func Run(name string, h http.Handler) {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	h2c := flag.Bool("h2c", false, "also serve HTTP/2 with prior knowledge over cleartext")
	tlsCert := flag.String("tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert")
	flag.Parse()
	log.SetPrefix(name + ": ")
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
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
