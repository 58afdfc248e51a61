package ebpfredreceiver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// pgOp is one operation a client asked of the server, as its CLIENT span
// and db.client.operation.duration must show it.
type pgOp struct {
	name   string // span name: db.query.summary
	op     string // db.operation.name
	status string // db.response.status_code (the SQLSTATE; "" when it succeeded)
	// minDur: the server was told to take this long (pg_sleep).
	minDur time.Duration
}

const pgSleep = 300 * time.Millisecond

// psql speaks the simple query protocol: each -c is one Query message.
var psqlOps = []pgOp{
	{"CREATE items", "CREATE", "", 0},
	{"INSERT items", "INSERT", "", 0},
	{"INSERT items", "INSERT", "23505", 0}, // duplicate key
	{"SELECT nope", "SELECT", "42P01", 0},  // no such table
	{"SELECT", "SELECT", "", pgSleep},
	{"SELECT items", "SELECT", "", 0},
}

var psqlCommands = []string{
	"CREATE TABLE items (id int PRIMARY KEY, name text)",
	"INSERT INTO items VALUES (1, 'secret-one')",
	"INSERT INTO items VALUES (1, 'secret-dup')",
	"SELECT * FROM nope",
	fmt.Sprintf("SELECT pg_sleep(%g)", pgSleep.Seconds()),
	"SELECT name FROM items WHERE id = 1",
}

// psycopg2 interpolates parameters on the client and sends Query messages;
// out of autocommit it opens a transaction with BEGIN first.
const psycopg2Script = `
import sys, psycopg2, psycopg2.errors
conn = psycopg2.connect(sys.argv[1])
conn.autocommit = True
cur = conn.cursor()
for i in (2, 3, 4):
    cur.execute("INSERT INTO items VALUES (%s, %s)", (i, "secret-%d" % i))
try:
    cur.execute("SELECT 1/0")
    sys.exit("division by zero succeeded")
except psycopg2.errors.DivisionByZero:
    pass
cur.execute("UPDATE items SET name = %s WHERE id = %s", ("secret-z", 2))
cur.execute("SELECT pg_sleep(%s)", (float(sys.argv[2]),))
conn.autocommit = False
cur.execute("SELECT count(*) FROM items")
print(cur.fetchone()[0])
conn.commit()
conn.close()
`

var psycopg2Ops = []pgOp{
	{"INSERT items", "INSERT", "", 0},
	{"INSERT items", "INSERT", "", 0},
	{"INSERT items", "INSERT", "", 0},
	{"SELECT", "SELECT", "22012", 0}, // division by zero
	{"UPDATE items", "UPDATE", "", 0},
	{"SELECT", "SELECT", "", pgSleep},
	{"BEGIN", "BEGIN", "", 0},
	{"SELECT items", "SELECT", "", 0},
	{"COMMIT", "COMMIT", "", 0},
}

// pgx speaks the extended protocol: statements cached by name (Parse
// once, then Bind and Execute), one unnamed round trip, and pipelined
// batches with one Sync.
const pgxSteps = "prepare,cached,insert,insert,dup,select,sleep,nope,unnamed,batch,batcherr"

var pgxOps = []pgOp{
	{"SELECT items", "SELECT", "", 0}, // prepare: Parse, Describe, Sync; then Bind, Execute
	{"SELECT items", "SELECT", "", 0}, // cached: Bind, Execute of the named statement
	{"INSERT items", "INSERT", "", 0},
	{"INSERT items", "INSERT", "", 0},
	{"INSERT items", "INSERT", "23505", 0},
	{"SELECT items", "SELECT", "", 0},
	{"SELECT", "SELECT", "", pgSleep},
	{"SELECT nope", "SELECT", "42P01", 0}, // fails at Parse: no Execute runs
	{"UPDATE items", "UPDATE", "", 0},     // unnamed Parse, Bind, Execute, Sync
	{"INSERT items", "INSERT", "", 0},     // batch
	{"UPDATE items", "UPDATE", "", 0},
	{"DELETE items", "DELETE", "", 0},
	{"INSERT items", "INSERT", "", 0},      // batch with an error: the server skips
	{"INSERT items", "INSERT", "23505", 0}, // the SELECT 1 after it (incomplete)
}

const pgxOutput = "prepare ok\ncached ok\ninsert ok\ninsert ok\ndup 23505\nselect ok\nsleep ok\nnope 42P01\nunnamed ok\nbatch ok\nbatcherr 23505"

// pgClient is one client process and what it asked.
type pgClient struct {
	name string
	pid  int
	want []pgOp
	// ns: db.namespace, the database its start-up message named ("" when
	// the connection started before the receiver).
	ns string
}

