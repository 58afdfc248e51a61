// Command goclient is the Go HTTP client of internal/testserver: it performs
// the requests given on its command line and prints one JSON line per request
// with what the client observed, so tests can compare the receiver's client
// spans with the truth.
//
//	goclient [flags] [METHOD ]URL ...
//
// Each argument is a URL, optionally preceded by a method and one space
// ("POST http://127.0.0.1:8080/status/201"). With -wait-stdin the client
// starts, then waits for one line on stdin before the first request: a test
// can learn the pid, let the receiver instrument it, and release it.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"time"
)

// result is one output line. Field names are the contract with
// testserver.Result.
type result struct {
	Seq       int    `json:"seq"`
	Method    string `json:"method"`
	URL       string `json:"url"`
	Status    int    `json:"status"`
	Bytes     int64  `json:"bytes"`
	StartNano int64  `json:"start_unix_nano"`
	LatencyNs int64  `json:"latency_ns"`
	LocalAddr string `json:"local_addr,omitempty"`
	Reused    bool   `json:"reused"`
	Chunked   bool   `json:"chunked"`
	Error     string `json:"error,omitempty"`
}

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	keepAlive := flag.Bool("keepalive", true, "reuse connections between requests")
	concurrency := flag.Int("c", 1, "requests in flight at once (one connection each with -keepalive)")
	repeat := flag.Int("repeat", 1, "send the whole URL list this many times")
	bodySize := flag.Int("body", 0, "request body size in bytes for POST, PUT and PATCH")
	insecure := flag.Bool("insecure", false, "https: accept any server certificate (self-signed test servers)")
	waitStdin := flag.Bool("wait-stdin", false, "wait for one line on stdin before the first request")
	timeout := flag.Duration("timeout", 30*time.Second, "per-request timeout")
	var headers headerFlags
	flag.Var(&headers, "H", "extra request header \"Name: value\" (repeatable)")
	flag.Parse()
	log.SetPrefix("goclient: ")
	log.SetFlags(0)
	if flag.NArg() == 0 || *concurrency < 1 || *repeat < 1 {
		flag.Usage()
		os.Exit(2)
	}

	type job struct {
		seq         int
		method, url string
	}
	var jobs []job
	for r := 0; r < *repeat; r++ {
		for _, arg := range flag.Args() {
			method, url := "GET", arg
			if m, u, ok := strings.Cut(arg, " "); ok {
				method, url = strings.ToUpper(m), u
			}
			jobs = append(jobs, job{len(jobs), method, url})
		}
	}
	hdr := http.Header{}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			log.Fatalf("-H %q: want \"Name: value\"", h)
		}
		hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}

	client := &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // never an environment proxy: talk to the URL itself
			DisableKeepAlives:   !*keepAlive,
			DisableCompression:  true,
			MaxIdleConnsPerHost: *concurrency,
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: *insecure},
		},
		Timeout: *timeout,
	}

	if *waitStdin {
		fmt.Fprintln(os.Stderr, "goclient: waiting for a line on stdin")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil && err != io.EOF {
			log.Fatal(err)
		}
	}

	var (
		mu     sync.Mutex
		enc    = json.NewEncoder(os.Stdout)
		failed bool
		wg     sync.WaitGroup
		queue  = make(chan job)
	)
	payload := bytes.Repeat([]byte("p"), *bodySize)
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				res := do(client, j.method, j.url, hdr, payload)
				res.Seq = j.seq
				mu.Lock()
				_ = enc.Encode(res)
				failed = failed || res.Error != ""
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()
	client.CloseIdleConnections()
	if failed {
		os.Exit(1)
	}
}

func do(client *http.Client, method, url string, hdr http.Header, payload []byte) result {
	res := result{Method: method, URL: url}
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		res.Reused = info.Reused
		res.LocalAddr = info.Conn.LocalAddr().String()
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))

	start := time.Now()
	res.StartNano = start.UnixNano()
	resp, err := client.Do(req)
	if err != nil {
		res.Error = err.Error()
		res.LatencyNs = int64(time.Since(start))
		return res
	}
	res.Bytes, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	res.LatencyNs = int64(time.Since(start))
	res.Status = resp.StatusCode
	res.Chunked = len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	if err != nil {
		res.Error = err.Error()
	}
	return res
}
