package ebpfredreceiver

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// myOp is one operation a client asked of the server, as its CLIENT span
// and db.client.operation.duration must show it.
type myOp struct {
	name   string // span name: db.query.summary, else db.system.name
	op     string // db.operation.name
	status string // db.response.status_code (the error number; "" when it succeeded)
	// minDur: the server was told to take this long (SLEEP).
	minDur time.Duration
}

const mySleep = 200 * time.Millisecond

// The mariadb client sends each statement of its input as one COM_QUERY;
// --force goes on after an error.
var mariadbCLIInput = strings.Join([]string{
	"CREATE TABLE things (id int PRIMARY KEY, name varchar(64))",
	"INSERT INTO things VALUES (1, 'secret-one')",
	"INSERT INTO things VALUES (1, 'secret-dup')",
	"SELECT * FROM nope",
	"SELEC 1",
	fmt.Sprintf("SELECT SLEEP(%g)", mySleep.Seconds()),
	"SELECT name FROM things WHERE id = 1",
}, ";\n") + ";\n"

var mariadbCLIOps = []myOp{
	{"CREATE things", "CREATE", "", 0},
	{"INSERT things", "INSERT", "", 0},
	{"INSERT things", "INSERT", "1062", 0}, // duplicate entry
	{"SELECT nope", "SELECT", "1146", 0},   // no such table
	{"SELEC", "SELEC", "1064", 0},          // syntax error
	{"SELECT", "SELECT", "", mySleep},
	{"SELECT things", "SELECT", "", 0},
}

// PyMySQL interpolates parameters on the client and sends COM_QUERY;
// ping and select_db are commands, not operations.
const pymysqlScript = `
import sys, pymysql
conn = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="app", password=sys.argv[2],
                       database="shop", autocommit=True)
cur = conn.cursor()
for i in (2, 3, 4):
    cur.execute("INSERT INTO items VALUES (%s, %s)", (i, "secret-%d" % i))
try:
    cur.execute("SELECT * FROM items WHERE nosuch = %s", ("secret-x",))
    sys.exit("an unknown column was found")
except pymysql.MySQLError as e:
    if e.args[0] != 1054:
        raise
cur.execute("UPDATE items SET name = %s WHERE id = %s", ("secret-z", 2))
cur.execute("SELECT SLEEP(%s)", (float(sys.argv[3]),))
conn.ping()
conn.select_db("shop")
cur.execute("SELECT count(*) FROM items")
print(cur.fetchone()[0])
conn.close()
`

var pymysqlOps = []myOp{
	{"INSERT items", "INSERT", "", 0},
	{"INSERT items", "INSERT", "", 0},
	{"INSERT items", "INSERT", "", 0},
	{"SELECT items", "SELECT", "1054", 0}, // unknown column
	{"UPDATE items", "UPDATE", "", 0},
	{"SELECT", "SELECT", "", mySleep},
	{"SELECT items", "SELECT", "", 0},
}

// go-sql-driver/mysql prepares on the server: a call with arguments is
// COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_CLOSE; one without is a
// COM_QUERY.
const goMySQLSteps = "prepare,select,insert,dup,sleep,nope,text,syntax"

var goMySQLOps = []myOp{
	// prepare: COM_STMT_PREPARE alone, no operation
	{"SELECT items", "SELECT", "", 0},     // an execute of the kept statement
	{"INSERT items", "INSERT", "", 0},     // prepare, execute, close
	{"INSERT items", "INSERT", "1062", 0}, // fails at its execute
	{"SELECT", "SELECT", "", mySleep},
	{"SELECT nope", "SELECT", "1146", 0}, // fails at its prepare: no execute
	{"UPDATE items", "UPDATE", "", 0},    // COM_QUERY
	{"SELEC", "SELEC", "1064", 0},        // COM_QUERY
}

const goMySQLOutput = "prepare ok\nselect ok\ninsert ok\ndup 1062\nsleep ok\nnope 1146\ntext ok\nsyntax 1064"

