package testserver

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
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
	Require(t, "go")
	builds.Lock()
	if builds.m == nil {
		builds.m = map[string]*build{}
	}
	b := builds.m[name]
	if b == nil {
		b = &build{}
		builds.m[name] = b
	}
	builds.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(name) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// goBuild builds into one directory per user, shared by all test binaries:
// each builds to a private name and renames over the final one, which is
// atomic and leaves a copy that is running untouched. The Go build cache
// makes every build after the first a link.
func goBuild(name string) (string, error) {
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
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d", name, os.Getpid()))
	cmd := exec.Command(goBin, "build", "-buildvcs=false", "-o", tmp, ".")
	cmd.Dir = pkgDir
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build %s: %v\n%s", pkgDir, err, strings.TrimSpace(string(out)))
	}
	// One directory per version of the sources: test binaries of other
	// trees (or of this one at another time) running at the same moment
	// must not replace this binary with theirs. The file keeps its name
	// (tests select processes by executable name).
	sub, err := sourceHash(srcDirs...)
	if err != nil {
		os.Remove(tmp)
		return "", err
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
