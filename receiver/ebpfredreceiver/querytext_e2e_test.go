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

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// database.query_text: true: psql's statements and redis-cli's commands
// carry db.query.text with every literal (SQL) or argument (Redis) replaced
// by "?"; nothing of the literals leaves, in any attribute. (Without the
// key, the PostgreSQL and Redis tests check that there is no
// db.query.text at all.)
func TestDatabaseQueryText(t *testing.T) {
	requireRoot(t)
	testserver.Require(t, "redis-server", "redis-cli")
	pg := testserver.StartPostgres(t)
	rd := testserver.StartRedis(t)
	psql := testserver.PrivateCopy(t, filepath.Join(pg.BinDir, "psql"))
	h := startReceiver(t, func(c *Config) {
		c.ExecutableName = "^" + regexp.QuoteMeta(psql) + "$|/redis-cli$"
		c.Database.QueryText = true
		c.DiscoveryInterval = time.Hour // short-lived clients: selected by their exec events only
	})
	psqlCmd := exec.Command(psql, "-X", "-q", "-d", pg.DSN,
		"-c", "CREATE TABLE items (id int PRIMARY KEY, name text)",
		"-c", "INSERT INTO items VALUES (7, 'secret-one')",
		"-c", "SELECT name FROM items WHERE id = 7 AND name <> 'secret-two'")
	if out, err := psqlCmd.CombinedOutput(); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	cli := exec.Command("redis-cli", "-p", strconv.Itoa(rd.Port), "SET", "k", "secret-three")
	if out, err := cli.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "OK" {
		t.Fatalf("redis-cli: %v\n%s", err, out)
	}
	spans := h.waitSpans(4, isClient)
	h.stop()

	want := map[string][]string{
		"postgresql": {
			"CREATE TABLE items (id int PRIMARY KEY, name text)",
			"INSERT INTO items VALUES (?, ?)",
			"SELECT name FROM items WHERE id = ? AND name <> ?",
		},
		"redis": {"SET ? ?"},
	}
	got := map[string][]string{}
	for _, s := range spans {
		sys := s.attr("db.system.name")
		got[sys] = append(got[sys], s.attr("db.query.text"))
		for k, v := range s.span.Attributes().AsRaw() {
			if strings.Contains(fmt.Sprint(v), "secret") {
				t.Errorf("%s span %q: %s = %v leaks a literal", sys, s.span.Name(), k, v)
			}
		}
	}
	for sys, w := range want {
		if strings.Join(got[sys], "\n") != strings.Join(w, "\n") {
			t.Errorf("%s db.query.text, in order:\n got  %q\n want %q", sys, got[sys], w)
		}
	}
	if len(spans) != 4 {
		t.Errorf("%d client spans, want 4: %s", len(spans), spanOps(spans))
	}
}
