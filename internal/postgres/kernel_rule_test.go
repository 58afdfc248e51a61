package postgres

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

// The kernel's rules (bpf/protocols/postgres.h) compiled for this machine:
// postgres_may_start on the 16-byte peek of each line's bytes, and
// postgres_tls_may_follow on its first 8 and its length.
const mayStartMain = `
#include <stdio.h>
#include <string.h>
typedef unsigned char __u8;
typedef unsigned int __u32;
typedef unsigned long long __u64;
#define PEEK 16
#include "postgres.h"
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
		__u8 head[8] = {0};
		memcpy(head, p, n < 8 ? n : 8);
		printf("%d %d\n", postgres_may_start(p), postgres_tls_may_follow(head, n));
	}
	return 0;
}
`

// TestKernelRule: the transfers a client and a server begin with pass the
// kernel's copy rule; other protocols' bytes and implausible headers do
// not. Only an SSLRequest and the server's 'S' say TLS may follow.
func TestKernelRule(t *testing.T) {
	cc := ""
	for _, name := range []string{"clang-19", "clang", "cc", "gcc"} {
		if p, err := exec.LookPath(name); err == nil {
			cc = p
			break
		}
	}
	if cc == "" {
		t.Skip("no C compiler to build bpf/protocols/postgres.h for this machine")
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
	cases := []struct {
		name string
		b    string
		want bool
	}{
		{"StartupMessage", startupMsg("user", "app", "database", "shop"), true},
		{"SSLRequest", sslRequest, true},
		{"GSSENCRequest", untypedMsg(codeGSSENCRequest, ""), true},
		{"CancelRequest", untypedMsg(codeCancelRequest, u32(1)+u32(2)), true},
		{"Query", query("SELECT * FROM users WHERE id = 1"), true},
		{"Parse", parse("stmtcache_1", "SELECT 1"), true},
		{"Bind", bind("", "s1", strings.Repeat("v", 300)), true},
		{"Execute Sync", execute("") + syncMsg, true},
		{"Describe", describe('S', "s1"), true},
		{"ParseComplete BindComplete", parseComplete + bindComplete + rowDesc("a"), true},
		{"RowDescription", rowDesc("id", "name"), true},
		{"DataRow", dataRow("1", "ann"), true},
		{"CommandComplete", complete("SELECT 1"), true},
		{"ErrorResponse", errorResp("42P01"), true},
		{"NoticeResponse", notice(), true},
		{"ReadyForQuery", ready('I'), true},
		{"Authentication", authOK + paramStatus("a", "b"), true},
		{"ParameterDescription", msg('t', u16(1), u32(23)) + noData, true},
		{"PortalSuspended", msg('s') + ready('T'), true},
		{"EmptyQueryResponse", msg('I') + ready('I'), true},

		{"SSLRequest accepted", "S", false},
		{"SSLRequest refused", "N", false},
		{"a Sync", syncMsg, true},

		{"PasswordMessage", msg('p', "hunter2\x00"), false},
		{"CopyData", msg('d', "1\tx\n"), false},
		{"a length under 4", "Q\x00\x00\x00\x03SELECT 1", false},
		{"a length of 16 MiB or more", "D\x01\x00\x00\x00\x00\x01", false},
		{"an unknown type", msg('q', "x"), false},
		{"a start-up message of protocol 2", untypedMsg(2<<16, "user\x00u\x00\x00"), false},
		{"a start-up message of 64 KiB", "\x00\x01\x00\x00\x00\x03\x00\x00", false},
		{"HTTP request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"HTTP response", "HTTP/1.1 200 OK\r\n\r\n", false},
		{"JSON", `{"id": 1, "name": "ann"}`, false},
		{"TLS record", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false},
		{"Redis", "*1\r\n$4\r\nPING\r\n", false},
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
		may, tls, _ := strings.Cut(sc.Text(), " ")
		if got := may == "1"; got != c.want {
			t.Errorf("%s (% x): postgres_may_start = %v, want %v", c.name, c.b[:min(16, len(c.b))], got, c.want)
		}
		if got, want := tls == "1", c.b == sslRequest || c.b == "S"; got != want {
			t.Errorf("%s (% x): postgres_tls_may_follow = %v, want %v", c.name, c.b[:min(16, len(c.b))], got, want)
		}
	}
}
