// Command taxloop measures what one system call costs the process that
// makes it: the price every process on a node pays for what the collector
// hooks, whether or not it is instrumented. scripts/bench.sh runs it with
// and without the collector (which never selects it).
//
//	taxloop -mode file   # read 1 byte of /dev/zero, write it to /dev/null
//	taxloop -mode tcp    # send 1 byte and receive it over a loopback TCP connection
//
// It prints the median, over -rounds, of the nanoseconds per call.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"syscall"
	"time"
)

func main() {
	mode := flag.String("mode", "file", "file or tcp")
	n := flag.Int("n", 500000, "calls per round (pairs of read and write)")
	rounds := flag.Int("rounds", 5, "rounds")
	flag.Parse()
	var run func(int) (time.Duration, error)
	switch *mode {
	case "file":
		run = fileLoop
	case "tcp":
		run = tcpLoop
	default:
		fmt.Fprintf(os.Stderr, "taxloop: -mode %q: want file or tcp\n", *mode)
		os.Exit(2)
	}
	var per []float64
	for r := 0; r < *rounds; r++ {
		d, err := run(*n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "taxloop:", err)
			os.Exit(1)
		}
		per = append(per, float64(d.Nanoseconds())/float64(2**n))
	}
	slices.Sort(per)
	fmt.Printf("%.1f\n", per[len(per)/2])
}

func fileLoop(n int) (time.Duration, error) {
	in, err := syscall.Open("/dev/zero", syscall.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(in)
	out, err := syscall.Open("/dev/null", syscall.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(out)
	b := make([]byte, 1)
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := syscall.Read(in, b); err != nil {
			return 0, err
		}
		if _, err := syscall.Write(out, b); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// tcpLoop writes a byte on one end of a loopback TCP connection and reads
// it on the other, with raw system calls on blocking sockets (the Go
// runtime's poller would add its own calls).
func tcpLoop(n int) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	cf, err := c.(*net.TCPConn).File()
	if err != nil {
		return 0, err
	}
	defer cf.Close()
	sf, err := s.(*net.TCPConn).File()
	if err != nil {
		return 0, err
	}
	defer sf.Close()
	w, r := int(cf.Fd()), int(sf.Fd())
	syscall.SetNonblock(w, false)
	syscall.SetNonblock(r, false)
	b := make([]byte, 1)
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := syscall.Write(w, b); err != nil {
			return 0, err
		}
		if _, err := syscall.Read(r, b); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
