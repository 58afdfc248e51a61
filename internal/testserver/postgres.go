package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
)

// Postgres is a PostgreSQL server the test started: its own cluster in a
// temporary directory, run as an unprivileged user (the server refuses
// root), listening on 127.0.0.1 only, with trust authentication for the
// user "postgres".
type Postgres struct {
	*Server
	// BinDir holds the server's programs and its psql (Debian:
	// /usr/lib/postgresql/<major>/bin; /usr/bin/psql is a wrapper script).
	BinDir string
	// DSN is a libpq connection string for database "postgres", in the
	// clear.
	DSN string
	// TLSDSN (a server started with TLS) is DSN with sslmode=require.
	TLSDSN string
}

// PostgresBinDir returns the directory of the newest PostgreSQL server
// installed the Debian way, or skips the test (fails it in CI).
func PostgresBinDir(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var ok []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "psql")); err == nil {
				ok = append(ok, d)
			}
		}
	}
	if len(ok) == 0 {
		skipOrFail(t, "needs a PostgreSQL server and psql (apt-get install postgresql): none in /usr/lib/postgresql/*/bin")
	}
	sort.Slice(ok, func(i, j int) bool { return majorOf(ok[i]) < majorOf(ok[j]) })
	return ok[len(ok)-1]
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// StartPostgres initialises a cluster in a fresh directory and starts the
// server in the foreground, as the user "nobody", on a free port. The
// cluster is removed at cleanup.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	return startPostgres(t, false)
}

// StartPostgresTLS is StartPostgres with TLS offered (ssl=on, the
// certificate of SelfSignedCert): a client with sslmode=require sends an
// SSLRequest, then its start-up and queries inside TLS.
func StartPostgresTLS(t testing.TB) *Postgres {
	t.Helper()
	return startPostgres(t, true)
}

func startPostgres(t testing.TB, withTLS bool) *Postgres {
	t.Helper()
	RequireRoot(t) // to run the server as another user
	bin := PostgresBinDir(t)
	u, err := user.Lookup("nobody")
	if err != nil {
		skipOrFail(t, "needs the user nobody to run PostgreSQL as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}

	// Not t.TempDir: its parents are private to root, and the server's
	// user must reach its data directory.
	dir, err := os.MkdirTemp("", "ebpfred-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, uid, gid); err != nil {
		t.Fatal(err)
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = cred
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	var settings []string
	if withTLS {
		// The server wants its key private to its own user.
		cert, key := SelfSignedCert(t)
		for _, f := range []struct{ from, to string }{{cert, "server.crt"}, {key, "server.key"}} {
			b, err := os.ReadFile(f.from)
			if err != nil {
				t.Fatal(err)
			}
			to := filepath.Join(dir, f.to)
			if err := os.WriteFile(to, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(to, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		settings = append(settings, "-c", "ssl=on", "-c", "ssl_cert_file="+filepath.Join(dir, "server.crt"),
			"-c", "ssl_key_file="+filepath.Join(dir, "server.key"))
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
			"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off")
		cmd.Args = append(cmd.Args, settings...)
		cmd.SysProcAttr = cred
		cmd.Dir = dir
		s, err := startProcess(t, "postgres", cmd, port)
		if err == nil {
			dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres", port)
			pg := &Postgres{Server: s, BinDir: bin, DSN: dsn + " sslmode=disable"}
			if withTLS {
				pg.TLSDSN = dsn + " sslmode=require"
			}
			return pg
		}
		lastErr = err
		s.Stop()
	}
	t.Fatal(lastErr)
	return nil
}

// Python returns Debian's python3 (not a pyenv shim: Debian's packages,
// python3-psycopg2 among them, are installed for it) once it imports
// every one of modules, or skips the test (fails it in CI).
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	for _, m := range modules {
		if out, err := exec.Command(py, "-c", "import "+m).CombinedOutput(); err != nil {
			skipOrFail(t, "needs %s with the module %s (apt-get install python3-%s): %v\n%s", py, m, m, err, out)
		}
	}
	return py
}
