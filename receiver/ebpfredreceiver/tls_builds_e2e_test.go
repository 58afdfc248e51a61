package ebpfredreceiver

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// Go programs as distributions build them (issue 15): stripped, linked by
// the system's linker with cgo (where Go's code does not start at .text),
// position-independent, and by an older Go toolchain, whose line table
// records where Go's code starts elsewhere than Go 1.26's. Without a symbol
// table the TLS functions are found through Go's line table; a wrong base
// address there made Debian's caddy invisible.

// distroBuilds are the ways of building checked, each stripped as packages
// are.
var distroBuilds = []testserver.Build{
	{LDFlags: "-s -w"},
	{CGO: true, LDFlags: "-s -w -linkmode=external"},
	{BuildMode: "pie", LDFlags: "-s -w"},
	{CGO: true, BuildMode: "pie", LDFlags: "-s -w -linkmode=external"},
}

// oldToolchain is the older Go the module proxy serves as a toolchain
// (GOTOOLCHAIN); its line table keeps runtime.text in its header, where Go
// 1.26 keeps it in the moduledata.
const oldToolchain = "go1.21.0"

// tlsProtocols are curl's flags for HTTP/1.1 and HTTP/2 (ALPN h2).
var tlsProtocols = []string{"--http1.1", "--http2"}

// The Go HTTPS server (cmd/distroserver) built every way, with this Go and
// the older one: exact counts over HTTP/1.1 and HTTP/2.
func TestTLSGoDistroBuilds(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "curl")
	cert, key := testserver.SelfSignedCert(t)
	for _, toolchain := range []string{"", oldToolchain} {
		for _, b := range distroBuilds {
			b.Toolchain = toolchain
			t.Run(strings.ReplaceAll(b.String(), " ", "_"), func(t *testing.T) {
				bin := testserver.GoBinaryBuild(t, "distroserver", b)
				for _, proto := range tlsProtocols {
					t.Run(proto[2:], func(t *testing.T) {
						srv := testserver.StartProgram(t, "distroserver", bin, "-tls-cert", cert, "-tls-key", key)
						srv.Scheme = "https"
						checkTLSServer(t, srv, func(r tlsReq) int { return curlTLS(t, srv.Base(), r, proto) })
					})
				}
			})
		}
	}
}

// caddyMix is the request mix for caddy, whose responses are immediate.
func caddyMix() (reqs []tlsReq, want map[string]uint64) {
	want = map[string]uint64{}
	for _, m := range serverMix {
		for i := 0; i < m.n; i++ {
			reqs = append(reqs, tlsReq{m.method, fmt.Sprintf("/status/%d", m.status), 0})
		}
		want[fmt.Sprintf("%s %d", m.method, m.status)] += uint64(m.n)
	}
	reqs = append(reqs, tlsReq{"GET", "/missing", 0}, tlsReq{"HEAD", "/status/204", 0})
	want["GET 404"]++
	want["HEAD 204"]++
	return reqs, want
}

// Debian's caddy (Go 1.19, stripped, cgo, linked by ld: Go's code starts
// 0x100 bytes after .text) serving HTTPS with its own CA: exact counts over
// HTTP/1.1 and HTTP/2.
func TestTLSCaddy(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "curl")
	for _, proto := range tlsProtocols {
		t.Run(proto[2:], func(t *testing.T) {
			srv := testserver.StartCaddy(t)
			reqs, want := caddyMix()
			checkTLSRequests(t, srv, reqs, want, func(r tlsReq) int {
				code, err := curlTLSStatus(srv.Base(), r, proto)
				var exit *exec.ExitError
				// caddy answers before reading a request body and then
				// resets the HTTP/2 stream (NO_ERROR), which curl 7.88
				// reports as error 92 after the whole response arrived.
				if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 92 && code != 0) {
					t.Fatalf("curl %s %s: %v", r.method, r.path, err)
				}
				return code
			})
		})
	}
}

// The route probes use the same lookup as the TLS probes: ServeMux routes of
// a stripped program linked by the system's linker (plain and PIE), over
// HTTP/1.1 and HTTP/2 over TLS (runHandler's probe too).
func TestGoRoutesDistroBuilds(t *testing.T) {
	requireRoot(t)
	var h2 []routeCase
	for i := 0; i < 4; i++ {
		h2 = append(h2, routeCase{"GET", fmt.Sprintf("/items/%d", i), 200, "/items/{id}"},
			routeCase{"GET", fmt.Sprintf("/static/%d.css", i), 200, "/static/"})
	}
	h2 = append(h2, routeCase{"GET", "/nothing", 404, ""})
	for _, b := range distroBuilds[1:] {
		t.Run(strings.ReplaceAll(b.String(), " ", "_"), func(t *testing.T) {
			bin := testserver.GoBinaryBuild(t, "goapps/goroutes", b)
			t.Run("http1", func(t *testing.T) {
				checkAppRoutes(t, testserver.StartProgram(t, "goroutes", bin), driveHTTP1, []routeCase{
					{"GET", "/items/1", 200, "/items/{id}"},
					{"GET", "/nothing", 404, ""},
					{"GET", "/static/a.css", 200, "/static/"},
				})
			})
			t.Run("h2-tls", func(t *testing.T) {
				cert, key := testserver.SelfSignedCert(t)
				checkAppRoutes(t, testserver.StartProgram(t, "goroutes", bin, "-tls-cert", cert, "-tls-key", key), driveH2TLS, h2)
			})
		})
	}
}
