package mysql

import (
	"bufio"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The kernel's rule (bpf/protocols/mysql.h) compiled for this machine:
// mysql_may_start on the 16-byte peek of each line's bytes.
const mayStartMain = `
#include <stdio.h>
#include <string.h>
typedef unsigned char __u8;
typedef unsigned int __u32;
typedef unsigned long long __u64;
#define PEEK 16
#include "mysql.h"
int main(void)
{
	char line[256];
	while (fgets(line, sizeof line, stdin)) {
		__u8 p[PEEK] = {0};
		unsigned long long n = 0;
		int at = 0;
		if (sscanf(line, "%llu %n", &n, &at) != 1)
			return 1;
		for (int i = 0; i < PEEK && sscanf(line + at + 2 * i, "%2hhx", &p[i]) == 1; i++)
			;
		printf("%d\n", mysql_may_start(p));
	}
	return 0;
}
`

// TestKernelRule: the large transfers a client writes and reads pass the
// kernel's copy rule; other protocols' bytes and other packets do not.
func TestKernelRule(t *testing.T) {
	cc := ""
	for _, name := range []string{"clang-19", "clang", "cc", "gcc"} {
		if p, err := exec.LookPath(name); err == nil {
			cc = p
			break
		}
	}
	if cc == "" {
		t.Skip("no C compiler to build bpf/protocols/mysql.h for this machine")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.c")
	if err := os.WriteFile(src, []byte(mayStartMain), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "maystart")
	if out, err := exec.Command(cc, "-O2", "-I", "../../bpf/protocols", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	long := strings.Repeat("(1, 'x'), ", 100)
	cases := []struct {
		name string
		b    string
		want bool
	}{
		{"COM_QUERY", query("INSERT INTO t VALUES " + long), true},
		{"COM_QUERY beginning with a comment line", query("\n-- c\nSELECT " + long), true},
		{"COM_QUERY with query attributes", pkt(0, "\x03\x00\x01SELECT "+long), true},
		{"COM_STMT_PREPARE", prepare("SELECT " + long), true},
		{"COM_STMT_EXECUTE", execute(7, strings.Repeat("v", 300)), true},
		{"a result set", resultSet([]string{"a", "b"}, rows(20, 20), true, 2), true},
		{"a result set with MariaDB's metadata flag", pkt(1, "\x02\x01") + colDef(2, "a") + colDef(3, "b"), true},
		{"a prepare's answer", prepareOK(3, []string{"?", "?"}, []string{"a", "b", "c"}, false), true},

		{"the handshake response", handshake(testCaps, "app", "x", "shop"), false},
		{"rows", row(5, strings.Repeat("x", 300)), false},
		{"a COM_QUERY with control bytes", pkt(0, "\x03\x01\x02"), false},
		{"a COM_STMT_EXECUTE with another count", pkt(0, "\x17", u32(1), "\x00", u32(2)), false},
		{"a LOCAL INFILE's contents", pkt(2, strings.Repeat("1\tx\n", 80)), false},
		{"HTTP request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"HTTP response", "HTTP/1.1 200 OK\r\n\r\n", false},
		{"JSON", `{"id": 1, "name": "ann"}`, false},
		{"TLS record", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false},
		{"Redis", "*1\r\n$4\r\nPING\r\n", false},
		{"PostgreSQL Query", "Q\x00\x00\x00\x0dSELECT 1\x00", false},
		{"zeros", strings.Repeat("\x00", 16), false},
	}
	var in strings.Builder
	for _, c := range cases {
		b := []byte(c.b)
		in.WriteString(strconv.Itoa(len(b)) + " " + hex.EncodeToString(b[:min(16, len(b))]) + "\n")
	}
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for _, c := range cases {
		if !sc.Scan() {
			t.Fatalf("%s: no answer", c.name)
		}
		if got := sc.Text() == "1"; got != c.want {
			t.Errorf("%s (% x): mysql_may_start = %v, want %v", c.name, c.b[:min(16, len(c.b))], got, c.want)
		}
	}
}
