package httpfield

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzFields: header values come from the wire. Each parser must not
// panic, and what it returns must be what its contract says.
func FuzzFields(f *testing.F) {
	for _, s := range []string{"GET", "PROPFIND", "example.com:8080", "[::1]:443", "::1", "[fe80::1", "host:",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "65536", "0"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if name, ok := MethodName(b); ok && name != string(b) {
			t.Fatalf("MethodName(%q) = %q, true: a known method must be returned as sent", b, name)
		}
		host, port := SplitHostPort(b)
		if port < 0 || port > 65535 {
			t.Fatalf("SplitHostPort(%q): port %d", b, port)
		}
		if len(host) > len(b) {
			t.Fatalf("SplitHostPort(%q): host %q longer than the input", b, host)
		}
		if p := ParsePort(b); p != 0 && fmt.Sprint(p) != string(bytes.TrimLeft(b, "0")) {
			t.Fatalf("ParsePort(%q) = %d", b, p)
		}
		var tc TraceContext
		if ParseTraceparent(b, &tc) {
			again := fmt.Sprintf("00-%x-%x-%02x", tc.TraceID, tc.ParentID, tc.Flags)
			if again != string(b) {
				t.Fatalf("ParseTraceparent(%q) accepted it, but it reads back as %q", b, again)
			}
		}
		last := ""
		if s := Intern(&last, b); s != string(b) {
			t.Fatalf("Intern(%q) = %q", b, s)
		}
	})
}
