package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// MariaDB is a MariaDB server the test started: its own data directory in
// a temporary directory, run as an unprivileged user, listening on
// 127.0.0.1 and on a unix socket, with a database "shop" and a user "app"
// (password MariaDBPassword) that may use it.
type MariaDB struct {
	*Server
	// Socket is the server's unix socket (where root connects without a
	// password; the tests' clients use TCP, which the receiver follows).
	Socket string
	// Client is the mariadb command-line client.
	Client string
	// DSN is a go-sql-driver/mysql data source name for app on TCP, in
	// the clear, database shop.
	DSN string
}

// MariaDBPassword is the password of the user "app": it must never appear
// in what the receiver reports.
const MariaDBPassword = "secret-password"

// StartMariaDB initialises a data directory in a fresh directory and
// starts mariadbd in the foreground, as the user "mysql" (or "nobody"),
// on a free port. The directory is removed at cleanup.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	RequireRoot(t) // to run the server as another user
	Require(t, "mariadbd", "mariadb-install-db", "mariadb")
	mariadbd, _ := lookPath("mariadbd")
	install, _ := lookPath("mariadb-install-db")
	client, _ := lookPath("mariadb")
	name := "mysql"
	u, err := user.Lookup(name)
	if err != nil {
		name = "nobody"
		if u, err = user.Lookup(name); err != nil {
			skipOrFail(t, "needs the user mysql or nobody to run MariaDB as: %v", err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}

	// Not t.TempDir: its parents are private to root, and the server's
	// user must reach its data directory.
	dir, err := os.MkdirTemp("", "ebpfred-mariadb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	socket := filepath.Join(dir, "mariadb.sock")
	for _, d := range []string{dir, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	initdb := exec.Command(install, "--no-defaults", "--datadir="+data, "--user="+name,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(mariadbd, "--no-defaults", "--datadir="+data, "--socket="+socket,
			"--port="+strconv.Itoa(port), "--bind-address=127.0.0.1", "--skip-name-resolve",
			"--pid-file="+filepath.Join(dir, "mariadbd.pid"), "--innodb-buffer-pool-size=16M",
			"--innodb-log-file-size=8M", "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0")
		cmd.SysProcAttr = cred
		cmd.Dir = dir
		s, err := startProcess(t, "mariadb", cmd, port)
		if err != nil {
			lastErr = err
			if s != nil {
				s.Stop()
			}
			continue
		}
		setup := exec.Command(client, "--no-defaults", "-S", socket, "-u", "root", "-e",
			"CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY '"+MariaDBPassword+"'; "+
				"GRANT ALL ON shop.* TO 'app'@'%'; "+
				"CREATE TABLE shop.items (id int PRIMARY KEY, name varchar(64)); "+
				"INSERT INTO shop.items VALUES (1, 'secret-one')")
		if out, err := setup.CombinedOutput(); err != nil {
			t.Fatalf("mariadb (setup as root on %s): %v\n%s", socket, err, out)
		}
		return &MariaDB{Server: s, Socket: socket, Client: client,
			DSN: fmt.Sprintf("app:%s@tcp(127.0.0.1:%d)/shop", MariaDBPassword, port)}
	}
	t.Fatal(lastErr)
	return nil
}

// ClientArgs are the mariadb client's arguments to connect as app to
// database shop over TCP, in the clear.
func (m *MariaDB) ClientArgs() []string {
	return []string{"--no-defaults", "--protocol=tcp", "-h", "127.0.0.1", "-P", strconv.Itoa(m.Port),
		"-u", "app", "-p" + MariaDBPassword, "--skip-ssl", "shop"}
}
