// Command ebpfred-record records the kernel events of the processes that
// listen on the given ports, for a while, to a stream file that
// internal/replay replays without root (see testdata/README.md):
//
//	sudo go run ./cmd/ebpfred-record -open-port 8080 -duration 10s -o testdata/streams/mine.events
//
// While it records, drive the servers with the clients whose traffic the
// stream should hold. The collector's own pipeline runs beside the writer,
// so that the kernel copies what it would copy in a real run (it steers the
// copy rule of a connection once it knows its protocol).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebpfred/ebpfred/internal/discovery"
	"github.com/ebpfred/ebpfred/internal/pidns"
	"github.com/ebpfred/ebpfred/internal/pipeline"
	"github.com/ebpfred/ebpfred/internal/portrange"
	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/protocols"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/replay"
	"github.com/ebpfred/ebpfred/internal/routes"
)

func main() {
	ports := flag.String("open-port", "", "ports (e.g. 8080,9000-9100) whose listening processes are recorded (required)")
	dur := flag.Duration("duration", 10*time.Second, "how long to record (or until SIGINT)")
	out := flag.String("o", "", "stream file to write (required)")
	note := flag.String("note", "", "what the stream holds and how it was made, kept in its header")
	ready := flag.String("ready-file", "", "file created once the probes are attached (for scripts)")
	flag.Parse()
	if err := run(*ports, *dur, *out, *note, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "ebpfred-record:", err)
		os.Exit(1)
	}
}

func run(portSpec string, dur time.Duration, out, note, ready string) error {
	if portSpec == "" || out == "" {
		return fmt.Errorf("-open-port and -o are required (see -help)")
	}
	set, err := portrange.Parse(portSpec)
	if err != nil {
		return fmt.Errorf("-open-port %q: %w", portSpec, err)
	}
	ns, err := pidns.Self("/proc")
	if err != nil {
		return err
	}
	p, err := probes.Load(probes.Options{PIDNamespace: ns})
	if err != nil {
		return err
	}
	defer p.Close()
	disc := discovery.New(discovery.Config{Criteria: discovery.Criteria{Ports: set.Contains},
		Exclude: []int{os.Getpid()}})
	added, _ := disc.Scan()
	for _, info := range added {
		_ = p.Adopt(info.PID)
	}
	p.Settle()
	if len(added) == 0 {
		fmt.Fprintf(os.Stderr, "ebpfred-record: nothing listens on %s yet; rescanning every second\n", portSpec)
	}

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	var events []probes.Event // copies: the ring's memory is reused
	seen := map[uint32]replay.Process{}
	st := &pipeline.Stats{}
	protos, _ := protocols.Select(nil)
	pipe := pipeline.New(nullSink{}, disc, p, st, pipeline.Options{Protocols: protos})
	handle := func(e *probes.Event) {
		if info := disc.Lookup(e.TGID); info != nil {
			if _, ok := seen[e.TGID]; !ok {
				seen[e.TGID] = replay.Process{PID: e.TGID, ServiceName: info.ServiceName, ExecutableName: info.ExecutableName}
			}
		}
		c := *e
		c.Payload, c.Tail, c.Addr = slices.Clone(e.Payload), slices.Clone(e.Tail), slices.Clone(e.Addr)
		events = append(events, c)
		pipe.Handle(e)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	go func() {
		<-ctx.Done()
		p.StopReading()
	}()
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return err
		}
	}
	lastScan := time.Now()
	err = p.Read(50*time.Millisecond, handle, func() {
		if time.Since(lastScan) >= time.Second {
			lastScan = time.Now()
			added, _ := disc.Scan()
			for _, info := range added {
				_ = p.Adopt(info.PID)
			}
		}
		pipe.Tick()
	})
	if err != nil {
		return err
	}

	h := replay.Header{WallOffset: wallOffset(), Note: note}
	for _, pr := range seen {
		h.Processes = append(h.Processes, pr)
	}
	slices.SortFunc(h.Processes, func(a, b replay.Process) int { return int(a.PID) - int(b.PID) })
	w, err := replay.NewWriter(f, h)
	if err != nil {
		return err
	}
	for i := range events {
		if seen[events[i].TGID].PID == 0 {
			continue // a process nobody selected (tracked provisionally, then dropped)
		}
		if err := w.Write(&events[i]); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ebpfred-record: %d events of %d processes written to %s\n", w.Count(), len(h.Processes), out)
	return nil
}

// wallOffset is wall-clock ns minus CLOCK_MONOTONIC ns, now.
func wallOffset() uint64 {
	var ts unix.Timespec
	before := time.Now().UnixNano()
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	after := time.Now().UnixNano()
	return uint64((before+after)/2 - ts.Nano())
}

type nullSink struct{}

func (nullSink) Record(*record.Record, *process.Info, routes.Ignore) {}
func (nullSink) ProcessGone(uint32)                                  {}