// myClient is one client process and what it asked.
type myClient struct {
	name string
	pid  int
	want []myOp
	// ns: db.namespace, the database its handshake named ("" when the
	// connection started before the receiver).
	ns string
	// system: db.system.name, "mariadb" from the server's greeting;
	// "mysql" when the connection started before the receiver.
	system string
}

// TestMySQLClients: the mariadb client, PyMySQL and Go's
// go-sql-driver/mysql, started after the receiver and selected by their
// executables, each run a known mix against a MariaDB server the test
// started. Every operation is one CLIENT span (in order, named by its
// summary, with its error number when it failed) and one point of
// db.client.operation.duration with db.system.name mariadb; nothing of the
// statements' literals, the parameters or the password leaves.
func TestMySQLClients(t *testing.T) {
	requireRoot(t)
	eachCapture(t, testMySQLClients)
}

func testMySQLClients(t *testing.T, hooks string) {
	m := testserver.StartMariaDB(t)
	// Copies of their own: other tests on the machine run python3 too.
	py := testserver.PrivateCopy(t, testserver.Python(t, "pymysql"))
	goClient := testserver.PrivateCopy(t, testserver.GoBinary(t, "goapps/mysqlclient"))
	cli := testserver.PrivateCopy(t, m.Client)
	h := startReceiver(t, func(c *Config) {
		c.ExecutableName = "^(" + regexp.QuoteMeta(cli) + "|" + regexp.QuoteMeta(py) + "|" + regexp.QuoteMeta(goClient) + ")$"
		c.CaptureHooks = hooks
	})

	cliCmd := exec.Command(cli, append(m.ClientArgs(), "--force")...)
	cliCmd.Stdin = strings.NewReader(mariadbCLIInput)
	out, _ := cliCmd.CombinedOutput() // it exits 1: the errors
	if !strings.Contains(string(out), "ERROR 1062") || !strings.Contains(string(out), "ERROR 1146") ||
		!strings.Contains(string(out), "ERROR 1064") {
		t.Fatalf("the mariadb client did not run the mix:\n%s", out)
	}
	pyCmd := exec.Command(py, "-c", pymysqlScript, strconv.Itoa(m.Port), testserver.MariaDBPassword, fmt.Sprint(mySleep.Seconds()))
	if out, err := pyCmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "4" {
		t.Fatalf("PyMySQL client: %v\n%s", err, out)
	}
	goCmd := exec.Command(goClient, "-dsn", m.DSN, "-run", goMySQLSteps, "-sleep", fmt.Sprint(mySleep.Seconds()))
	if out, err := goCmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != goMySQLOutput {
		t.Fatalf("go-sql-driver client: %v\n%s", err, out)
	}
	checkMySQL(t, h, m, []myClient{
		{"mariadb", cliCmd.Process.Pid, mariadbCLIOps, "shop", "mariadb"},
		{"pymysql", pyCmd.Process.Pid, pymysqlOps, "shop", "mariadb"},
		{"go-sql-driver", goCmd.Process.Pid, goMySQLOps, "shop", "mariadb"},
	}, myCounts{})
}

