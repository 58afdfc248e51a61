package probes

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf/asm"
)

func TestHelperName(t *testing.T) {
	for f, want := range map[asm.BuiltinFunc]string{
		asm.FnGetAttachCookie:     "bpf_get_attach_cookie",
		asm.FnGetNsCurrentPidTgid: "bpf_get_ns_current_pid_tgid",
		asm.FnGetCurrentPidTgid:   "bpf_get_current_pid_tgid",
		asm.FnRingbufOutput:       "bpf_ringbuf_output",
		asm.FnProbeReadUser:       "bpf_probe_read_user",
	} {
		if got := helperName(f); got != want {
			t.Errorf("helperName(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestReasonNamesUnknownHelper(t *testing.T) {
	got := reason(errors.New("program x: load program: invalid argument: invalid func unknown#174"))
	want := "program x: load program: invalid argument: invalid func unknown#174 (bpf_get_attach_cookie, which this kernel does not have)"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestParseFeature(t *testing.T) {
	if f, err := ParseFeature("tls_go"); err != nil || f != FeatureTLSGo {
		t.Errorf("tls_go: %v %v", f, err)
	}
	if _, err := ParseFeature("tls"); err == nil || err.Error() != `"tls" is not a feature; the features are capture, tls_openssl, tls_go, go_routes, go_context, context_propagation` {
		t.Errorf("tls: %v", err)
	}
}
