// Command memcclient is an application calling memcached over its text
// protocol on one connection, for the receiver's client-side memcached
// tests. It waits for a line on stdin (so that the test can see it
// instrumented first), then:
//
//	version
//	set n 0 0 1 (0)
//	(pause 300 ms)       the collector recognises the connection from its
//	                     first command, then has every write copied up to
//	                     4 KiB
//	100 × incr n 1       one write; one read of the 100 numbers
//	set k (secret), get k, get nope (a miss), incr k 1 (CLIENT_ERROR:
//	not a number), bogus (ERROR), delete k, mg k v (EN: a miss)
//
// and prints "ok" when every reply was the one expected.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: memcclient HOST:PORT")
		os.Exit(2)
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "memcclient:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func run(addr string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	// call writes req in one write and reads the lines want says.
	call := func(req string, want ...string) error {
		if _, err := io.WriteString(conn, req); err != nil {
			return err
		}
		for _, w := range want {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if line = strings.TrimSuffix(line, "\r\n"); !strings.HasPrefix(line, w) {
				return fmt.Errorf("%q: reply %q, want %q", strings.Fields(req)[0], line, w)
			}
		}
		return nil
	}
	if err := call("version\r\n", "VERSION "); err != nil {
		return err
	}
	if err := call("set n 0 0 1\r\n0\r\n", "STORED"); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	var pipeline strings.Builder
	var want []string
	for i := 1; i <= 100; i++ {
		pipeline.WriteString("incr n 1\r\n")
		want = append(want, fmt.Sprint(i))
	}
	if err := call(pipeline.String(), want...); err != nil {
		return err
	}
	for _, c := range []struct {
		req  string
		want []string
	}{
		{"set k 0 0 6\r\nsecret\r\n", []string{"STORED"}},
		{"get k\r\n", []string{"VALUE k 0 6", "secret", "END"}},
		{"get nope\r\n", []string{"END"}},
		{"incr k 1\r\n", []string{"CLIENT_ERROR "}},
		{"bogus k\r\n", []string{"ERROR"}},
		{"delete k\r\n", []string{"DELETED"}},
		{"mg k v\r\n", []string{"EN"}},
	} {
		if err := call(c.req, c.want...); err != nil {
			return err
		}
	}
	return nil
}
