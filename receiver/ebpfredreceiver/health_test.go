package ebpfredreceiver

import (
	"fmt"
	"strings"
	"testing"
)

// The status each pipeline's component is told follows the drops and the
// degraded features, and only changes are reported.
func TestHealthTransitions(t *testing.T) {
	var h health
	a, b := &statusHost{}, &statusHost{}
	h.attach(a)
	told := func(s *statusHost) string {
		var out []string
		for _, e := range s.events {
			if e.Err() != nil {
				out = append(out, fmt.Sprintf("%s(%s)", strings.TrimPrefix(e.Status().String(), "Status"), e.Err()))
			} else {
				out = append(out, strings.TrimPrefix(e.Status().String(), "Status"))
			}
		}
		return strings.Join(out, " ")
	}
	h.judge(0, nil) // healthy: nothing to say (the collector said OK)
	if got := told(a); got != "" {
		t.Errorf("healthy start reported %q, want nothing", got)
	}
	h.judge(7, nil) // 7 events dropped
	h.judge(7, nil) // none since
	h.attach(b)     // a second pipeline starts, healthy as far as it knows
	h.judge(7, []string{"tls_go"})
	h.judge(9, []string{"tls_go"})
	h.judge(9, []string{"tls_go"})
	drop2 := "the kernel dropped 2 events since the last check (the ring buffer is full: raise ring_buffer_size)"
	deg := "running without tls_go (the kernel refused it; the reason is logged at start)"
	want := "RecoverableError(the kernel dropped 7 events since the last check (the ring buffer is full: raise ring_buffer_size)) OK " +
		"RecoverableError(" + deg + ") RecoverableError(" + drop2 + "; " + deg + ") RecoverableError(" + deg + ")"
	if got := told(a); got != want {
		t.Errorf("first pipeline was told\n %s\nwant\n %s", got, want)
	}
	wantB := "RecoverableError(" + deg + ") RecoverableError(" + drop2 + "; " + deg + ") RecoverableError(" + deg + ")"
	if got := told(b); got != wantB {
		t.Errorf("second pipeline was told\n %s\nwant\n %s", got, wantB)
	}
	h.detach(a)
	h.judge(9, nil)
	if got := told(b); !strings.HasSuffix(got, " OK") {
		t.Errorf("second pipeline, features back: %q, want it to end with OK", got)
	}
	if n := len(a.events); n != 5 {
		t.Errorf("a detached pipeline was told more: %d events", n)
	}
}
