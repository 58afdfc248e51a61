//go:build linux && amd64

package probes

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpfred/ebpfred/internal/golang"
)

// TLS instrumentation: uprobes on the TLS libraries a tracked process maps.
//
//   - OpenSSL (libssl.so.1.1, libssl.so.3, or linked statically into the
//     executable, as in Node.js): SSL_read, SSL_read_ex, SSL_write,
//     SSL_write_ex, entry uprobes + a uretprobe; SSL_do_handshake and
//     SSL_free end an object's tie to an earlier socket.
//   - Go crypto/tls: (*Conn).Read and (*Conn).Write, an entry uprobe and a
//     uprobe at every RET (found by disassembling the function), found in
//     .symtab or, for stripped binaries, .gopclntab.
//
// The socket under a TLS call is learned in the kernel from the syscalls the
// call makes (sys_exit looks the thread, or for Go the goroutine in R14, up
// in the calls in flight), and remembered per SSL object / *tls.Conn for
// reads served from the library's buffer. This needs no struct offsets, so
// it works for every OpenSSL and Go version alike; reading Conn.conn →
// netFD → pfd.Sysfd would tie us to Go's internal layouts.
//
// Uprobes are attached once per file (device + inode), and fire for every
// process that maps it; the programs check tracked_pids first.

// TLSStats count TLS instrumentation outcomes per file.
type TLSStats struct {
	// FilesInstrumented: library or executable files with TLS probes.
	FilesInstrumented atomic.Uint64
	// FilesFailed: files that have TLS functions but could not be
	// instrumented (the reason is logged through the TLSLog callback).
	FilesFailed atomic.Uint64
}

// TLSLog receives one line per file that was instrumented (err == nil) or
// could not be (err says why). kind is "openssl" or "go".
type TLSLog func(pid uint32, path, kind string, err error)

type tlsState struct {
	mu        sync.Mutex
	files     map[string]bool // dev:inode → taken (being handled, or done)
	attached  map[string]bool // dev:inode → its probes are attached
	links     []link.Link
	log       TLSLog
	stats     TLSStats
	wg        sync.WaitGroup // first looks (Settle waits for them)
	recheckWG sync.WaitGroup // the goroutine of later looks (Close waits for it)
	// Processes to look at again (see InstrumentTLSAsync): pid → the
	// number of looks so far and when the next is due.
	rechecks map[uint32]recheck
	ticking  bool
	stop     chan struct{}
	stopped  bool
}

type recheck struct {
	n   int
	due time.Time
}

// tlsRecheck are the delays, from the first look, of the later looks at a
// process whose TLS libraries may not be mapped yet: a process selected at
// exec (the dynamic loader has not run; Python imports grpc's C core, and
// with it libssl, a few hundred milliseconds later) or whose program loads
// them on first use. Libraries mapped after the last look are not seen.
var tlsRecheck = []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 3 * time.Second, 10 * time.Second, 30 * time.Second}

// SetTLSLog sets the callback told about each file's TLS instrumentation.
func (p *Probes) SetTLSLog(f TLSLog) {
	p.tls.mu.Lock()
	p.tls.log = f
	p.tls.mu.Unlock()
}

// TLSStats returns the TLS instrumentation counters.
func (p *Probes) TLSStats() *TLSStats { return &p.tls.stats }

// InstrumentTLSAsync runs InstrumentTLS on its own goroutine (parsing a
// large executable's symbols takes a while; the event reader must not wait),
// and again after each delay of tlsRecheck while the process lives: its
// libraries may be mapped later (a process selected at exec, before the
// dynamic loader ran; a library loaded on first use). One goroutine serves
// every process's later looks.
func (p *Probes) InstrumentTLSAsync(pid uint32) {
	t := &p.tls
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		_ = p.InstrumentTLS(pid)
	}()
	if t.rechecks == nil {
		t.rechecks = map[uint32]recheck{}
		t.stop = make(chan struct{})
	}
	if _, ok := t.rechecks[pid]; !ok {
		t.rechecks[pid] = recheck{due: time.Now().Add(tlsRecheck[0])}
	}
	if !t.ticking {
		t.ticking = true
		t.recheckWG.Add(1)
		go p.recheckTLS()
	}
}

