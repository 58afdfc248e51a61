package sqltext

import (
	"strings"
	"testing"
)

func TestAnalyze(t *testing.T) {
	pg, my := PostgreSQL, MySQL
	for _, c := range []struct {
		d                  Dialect
		sql                string
		op, target, sum    string
		text               string // "" = not checked
		incomplete         bool
		wantTargetIfIncomp bool
	}{
		{pg, "SELECT * FROM users WHERE id = 42", "SELECT", "users", "SELECT users", "SELECT * FROM users WHERE id = ?", false, false},
		{pg, "select name from users u where u.id = $1", "select", "users", "select users", "select name from users u where u.id = $1", false, false},
		{pg, "SELECT 1", "SELECT", "", "SELECT", "SELECT ?", false, false},
		{pg, "SELECT pg_sleep(0.2)", "SELECT", "", "SELECT", "SELECT pg_sleep(?)", false, false},
		{pg, "INSERT INTO orders (id, note) VALUES (7, 'it''s mine')", "INSERT", "orders", "INSERT orders", "INSERT INTO orders (id, note) VALUES (?, ?)", false, false},
		{pg, "UPDATE public.users SET name = E'x\\'y' WHERE id = 3", "UPDATE", "public.users", "UPDATE public.users", "UPDATE public.users SET name = ? WHERE id = ?", false, false},
		{pg, "DELETE FROM \"Order Items\" WHERE qty < -1.5e3", "DELETE", "\"Order Items\"", "DELETE \"Order Items\"", "DELETE FROM \"Order Items\" WHERE qty < -?", false, false},
		{pg, "SELECT * FROM songs, artists WHERE songs.artist_id = artists.id", "SELECT", "", "SELECT songs artists", "", false, false},
		{pg, "SELECT o.id FROM orders o JOIN customers c ON o.cid = c.id", "SELECT", "", "SELECT orders customers", "", false, false},
		{pg, "SELECT order_date FROM (SELECT * FROM orders o JOIN customers c ON o.customer_id = c.customer_id) x", "SELECT", "", "SELECT SELECT orders customers", "", false, false},
		{pg, "INSERT INTO shipping_details (order_id, address) SELECT order_id, address FROM orders WHERE order_id = 1", "INSERT", "", "INSERT shipping_details SELECT orders", "", false, false},
		{pg, "WITH recent AS (SELECT * FROM orders WHERE day > now()) SELECT count(*) FROM recent", "SELECT", "", "SELECT orders SELECT recent", "", false, false},
		{pg, "SELECT * FROM accounts WHERE id = 1 FOR UPDATE", "SELECT", "accounts", "SELECT accounts", "", false, false},
		{pg, "INSERT INTO kv (k, v) VALUES ('a', 1) ON CONFLICT (k) DO UPDATE SET v = 2", "INSERT", "kv", "INSERT kv", "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = ?", false, false},
		{pg, "BEGIN", "BEGIN", "", "BEGIN", "BEGIN", false, false},
		{pg, "commit", "commit", "", "commit", "", false, false},
		{pg, "CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, n text DEFAULT 'x')", "CREATE", "items", "CREATE items", "CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, n text DEFAULT ?)", false, false},
		{pg, "DROP TABLE t1", "DROP", "t1", "DROP t1", "", false, false},
		{pg, "TRUNCATE ONLY logs", "TRUNCATE", "logs", "TRUNCATE logs", "", false, false},
		{pg, "BEGIN; INSERT INTO t VALUES (1); COMMIT;", "BEGIN", "", "BEGIN INSERT t COMMIT", "BEGIN; INSERT INTO t VALUES (?); COMMIT;", false, false},
		{pg, "SELECT 1;", "SELECT", "", "SELECT", "", false, false},
		{pg, "  -- leading comment\n /* block /* nested */ still */ SELECT $$it's $1$$, $tag$x$tag$ FROM t", "SELECT", "t", "SELECT t", "SELECT ?, ? FROM t", false, false},
		{pg, "SELECT x'1f', b'01', 0x1F, .5, TRUE, null FROM t", "SELECT", "t", "SELECT t", "SELECT ?, ?, ?, ?, ?, null FROM t", false, false},
		{pg, "SELECT * FROM t UNION SELECT * FROM u", "SELECT", "", "SELECT t SELECT u", "", false, false},
		{pg, "SELECT a FROM t WHERE b IN (SELECT b FROM t)", "SELECT", "t", "SELECT t SELECT t", "", false, false},
		{pg, "COPY items (a, b) FROM STDIN WITH (FORMAT csv)", "COPY", "items", "COPY items", "", false, false},
		{pg, "COPY (SELECT * FROM items) TO STDOUT", "COPY", "items", "COPY SELECT items", "", false, false},
		{pg, "EXPLAIN ANALYZE SELECT * FROM t", "EXPLAIN", "t", "EXPLAIN SELECT t", "", false, false},
		{pg, "'not a statement'", "", "", "", "?", false, false},
		{pg, "", "", "", "", "", false, false},
		// cut by the copy limit: the collection only when the cut is in
		// an INSERT's VALUES
		{pg, "SELECT * FROM a WHERE x = 'abc", "SELECT", "", "SELECT a", "SELECT * FROM a WHERE x = ?", true, false},
		{pg, "INSERT INTO big VALUES (1, 'abc'), (2, 'de", "INSERT", "big", "INSERT big", "INSERT INTO big VALUES (?, ?), (?, ?", true, true},

		{my, "SELECT * FROM `users` WHERE name = \"bob\" AND x = 'a\\'b'", "SELECT", "`users`", "SELECT `users`", "SELECT * FROM `users` WHERE name = ? AND x = ?", false, false},
		{my, "INSERT t (a) VALUES (?)", "INSERT", "t", "INSERT t", "INSERT t (a) VALUES (?)", false, false},
		{my, "INSERT IGNORE INTO t SET a = 1 ON DUPLICATE KEY UPDATE a = 2", "INSERT", "t", "INSERT t", "", false, false},
		{my, "REPLACE INTO t VALUES (1)", "REPLACE", "t", "REPLACE t", "", false, false},
		{my, "SELECT REPLACE(name, 'a', 'b'), INSERT(s, 1, 2, 'x') FROM t # tail comment", "SELECT", "t", "SELECT t", "SELECT REPLACE(name, ?, ?), INSERT(s, ?, ?, ?) FROM t", false, false},
		{my, "SELECT SLEEP(0.2)", "SELECT", "", "SELECT", "SELECT SLEEP(?)", false, false},
		{my, "select 1 from dual", "select", "", "select", "", false, false},
		{my, "USE shop", "USE", "", "USE", "USE shop", false, false},
		{my, "SELECT _utf8mb4'x' FROM t", "SELECT", "t", "SELECT t", "SELECT ? FROM t", false, false},
	} {
		st := Analyze(c.d, []byte(c.sql), !c.incomplete, true, nil)
		if st.Operation != c.op || st.Target != c.target || st.Summary != c.sum {
			t.Errorf("%q: op %q target %q summary %q; want %q %q %q", c.sql, st.Operation, st.Target, st.Summary, c.op, c.target, c.sum)
		}
		if c.text != "" && st.Text != c.text {
			t.Errorf("%q: text\n got  %q\n want %q", c.sql, st.Text, c.text)
		}
		if off := Analyze(c.d, []byte(c.sql), !c.incomplete, false, nil); off.Text != "" {
			t.Errorf("%q: text %q when not asked for", c.sql, off.Text)
		}
	}
}

