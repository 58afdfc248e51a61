package golang

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// selfSrc is a program that says where its own crypto/tls.(*Conn).Read and
// Write begin, as offsets in its executable file (what a uprobe is attached
// to): the running Go runtime is the truth for a build without symbols. It
// also links net/http's server, whose functions the route probes use.
const selfSrc = `package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) > 1 { // never: links ServeMux and the HTTP/2 server
		http.Handle("/", http.NotFoundHandler())
		_ = http.ListenAndServeTLS(os.Args[1], "", "", nil)
	}
	for _, f := range []any{(*tls.Conn).Read, (*tls.Conn).Write} {
		pc := uint64(reflect.ValueOf(f).Pointer())
		fmt.Println(runtime.FuncForPC(uintptr(pc)).Name(), fileOffset(pc))
	}
}

// fileOffset maps pc to an offset in the executable through /proc/self/maps.
func fileOffset(pc uint64) string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		start, end, _ := strings.Cut(fields[0], "-")
		lo, _ := strconv.ParseUint(start, 16, 64)
		hi, _ := strconv.ParseUint(end, 16, 64)
		off, _ := strconv.ParseUint(fields[2], 16, 64)
		if pc >= lo && pc < hi {
			return fmt.Sprintf("%#x", pc-lo+off)
		}
	}
	return "unmapped"
}
`

// probed are the functions the TLS and route probes look up.
var probed = []string{
	"crypto/tls.(*Conn).Read",
	"crypto/tls.(*Conn).Write",
	"crypto/tls.(*Conn).handshakeContext",
	"net/http.(*ServeMux).findHandler", // Go 1.22+
	"net/http.(*http2serverConn).runHandler",
}

// buildMode is one way distributions build Go programs.
type buildMode struct {
	name      string
	cgo       bool
	buildmode string
	ldflags   string
}

var buildModes = []buildMode{
	{"internal", false, "", ""},
	{"external", true, "", "-linkmode=external"},
	{"pie", false, "pie", ""},
	{"pie-external", true, "pie", "-linkmode=external"},
}

// oldToolchain: its line table keeps runtime.text in the header, where Go
// 1.26 keeps it in the moduledata (.go.module).
const oldToolchain = "go1.21.0"

// TestLookupBuildModes pins the functions found in Go's line table (no
// symbol table) to their real addresses for every way of building, with
// this Go and an older one:
//   - a build with symbols: go tool nm's addresses, and the same from the
//     line table once strip(1)ped (objcopy --strip-all keeps every address);
//   - a build linked with -s -w: the file offsets the running program
//     itself reports.
func TestLookupBuildModes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	objcopy := lookTool(t, "objcopy")
	if _, err := exec.LookPath("gcc"); err != nil {
		skipOrFail(t, "needs gcc for cgo builds: %v", err)
	}
	for _, toolchain := range []string{"local", oldToolchain} {
		for _, m := range buildModes {
			t.Run(toolchain+"/"+m.name, func(t *testing.T) {
				dir := t.TempDir()
				writeProgram(t, dir, toolchain)

				full := goBuild(t, dir, toolchain, m, "full", "")
				want := nmAddrs(t, full)
				symtab := lookup(t, full, "symtab")
				stripped := filepath.Join(dir, "stripped")
				if out, err := exec.Command(objcopy, "--strip-all", full, stripped).CombinedOutput(); err != nil {
					t.Fatalf("objcopy: %v\n%s", err, out)
				}
				pcln := lookup(t, stripped, "gopclntab")
				for _, n := range probed {
					a, b := symtab[n], pcln[n]
					if want[n] == 0 {
						if a != nil || b != nil {
							t.Errorf("%s: not in go tool nm, yet found (symtab %v, line table %v)", n, a, b)
						}
						continue
					}
					if a == nil || b == nil {
						t.Errorf("%s at %#x: symtab %v, line table %v", n, want[n], a, b)
						continue
					}
					// The line table's size runs to the next function,
					// padding included; the symbol's does not.
					if a.Addr != want[n] || b.Addr != want[n] || a.Offset != b.Offset || b.Size < a.Size || fmt.Sprint(a.Rets) != fmt.Sprint(b.Rets) {
						t.Errorf("%s: go tool nm %#x; symtab %+v; line table %+v", n, want[n], a, b)
					}
				}
				if want["crypto/tls.(*Conn).Read"] == 0 || want["net/http.(*http2serverConn).runHandler"] == 0 {
					t.Fatalf("the program lacks the functions it must link: %v", want)
				}

				bare := goBuild(t, dir, toolchain, m, "bare", "-s -w")
				got := lookup(t, bare, "gopclntab")
				self := runSelf(t, bare)
				if len(self) != 2 {
					t.Fatalf("the program reported %v", self)
				}
				for n, off := range self {
					if fn := got[n]; fn == nil || fn.Offset != off {
						t.Errorf("%s: the running program says file offset %#x; lookup %+v", n, off, fn)
					}
				}
			})
		}
	}
}

