package ebpfredreceiver

import (
	"fmt"
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

// TestPostgresClients: psql and python3-psycopg2, started after the
// receiver and selected by their executables, each run a known mix against
// a PostgreSQL server the test started. Every operation is one CLIENT span
// (in order, named by its summary, with its SQLSTATE when it failed) and
// one point of db.client.operation.duration; nothing of the statements'
// literals leaves.
func TestPostgresClients(t *testing.T) {
	requireRoot(t)
	eachCapture(t, testPostgresClients)
}

func testPostgresClients(t *testing.T, hooks string) {
	pg := testserver.StartPostgres(t)
	py := testserver.Python(t, "psycopg2")
	psql := filepath.Join(pg.BinDir, "psql")
	pyExe, err := filepath.EvalSymlinks(py)
	if err != nil {
		t.Fatal(err)
	}
	h := startReceiver(t, func(c *Config) {
		c.ExecutableName = "^(" + regexp.QuoteMeta(psql) + "|" + regexp.QuoteMeta(pyExe) + ")$"
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
	clients := map[int]struct {
		name string
		want []pgOp
	}{
		psqlCmd.Process.Pid: {"psql", psqlOps},
		pyCmd.Process.Pid:   {"psycopg2", psycopg2Ops},
	}

	isDB := func(s ptrace.Span) bool {
		v, ok := s.Attributes().Get("db.system.name")
		return ok && v.Str() == "postgresql"
	}
	spans := h.waitSpans(len(psqlOps)+len(psycopg2Ops), isDB)
	r := h.receiver()
	unrecognised := r.stats.Unrecognised.Load()
	var pgStats string
	for i := range r.stats.PerProtocol {
		if st := &r.stats.PerProtocol[i]; st.Name == "postgresql" {
			pgStats = fmt.Sprintf("requests %d, parse errors %d, incomplete %d, unknown %d, truncated %d, desync %d",
				st.Requests.Load(), st.ParseErrors.Load(), st.Incomplete.Load(), st.Unknown.Load(), st.Truncated.Load(), st.Desync.Load())
		}
	}
	h.stop()
	if unrecognised != 0 {
		t.Errorf("%d transfers of the selected clients unrecognised, want 0", unrecognised)
	}
	if want := fmt.Sprintf("requests %d, parse errors 0, incomplete 0, unknown 0, truncated 0, desync 0", len(psqlOps)+len(psycopg2Ops)); pgStats != want {
		t.Errorf("postgresql parser counts:\n got  %s\n want %s", pgStats, want)
	}

	byPID := map[int][]spanView{}
	for _, s := range spans {
		pid, _ := strconv.Atoi(fmt.Sprint(s.resource.AsRaw()["process.pid"]))
		byPID[pid] = append(byPID[pid], s)
	}
	for pid, c := range clients {
		got := byPID[pid]
		var gotOps []string
		for _, s := range got {
			gotOps = append(gotOps, fmt.Sprintf("%s|%s|%s", s.span.Name(), s.attr("db.operation.name"), s.attr("db.response.status_code")))
		}
		var wantOps []string
		for _, w := range c.want {
			wantOps = append(wantOps, w.name+"|"+w.op+"|"+w.status)
		}
		if strings.Join(gotOps, "\n") != strings.Join(wantOps, "\n") {
			t.Errorf("%s (pid %d) spans, in order (name|operation|status):\n got  %s\n want %s", c.name, pid,
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
			if s.attr("db.namespace") != "postgres" || s.attr("server.port") != strconv.Itoa(pg.Port) || s.attr("server.address") != "127.0.0.1" {
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
	for pid, c := range clients {
		var mine []histPoint
		for _, p := range pts {
			if p.resource["process.pid"] == strconv.Itoa(pid) {
				mine = append(mine, p)
			}
		}
		want := map[string]uint64{}
		var sleeps float64
		for _, w := range c.want {
			want["postgresql "+w.op+" "+w.status]++
			sleeps += w.minDur.Seconds()
		}
		if got := countBy(mine, "db.system.name", "db.operation.name", "db.response.status_code"); fmtCounts(got) != fmtCounts(want) {
			t.Errorf("%s db.client.operation.duration counts:\n got  %s\n want %s", c.name, fmtCounts(got), fmtCounts(want))
		}
		errs := map[string]uint64{}
		for _, w := range c.want {
			if w.status != "" {
				errs[w.status]++
			}
		}
		gotErrs := countBy(mine, "error.type")
		delete(gotErrs, "")
		if fmtCounts(gotErrs) != fmtCounts(errs) {
			t.Errorf("%s error.type counts: got %s, want %s", c.name, fmtCounts(gotErrs), fmtCounts(errs))
		}
		var sum float64
		for _, p := range mine {
			sum += p.sum
			if p.attrs["db.namespace"] != "postgres" || p.attrs["server.port"] != strconv.Itoa(pg.Port) {
				t.Errorf("%s point %v: want db.namespace postgres, server.port %d", c.name, p.attrs, pg.Port)
			}
		}
		if sum < sleeps {
			t.Errorf("%s: %.3f s of operations in all, less than the %.3f s the server slept", c.name, sum, sleeps)
		}
	}
}
