package testserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Request is one request to send. Path is appended to the base URL; for the
// Go client it may also be an absolute URL.
type Request struct {
	Method string // GET when empty
	Path   string // "/status/200?delay_ms=5"
	Body   []byte
	Header http.Header
}

// Result is what a client observed of one request.
type Result struct {
	Method    string
	Path      string // path and query as sent
	Status    int    // 0 when the request failed (see Err)
	BodyLen   int64  // bytes of body read
	Chunked   bool   // the response used Transfer-Encoding: chunked
	Header    http.Header
	Start     time.Time     // when the request was handed to the transport
	Latency   time.Duration // from Start to the last body byte read
	LocalAddr string        // client side of the connection, "127.0.0.1:port"
	Reused    bool          // the request went over a kept-alive connection
	Err       string
}

// Drive sends reqs one after the other from this process over one client
// (one connection when keepAlive) and returns what it observed, in order.
// A transport error is reported with t.Errorf and leaves Status 0.
func Drive(t testing.TB, base string, reqs []Request, keepAlive bool) []Result {
	t.Helper()
	tr := &http.Transport{
		Proxy:              nil, // never an environment proxy: talk to base itself
		DisableKeepAlives:  !keepAlive,
		DisableCompression: true, // what the server sent, byte for byte
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   60 * time.Second,
		// Tests look at the redirect itself, not where it leads.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	out := make([]Result, 0, len(reqs))
	for _, r := range reqs {
		res := do(client, base, r)
		if res.Err != "" {
			t.Errorf("%s %s%s: %s", res.Method, base, res.Path, res.Err)
		}
		out = append(out, res)
	}
	return out
}

// Do sends one request from this process on a new connection.
func Do(t testing.TB, base string, r Request) Result {
	t.Helper()
	return Drive(t, base, []Request{r}, false)[0]
}

func do(client *http.Client, base string, r Request) Result {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	res := Result{Method: method, Path: r.Path}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequest(method, base+r.Path, body)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		res.Reused = info.Reused
		res.LocalAddr = info.Conn.LocalAddr().String()
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	res.Start = time.Now()
	resp, err := client.Do(req)
	if err != nil {
		res.Latency = time.Since(res.Start)
		res.Err = err.Error()
		return res
	}
	res.BodyLen, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	res.Latency = time.Since(res.Start)
	res.Status = resp.StatusCode
	res.Header = resp.Header
	res.Chunked = len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	if err != nil {
		res.Err = err.Error()
	}
	return res
}

// ClientOptions configure the Go client program (cmd/goclient).
type ClientOptions struct {
	NoKeepAlive bool     // a new connection per request
	Concurrency int      // requests in flight at once (default 1)
	Repeat      int      // send the list this many times (default 1)
	BodySize    int      // request body bytes for POST, PUT and PATCH
	Headers     []string // "Name: value", e.g. a traceparent
	InsecureTLS bool     // https: accept the test servers' self-signed certificates
}

// Client is a started, paused run of the Go client program: it has a PID the
// receiver can be told about, and sends nothing until Run.
type Client struct {
	PID int
	Cmd *exec.Cmd

	t      testing.TB
	stdin  io.WriteCloser
	stdout bytes.Buffer
	stderr tailBuffer
	ran    bool
}

// StartGoClient starts cmd/goclient paused. Each target is a URL, optionally
// preceded by a method and a space: "POST http://127.0.0.1:8080/status/201".
func StartGoClient(t testing.TB, opts ClientOptions, targets ...string) *Client {
	t.Helper()
	if len(targets) == 0 {
		t.Fatal("StartGoClient: no targets")
	}
	args := []string{"-wait-stdin",
		"-keepalive=" + strconv.FormatBool(!opts.NoKeepAlive),
		"-c", strconv.Itoa(max(opts.Concurrency, 1)),
		"-repeat", strconv.Itoa(max(opts.Repeat, 1)),
		"-body", strconv.Itoa(opts.BodySize)}
	for _, h := range opts.Headers {
		args = append(args, "-H", h)
	}
	if opts.InsecureTLS {
		args = append(args, "-insecure")
	}
	args = append(args, "--")
	args = append(args, targets...)
	c := &Client{t: t, Cmd: exec.Command(GoBinary(t, "goclient"), args...)}
	c.stderr.max = 16 << 10
	c.Cmd.Stdout = &c.stdout
	c.Cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.Cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.PID = c.Cmd.Process.Pid
	t.Cleanup(func() {
		if !c.ran {
			_ = c.Cmd.Process.Kill()
			_ = c.Cmd.Wait()
		}
	})
	return c
}

// Run releases the client, waits for it to finish and returns one Result per
// request in the order they were sent (by sequence number). Failed requests
// are reported with t.Errorf.
func (c *Client) Run() []Result {
	c.t.Helper()
	if c.ran {
		c.t.Fatal("goclient: Run called twice")
	}
	c.ran = true
	_, _ = io.WriteString(c.stdin, "go\n")
	c.stdin.Close()
	waitErr := c.Cmd.Wait()
	results, err := parseClientOutput(c.stdout.Bytes())
	if err != nil {
		c.t.Fatalf("goclient output: %v\nstderr:\n%s", err, c.stderr.String())
	}
	for _, r := range results {
		if r.Err != "" {
			c.t.Errorf("goclient %s %s: %s", r.Method, r.Path, r.Err)
		}
	}
	if waitErr != nil && !c.t.Failed() {
		c.t.Errorf("goclient: %v\nstderr:\n%s", waitErr, c.stderr.String())
	}
	return results
}

// RunGoClient is StartGoClient followed by Run.
func RunGoClient(t testing.TB, opts ClientOptions, targets ...string) []Result {
	t.Helper()
	return StartGoClient(t, opts, targets...).Run()
}

// clientLine mirrors the JSON lines of cmd/goclient.
type clientLine struct {
	Seq       int    `json:"seq"`
	Method    string `json:"method"`
	URL       string `json:"url"`
	Status    int    `json:"status"`
	Bytes     int64  `json:"bytes"`
	StartNano int64  `json:"start_unix_nano"`
	LatencyNs int64  `json:"latency_ns"`
	LocalAddr string `json:"local_addr"`
	Reused    bool   `json:"reused"`
	Chunked   bool   `json:"chunked"`
	Error     string `json:"error"`
}

func parseClientOutput(out []byte) ([]Result, error) {
	var lines []clientLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l clientLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	results := make([]Result, len(lines))
	for _, l := range lines {
		if l.Seq < 0 || l.Seq >= len(lines) || results[l.Seq].Method != "" {
			return nil, fmt.Errorf("bad or repeated seq %d in %d lines", l.Seq, len(lines))
		}
		path := l.URL
		if u, err := url.Parse(l.URL); err == nil {
			path = u.RequestURI()
		}
		results[l.Seq] = Result{
			Method:    l.Method,
			Path:      path,
			Status:    l.Status,
			BodyLen:   l.Bytes,
			Start:     time.Unix(0, l.StartNano),
			Latency:   time.Duration(l.LatencyNs),
			LocalAddr: l.LocalAddr,
			Reused:    l.Reused,
			Chunked:   l.Chunked,
			Err:       strings.TrimSpace(l.Error),
		}
	}
	return results, nil
}
