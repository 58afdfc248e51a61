package ebpfredreceiver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// startKafkaBroker starts franz-go's in-memory broker (kfake, the real
// wire protocol) in a process of its own and returns its address; it stops
// with the test.
func startKafkaBroker(t *testing.T) (addr string, port int) {
	t.Helper()
	bin := testserver.GoBinary(t, "goapps/kafkabroker")
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("kafkabroker: %v", err)
	}
	addr = strings.TrimSpace(line)
	i := strings.LastIndexByte(addr, ':')
	if port, err = strconv.Atoi(addr[i+1:]); err != nil {
		t.Fatalf("kafkabroker address %q", addr)
	}
	return addr, port
}

// kafkaStats is the Kafka parser's counts, to log when a test failed.
func kafkaStats(h *harness) string {
	st := &h.receiver().stats
	for i := range st.PerProtocol {
		if p := &st.PerProtocol[i]; p.Name == "kafka" {
			return fmt.Sprintf("kafka: requests %d, parse errors %d, incomplete %d, unknown %d, truncated %d, desync %d; unrecognised transfers %d",
				p.Requests.Load(), p.ParseErrors.Load(), p.Incomplete.Load(), p.Unknown.Load(), p.Truncated.Load(), p.Desync.Load(), st.Unrecognised.Load())
		}
	}
	return "kafka: not enabled"
}

// A Go application on franz-go producing and fetching through three
// protocol generations (Kafka 2.3's versions, 2.8's flexible ones, the
// newest, which name topics by id), against a broker in another process
// (see internal/testserver/goapps/kafkaclient): every Produce is one
// "send", every Fetch one "poll", exact counts per operation, destination
// and error.type; franz-go's own ApiVersions, Metadata and InitProducerID
// requests make nothing.
func TestKafkaFranzGo(t *testing.T) {
	requireRoot(t)
	addr, port := startKafkaBroker(t)
	bin := testserver.GoBinary(t, "goapps/kafkaclient")
	h := startReceiver(t, func(c *Config) {
		c.ExecutableName = "/kafkaclient$"
		c.DiscoveryInterval = time.Hour // selected by its exec (see TestRedisCLI)
	})
	cmd := exec.Command(bin, addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitTracked(t, h, cmd.Process.Pid)
	io.WriteString(stdin, "go\n")
	if err := cmd.Wait(); err != nil || strings.TrimSpace(out.String()) != "ok" {
		t.Fatalf("kafkaclient: %v: %s", err, out.String())
	}

	// Per generation 4 sends and 2 polls; 2.8 a failed send besides. The
	// newest generation names topics by id (Produce v13, Fetch v13+):
	// its operations have no destination.
	const wantSpans = 3*6 + 1
	spans := h.waitSpans(wantSpans, isClient)
	stats := kafkaStats(h)
	defer func() {
		if t.Failed() {
			t.Logf("%s\nspans: %s", stats, spanOps(spans))
		}
	}()
	st := &h.receiver().stats
	for i := range st.PerProtocol {
		if p := &st.PerProtocol[i]; p.Name == "kafka" {
			if p.ParseErrors.Load() != 0 || p.Desync.Load() != 0 || p.Truncated.Load() != 0 {
				t.Errorf("parser: %s; want no parse errors, desyncs or truncated messages", stats)
			}
			if p.Requests.Load() != wantSpans {
				t.Errorf("parser: %d requests, want %d", p.Requests.Load(), wantSpans)
			}
		}
	}
	h.stop()

	pts := h.histograms("messaging.client.operation.duration")
	for _, p := range pts {
		if p.attrs["messaging.system"] != "kafka" || p.attrs["server.port"] != strconv.Itoa(port) || p.attrs["server.address"] != "127.0.0.1" {
			t.Errorf("point %v: want messaging.system kafka, server 127.0.0.1:%d", p.attrs, port)
		}
		if want := map[string]string{"send": "send", "poll": "receive"}[p.attrs["messaging.operation.name"]]; p.attrs["messaging.operation.type"] != want {
			t.Errorf("point %v: messaging.operation.type, want %q", p.attrs, want)
		}
	}
	const want = "poll  =1 poll  OFFSET_OUT_OF_RANGE=1 poll orders =2 poll orders OFFSET_OUT_OF_RANGE=2 " +
		"send  =4 send missing UNKNOWN_TOPIC_OR_PARTITION=1 send orders =8 "
	if got := fmtCounts(countBy(pts, "messaging.operation.name", "messaging.destination.name", "error.type")); got != want {
		t.Errorf("messaging.client.operation.duration counts by operation, destination, error.type:\n got %s\nwant %s", got, want)
	}

	if len(spans) != wantSpans {
		t.Errorf("%d client spans, want %d", len(spans), wantSpans)
	}
	errs := 0
	for _, s := range spans {
		op, dest := s.attr("messaging.operation.name"), s.attr("messaging.destination.name")
		name := op
		if dest != "" {
			name += " " + dest
		}
		if s.span.Kind() != ptrace.SpanKindClient || s.span.Name() != name || s.attr("messaging.system") != "kafka" {
			t.Errorf("span %q (%v): want CLIENT %q, messaging.system kafka", s.span.Name(), s.span.Kind(), name)
		}
		if isErr := s.span.Status().Code() == ptrace.StatusCodeError; isErr != (s.attr("error.type") != "") {
			t.Errorf("span %s: error status %v, error.type %q", s.span.Name(), isErr, s.attr("error.type"))
		} else if isErr {
			errs++
		}
		for k, v := range s.span.Attributes().AsRaw() {
			if str, ok := v.(string); ok && (strings.Contains(str, "secret") || strings.Contains(str, "kafkaclient")) {
				t.Errorf("span %s: attribute %s = %q holds a message's bytes or the client id", s.span.Name(), k, str)
			}
		}
	}
	if errs != 4 {
		t.Errorf("%d spans with an error status, want 4", errs)
	}
}
