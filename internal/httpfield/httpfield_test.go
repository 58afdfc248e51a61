package httpfield

import "testing"

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
	}{
		{"example.com", "example.com", 0},
		{"example.com:8080", "example.com", 8080},
		{"example.com:", "example.com", 0},
		{"example.com:http", "example.com", 0},
		{"example.com:70000", "example.com", 0},
		{"[::1]:443", "::1", 443},
		{"[::1]", "::1", 0},
		{"[::1", "[::1", 0},
		{"::1", "::1", 0},
		{"", "", 0},
	}
	for _, tt := range tests {
		host, port := SplitHostPort([]byte(tt.in))
		if string(host) != tt.host || port != tt.port {
			t.Errorf("SplitHostPort(%q) = %q, %d; want %q, %d", tt.in, host, port, tt.host, tt.port)
		}
	}
}

func TestParseTraceparent(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		in    string
		ok    bool
		flags uint8
	}{
		{valid, true, 1},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", true, 0xff},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false, 0}, // uppercase
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, 0}, // zero trace id
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false, 0}, // zero parent id
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, 0}, // version
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, 0},
		{valid + "-extra", false, 0},
		{valid[:54], false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01", false, 0},
		{"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", false, 0},
		{"", false, 0},
	}
	for _, tt := range tests {
		var tc TraceContext
		ok := ParseTraceparent([]byte(tt.in), &tc)
		if ok != tt.ok || (ok && tc.Flags != tt.flags) {
			t.Errorf("ParseTraceparent(%q) = %v flags %#x, want %v %#x", tt.in, ok, tc.Flags, tt.ok, tt.flags)
		}
	}
	var tc TraceContext
	ParseTraceparent([]byte(valid), &tc)
	if tc.TraceID != [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36} ||
		tc.ParentID != [8]byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7} {
		t.Errorf("ids = %x %x", tc.TraceID, tc.ParentID)
	}
}

func TestMethodName(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"} {
		if got, ok := MethodName([]byte(m)); got != m || !ok {
			t.Errorf("MethodName(%q) = %q, %v", m, got, ok)
		}
	}
	for _, m := range []string{"get", "PURGE", "QUERY", "Get"} {
		if got, ok := MethodName([]byte(m)); got != MethodOther || ok {
			t.Errorf("MethodName(%q) = %q, %v", m, got, ok)
		}
	}
}