// recheckTLS looks again at the processes of tls.rechecks when due, until
// none is left or the probes close.
func (p *Probes) recheckTLS() {
	t := &p.tls
	defer t.recheckWG.Done()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		var due []uint32
		t.mu.Lock()
		for pid, r := range t.rechecks {
			if now.Before(r.due) {
				continue
			}
			due = append(due, pid)
			if r.n+1 >= len(tlsRecheck) {
				delete(t.rechecks, pid)
				continue
			}
			// delays are from the first look, which was about
			// tlsRecheck[0] before the first recheck
			r.due = r.due.Add(tlsRecheck[r.n+1] - tlsRecheck[r.n])
			r.n++
			t.rechecks[pid] = r
		}
		if len(t.rechecks) == 0 && len(due) == 0 {
			t.ticking = false
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
		for _, pid := range due {
			if err := p.InstrumentTLS(pid); errors.Is(err, errProcessGone) {
				t.mu.Lock()
				delete(t.rechecks, pid)
				t.mu.Unlock()
			}
		}
	}
}

// errProcessGone: InstrumentTLS found no process.
var errProcessGone = errors.New("the process is gone")

// TLSInstrumented reports whether pid maps a file whose TLS probes are
// attached (for tests that must not start a client's calls before).
func (p *Probes) TLSInstrumented(pid uint32) bool {
	files, err := mappedFiles(pid)
	if err != nil {
		return false
	}
	p.tls.mu.Lock()
	defer p.tls.mu.Unlock()
	for _, m := range files {
		if p.tls.attached[m.id] {
			return true
		}
	}
	return false
}

// InstrumentTLS attaches the TLS uprobes to the OpenSSL libraries and Go
// crypto/tls code that process pid maps. It is idempotent per file: a file
// already handled (for this or another process) is skipped. The error joins
// the reasons files could not be instrumented; they are also logged.
func (p *Probes) InstrumentTLS(pid uint32) error {
	files, err := mappedFiles(pid)
	if err != nil {
		return errProcessGone
	}
	var errs []error
	for _, m := range files {
		p.tls.mu.Lock()
		done := p.tls.files[m.id]
		if !done {
			if p.tls.files == nil {
				p.tls.files = map[string]bool{}
			}
			p.tls.files[m.id] = true
		}
		p.tls.mu.Unlock()
		if done {
			continue
		}
		path := filepath.Join(fmt.Sprintf("/proc/%d/root", pid), m.path)
		kind, err := p.instrumentFile(path, m.exe)
		if kind == "" {
			continue
		}
		p.tls.mu.Lock()
		log := p.tls.log
		p.tls.mu.Unlock()
		if err != nil {
			p.tls.stats.FilesFailed.Add(1)
			errs = append(errs, fmt.Errorf("%s (%s): %w", m.path, kind, err))
		} else {
			p.tls.stats.FilesInstrumented.Add(1)
			p.tls.mu.Lock()
			if p.tls.attached == nil {
				p.tls.attached = map[string]bool{}
			}
			p.tls.attached[m.id] = true
			p.tls.mu.Unlock()
		}
		if log != nil {
			log(pid, m.path, kind, err)
		}
	}
	return errors.Join(errs...)
}

type mapped struct {
	id, path string
	exe      bool
}

// mappedFiles lists the executable file mappings of pid worth a look: the
// executable itself and libssl.
func mappedFiles(pid uint32) ([]mapped, error) {
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapped
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// addr perms offset dev inode path
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[4] == "0" || !strings.HasPrefix(fs[5], "/") {
			continue
		}
		path := strings.Join(fs[5:], " ")
		isExe := path == exe
		if !isExe && !strings.HasPrefix(filepath.Base(path), "libssl.so") {
			continue
		}
		id := fs[3] + ":" + fs[4]
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, mapped{id: id, path: path, exe: isExe})
	}
	return out, sc.Err()
}

