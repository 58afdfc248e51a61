package testserver

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

//go:embed pyserver.py
var pyserverSource []byte

//go:embed nodeserver.js
var nodeserverSource []byte

// StartGo starts the Go net/http server (cmd/goserver).
func StartGo(t testing.TB) *Server {
	t.Helper()
	bin := GoBinary(t, "goserver")
	s, err := startProcess(t, "go", exec.Command(bin), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// StartProgram starts bin with args (a program built by GoBinary or
// GoBinaryBuild, or any other) as a server named name; it must print
// "LISTENING <port>" on stdout like cmd/goserver.
func StartProgram(t testing.TB, name, bin string, args ...string) *Server {
	t.Helper()
	s, err := startProcess(t, name, exec.Command(bin, args...), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// StartGoH2C starts cmd/goserver serving cleartext HTTP/2 with prior
// knowledge (and HTTP/1.1) on one port.
func StartGoH2C(t testing.TB) *Server {
	t.Helper()
	s, err := startProcess(t, "go", exec.Command(GoBinary(t, "goserver"), "-h2c"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// StartGoPlainAndTLS starts one cmd/goserver process serving HTTP on
// s.Port and HTTPS (SelfSignedCert) on tlsPort.
func StartGoPlainAndTLS(t testing.TB) (s *Server, tlsPort int) {
	t.Helper()
	cert, key := SelfSignedCert(t)
	s, err := startProcess(t, "go", exec.Command(GoBinary(t, "goserver"), "-also-tls", "-tls-cert", cert, "-tls-key", key), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, s.tlsPort(t)
}

// tlsPort reads the "LISTENING_TLS <port>" line a server printed before
// its LISTENING line.
func (s *Server) tlsPort(t testing.TB) int {
	t.Helper()
	for _, l := range strings.Split(s.Logs(), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "LISTENING_TLS "); ok {
			if p, err := strconv.Atoi(rest); err == nil {
				return p
			}
		}
	}
	t.Fatalf("%s printed no LISTENING_TLS line", s.Name)
	return 0
}

// StartGoTLS starts cmd/goserver over HTTPS (HTTP/1.1, or HTTP/2 when the
// client offers h2 by ALPN) with SelfSignedCert.
func StartGoTLS(t testing.TB) *Server {
	t.Helper()
	cert, key := SelfSignedCert(t)
	bin := GoBinary(t, "goserver")
	s, err := startProcess(t, "go", exec.Command(bin, "-tls-cert", cert, "-tls-key", key), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Scheme = "https"
	return s
}

// StartPythonTLS starts pyserver.py over HTTPS (the ssl module, which
// links libssl dynamically) with SelfSignedCert.
func StartPythonTLS(t testing.TB) *Server {
	t.Helper()
	Require(t, "python3")
	cert, key := SelfSignedCert(t)
	script := writeScript(t, "pyserver.py", pyserverSource)
	s, err := startProcess(t, "python", exec.Command("python3", "-u", script, "0", cert, key), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Scheme = "https"
	return s
}

// StartNodeTLS starts nodeserver.js over HTTPS (Node's OpenSSL, linked
// statically into the node executable or dynamically, whichever it is).
func StartNodeTLS(t testing.TB) *Server {
	t.Helper()
	Require(t, "node")
	cert, key := SelfSignedCert(t)
	script := writeScript(t, "nodeserver.js", nodeserverSource)
	s, err := startProcess(t, "node", exec.Command("node", script, "0", cert, key), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Scheme = "https"
	return s
}

// StartPython starts the Python http.server server (pyserver.py).
func StartPython(t testing.TB) *Server {
	t.Helper()
	Require(t, "python3")
	script := writeScript(t, "pyserver.py", pyserverSource)
	// -u: the LISTENING line must not wait in a buffer.
	s, err := startProcess(t, "python", exec.Command("python3", "-u", script, "0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// PythonScript writes pyserver.py for a test that starts it itself (e.g. in
// another network namespace: python3 -u SCRIPT ADDRESS:PORT) and returns
// its path.
func PythonScript(t testing.TB) string {
	t.Helper()
	Require(t, "python3")
	return writeScript(t, "pyserver.py", pyserverSource)
}

// StartNode starts the Node.js http server (nodeserver.js).
func StartNode(t testing.TB) *Server {
	t.Helper()
	Require(t, "node")
	script := writeScript(t, "nodeserver.js", nodeserverSource)
	s, err := startProcess(t, "node", exec.Command("node", script, "0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeScript(t testing.TB, name string, src []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var builds struct {
	sync.Mutex
	m map[string]*build
}

// Build says how GoBinaryBuild builds a program, the ways distributions
// build Go programs. The zero Build is GoBinary's: the go command found,
// its environment's settings, no flags.
type Build struct {
	// Toolchain is a GOTOOLCHAIN version ("go1.21.0"), downloaded through
	// the module proxy; "" is the go command found (GOTOOLCHAIN=local).
	// With another toolchain the program is built outside this module
	// (whose go.mod asks for a newer Go), so it may import only the
	// standard library.
	Toolchain string
	// CGO sets CGO_ENABLED=1 (else 0): a cgo runtime, linked by the
	// system's C linker when LDFlags has -linkmode=external.
	CGO bool
	// BuildMode is -buildmode ("pie"; "" is the default, exe).
	BuildMode string
	// LDFlags is -ldflags ("-s -w -linkmode=external").
	LDFlags string
}

func (b Build) isZero() bool { return b == Build{} }

// String names the build for test names and messages.
func (b Build) String() string {
	parts := []string{"go-local"}
	if b.Toolchain != "" {
		parts[0] = b.Toolchain
	}
	if b.CGO {
		parts = append(parts, "cgo")
	}
	if b.BuildMode != "" {
		parts = append(parts, b.BuildMode)
	}
	if b.LDFlags != "" {
		parts = append(parts, strings.Fields(b.LDFlags)...)
	}
	return strings.Join(parts, " ")
}

type build struct {
	once sync.Once
	path string
	err  error
}

// GoBinary builds internal/testserver/cmd/<name> once per test binary run and
// returns the path of the executable (named <name>, which is what discovery
// sees as the executable name). A name with a slash is a directory under
// internal/testserver instead: "goapps/ginroutes" is a program of the goapps
// module, which holds the third-party routers (gin, gorilla/mux) so that they
// stay out of the receiver's own dependencies; its executable is "ginroutes".
func GoBinary(t testing.TB, name string) string {
	t.Helper()
	return GoBinaryBuild(t, name, Build{})
}

// GoBinaryBuild is GoBinary with the program built as opts says. A
// toolchain the module proxy does not serve skips the test (fails it in
// CI).
func GoBinaryBuild(t testing.TB, name string, opts Build) string {
	t.Helper()
	Require(t, "go")
	if opts.CGO {
		Require(t, "gcc")
	}
	key := name + "\x00" + opts.String()
	builds.Lock()
	if builds.m == nil {
		builds.m = map[string]*build{}
	}
	b := builds.m[key]
	if b == nil {
		b = &build{}
		builds.m[key] = b
	}
	builds.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(name, opts) })
	var tc errToolchain
	if errors.As(b.err, &tc) {
		skipOrFail(t, "%v", b.err)
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// errToolchain: the toolchain asked for could not be had.
type errToolchain struct {
	toolchain, out string
}

func (e errToolchain) Error() string {
	return fmt.Sprintf("toolchain %s is not available (the module proxy refused it?): %s", e.toolchain, e.out)
}

// goBuild builds into one directory per user, shared by all test binaries:
// each builds to a private name and renames over the final one, which is
// atomic and leaves a copy that is running untouched. The Go build cache
// makes every build after the first a link.
func goBuild(name string, opts Build) (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("build %s: cannot locate the testserver sources", name)
	}
	pkgDir := filepath.Join(filepath.Dir(self), "cmd", name)
	srcDirs := []string{pkgDir}
	if strings.Contains(name, "/") {
		pkgDir = filepath.Join(filepath.Dir(self), filepath.FromSlash(name))
		// goapps programs share goapps/internal/appserver.
		srcDirs = []string{pkgDir, filepath.Join(filepath.Dir(pkgDir), "internal", "appserver")}
		name = path.Base(name)
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("ebpfred-testserver-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// Refuse a directory someone else prepared for us.
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() || st.Mode().Perm()&0o022 != 0 || !ownedByMe(st) {
		return "", fmt.Errorf("build %s: %s is not a private directory of this user; remove it", name, dir)
	}
	goBin, err := lookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.%d", name, os.Getpid(), buildSeq.Add(1)))
	args := []string{"build", "-buildvcs=false", "-o", tmp}
	if opts.BuildMode != "" {
		args = append(args, "-buildmode="+opts.BuildMode)
	}
	if opts.LDFlags != "" {
		args = append(args, "-ldflags="+opts.LDFlags)
	}
	cmd := exec.Command(goBin, append(args, ".")...)
	cmd.Dir = pkgDir
	if !opts.isZero() {
		cgo := "0"
		if opts.CGO {
			cgo = "1"
		}
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GOTOOLCHAIN=local", "GOFLAGS=")
		if opts.Toolchain != "" {
			// Outside this module: a copy of the sources with a go.mod
			// of that Go version.
			mod, err := os.MkdirTemp("", "ebpfred-build-")
			if err != nil {
				return "", err
			}
			defer os.RemoveAll(mod)
			if err := copyGoFiles(pkgDir, mod, name, strings.TrimPrefix(opts.Toolchain, "go")); err != nil {
				return "", err
			}
			cmd.Dir = mod
			cmd.Env = append(cmd.Env, "GOTOOLCHAIN="+opts.Toolchain)
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		if opts.Toolchain != "" && strings.Contains(string(out), "go: download "+opts.Toolchain) {
			return "", errToolchain{opts.Toolchain, strings.TrimSpace(string(out))}
		}
		return "", fmt.Errorf("go build %s (%s): %v\n%s", pkgDir, opts, err, strings.TrimSpace(string(out)))
	}
	// One directory per version of the sources (and per way of building
	// them): test binaries of other trees (or of this one at another time)
	// running at the same moment must not replace this binary with theirs.
	// The file keeps its name (tests select processes by executable name).
	sub, err := sourceHash(srcDirs...)
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	if !opts.isZero() {
		h := sha256.Sum256([]byte(opts.String()))
		sub += "-" + hex.EncodeToString(h[:])[:8]
	}
	if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
		os.Remove(tmp)
		return "", err
	}
	final := filepath.Join(dir, sub, name)
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return final, nil
}

// buildSeq keeps the temporary names of concurrent builds apart.
var buildSeq atomic.Int64

// copyGoFiles copies the Go files of dir into a new module in dst, named
// module, that asks for Go version goVersion.
func copyGoFiles(dir, dst, module, goVersion string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	mod := fmt.Sprintf("module %s\n\ngo %s\n", module, goVersion)
	return os.WriteFile(filepath.Join(dst, "go.mod"), []byte(mod), 0o644)
}

func ownedByMe(st os.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Getuid()
}

// sourceHash names a version of the Go files of dirs.
func sourceHash(dirs ...string) (string, error) {
	var files []string
	for _, dir := range dirs {
		f, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return "", err
		}
		files = append(files, f...)
	}
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// StartSink starts cmd/sinkserver: it reads any amount of request head
// without keeping it and answers 431 at its end.
func StartSink(t testing.TB) *Server {
	t.Helper()
	bin := GoBinary(t, "sinkserver")
	s, err := startProcess(t, "sink", exec.Command(bin), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// StartSDKProxy starts goapps/sdkproxy, a Go service instrumented with the
// OpenTelemetry SDK (otelhttp server and client): /proxy?to=URL calls URL.
// Its spans are in the file spans once it has stopped (Stop).
func StartSDKProxy(t testing.TB, spans string) *Server {
	t.Helper()
	bin := GoBinary(t, "goapps/sdkproxy")
	s, err := startProcess(t, "sdkproxy", exec.Command(bin, "-spans", spans), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
