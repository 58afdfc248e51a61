package testserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var certOnce struct {
	sync.Mutex
	dir string
}

// SelfSignedCert returns the paths of a self-signed certificate and its key
// for 127.0.0.1 and localhost, made once per test binary with the openssl
// CLI (the same files serve nginx, Python, Node.js and Go servers).
func SelfSignedCert(t testing.TB) (cert, key string) {
	t.Helper()
	Require(t, "openssl")
	certOnce.Lock()
	defer certOnce.Unlock()
	if certOnce.dir == "" {
		dir, err := os.MkdirTemp("", "ebpfred-tls-") // shared by the tests of this binary
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
			"-keyout", filepath.Join(dir, "key.pem"), "-out", filepath.Join(dir, "cert.pem"),
			"-days", "2", "-subj", "/CN=localhost",
			"-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl req: %v\n%s", err, out)
		}
		certOnce.dir = dir
	}
	return filepath.Join(certOnce.dir, "cert.pem"), filepath.Join(certOnce.dir, "key.pem")
}