var sslFuncs = []string{"SSL_read", "SSL_read_ex", "SSL_write", "SSL_write_ex", "SSL_do_handshake", "SSL_free"}

const (
	goRead      = "crypto/tls.(*Conn).Read"
	goWrite     = "crypto/tls.(*Conn).Write"
	goHandshake = "crypto/tls.(*Conn).handshakeContext" // Go >= 1.17
	// Go >= 1.22: returns the pattern a request matched.
	goFindHandler = "net/http.(*ServeMux).findHandler"
	// gin: returns the matched route's full path.
	ginGetValue = "github.com/gin-gonic/gin.(*node).getValue"
	// gorilla/mux: fills a RouteMatch.
	gorillaMatch = "github.com/gorilla/mux.(*Router).Match"
	// net/http's HTTP/2 server: the first function of a handler goroutine.
	goH2Handler = "net/http.(*http2serverConn).runHandler"
	// net/http's server: the first function of a connection's goroutine.
	goConnServe = "net/http.(*conn).serve"
	// go_context: goroutine starts, and net/http's HTTP/1 client
	// connections' writer goroutine and request hand-over.
	goNewproc1    = "runtime.newproc1"
	goWriteLoop   = "net/http.(*persistConn).writeLoop"
	goPcRoundTrip = "net/http.(*persistConn).roundTrip"
)

// instrumentFile attaches what fits path. kind is "" when the file has no
// TLS code we know.
func (p *Probes) instrumentFile(path string, exe bool) (kind string, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", nil
	}
	defer f.Close()
	if exe && golang.IsGo(f) {
		if !p.Active(FeatureTLSGo) && !p.Active(FeatureGoRoutes) && !p.Active(FeatureGoContext) {
			return "", nil // all off: said once, at Load
		}
		return "go", p.attachGo(path, f)
	}
	if !p.Active(FeatureTLSOpenSSL) || !hasSSL(f) {
		return "", nil
	}
	return "openssl", p.attachOpenSSL(path)
}

// hasSSL: the file defines SSL_read (dynamic or static symbol table).
func hasSSL(f *elf.File) bool {
	for _, get := range []func() ([]elf.Symbol, error){f.DynamicSymbols, f.Symbols} {
		syms, _ := get()
		for _, s := range syms {
			if s.Name == "SSL_read" && s.Value != 0 && s.Section != elf.SHN_UNDEF {
				return true
			}
		}
	}
	return false
}

func (p *Probes) attachOpenSSL(path string) error {
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return err
	}
	progs := map[string]*ebpf.Program{
		"SSL_read":     p.progs["ebpfred_ssl_read"],
		"SSL_read_ex":  p.progs["ebpfred_ssl_read_ex"],
		"SSL_write":    p.progs["ebpfred_ssl_write"],
		"SSL_write_ex": p.progs["ebpfred_ssl_write_ex"],
		// no plaintext: ties the SSL object to its socket early
		"SSL_do_handshake": p.progs["ebpfred_ssl_handshake"],
		// no plaintext: the object's tie to its socket ends
		"SSL_free": p.progs["ebpfred_ssl_free"],
	}
	var ls []link.Link
	for _, fn := range sslFuncs {
		l, err := ex.Uprobe(fn, progs[fn], nil)
		if errors.Is(err, link.ErrNoSymbol) && strings.HasSuffix(fn, "_ex") {
			continue // OpenSSL 1.1.0 and older have no _ex functions
		}
		if err != nil {
			closeAll(ls)
			return fmt.Errorf("uprobe on %s: %w", fn, err)
		}
		ls = append(ls, l)
		if fn == "SSL_free" {
			continue // nothing to see at its return
		}
		ret := p.progs["ebpfred_ssl_ret"]
		if fn == "SSL_do_handshake" {
			ret = p.progs["ebpfred_ssl_handshake_ret"]
		}
		r, err := ex.Uretprobe(fn, ret, nil)
		if err != nil {
			closeAll(ls)
			return fmt.Errorf("uretprobe on %s: %w", fn, err)
		}
		ls = append(ls, r)
	}
	p.keep(ls)
	return nil
}

