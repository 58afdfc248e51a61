package ebpfredreceiver

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// healthEvery is how often the receiver re-judges its health (component
// status, as the health_check extension and zpages show it).
const healthEvery = 2 * time.Second

// health reports the receiver's status through the component status API
// to every pipeline it feeds: OK while it captures everything it was asked
// to; a recoverable error while the kernel drops events (the ring buffer is
// too small for the traffic) or while a requested feature runs degraded
// (the kernel refused it at start). It reports only changes; the collector
// itself reports Starting, OK after Start, Stopping and Stopped.
type health struct {
	mu sync.Mutex
	// hosts: each attached pipeline's host and what its component was
	// last told ("" for OK).
	hosts   map[component.Host]string
	dropped uint64 // events dropped as of the previous judgement
}

// attach adds a pipeline's host. Its component is OK as far as it knows:
// the collector reports OK once Start returns, after this; the next
// judgement tells it otherwise if need be.
func (h *health) attach(host component.Host) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hosts == nil {
		h.hosts = map[component.Host]string{}
	}
	h.hosts[host] = ""
}

func (h *health) detach(host component.Host) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.hosts, host)
}

// judge decides the status from the kernel's drop count (cumulative) and
// the features that run degraded, and reports it when it changed.
func (h *health) judge(dropped uint64, degraded []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var problems []string
	if dropped > h.dropped {
		problems = append(problems, fmt.Sprintf("the kernel dropped %d events since the last check (the ring buffer is full: raise ring_buffer_size)", dropped-h.dropped))
	}
	h.dropped = dropped
	if len(degraded) > 0 {
		problems = append(problems, "running without "+strings.Join(degraded, ", ")+" (the kernel refused it; the reason is logged at start)")
	}
	now := strings.Join(problems, "; ")
	for host, told := range h.hosts {
		if told == now {
			continue
		}
		h.hosts[host] = now
		if now == "" {
			componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK))
		} else {
			componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(errors.New(now)))
		}
	}
}

// judgeHealth is health.judge with the receiver's current figures.
func (r *ebpfReceiver) judgeHealth() {
	c, err := r.probes.Counters()
	if err != nil {
		return
	}
	var degraded []string
	for _, st := range r.probes.Features() {
		if !st.Active {
			degraded = append(degraded, string(st.Feature))
		}
	}
	r.health.judge(c.Dropped, degraded)
}