// TestPostgresClients: psql, python3-psycopg2 and Go pgx, started after
// the receiver and selected by their executables, each run a known mix
// against a PostgreSQL server the test started. Every operation is one
// CLIENT span (in order, named by its summary, with its SQLSTATE when it
// failed) and one point of db.client.operation.duration; nothing of the
// statements' literals leaves.
func TestPostgresClients(t *testing.T) {
	requireRoot(t)
	eachCapture(t, testPostgresClients)
}

func testPostgresClients(t *testing.T, hooks string) {
	pg := testserver.StartPostgres(t)
	// Copies of their own: other tests on the machine run python3 too.
	py := testserver.PrivateCopy(t, testserver.Python(t, "psycopg2"))
	pgx := testserver.PrivateCopy(t, testserver.GoBinary(t, "goapps/pgclient"))
	psql := testserver.PrivateCopy(t, filepath.Join(pg.BinDir, "psql"))
	h := startReceiver(t, func(c *Config) {
		c.ExecutableName = "^(" + regexp.QuoteMeta(psql) + "|" + regexp.QuoteMeta(py) + "|" + regexp.QuoteMeta(pgx) + ")$"
		c.CaptureHooks = hooks
	})

	args := []string{"-X", "-q", "-d", pg.DSN}
	for _, c := range psqlCommands {
		args = append(args, "-c", c)
	}
	psqlCmd := exec.Command(psql, args...)
	out, _ := psqlCmd.CombinedOutput() // it exits 1: the last error
	if !strings.Contains(string(out), "duplicate key") || !strings.Contains(string(out), `relation "nope" does not exist`) {
		t.Fatalf("psql did not run the mix:\n%s", out)
	}
	pyCmd := exec.Command(py, "-c", psycopg2Script, pg.DSN, fmt.Sprint(pgSleep.Seconds()))
	if out, err := pyCmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "4" {
		t.Fatalf("psycopg2 client: %v\n%s", err, out)
	}
	pgxCmd := exec.Command(pgx, "-dsn", pg.DSN, "-run", pgxSteps, "-sleep", fmt.Sprint(pgSleep.Seconds()))
	if out, err := pgxCmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != pgxOutput {
		t.Fatalf("pgx client: %v\n%s", err, out)
	}
	checkPostgres(t, h, pg, []pgClient{
		{"psql", psqlCmd.Process.Pid, psqlOps, "postgres"},
		{"psycopg2", pyCmd.Process.Pid, psycopg2Ops, "postgres"},
		{"pgx", pgxCmd.Process.Pid, pgxOps, "postgres"},
	}, 1, 0)
}