func (p *Probes) attachGo(path string, f *elf.File) error {
	funcs, source, err := golang.Lookup(f, goRead, goWrite, goHandshake, goFindHandler, ginGetValue, gorillaMatch, goH2Handler, goConnServe,
		goNewproc1, goWriteLoop, goPcRoundTrip)
	if err != nil {
		return fmt.Errorf("finding crypto/tls in the binary: %w", err)
	}
	tls := p.Active(FeatureTLSGo) && funcs[goRead] != nil && funcs[goWrite] != nil
	routes := p.Active(FeatureGoRoutes)
	mux := routes && funcs[goFindHandler] != nil
	gin := routes && funcs[ginGetValue] != nil && ginRegisters(path)
	// What cannot be probed while the rest can: attached anyway, reported
	// (and counted as a failed file) at the end.
	var partial error
	gorillaOff, gorilla := int64(0), routes && funcs[gorillaMatch] != nil
	if gorilla {
		var err error
		if gorillaOff, err = gorillaPathOffset(path, f); err != nil {
			partial = fmt.Errorf("gorilla/mux routes not available: %w", err)
			gorilla = false
		}
	}
	// go_context: the runtime's goroutine starts and net/http's server
	// connections at least (a program that is only a client has no server
	// request to link to).
	goctx := p.Active(FeatureGoContext) && funcs[goNewproc1] != nil && len(funcs[goNewproc1].Rets) > 0 &&
		funcs[goConnServe] != nil
	if !tls && !mux && !gin && !gorilla && !goctx {
		if partial != nil {
			return partial
		}
		if funcs[goRead] == nil && funcs[goWrite] == nil {
			return errNoGoTLS{source}
		}
		return fmt.Errorf("only part of crypto/tls.(*Conn).Read/Write found (in %s)", source)
	}
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return err
	}
	var ls []link.Link
	attach := func(name string, prog *ebpf.Program, fn *golang.Func, off, cookie uint64) error {
		l, err := ex.Uprobe(name, prog, &link.UprobeOptions{Address: fn.Offset, Offset: off, Cookie: cookie})
		if err != nil {
			closeAll(ls)
			return fmt.Errorf("uprobe on %s+%#x: %w", name, off, err)
		}
		ls = append(ls, l)
		return nil
	}
	if tls {
		entries := map[string]*ebpf.Program{goRead: p.progs["ebpfred_go_tls_read"], goWrite: p.progs["ebpfred_go_tls_write"],
			goHandshake: p.progs["ebpfred_go_tls_handshake"]}
		for name, entry := range entries {
			fn := funcs[name]
			if fn == nil {
				continue // handshakeContext: optional (older Go)
			}
			if err := attach(name, entry, fn, 0, 0); err != nil {
				return err
			}
			ret := p.progs["ebpfred_go_tls_ret"]
			if name == goHandshake {
				ret = p.progs["ebpfred_go_tls_handshake_ret"]
			}
			for _, r := range fn.Rets {
				if err := attach(name, ret, fn, r, 0); err != nil {
					return err
				}
			}
		}
	}
	// Routes: the framework's matched pattern, at every RET of its lookup,
	// for the goroutine's next response write.
	rets := func(name string, prog *ebpf.Program) error {
		fn := funcs[name]
		for _, r := range fn.Rets {
			if err := attach(name, prog, fn, r, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if mux {
		// Go >= 1.22 ServeMux. (Older Go has no such function;
		// GODEBUG=httpmuxgo121=1 routes through (*serveMux121).findHandler
		// instead, which is not probed.)
		if err := rets(goFindHandler, p.progs["ebpfred_go_mux_ret"]); err != nil {
			return err
		}
	}
	if gin {
		if err := rets(ginGetValue, p.progs["ebpfred_gin_ret"]); err != nil {
			return err
		}
	}
	if (mux || gin || gorilla) && funcs[goH2Handler] != nil {
		// HTTP/2 handlers: which stream a goroutine's route is for.
		if cookie, err := h2HandlerCookie(f); err != nil {
			partial = errors.Join(partial, fmt.Errorf("routes of HTTP/2 requests not available: %w", err))
		} else if err := attach(goH2Handler, p.progs["ebpfred_go_h2_handler"], funcs[goH2Handler], 0, cookie); err != nil {
			return err
		} else if fn := funcs[goConnServe]; fn != nil {
			// an HTTP/1 connection's goroutine may reuse a handler's g
			if err := attach(goConnServe, p.progs["ebpfred_go_conn_serve"], fn, 0, 0); err != nil {
				return err
			}
		}
	}
	if goctx {
		if err := p.attachGoContext(funcs, attach); err != nil {
			return err
		}
	}
	if gorilla {
		fn := funcs[gorillaMatch]
		if err := attach(gorillaMatch, p.progs["ebpfred_gorilla_match"], fn, 0, 0); err != nil {
			return err
		}
		for _, r := range fn.Rets {
			if err := attach(gorillaMatch, p.progs["ebpfred_gorilla_match_ret"], fn, r, uint64(gorillaOff)); err != nil {
				return err
			}
		}
	}
	p.keep(ls)
	return partial
}

// attachGoContext attaches the go_context probes (bpf/gocontext.c).
// net/http's client is optional: without it, only requests written by the
// handler's goroutines themselves are linked.
func (p *Probes) attachGoContext(funcs map[string]*golang.Func, attach func(string, *ebpf.Program, *golang.Func, uint64, uint64) error) error {
	// A goroutine start: one hit at newproc1's RET when its prologue keeps
	// callergp where the RET can read it, else two (entry and RET).
	fn := funcs[goNewproc1]
	ret := p.progs["ebpfred_go_newproc_ret_spilled"]
	if off, ok := fn.ArgSpill(1); !ok || off != 16 {
		ret = p.progs["ebpfred_go_newproc_ret"]
		if err := attach(goNewproc1, p.progs["ebpfred_go_newproc"], fn, 0, 0); err != nil {
			return err
		}
	}
	for _, r := range fn.Rets {
		if err := attach(goNewproc1, ret, fn, r, 0); err != nil {
			return err
		}
	}
	if err := attach(goConnServe, p.progs["ebpfred_go_serve"], funcs[goConnServe], 0, 0); err != nil {
		return err
	}
	if funcs[goWriteLoop] != nil && funcs[goPcRoundTrip] != nil {
		if err := attach(goWriteLoop, p.progs["ebpfred_go_write_loop"], funcs[goWriteLoop], 0, 0); err != nil {
			return err
		}
		if err := attach(goPcRoundTrip, p.progs["ebpfred_go_round_trip"], funcs[goPcRoundTrip], 0, 0); err != nil {
			return err
		}
	}
	return nil
}

// ginRegisters says whether the binary's gin returns nodeValue from getValue
// in the registers ebpfred_gin_ret reads: gin >= 1.7 (older gin returned
// params as a slice, which moves fullPath to other registers). Without build
// information, assume a current gin.
func ginRegisters(path string) bool {
	v := golang.ModuleVersion(path, "github.com/gin-gonic/gin")
	return v == "" || semverAtLeast(v, 1, 7)
}

// gorillaPathOffset is the offset of regexp.path in gorilla/mux's Route:
// from DWARF, or for a mux version whose layout we know.
func gorillaPathOffset(path string, f *elf.File) (int64, error) {
	off, err := golang.FieldOffset(f, "github.com/gorilla/mux.Route", "routeConf", "regexp", "path")
	if err == nil {
		return off, nil
	}
	v := golang.ModuleVersion(path, "github.com/gorilla/mux")
	if strings.HasPrefix(v, "v1.8.") || strings.HasPrefix(v, "v1.7.") {
		// handler 16, buildOnly 8, name 16, err 16, namedRoutes 8; then
		// routeConf: three bools (8), regexp.host 8, regexp.path.
		return 80, nil
	}
	return 0, fmt.Errorf("mux.Route layout unknown (version %q, %v)", v, err)
}

// h2HandlerCookie is the cookie of the runHandler uprobe: the offsets of
// Request.RemoteAddr (bits 0-15) and http2stream.id (bits 16-31). The
// program also takes http2responseWriter.rws and
// http2responseWriterState.stream to be first fields. DWARF says; without
// it, the layouts of every Go release with the register ABI, which this
// collector's own net/http shares for Request (fields are only ever added
// at its end).
func h2HandlerCookie(f *elf.File) (uint64, error) {
	addrOff := int64(unsafe.Offsetof(http.Request{}.RemoteAddr))
	idOff := int64(8) // after sc *http2serverConn
	if _, err := f.DWARF(); err == nil {
		checks := []struct {
			typ, field string
			off        *int64
			want       int64
		}{
			{"net/http.Request", "RemoteAddr", &addrOff, -1},
			{"net/http.http2stream", "id", &idOff, -1},
			{"net/http.http2responseWriter", "rws", nil, 0},
			{"net/http.http2responseWriterState", "stream", nil, 0},
		}
		for _, c := range checks {
			got, err := golang.FieldOffset(f, c.typ, c.field)
			if err != nil {
				return 0, err
			}
			if c.off != nil {
				*c.off = got
			} else if got != c.want {
				return 0, fmt.Errorf("%s.%s at offset %d, not %d", c.typ, c.field, got, c.want)
			}
		}
	}
	if addrOff > 0xffff || idOff > 0xffff {
		return 0, fmt.Errorf("offsets out of range")
	}
	return uint64(addrOff) | uint64(idOff)<<16, nil
}

// semverAtLeast: "vMAJOR.MINOR..." is at least major.minor.
func semverAtLeast(v string, major, minor int) bool {
	var a, b int
	if _, err := fmt.Sscanf(v, "v%d.%d", &a, &b); err != nil {
		return false
	}
	return a > major || a == major && b >= minor
}

// errNoGoTLS: a Go program without crypto/tls (nothing to instrument, not
// a failure).
type errNoGoTLS struct{ source string }

func (e errNoGoTLS) Error() string {
	return "the program does not use crypto/tls (looked in " + e.source + ")"
}

// IsNoTLS says whether err only means that there was no TLS code to
// instrument.
func IsNoTLS(err error) bool {
	var e errNoGoTLS
	return errors.As(err, &e)
}

func (p *Probes) keep(ls []link.Link) {
	p.tls.mu.Lock()
	p.tls.links = append(p.tls.links, ls...)
	p.tls.mu.Unlock()
}

func closeAll(ls []link.Link) {
	for _, l := range ls {
		_ = l.Close()
	}
}

// closeTLS waits for asynchronous instrumentation and detaches every TLS
// probe.
func (p *Probes) closeTLS() error {
	p.tls.mu.Lock()
	p.tls.stopped = true
	if p.tls.stop != nil {
		close(p.tls.stop)
	}
	p.tls.mu.Unlock()
	p.tls.recheckWG.Wait()
	p.tls.wg.Wait()
	p.tls.mu.Lock()
	defer p.tls.mu.Unlock()
	var errs []error
	for _, l := range p.tls.links {
		errs = append(errs, l.Close())
	}
	p.tls.links = nil
	return errors.Join(errs...)
}
