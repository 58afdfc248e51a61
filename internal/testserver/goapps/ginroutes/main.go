// Command ginroutes is a gin server for the test of routes taken from
// inside the process. It listens on 127.0.0.1 (port 0 by default) and prints
// "LISTENING <port>" once it accepts connections.
// -h2c adds HTTP/2 with prior knowledge; -tls-cert/-tls-key serve HTTPS
// (HTTP/1.1 and HTTP/2 by ALPN).
//
//	GET  /users/:id               → "user <id>"
//	GET  /users/:id/orders/*rest  → "orders <id> <rest>"
//	POST /users                   → 201
//	anything else                 → gin's 404 (no route)
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	h2c := flag.Bool("h2c", false, "also serve HTTP/2 with prior knowledge over cleartext")
	tlsCert := flag.String("tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert")
	flag.Parse()
	log.SetPrefix("ginroutes: ")
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/users/:id", func(c *gin.Context) {
		c.String(http.StatusOK, "user %s\n", c.Param("id"))
	})
	r.GET("/users/:id/orders/*rest", func(c *gin.Context) {
		c.String(http.StatusOK, "orders %s %s\n", c.Param("id"), c.Param("rest"))
	})
	r.POST("/users", func(c *gin.Context) {
		c.String(http.StatusCreated, "created\n")
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