// TestPostgresStatementPreparedBefore: a connection that prepared its
// statement before the receiver started. Its Executes of that statement
// are reported with the operation unknown (never guessed from another
// statement); a statement prepared afterwards is known. The database is
// unknown too: it was named in the start-up message.
func TestPostgresStatementPreparedBefore(t *testing.T) {
	requireRoot(t)
	pg := testserver.StartPostgres(t)
	pgx := testserver.PrivateCopy(t, testserver.GoBinary(t, "goapps/pgclient"))
	setup := exec.Command(filepath.Join(pg.BinDir, "psql"), "-X", "-q", "-d", pg.DSN,
		"-c", "CREATE TABLE items (id int PRIMARY KEY, name text)", "-c", "INSERT INTO items VALUES (1, 'secret-one')")
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	cmd := exec.Command(pgx, "-dsn", pg.DSN, "-run", "prepare,insert,cached,select,insert", "-wait-stdin")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "waiting"); {
		if time.Now().After(deadline) {
			t.Fatalf("pgx client did not prepare:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	h := startReceiver(t, func(c *Config) { c.ExecutableName = "^" + regexp.QuoteMeta(pgx) + "$" })
	waitTracked(t, h, cmd.Process.Pid)
	stdin.Write([]byte("go\n"))
	if err := cmd.Wait(); err != nil || out.String() != "prepare ok\nwaiting\ninsert ok\ncached ok\nselect ok\ninsert ok\n" {
		t.Fatalf("pgx client: %v\n%s", err, out.String())
	}
	checkPostgres(t, h, pg, []pgClient{{"pgx", cmd.Process.Pid, []pgOp{
		{"INSERT items", "INSERT", "", 0}, // Parse seen
		{"postgresql", "", "", 0},         // Bind and Execute of a statement whose Parse was not seen
		{"postgresql", "", "", 0},
		{"INSERT items", "INSERT", "", 0},
	}, ""}}, 0, 2)
}

// checkPostgres waits for the clients' spans, stops the receiver and
// checks every client's spans and metric points against what it asked, and
// the parser's counts: nothing malformed or lost, incomplete and unknown
// requests as given.
func checkPostgres(t *testing.T, h *harness, pg *testserver.Postgres, clients []pgClient, incomplete, unknown int) {
	t.Helper()
	total := 0
	for _, c := range clients {
		total += len(c.want)
	}
	spans := waitClientSpans(h, clients, total)
	r := h.receiver()
	unrecognised := r.stats.Unrecognised.Load()
	var pgStats string
	for i := range r.stats.PerProtocol {
		if st := &r.stats.PerProtocol[i]; st.Name == "postgresql" {
			pgStats = fmt.Sprintf("requests %d, parse errors %d, incomplete %d, unknown %d, truncated %d, desync %d",
				st.Requests.Load(), st.ParseErrors.Load(), st.Incomplete.Load(), st.Unknown.Load(), st.Truncated.Load(), st.Desync.Load())
		}
	}
	kernel, _ := r.probes.Counters()
	h.stop()
	defer func() {
		if t.Failed() {
			t.Logf("kernel counters: %+v", kernel)
		}
	}()
	if unrecognised != 0 {
		t.Errorf("%d transfers of the selected clients unrecognised, want 0", unrecognised)
	}
	if want := fmt.Sprintf("requests %d, parse errors 0, incomplete %d, unknown %d, truncated 0, desync 0", total, incomplete, unknown); pgStats != want {
		t.Errorf("postgresql parser counts:\n got  %s\n want %s", pgStats, want)
	}

	byPID := map[int][]spanView{}
	for _, s := range spans {
		pid, _ := strconv.Atoi(fmt.Sprint(s.resource.AsRaw()["process.pid"]))
		byPID[pid] = append(byPID[pid], s)
	}
	for _, c := range clients {
		got := byPID[c.pid]
		var gotOps []string
		for _, s := range got {
			gotOps = append(gotOps, fmt.Sprintf("%s|%s|%s", s.span.Name(), s.attr("db.operation.name"), s.attr("db.response.status_code")))
		}
		var wantOps []string
		for _, w := range c.want {
			wantOps = append(wantOps, w.name+"|"+w.op+"|"+w.status)
		}
		if strings.Join(gotOps, "\n") != strings.Join(wantOps, "\n") {
			t.Errorf("%s (pid %d) spans, in order (name|operation|status):\n got  %s\n want %s", c.name, c.pid,
				strings.Join(gotOps, "\n      "), strings.Join(wantOps, "\n      "))
			continue
		}
		for i, s := range got {
			w := c.want[i]
			if s.span.Kind() != ptrace.SpanKindClient {
				t.Errorf("%s span %d: kind %v", c.name, i, s.span.Kind())
			}
			wantErr, wantCode := "", ptrace.StatusCodeUnset
			if w.status != "" {
				wantErr, wantCode = w.status, ptrace.StatusCodeError
			}
			if s.attr("error.type") != wantErr || s.span.Status().Code() != wantCode {
				t.Errorf("%s span %d (%s): error.type %q, status %v; want %q, %v", c.name, i, w.name,
					s.attr("error.type"), s.span.Status().Code(), wantErr, wantCode)
			}
			if s.attr("db.namespace") != c.ns || s.attr("server.port") != strconv.Itoa(pg.Port) || s.attr("server.address") != "127.0.0.1" {
				t.Errorf("%s span %d: db.namespace %q, server %s:%s", c.name, i, s.attr("db.namespace"), s.attr("server.address"), s.attr("server.port"))
			}
			if s.attr("db.query.text") != "" {
				t.Errorf("%s span %d: db.query.text %q without the option", c.name, i, s.attr("db.query.text"))
			}
			for k, v := range s.span.Attributes().AsRaw() {
				if strings.Contains(fmt.Sprint(v), "secret") {
					t.Errorf("%s span %d: %s = %v leaks a literal", c.name, i, k, v)
				}
			}
			if d := s.duration(); w.minDur > 0 && d < w.minDur {
				t.Errorf("%s span %d (%s): %v, shorter than the server's %v sleep", c.name, i, w.name, d, w.minDur)
			} else if w.minDur == 0 && d >= pgSleep {
				t.Errorf("%s span %d (%s): %v, as long as a sleep it did not ask for", c.name, i, w.name, d)
			}
		}
	}

	// Metrics: exact counts per (db.system.name, db.operation.name,
	// db.response.status_code) of each client, errors as errors.
	pts := h.histograms("db.client.operation.duration")
	for _, c := range clients {
		var mine []histPoint
		for _, p := range pts {
			if p.resource["process.pid"] == strconv.Itoa(c.pid) {
				mine = append(mine, p)
			}
		}
		want, errs := map[string]uint64{}, map[string]uint64{}
		var sleeps float64
		for _, w := range c.want {
			want["postgresql "+w.op+" "+w.status]++
			if w.status != "" {
				errs[w.status]++
			}
			sleeps += w.minDur.Seconds()
		}
		if got := countBy(mine, "db.system.name", "db.operation.name", "db.response.status_code"); fmtCounts(got) != fmtCounts(want) {
			t.Errorf("%s db.client.operation.duration counts:\n got  %s\n want %s", c.name, fmtCounts(got), fmtCounts(want))
		}
		gotErrs := countBy(mine, "error.type")
		delete(gotErrs, "")
		if fmtCounts(gotErrs) != fmtCounts(errs) {
			t.Errorf("%s error.type counts: got %s, want %s", c.name, fmtCounts(gotErrs), fmtCounts(errs))
		}
		var sum float64
		for _, p := range mine {
			sum += p.sum
			if p.attrs["db.namespace"] != c.ns || p.attrs["server.port"] != strconv.Itoa(pg.Port) {
				t.Errorf("%s point %v: want db.namespace %q, server.port %d", c.name, p.attrs, c.ns, pg.Port)
			}
		}
		if sum < sleeps {
			t.Errorf("%s: %.3f s of operations in all, less than the %.3f s the server slept", c.name, sum, sleeps)
		}
	}
}

// TestPostgresTLS: psql with sslmode=require. Its SSLRequest goes in the
// clear, then libpq's OpenSSL carries the start-up and the queries: the
// parser that saw the server accept TLS continues on the plaintext the
// OpenSSL probes report, and the operations come out as in the clear.
//
// The OpenSSL probes attach to a library file when a selected process that
// maps it is adopted; a process selected at its exec has not mapped its
// libssl yet. Here a first psql, connected with TLS before the receiver
// starts and idle, has the library instrumented at start, and the client
// runs once that is done. (It was gated for losing plaintext one run in
// three: the client raced the attachment; 30 runs in a row passed once it
// waited for it, 2026-12-03.)
func TestPostgresTLS(t *testing.T) {
	requireRoot(t)
	pg := testserver.StartPostgresTLS(t)
	psql := testserver.PrivateCopy(t, filepath.Join(pg.BinDir, "psql"))
	idle := exec.Command(psql, "-X", "-q", "-d", pg.TLSDSN)
	stdin, err := idle.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var idleOut strings.Builder
	idle.Stdout, idle.Stderr = &idleOut, &idleOut
	if err := idle.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = idle.Wait() })
	if !waitMapped(idle.Process.Pid, "libssl") {
		t.Fatalf("psql (pid %d) did not map libssl:\n%s", idle.Process.Pid, idleOut.String())
	}
	h := startReceiver(t, func(c *Config) { c.ExecutableName = "^" + regexp.QuoteMeta(psql) + "$" })
	// The idle psql makes the receiver attach to libssl (on its own
	// goroutine, after start): a client that makes its calls before that
	// is done is not seen, which this test is not about.
	for deadline := time.Now().Add(10 * time.Second); !h.receiver().probes.TLSInstrumented(uint32(idle.Process.Pid)); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("libssl of psql (pid %d) was not instrumented", idle.Process.Pid)
		}
	}
	cmd := exec.Command(psql, "-X", "-q", "-d", pg.TLSDSN, "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
		"-c", "SELECT * FROM nope", "-c", fmt.Sprintf("SELECT pg_sleep(%g)", pgSleep.Seconds()))
	out, _ := cmd.CombinedOutput() // it exits 1: an error
	if !strings.Contains(string(out), " t\n") || !strings.Contains(string(out), `relation "nope" does not exist`) {
		t.Fatalf("psql over TLS did not run the mix:\n%s", out)
	}
	checkPostgres(t, h, pg, []pgClient{{"psql", cmd.Process.Pid, []pgOp{
		{"SELECT pg_stat_ssl", "SELECT", "", 0},
		{"SELECT nope", "SELECT", "42P01", 0},
		{"SELECT", "SELECT", "", pgSleep},
	}, "postgres"}}, 0, 0)
}

// waitMapped waits until process pid maps a file whose name contains lib.
func waitMapped(pid int, lib string) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid)); err == nil && strings.Contains(string(b), lib) {
			return true
		}
	}
	return false
}

// waitClientSpans waits until the clients' processes have n PostgreSQL
// spans in all (a loaded machine can take seconds), then a little longer
// so that extra spans would show, and returns them.
func waitClientSpans(h *harness, clients []pgClient, n int) []spanView {
	isDB := func(s ptrace.Span) bool {
		v, ok := s.Attributes().Get("db.system.name")
		return ok && v.Str() == "postgresql"
	}
	mine := func() []spanView {
		var out []spanView
		for _, s := range h.spans(isDB) {
			for _, c := range clients {
				if fmt.Sprint(s.resource.AsRaw()["process.pid"]) == strconv.Itoa(c.pid) {
					out = append(out, s)
				}
			}
		}
		return out
	}
	for deadline := time.Now().Add(30 * time.Second); len(mine()) < n && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	return mine()
}
