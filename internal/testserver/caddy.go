package testserver

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"
)

// CaddyStatuses are the statuses StartCaddy's /status/{code} answers; any
// other path gets 404 NotFoundBody. Caddy's respond directive ignores the
// method, the body and the query string (so delay_ms is not honoured).
var CaddyStatuses = []int{200, 201, 204, 404, 500, 503}

// caddyfile: HTTPS on one loopback port with Caddy's own CA (tls internal),
// nothing else: no admin endpoint, no HTTP port, no redirects, no HTTP/3,
// nothing installed into the system's trust store.
var caddyfile = template.Must(template.New("Caddyfile").Parse(`{
	admin off
	skip_install_trust
	local_certs
	http_port {{.HTTPPort}}
	https_port {{.Port}}
	auto_https disable_redirects
	servers {
		protocols h1 h2
	}
}

https://127.0.0.1:{{.Port}} {
	bind 127.0.0.1
	tls internal
{{- range .Statuses}}
	respond /status/{{.}} {{if ne . 204}}"status {{.}}
"{{end}} {{.}}
{{- end}}
	respond "not found
" 404
}
`))

// StartCaddy starts the distribution's caddy (Debian's package: a Go
// program built stripped, with cgo and the system linker) serving HTTPS
// with `tls internal` on a loopback port, from a Caddyfile and data
// directories of its own in a temporary directory. Its URLs are https://
// and its certificate is trusted by nobody (use curl -k).
func StartCaddy(t testing.TB) *Server {
	t.Helper()
	Require(t, "caddy")
	bin, _ := lookPath("caddy")
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err1 := freePort()
		httpPort, err2 := freePort()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		var conf bytes.Buffer
		if err := caddyfile.Execute(&conf, map[string]any{"Port": port, "HTTPPort": httpPort, "Statuses": CaddyStatuses}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, conf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
		// Its CA, certificates and autosaved configuration stay in dir.
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"),
			"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
		s, err := startProcess(t, "caddy", cmd, port)
		if err == nil {
			s.Scheme = "https"
			if err = waitTLS(s); err == nil {
				return s
			}
		}
		lastErr = err
		if s == nil || !strings.Contains(s.Logs(), "address already in use") {
			break
		}
		s.Stop()
	}
	t.Fatal(lastErr)
	return nil
}

// waitTLS waits until s completes a TLS handshake: caddy listens before its
// internal CA has issued the certificate.
func waitTLS(s *Server) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", s.Addr,
			&tls.Config{InsecureSkipVerify: true}) // caddy's own CA, made just now
		if err == nil {
			c.Close()
			return nil
		}
		if s.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("caddy: no TLS handshake on %s: %v; its output is logged below", s.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