// Debian's caddy (Go 1.19, stripped, cgo, linked by ld): Go's code starts
// 0x100 bytes after .text. Every function found must begin with its
// stack-bound check, which a base off by 0x100 does not give.
func TestLookupDebianCaddy(t *testing.T) {
	const path = "/usr/bin/caddy"
	if _, err := os.Stat(path); err != nil {
		skipOrFail(t, "needs Debian's caddy package: %v", err)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := readPclntab(f)
	if err != nil {
		t.Fatal(err)
	}
	if text := f.Section(".text"); tab.TextStart <= text.Addr {
		t.Errorf("runtime.text %#x (from %s), .text %#x: Go's code should start after the C start-up code", tab.TextStart, tab.From, text.Addr)
	}
	funcs, source, err := Lookup(f, probed[:3]...)
	if err != nil || source != "gopclntab" {
		t.Fatalf("lookup: %v (%s)", err, source)
	}
	for _, n := range probed[:3] {
		fn := funcs[n]
		if fn == nil {
			t.Errorf("%s not found", n)
			continue
		}
		code, _, err := text(f, fn.Addr, 16)
		if err != nil || !stackCheck(code) {
			t.Errorf("%s at %#x: % x does not begin with the stack-bound check (%v)", n, fn.Addr, code, err)
		}
		t.Logf("%s at %#x (file %#x), RETs at %v", n, fn.Addr, fn.Offset, fn.Rets)
	}
}

func TestStackCheck(t *testing.T) {
	for _, c := range []struct {
		code []byte
		want bool
	}{
		{[]byte{0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86}, true},                   // cmp rsp, [r14+0x10]; jbe
		{[]byte{0x4c, 0x8d, 0x64, 0x24, 0xf0, 0x4d, 0x3b, 0x66, 0x10}, true}, // lea r12, [rsp-0x10]; cmp r12, [r14+0x10]
		{[]byte{0x49, 0x3b, 0x66, 0x18}, false},                              // cmp rsp, [r14+0x18]
		{[]byte{0x4c, 0x8d, 0x64, 0x24, 0xf0, 0x90}, false},                  // lea r12, [rsp-0x10]; nop
		{[]byte{0x01, 0x00}, false},                                          // add [rax], eax
		{[]byte{0x48, 0x83, 0xec, 0x68}, false},                              // sub rsp, 0x68
		{[]byte{}, false},
	} {
		if got := stackCheck(c.code); got != c.want {
			t.Errorf("% x: %v, want %v", c.code, got, c.want)
		}
	}
}

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set: CI must provide it)", args...)
	}
	t.Skipf(format, args...)
}

func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "needs %s: %v", name, err)
	}
	return p
}

func writeProgram(t *testing.T, dir, toolchain string) {
	t.Helper()
	goVersion := "1.21"
	if toolchain != "local" {
		goVersion = strings.TrimPrefix(toolchain, "go")
	}
	mod := "module selfreport\n\ngo " + goVersion + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(selfSrc), 0o644); err != nil {
		t.Fatal(err)
	}
}

// goBuild builds the program in dir as m says, with extra -ldflags.
func goBuild(t *testing.T, dir, toolchain string, m buildMode, out, ldflags string) string {
	t.Helper()
	args := []string{"build", "-buildvcs=false", "-o", out}
	if m.buildmode != "" {
		args = append(args, "-buildmode="+m.buildmode)
	}
	if flags := strings.TrimSpace(m.ldflags + " " + ldflags); flags != "" {
		args = append(args, "-ldflags="+flags)
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = dir
	cgo := "0"
	if m.cgo {
		cgo = "1"
	}
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN="+toolchain, "CGO_ENABLED="+cgo, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(b), "go: download "+toolchain) {
			skipOrFail(t, "toolchain %s is not available (the module proxy refused it?): %s", toolchain, b)
		}
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return filepath.Join(dir, out)
}

// nmAddrs returns the addresses go tool nm gives the probed functions.
func nmAddrs(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	out, err := exec.Command("go", "tool", "nm", path).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	want := map[string]bool{}
	for _, n := range probed {
		want[n] = true
	}
	addrs := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "  556700 t crypto/tls.(*Conn).Read"
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && want[fields[2]] {
			a, err := strconv.ParseUint(fields[0], 16, 64)
			if err != nil {
				t.Fatalf("go tool nm: %q", sc.Text())
			}
			addrs[fields[2]] = a
		}
	}
	return addrs
}

// lookup finds the probed functions in path, which must be read from source.
func lookup(t *testing.T, path, source string) map[string]*Func {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	funcs, src, err := Lookup(f, probed...)
	if err != nil || src != source {
		t.Fatalf("%s: %v (from %s, want %s)", filepath.Base(path), err, src, source)
	}
	for n, fn := range funcs {
		if len(fn.Rets) == 0 {
			t.Errorf("%s: no RET", n)
		}
	}
	return funcs
}

// runSelf runs the program and returns the file offsets it reports.
func runSelf(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	out, err := exec.Command(path).Output()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	got := map[string]uint64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, off, _ := strings.Cut(line, " ")
		v, err := strconv.ParseUint(strings.TrimPrefix(off, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("the program says %q", line)
		}
		got[name] = v
	}
	return got
}
