package memcached

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The kernel half's copy rule (bpf/protocols/memcached.h) is plain C:
// compiled here for this machine and run on the first bytes of transfers,
// it must say which can begin a memcached message. (The verifier's side of
// it is internal/probes' TestVerifierBudget.)
func TestKernelCopyRule(t *testing.T) {
	cc, err := exec.LookPath("clang-19")
	if err != nil {
		if cc, err = exec.LookPath("cc"); err != nil {
			t.Skip("needs a C compiler (clang-19 or cc) to compile bpf/protocols/memcached.h")
		}
	}
	cases := []struct {
		peek string
		want bool
	}{
		{"get k\r\n", true}, {"gets a b c\r\n", true}, {"set k 0 0 5\r\n", true},
		{"add k 0 0 1\r\n", true}, {"cas k 0 0 1 7\r\n", true}, {"incr n 1\r\n", true},
		{"delete k\r\n", true}, {"touch k 10\r\n", true}, {"append k 0 0 1\r\n", true},
		{"stats\r\n", true}, {"version\r\n", true}, {"flush_all\r\n", true},
		{"mg k v\r\n", true}, {"ms k 2\r\n", true}, {"mn\r\n", true},
		{"VALUE k 0 5\r\n", true}, {"END\r\n", true}, {"STORED\r\n", true}, {"NOT_FOUND\r\n", true},
		{"ERROR\r\n", true}, {"CLIENT_ERROR bad", true}, {"SERVER_ERROR oom", true},
		{"STAT pid 1\r\n", true}, {"VERSION 1.6\r\n", true}, {"OK\r\n", true},
		{"VA 2 f0\r\n", true}, {"HD\r\n", true}, {"HD c5\r\n", true}, {"EN\r\n", true}, {"NF\r\n", true},
		{"MN\r\n", true}, {"42\r\n", true}, {"7\r\n", true}, {"1234567\r\n", true},
		{"GET / HTTP/1.1\r\n", false}, {"HTTP/1.1 200 OK\r\n", false}, {"*1\r\n$4\r\nPING\r\n", false},
		{"getaway", false}, {"HDX", false}, {"x\r\n", false}, {"4x\r\n", false},
		{`{"json": true}`, false}, {"\x16\x03\x01\x02\x00", false},
	}
	dir := t.TempDir()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	fmt.Fprintf(&src, "#include <stdio.h>\n#include <string.h>\n#include <linux/types.h>\n#define PEEK 16\n#include \"%s\"\n",
		filepath.Join(wd, "../../bpf/protocols/memcached.h"))
	src.WriteString("static const char *peeks[] = {\n")
	for _, c := range cases {
		var lit strings.Builder
		for _, x := range []byte(c.peek[:min(len(c.peek), 16)]) {
			fmt.Fprintf(&lit, "\\x%02x", x)
		}
		fmt.Fprintf(&src, "\t\"%s\",\n", lit.String())
	}
	src.WriteString("};\nstatic const int lens[] = {")
	for _, c := range cases {
		fmt.Fprintf(&src, "%d, ", min(len(c.peek), 16))
	}
	src.WriteString("};\nint main(void) {\n\tfor (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {\n" +
		"\t\t__u8 p[PEEK] = {0};\n\t\tmemcpy(p, peeks[i], lens[i]);\n\t\tprintf(\"%d\", memcached_may_start(p));\n\t}\n\treturn 0;\n}\n")
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
			t.Errorf("memcached_may_start(%q) = %v, want %v", c.peek[:min(len(c.peek), 16)], got, c.want)
		}
	}
}
