package redis

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The kernel half's copy rule (bpf/protocols/redis.h) is plain C: compiled
// here for this machine and run on the first bytes of transfers, it must
// say which can begin a RESP message. (The verifier's side of it is
// internal/probes' TestVerifierBudget.)
func TestKernelCopyRule(t *testing.T) {
	cc, err := exec.LookPath("clang-19")
	if err != nil {
		if cc, err = exec.LookPath("cc"); err != nil {
			t.Skip("needs a C compiler (clang-19 or cc) to compile bpf/protocols/redis.h")
		}
	}
	cases := []struct {
		peek string
		want bool
	}{
		{cmd("SET", "k", "v"), true},
		{strings.Repeat(cmd("INCR", "counter"), 3), true},
		{"*100\r\n$4\r\nINCR\r\n", true},
		{"$100000\r\nvvvvvvvvvvvvv", true},
		{"$-1\r\n", true},
		{"*-1\r\n", true},
		{":1\r\n:2\r\n:3\r\n:4\r\n", true},
		{"+OK\r\n+OK\r\n+OK\r\n+OK", true},
		{"+PONG\r\n+PONG\r\n+PONG", true},
		{"-ERR unknown command", true},
		{"-WRONGTYPE Operation", true},
		{"%2\r\n$6\r\nserver\r\n", true},
		{">3\r\n$7\r\nmessage\r\n", true},
		{"~5\r\n:1\r\n", true},
		{"|1\r\n+key-popularity", true},
		{"!21\r\nSYNTAX invalid", true},
		{"=15\r\ntxt:Some string", true},
		{"(3492890328409\r\n", true},
		{"(3492890328409238509\r\n", false}, // its CRLF is past the first 16 bytes
		{"_\r\n", true},
		{"#t\r\n", true},
		{",3.14\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\n", false},
		{"HTTP/1.1 200 OK\r\n", false},
		{"PRI * HTTP/2.0\r\n\r\nSM", false},
		{"*\r\n$3\r\nGET\r\n", false},
		{"$12345678901234567", false}, // no CRLF in the first bytes
		{"-err lower case\r\n", false},
		{"+ok\x01\r\n", false},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false},
		{`{"json": true, "a": 1}`, false},
		{"#x\r\n", false},
		{"_x\r\n", false},
	}
	dir := t.TempDir()
	var src strings.Builder
	fmt.Fprintf(&src, "#include <stdio.h>\n#include <string.h>\n#include <linux/types.h>\n#define PEEK 16\n#include \"%s\"\n", filepath.Join(wd(t), "../../bpf/protocols/redis.h"))
	src.WriteString("static const char *peeks[] = {\n")
	for _, c := range cases {
		b := []byte(c.peek)
		if len(b) > 16 {
			b = b[:16]
		}
		var lit strings.Builder
		for _, x := range b {
			fmt.Fprintf(&lit, "\\x%02x", x)
		}
		fmt.Fprintf(&src, "\t\"%s\",\n", lit.String())
	}
	src.WriteString("};\nstatic const int lens[] = {")
	for _, c := range cases {
		fmt.Fprintf(&src, "%d, ", min(len(c.peek), 16))
	}
	src.WriteString("};\nint main(void) {\n\tfor (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {\n" +
		"\t\t__u8 p[PEEK] = {0};\n\t\tmemcpy(p, peeks[i], lens[i]);\n" +
		"\t\t__u64 lo, hi;\n\t\tmemcpy(&lo, p, 8);\n\t\tmemcpy(&hi, p + 8, 8);\n" +
		"\t\tprintf(\"%d\", redis_start(lo, hi));\n\t}\n\treturn 0;\n}\n")
	c := filepath.Join(dir, "rule.c")
	if err := os.WriteFile(c, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rule")
	if out, err := exec.Command(cc, "-O2", "-Wall", "-Werror", "-o", bin, c).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil || len(out) != len(cases) {
		t.Fatalf("rule: %v, %q", err, out)
	}
	for i, c := range cases {
		if got := out[i] == '1'; got != c.want {
			t.Errorf("redis_start(%q) = %v, want %v", c.peek[:min(len(c.peek), 16)], got, c.want)
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
