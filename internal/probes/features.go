package probes

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// A Feature is a capability whose kernel programs load, and fail, as a
// unit. Capture (socket I/O and process life) is required; every other
// feature that the kernel refuses or cannot attach is left off, with one
// sentence saying why and what is lost, while the rest keeps running —
// unless the user listed it in Options.Required.
type Feature string

const (
	// FeatureCapture: socket syscalls and process life (core.c). Required.
	FeatureCapture Feature = "capture"
	// FeatureTLSOpenSSL: uprobes on OpenSSL's SSL_read/SSL_write (tls.c).
	FeatureTLSOpenSSL Feature = "tls_openssl"
	// FeatureTLSGo: uprobes on Go's crypto/tls (tls.c).
	FeatureTLSGo Feature = "tls_go"
	// FeatureGoRoutes: uprobes on Go routers (goroutes.c).
	FeatureGoRoutes Feature = "go_routes"
	// FeatureGoContext: uprobes on the Go runtime and net/http that link a
	// Go handler's client requests to its server request (gocontext.c).
	FeatureGoContext Feature = "go_context"
	// FeaturePropagation: traceparent injection (propagate.c) and the
	// kernel-chosen span ids of the capture path (propagate_data.h).
	FeaturePropagation Feature = "context_propagation"
)

// AllFeatures lists every feature, in load order.
var AllFeatures = []Feature{FeatureCapture, FeatureTLSOpenSSL, FeatureTLSGo, FeatureGoRoutes, FeatureGoContext, FeaturePropagation}

// ParseFeature checks a feature name, for configuration.
func ParseFeature(s string) (Feature, error) {
	for _, f := range AllFeatures {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(AllFeatures))
	for i, f := range AllFeatures {
		names[i] = string(f)
	}
	return "", fmt.Errorf("%q is not a feature; the features are %s", s, strings.Join(names, ", "))
}

// Loses says what a user does not get without the feature.
func (f Feature) Loses() string {
	switch f {
	case FeatureCapture:
		return "nothing is captured"
	case FeatureTLSOpenSSL:
		return "HTTPS of programs that use OpenSSL (nginx, Python, Node.js, curl, ...) is not seen; their cleartext traffic still is"
	case FeatureTLSGo:
		return "HTTPS of Go programs (crypto/tls) is not seen; their cleartext traffic still is"
	case FeatureGoRoutes:
		return "Go services' own routes (ServeMux, gin, gorilla/mux) are not reported as http.route; routes.patterns still apply"
	case FeatureGoContext:
		return "a Go handler's outgoing requests are not linked to its own server span (their CLIENT spans start traces of their own)"
	case FeaturePropagation:
		return "no traceparent is added to outgoing requests and thread-per-request servers' calls are not linked; traces link only where the applications propagate context themselves"
	}
	return "unknown feature"
}

// A FeatureError says that a feature is off on this kernel, why, and what
// that costs: one sentence for the log, and the error Load returns when the
// feature is required.
type FeatureError struct {
	Feature Feature
	// Err is the kernel's reason (a verifier refusal, a missing hook).
	Err error
}

func (e *FeatureError) Error() string {
	return fmt.Sprintf("%s is off: %s: %s", e.Feature, reason(e.Err), e.Feature.Loses())
}

func (e *FeatureError) Unwrap() error { return e.Err }

// reason is the kernel's refusal in a few words. A verifier error is cut to
// the line that says why (the log's last lines are statistics), without the
// program dump.
func reason(err error) string {
	if err == nil {
		return "no reason given"
	}
	s := err.Error()
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		if why := verifierWhy(ve.Log); why != "" {
			if i := strings.Index(s, ve.Cause.Error()); i >= 0 {
				s = s[:i] + ve.Cause.Error()
			}
			s += ": " + why
		}
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	// a helper this kernel does not have: name it
	if m := unknownHelper.FindStringSubmatchIndex(s); m != nil {
		if n, err := strconv.Atoi(s[m[2]:m[3]]); err == nil {
			s = s[:m[1]] + " (" + helperName(asm.BuiltinFunc(n)) + ", which this kernel does not have)" + s[m[1]:]
		}
	}
	return s
}

var unknownHelper = regexp.MustCompile(`func unknown#(\d+)`)

// helperName: FnGetAttachCookie → bpf_get_attach_cookie.
func helperName(f asm.BuiltinFunc) string {
	name := strings.TrimPrefix(f.String(), "Fn")
	var b strings.Builder
	b.WriteString("bpf")
	for _, r := range name {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// verifierStats are the lines a verifier log ends with after its verdict.
var verifierStats = regexp.MustCompile(`^(verification time|stack depth|processed \d+ insns|\(\d+ line\(s\) omitted\)|$)`)

// verifierWhy is the last line of a verifier log that is not a statistic.
func verifierWhy(log []string) string {
	for i := len(log) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(log[i]); !verifierStats.MatchString(l) {
			return l
		}
	}
	return ""
}

// FeatureState is whether a requested feature runs, and if not, why.
type FeatureState struct {
	Feature Feature
	Active  bool
	Err     *FeatureError // set when not active
}
