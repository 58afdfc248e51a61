// Command sinkserver reads whatever a client sends, however long, without
// keeping it, and answers once it sees the end of a request head
// ("\r\n\r\n"): 431 Request Header Fields Too Large, then closes. It is the
// selected server of the hostile-input test (a 1 GB header must pass
// through an instrumented process for the collector to have to cope with
// it; real servers refuse far sooner). It listens on 127.0.0.1, a free
// port, printed as "LISTENING <port>".
package main

import (
	"bytes"
	"fmt"
	"log"
	"net"
	"os"
)

const answer = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

func main() {
	log.SetPrefix("sinkserver: ")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c)
	}
}

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	var last [3]byte // the previous read's last bytes: the end may straddle two reads
	for {
		n, err := c.Read(buf)
		if n > 0 {
			joined := append(last[:], buf[:n]...)
			if bytes.Contains(joined, []byte("\r\n\r\n")) {
				c.Write([]byte(answer))
				return
			}
			copy(last[:], joined[len(joined)-3:])
		}
		if err != nil {
			return
		}
	}
}
