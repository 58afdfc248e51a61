package kafka

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// The kernel half's copy rule (bpf/protocols/kafka.h) is plain C: compiled
// here for this machine and run on the first 16 bytes of transfers, it
// must let through every request detection recognises (a needless copy
// costs little, a missed one loses a request) and refuse the bytes of
// other protocols and of responses it can tell apart. (The verifier's side
// of it is internal/probes' TestVerifierBudget.)
func TestKernelCopyRule(t *testing.T) {
	cc, err := exec.LookPath("clang-19")
	if err != nil {
		if cc, err = exec.LookPath("cc"); err != nil {
			t.Skip("needs a C compiler (clang-19 or cc) to compile bpf/protocols/kafka.h")
		}
	}
	long := strings.Repeat("c", 300)
	cases := []struct {
		name string
		b    []byte
		want bool
	}{
		{"produce v9", produce(9, 0, -1, "orders"), true},
		{"produce v3, a large correlation id", produce(3, 1<<30, 1, "orders"), true},
		{"produce v13", produce(13, 7, -1, "orders"), true},
		{"fetch v4", fetch(4, 1, "orders"), true},
		{"fetch v16", fetch(16, 2, "orders"), true},
		{"api versions, null client id", request(18, 3, 0, "", true, nil), true},
		{"metadata, a long client id", request(3, 12, 5, long, true, nil), true},
		{"a large produce", request(apiProduce, 9, 1, "app", true, func(e *enc) { e.b = append(e.b, make([]byte, 20<<20)...) }), true},
		{"HTTP/1 request", []byte("POST /orders HTTP/1.1\r\n"), false},
		{"HTTP/1 response", []byte("HTTP/1.1 200 OK\r\n\r\n"), false},
		{"Redis", []byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"), false},
		{"TLS", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x00\x00\x00\x00"), false},
		{"JSON", []byte(`{"order": 1, "items": []}`), false},
		{"a response: its body is no header", produceResponse(9, 1, []string{"orders"}, 0), false},
		{"api version 40", func() []byte { b := other(3, 12, 1); b[7] = 40; return b }(), false},
		{"negative correlation id", other(3, 12, -5), false},
		{"size below a header", []byte{0, 0, 0, 8, 0, 3, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, false},
	}
	for _, c := range cases {
		// Every request detection says Yes to must be copied.
		if Detect(c.b, stream.Egress, true) == protocol.Yes && !c.want {
			t.Fatalf("%s: detection recognises it, so the rule must let it through", c.name)
		}
	}
	dir := t.TempDir()
	var src strings.Builder
	fmt.Fprintf(&src, "#include <stdio.h>\n#include <string.h>\n#include <linux/types.h>\n#define PEEK 16\n#include \"%s\"\n", filepath.Join(wd(t), "../../bpf/protocols/kafka.h"))
	src.WriteString("static const unsigned char peeks[][16] = {\n")
	for _, c := range cases {
		var p [16]byte
		copy(p[:], c.b)
		src.WriteString("\t{")
		for _, x := range p {
			fmt.Fprintf(&src, "0x%02x,", x)
		}
		src.WriteString("},\n")
	}
	src.WriteString("};\nint main(void) {\n\tfor (unsigned i = 0; i < sizeof(peeks) / sizeof(peeks[0]); i++) {\n" +
		"\t\t__u64 lo, hi;\n\t\tmemcpy(&lo, peeks[i], 8);\n\t\tmemcpy(&hi, peeks[i] + 8, 8);\n" +
		"\t\tprintf(\"%d\", kafka_start(lo, hi));\n\t}\n\treturn 0;\n}\n")
	file := filepath.Join(dir, "rule.c")
	if err := os.WriteFile(file, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rule")
	if out, err := exec.Command(cc, "-O2", "-Wall", "-Werror", "-o", bin, file).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil || len(out) != len(cases) {
		t.Fatalf("rule: %v, %q", err, out)
	}
	for i, c := range cases {
		if got := out[i] == '1'; got != c.want {
			t.Errorf("%s: kafka_start(% x) = %v, want %v", c.name, c.b[:min(len(c.b), 16)], got, c.want)
		}
	}
}

func wd(t *testing.T) string {
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