// TestMySQLStatementPreparedBefore: a connection that prepared its
// statement before the receiver started. Its executes of that statement
// are reported with the operation unknown (never guessed from another
// statement); a statement prepared afterwards is known. The database is
// unknown too: it was named in the handshake; and so is MariaDB, which
// only the greeting says: db.system.name is mysql.
func TestMySQLStatementPreparedBefore(t *testing.T) {
	requireRoot(t)
	m := testserver.StartMariaDB(t)
	goClient := testserver.PrivateCopy(t, testserver.GoBinary(t, "goapps/mysqlclient"))
	cmd := exec.Command(goClient, "-dsn", m.DSN, "-run", "prepare,select,insert,select", "-wait-stdin")
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
			t.Fatalf("go-sql-driver client did not prepare:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	h := startReceiver(t, func(c *Config) { c.ExecutableName = "^" + regexp.QuoteMeta(goClient) + "$" })
	waitTracked(t, h, cmd.Process.Pid)
	stdin.Write([]byte("go\n"))
	if err := cmd.Wait(); err != nil || out.String() != "prepare ok\nwaiting\nselect ok\ninsert ok\nselect ok\n" {
		t.Fatalf("go-sql-driver client: %v\n%s", err, out.String())
	}
	checkMySQL(t, h, m, []myClient{{"go-sql-driver", cmd.Process.Pid, []myOp{
		{"mysql", "", "", 0}, // an execute of a statement whose prepare was not seen
		{"INSERT items", "INSERT", "", 0},
		{"mysql", "", "", 0},
	}, "", "mysql"}}, myCounts{unknown: 2})
}

// myCounts are the mysql parser's counts a test expects: nothing malformed
// or truncated, incomplete and unknown operations as given, and no packet
// boundary lost unless large: then at least one was (the kernel copies 4
// KiB of each read), found again every time, and up to unknown operations
// had their end found only at the next command (their status unknown).
type myCounts struct {
	incomplete, unknown int
	large               bool
}

// TestMySQLLargeResults: result sets of hundreds of KiB, read by the
// mariadb client (libmariadb's reads grow to 16 KiB and more) and by
// PyMySQL: the kernel copies 4 KiB of each read, the parser skips the rest
// by length, loses packet boundaries there and finds them again (where a
// read ends with the result set's last packet, or at the next command).
// Every operation is reported once, in order, and the SLEEP after a large
// result is timed from its own command.
func TestMySQLLargeResults(t *testing.T) {
	requireRoot(t)
	m := testserver.StartMariaDB(t)
	cli := testserver.PrivateCopy(t, m.Client)
	py := testserver.PrivateCopy(t, testserver.Python(t, "pymysql"))
	h := startReceiver(t, func(c *Config) {
		c.ExecutableName = "^(" + regexp.QuoteMeta(cli) + "|" + regexp.QuoteMeta(py) + ")$"
	})
	cliCmd := exec.Command(cli, m.ClientArgs()...)
	cliCmd.Stdin = strings.NewReader(strings.Join([]string{
		"SELECT seq, REPEAT('secret', 40) FROM seq_1_to_2000", // 2000 rows, ~500 KiB
		fmt.Sprintf("SELECT SLEEP(%g)", mySleep.Seconds()),
		"SELECT REPEAT('secret', 20000)", // one row of 120 KiB
		"SELECT 1",
	}, ";\n") + ";\n")
	if out, err := cliCmd.CombinedOutput(); err != nil || len(out) < 500<<10 {
		t.Fatalf("the mariadb client: %v, %d bytes of output", err, len(out))
	}
	pyCmd := exec.Command(py, "-c", `
import sys, pymysql
conn = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="app", password=sys.argv[2], database="shop")
cur = conn.cursor()
cur.execute("SELECT seq, REPEAT('secret', 40) FROM seq_1_to_2000")
print(len(cur.fetchall()))
cur.execute("SELECT SLEEP(%s)", (float(sys.argv[3]),))
cur.execute("SELECT 1")
conn.close()
`, strconv.Itoa(m.Port), testserver.MariaDBPassword, fmt.Sprint(mySleep.Seconds()))
	if out, err := pyCmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "2000" {
		t.Fatalf("PyMySQL client: %v\n%s", err, out)
	}
	checkMySQL(t, h, m, []myClient{
		{"mariadb", cliCmd.Process.Pid, []myOp{
			{"SELECT seq_1_to_2000", "SELECT", "", 0},
			{"SELECT", "SELECT", "", mySleep},
			{"SELECT", "SELECT", "", 0},
			{"SELECT", "SELECT", "", 0},
		}, "shop", "mariadb"},
		{"pymysql", pyCmd.Process.Pid, []myOp{
			{"SET", "SET", "", 0}, // PyMySQL turns autocommit off when it connects
			{"SELECT seq_1_to_2000", "SELECT", "", 0},
			{"SELECT", "SELECT", "", mySleep},
			{"SELECT", "SELECT", "", 0},
		}, "shop", "mariadb"},
	}, myCounts{unknown: 3, large: true})
}

// checkMySQL waits for the clients' spans, stops the receiver and checks
// every client's spans and metric points against what it asked, and the
// parser's counts.
func checkMySQL(t *testing.T, h *harness, m *testserver.MariaDB, clients []myClient, want myCounts) {
	t.Helper()
	total := 0
	for _, c := range clients {
		total += len(c.want)
	}
	spans := waitMySQLSpans(h, clients, total)
	r := h.receiver()
	unrecognised := r.stats.Unrecognised.Load()
	var myStats string
	var unknown, desync uint64
	for i := range r.stats.PerProtocol {
		if st := &r.stats.PerProtocol[i]; st.Name == "mysql" {
			unknown, desync = st.Unknown.Load(), st.Desync.Load()
			if want.large && unknown <= uint64(want.unknown) && desync > 0 {
				unknown, desync = uint64(want.unknown), 0 // within what is allowed
			}
			myStats = fmt.Sprintf("requests %d, parse errors %d, incomplete %d, unknown %d, truncated %d, desync %d",
				st.Requests.Load(), st.ParseErrors.Load(), st.Incomplete.Load(), unknown, st.Truncated.Load(), desync)
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
	if w := fmt.Sprintf("requests %d, parse errors 0, incomplete %d, unknown %d, truncated 0, desync 0", total, want.incomplete, want.unknown); myStats != w {
		t.Errorf("mysql parser counts (large results: unknown at most, desync at least 1):\n got  %s\n want %s", myStats, w)
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
			if s.span.Kind() != ptrace.SpanKindClient || s.attr("db.system.name") != c.system {
				t.Errorf("%s span %d: kind %v, db.system.name %q", c.name, i, s.span.Kind(), s.attr("db.system.name"))
			}
			wantErr, wantCode := "", ptrace.StatusCodeUnset
			if w.status != "" {
				wantErr, wantCode = w.status, ptrace.StatusCodeError
			}
			if s.attr("error.type") != wantErr || s.span.Status().Code() != wantCode {
				t.Errorf("%s span %d (%s): error.type %q, status %v; want %q, %v", c.name, i, w.name,
					s.attr("error.type"), s.span.Status().Code(), wantErr, wantCode)
			}
			if s.attr("db.namespace") != c.ns || s.attr("server.port") != strconv.Itoa(m.Port) || s.attr("server.address") != "127.0.0.1" {
				t.Errorf("%s span %d: db.namespace %q, server %s:%s", c.name, i, s.attr("db.namespace"), s.attr("server.address"), s.attr("server.port"))
			}
			if s.attr("db.query.text") != "" {
				t.Errorf("%s span %d: db.query.text %q without the option", c.name, i, s.attr("db.query.text"))
			}
			for k, v := range s.span.Attributes().AsRaw() {
				if strings.Contains(fmt.Sprint(v), "secret") || strings.Contains(fmt.Sprint(v), "app") {
					t.Errorf("%s span %d: %s = %v leaks a literal, the user or the password", c.name, i, k, v)
				}
			}
			if d := s.duration(); w.minDur > 0 && d < w.minDur {
				t.Errorf("%s span %d (%s): %v, shorter than the server's %v sleep", c.name, i, w.name, d, w.minDur)
			} else if w.minDur == 0 && d >= mySleep {
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
			want[c.system+" "+w.op+" "+w.status]++
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
			if p.attrs["db.namespace"] != c.ns || p.attrs["server.port"] != strconv.Itoa(m.Port) {
				t.Errorf("%s point %v: want db.namespace %q, server.port %d", c.name, p.attrs, c.ns, m.Port)
			}
		}
		if sum < sleeps {
			t.Errorf("%s: %.3f s of operations in all, less than the %.3f s the server slept", c.name, sum, sleeps)
		}
	}
}

// waitMySQLSpans waits until the clients' processes have n MySQL/MariaDB
// spans in all (a loaded machine can take seconds), then a little longer
// so that extra spans would show, and returns them.
func waitMySQLSpans(h *harness, clients []myClient, n int) []spanView {
	isDB := func(s ptrace.Span) bool {
		v, ok := s.Attributes().Get("db.system.name")
		return ok && (v.Str() == "mysql" || v.Str() == "mariadb")
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