func TestSummaryBound(t *testing.T) {
	sql := "SELECT * FROM " + strings.Repeat("some_table_name, ", 40) + "last"
	st := Analyze(PostgreSQL, []byte(sql), true, false, nil)
	if len(st.Summary) > MaxSummary || !strings.HasSuffix(st.Summary, "some_table_name") {
		t.Errorf("summary of %d bytes: %q", len(st.Summary), st.Summary)
	}
	long := "SELECT '" + strings.Repeat("x", 5000) + "', " + strings.Repeat("col, ", 1000) + "c FROM t"
	if st := Analyze(PostgreSQL, []byte(long), true, true, nil); len(st.Text) > MaxText || !strings.HasPrefix(st.Text, "SELECT ?, col") {
		t.Errorf("text of %d bytes: %.40q", len(st.Text), st.Text)
	}
}

// A connection's repeated statements cost no allocation once their strings
// are interned.
func TestNamesIntern(t *testing.T) {
	var names Names
	q := []byte("SELECT * FROM users u JOIN orders o ON o.uid = u.id WHERE u.id = 1")
	Analyze(PostgreSQL, q, true, false, &names)
	allocs := testing.AllocsPerRun(100, func() { Analyze(PostgreSQL, q, true, false, &names) })
	if allocs != 0 {
		t.Errorf("%v allocations per repeated statement", allocs)
	}
}

func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{"SELECT * FROM t WHERE a = 'x'", "INSERT INTO t VALUES ($1, $$a$$)", "/* a /* b */ c */ UPDATE t SET x = E'\\''",
		"WITH a AS (SELECT 1) SELECT * FROM a, b JOIN c USING (x); DELETE FROM d", "SELECT `a` FROM \"b\" # c"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, sql string, pg bool) {
		d := MySQL
		if pg {
			d = PostgreSQL
		}
		st := Analyze(d, []byte(sql), true, true, nil)
		if len(st.Summary) > MaxSummary || len(st.Text) > MaxText {
			t.Fatalf("over the bounds: summary %d, text %d", len(st.Summary), len(st.Text))
		}
		if st.Target != "" && !strings.Contains(st.Summary, st.Target) && len(st.Summary) < MaxSummary-len(st.Target) {
			t.Fatalf("target %q not in summary %q", st.Target, st.Summary)
		}
		if st.Operation != "" && !strings.Contains(sql, st.Operation) {
			t.Fatalf("operation %q not in the text", st.Operation)
		}
		// no literal survives
		l := lexer{d: d, s: []byte(st.Text)}
		for tok := l.next(); tok.kind != tEOF; tok = l.next() {
			if tok.kind == tString || tok.kind == tNumber || tok.kind == tComment {
				t.Fatalf("sanitised text %q keeps %q", st.Text, st.Text[tok.start:tok.end])
			}
		}
	})
}
