package golang

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestRetsDecodesInstructions(t *testing.T) {
	// mov eax, 0xc3c3c3c3 ; ret ; int3 ; xor eax,eax ; ret
	code := []byte{0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xcc, 0x31, 0xc0, 0xc3}
	got, err := Rets(code)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 5 || got[1] != 9 {
		t.Fatalf("rets %v, want [5 9]", got)
	}
}

const src = `package main

import (
	"crypto/tls"
	"fmt"
)

func main() {
	var c *tls.Conn
	if len(fmt.Sprint()) > 100 {
		c.Read(nil)
		c.Write(nil)
	}
}
`

// TestLookupSymtabAndStripped finds crypto/tls.(*Conn).Read and Write in a
// freshly built binary, with and without its symbol table, at the same
// addresses and with the same RET offsets.
func TestLookupSymtabAndStripped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(out string, flags ...string) *elf.File {
		args := append([]string{"build", "-o", out}, flags...)
		cmd := exec.Command("go", append(args, "main.go")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GO111MODULE=off", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
		f, err := elf.Open(filepath.Join(dir, out))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	names := []string{"crypto/tls.(*Conn).Read", "crypto/tls.(*Conn).Write"}
	full, src1, err := Lookup(build("full"), names...)
	if err != nil || src1 != "symtab" {
		t.Fatalf("full: %v %s", err, src1)
	}
	stripped, src2, err := Lookup(build("stripped", "-ldflags=-s -w"), names...)
	if err != nil || src2 != "gopclntab" {
		t.Fatalf("stripped: %v %s", err, src2)
	}
	for _, n := range names {
		a, b := full[n], stripped[n]
		if a == nil || b == nil {
			t.Fatalf("%s not found: %v %v", n, a, b)
		}
		if len(a.Rets) == 0 || len(a.Rets) != len(b.Rets) || a.Addr != b.Addr || a.Offset != b.Offset {
			t.Errorf("%s: symtab %+v, gopclntab %+v", n, a, b)
		}
		t.Logf("%s at %#x (file %#x), %d bytes, RETs at %v", n, a.Addr, a.Offset, a.Size, a.Rets)
	}
}
